"""The library as a whole: disconnecting everything, shutting down, versions.

(The place for ``configure``, ``event_fd`` and ``dispatch`` when the C surface
gains them.)
"""

from __future__ import annotations

import atexit

from . import _callbacks
from ._errors import check
from ._loader import lib, on_load


def disconnect_all() -> None:
    """Disconnects every connection and every pool. Returns at once; the
    ``on_close`` calls follow on the library thread."""
    library = lib()
    before = _callbacks.factory_keys()
    check(library.connman_disconnect_all(), "connman_disconnect_all")
    _callbacks.sweep_factories(only=before)  # those pools are disconnected: never called again


def shutdown() -> None:
    """Disconnects everything and waits until every ``on_close`` has run and the
    library's threads have exited. Every handle becomes stale; a later
    :func:`connect` starts the library afresh. Raises :class:`InCallbackError`
    from inside a handler. Called automatically at interpreter exit."""
    check(lib().connman_shutdown(), "connman_shutdown")
    _callbacks.sweep_factories()


def version() -> str:
    """The C library's version, e.g. ``"0.1.0"`` (``connman.__version__`` is the
    package's; the bundled library's is the same)."""
    raw = lib().connman_version()
    return raw.decode("utf-8", "replace") if raw else "unknown"


def _atexit_shutdown() -> None:
    # Stop the library thread before the interpreter finalizes, so that it never
    # calls into a dying interpreter.
    try:
        lib().connman_shutdown()
    except BaseException:  # pragma: no cover - nothing sensible to do at exit
        pass


def _on_library_loaded() -> None:
    atexit.register(_atexit_shutdown)


on_load(_on_library_loaded)
