"""Single connections: :class:`Connection`, :func:`connect`,
:func:`connect_unix`, their state and stats."""

from __future__ import annotations

import ctypes
import dataclasses
import enum
import errno
import os
import socket
from ctypes import POINTER, byref, c_uint8
from typing import TYPE_CHECKING, Callable, TypeVar

from . import _args, _callbacks, _ffi, _waiters
from ._errors import ClosedError, NotFoundError, check, error
from ._ffi import connman_conn, connman_handler, connman_options, connman_stats
from ._handle import Handle
from ._loader import lib
from ._options import OptionsLike, to_c

if TYPE_CHECKING:
    from ctypes import Structure

    from ._ffi import _Ptr

    from _typeshed import DataclassInstance

    from ._callbacks import Handler


class State(enum.IntEnum):
    """State of a connection (``connman_stats.state``)."""

    CONNECTING = _ffi.CONNMAN_STATE_CONNECTING
    """The first connect has not succeeded yet."""
    CONNECTED = _ffi.CONNMAN_STATE_CONNECTED
    """Up: the descriptor carries a live connection."""
    RECONNECTING = _ffi.CONNMAN_STATE_RECONNECTING
    """Was up, dropped (``on_reset`` ran), being re-established."""
    CLOSING = _ffi.CONNMAN_STATE_CLOSING
    """Disconnect was requested; ``on_close`` has not run yet."""
    CLOSED = _ffi.CONNMAN_STATE_CLOSED
    """``on_close`` is running (only observable from inside it)."""


@dataclasses.dataclass(frozen=True)
class Stats:
    """A snapshot of one connection (``connman_stats``), from :meth:`Connection.stats`."""

    state: State
    """One of :class:`State`."""
    last_error: int
    """errno of the last failure (connect error, ETIMEDOUT, ...), 0 if none."""
    last_error_name: str
    """That errno's name, e.g. ``"ECONNREFUSED"`` (``""`` if none)."""
    last_resolve_error: int
    """getaddrinfo's ``EAI_*`` code of the last failed resolution, 0 if none."""
    last_resolve_error_name: str
    """That code's name, e.g. ``"EAI_NONAME"`` (``""`` if none)."""
    connects: int
    """Successful connects, the first included."""
    resets: int
    """Established connections that dropped."""
    attempts: int
    """Connect attempts (one per address tried)."""
    consecutive_failures: int
    """Failed attempts since the last successful connect."""
    bytes_received: int
    """Bytes delivered to ``on_data``."""
    bytes_sent: int
    """Bytes :meth:`Connection.send` handed to the kernel."""
    bytes_discarded: int
    """Bytes accepted by :meth:`Connection.send` but dropped at a reset."""
    send_queue_bytes: int
    """Bytes waiting to be sent now: queued by :meth:`Connection.send`, and held
    while reconnecting (``send_while_reconnecting``)."""


DERIVED_STATS = ("last_error_name", "last_resolve_error_name")
"""The :class:`Stats` fields that are not ``connman_stats`` fields (which has
``reserved`` too, deliberately not mirrored)."""

_EAI_NAMES = {
    getattr(socket, name): name for name in dir(socket) if name.startswith("EAI_")
}


def errno_name(value: int) -> str:
    """``"ECONNREFUSED"`` for 111, ``""`` for 0, ``"errno N"`` if unknown."""
    return errno.errorcode.get(value, f"errno {value}") if value else ""


def eai_name(value: int) -> str:
    """``"EAI_NONAME"`` for getaddrinfo's -2, ``""`` for 0, ``"EAI N"`` if unknown."""
    return _EAI_NAMES.get(value, f"EAI {value}") if value else ""


_S = TypeVar("_S", bound="DataclassInstance")


def snapshot(cls: type[_S], c: Structure, **override: object) -> _S:
    """Dataclass ``cls`` made of the same-named fields of C struct ``c`` (and
    of ``override``)."""
    values = {
        f.name: override[f.name] if f.name in override else getattr(c, f.name)
        for f in dataclasses.fields(cls)
    }
    return cls(**values)


