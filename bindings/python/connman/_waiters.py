"""Waiting for a connection to be up: what :meth:`Connection.wait_connected`
awaits, woken by the C callbacks ``on_connect``, ``on_reconnect`` and
``on_close`` (which the binding therefore always installs).

A waiter is an asyncio future of the loop that awaits it. The callbacks run on
the library's thread (threaded mode) or inside :func:`connman.dispatch` on the
loop's thread (:mod:`connman.asyncio`); either way the future is resolved
through ``loop.call_soon_threadsafe``, so nothing here needs to know which.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

_waiters: dict[int, list[asyncio.Future[bool]]] = {}
_lock = threading.Lock()


def add(conn_id: int, future: asyncio.Future[bool]) -> None:
    """Resolves ``future`` with True when connection ``conn_id`` is up, with False
    when it closes, whichever comes first."""
    with _lock:
        _waiters.setdefault(conn_id, []).append(future)


def remove(conn_id: int, future: asyncio.Future[bool]) -> None:
    with _lock:
        futures = _waiters.get(conn_id)
        if futures is not None and future in futures:
            futures.remove(future)
            if not futures:
                del _waiters[conn_id]


def _settle(future: asyncio.Future[bool], up: bool) -> None:
    if not future.done():  # not cancelled by a timeout meanwhile
        future.set_result(up)


def wake(conn_id: int, closed: bool = False) -> None:
    """Connection ``conn_id`` is up (or, with ``closed``, gone for good): resolves
    its waiters. Cheap when nobody waits, which is the common case."""
    if not _waiters:
        return
    with _lock:
        futures = _waiters.pop(conn_id, None)
    for future in futures or ():
        try:
            future.get_loop().call_soon_threadsafe(_settle, future, not closed)
        except RuntimeError:  # that loop is closed: nobody is waiting any more
            pass