class Connection(Handle):
    """A managed connection (a ``connman_conn`` handle).

    Obtained from :func:`connect`, :func:`get_connection`, :meth:`Pool.next`,
    :meth:`Pool.get_connection`, :func:`connection_from_fd`, or passed to handler
    methods. Two ``Connection`` objects are equal when they wrap the same handle.
    Using it as a context manager disconnects it on exit.

    The descriptor (:meth:`fileno`) is the same number for the connection's whole
    life, across reconnects. Write to it directly (``os.write``, or
    ``socket.send(..., socket.MSG_NOSIGNAL)``) or use :meth:`send`; never close it
    (a ``socket.socket(fileno=...)`` wrapper must be ``detach()``-ed, not closed).
    After ``on_close`` the handle is stale and every method raises
    :class:`NotFoundError`.
    """

    __slots__ = ()

    @property
    def _c(self) -> connman_conn:
        return connman_conn(self._id)

    @classmethod
    def from_fd(cls, fd: object) -> Connection:
        """The connection whose descriptor is ``fd`` (an int or an object with
        ``fileno()``). Raises :class:`NotFoundError` if no connection has it."""
        n = _args.fd(fd)
        out = connman_conn()
        check(lib().connman_conn_from_fd(n, byref(out)), "connman_conn_from_fd")
        return cls(out.id)

    def fileno(self) -> int:
        """The connection's descriptor: the same number from connect until
        ``on_close``, across every reconnect. Do not close it. Raises
        :class:`NotFoundError` once the connection is closed."""
        fd = lib().connman_fd(self._c)
        if fd < 0:
            raise NotFoundError(
                _ffi.CONNMAN_ERR_NOT_FOUND, None, "connman_fd",
                f"connman_fd: connection {self._id} is closed (or was never issued)",
            )
        return fd

    def send(self, data: bytes | bytearray | memoryview) -> None:
        """Queues ``data`` (any bytes-like object) to be sent, all or nothing.

        Never raises SIGPIPE. Raises :class:`NotConnectedError` while the
        connection is down (between ``on_reset`` and ``on_reconnect``, or before
        the first connect), :class:`WouldBlockError` when the send queue is full
        (retry later), :class:`TooLargeError` when ``data`` exceeds the whole
        queue, :class:`ClosedError` after :meth:`disconnect`, and
        :class:`TypeError` for non-bytes-like data (``str`` included).
        """
        if not isinstance(data, bytes):
            if isinstance(data, str):
                raise TypeError("data must be bytes-like, not str (encode it first)")
            try:
                data = memoryview(data).tobytes()
            except TypeError:
                raise TypeError(
                    f"data must be a bytes-like object, not {type(data).__name__}"
                ) from None
        # A bytes object's buffer, read in place by the library during the call.
        ptr = ctypes.cast(ctypes.c_char_p(data), POINTER(c_uint8))
        check(lib().connman_send(self._c, ptr, len(data)), "connman_send")

    def disconnect(self) -> None:
        """Closes the connection for good, in any state and from any thread or
        handler. ``on_close`` follows on the library thread. A second call raises
        :class:`ClosedError`; after ``on_close``, :class:`NotFoundError`."""
        check(lib().connman_disconnect(self._c), "connman_disconnect")

    def stats(self) -> Stats:
        """A :class:`Stats` snapshot of the connection's state and counters."""
        s = connman_stats()
        check(lib().connman_get_stats(self._c, byref(s)), "connman_get_stats")
        state: State | int = s.state
        try:
            state = State(s.state)
        except ValueError:  # a newer library's state: keep the number
            pass
        return snapshot(
            Stats,
            s,
            state=state,
            last_error_name=errno_name(s.last_error),
            last_resolve_error_name=eai_name(s.last_resolve_error),
        )

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Waits until the connection is up (state ``CONNECTED``): returns at
        once if it is, else when the first connect or the next reconnect
        succeeds, once the handler's ``on_connect`` / ``on_reconnect`` has
        returned (a coroutine one under :mod:`connman.asyncio`: once it first
        suspended; it may still be running).

        Works on any asyncio loop: under :mod:`connman.asyncio` (the loop runs
        the library), and in threaded mode too (the library's thread wakes the
        awaiting loop), from any number of tasks. Raises ``TimeoutError`` after
        ``timeout`` seconds (None: no limit; the connection keeps being retried
        either way), :class:`ClosedError` if the connection is disconnected
        first (or already was), and :class:`NotFoundError` for a stale handle.
        """
        import asyncio

        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        _waiters.add(self._id, future)  # first, so that no wake-up is missed
        try:
            state = self.stats().state
            if state == State.CONNECTED:
                return
            if state in (State.CLOSING, State.CLOSED):
                raise ClosedError(
                    _ffi.CONNMAN_ERR_CLOSED, None, None, f"connection {self._id} is closing"
                )
            try:
                up = await asyncio.wait_for(future, timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(
                    f"connection {self._id} not connected within {timeout} s"
                ) from None
            if not up:
                raise ClosedError(
                    _ffi.CONNMAN_ERR_CLOSED, None, None,
                    f"connection {self._id} was closed before it connected",
                )
        finally:
            _waiters.remove(self._id, future)

    def __repr__(self) -> str:
        return f"<connman.Connection id={self._id}>"


def connection_from_fd(fd: object) -> Connection:
    """The connection whose descriptor is ``fd``; see :meth:`Connection.from_fd`."""
    return Connection.from_fd(fd)


def _open(
    function: str,
    handler: object,
    options: OptionsLike,
    call: Callable[[_Ptr[connman_handler], _Ptr[connman_options], _Ptr[connman_conn]], int],
) -> Connection:
    """Opens a connection with ``call(handler, options, out)`` (C ``function``):
    the handler registered for as long as the connection lives."""
    if handler is None:
        raise TypeError("handler must be an object (one with no methods is fine), not None")
    copts = to_c(options)
    key = _callbacks.register(handler)
    try:
        ch = _callbacks.c_handler(key, handler)
        out = connman_conn()
        rc = call(byref(ch), byref(copts) if copts is not None else None, byref(out))
    except BaseException:
        _callbacks.unregister(key)
        raise
    if rc != _ffi.CONNMAN_OK:
        _callbacks.unregister(key)  # no connection: no callback will ever come
        raise error(rc, function)
    return Connection(out.id)


def connect(port: int, host: str, handler: Handler, options: OptionsLike = None) -> Connection:
    """Opens a managed connection to ``host``:``port`` and keeps it open until
    disconnected.

    Returns at once; ``handler.on_connect(conn)`` runs on the library thread when
    the first connect succeeds. Until then, and after every drop, the connection
    is retried forever with backoff. ``handler`` is any object with some of the
    :class:`Handler` methods; the library keeps it alive until its ``on_close``,
    even if you keep no reference. ``options``: ``None``, a dict, or
    :class:`Options`.

    Raises ``TypeError``/``ValueError`` for bad arguments (port not an int in
    1..65535, empty host, unknown option...), :class:`InvalidArgumentError`
    (a ``ValueError`` naming the field) for option values the library rejects,
    :class:`ResolveError` for a host that cannot be resolved (unless
    ``resolve_in_background`` is set).
    """
    p = _args.port(port)
    h = _args.host(host)
    library = lib()
    return _open(
        "connman_connect", handler, options,
        lambda ch, opts, out: library.connman_connect(p, h, ch, opts, out),
    )


def connect_unix(path: str | os.PathLike[str], handler: Handler, options: OptionsLike = None) -> Connection:
    """Opens a managed connection to the Unix domain socket at ``path`` and keeps
    it open until disconnected, exactly as :func:`connect` does for TCP: a stable
    :meth:`~Connection.fileno`, reconnect with backoff when the server's socket
    goes away and comes back (``Stats.last_error_name`` is ``"ENOENT"`` or
    ``"ECONNREFUSED"`` meanwhile), pools, disconnect.

    ``path`` is a filesystem path (a ``str`` or ``os.PathLike``, at most 107
    UTF-8 bytes), or ``"@name"`` for Linux's abstract namespace (``name`` at most
    107 bytes). The TCP options (``keepalive_*``, ``user_timeout_ms``,
    ``nodelay``) are ignored. Raises ``TypeError`` for a path that is not a str
    (bytes included) and ``ValueError`` for an empty or too long path or one
    with a NUL character; no handler method is ever called then.
    """
    raw = _args.unix_path(path)
    library = lib()
    return _open(
        "connman_connect_unix", handler, options,
        lambda ch, opts, out: library.connman_connect_unix(raw, ch, opts, out),
    )


def get_connection(port: int, host: str) -> Connection:
    """The most recent live single (non-pool) connection to exactly this ``host``
    string and ``port`` ("localhost" and "127.0.0.1" are different). Raises
    :class:`NotFoundError` if there is none."""
    p = _args.port(port)
    h = _args.host(host)
    out = connman_conn()
    check(lib().connman_get_connection(p, h, byref(out)), "connman_get_connection")
    return Connection(out.id)


def get_connection_unix(path: str | os.PathLike[str]) -> Connection:
    """The most recent live single (non-pool) connection to exactly this Unix
    socket ``path`` (as given to :func:`connect_unix`). Raises
    :class:`NotFoundError` if there is none; bad paths as for
    :func:`connect_unix`."""
    raw = _args.unix_path(path)
    out = connman_conn()
    check(lib().connman_get_connection_unix(raw, byref(out)), "connman_get_connection_unix")
    return Connection(out.id)
