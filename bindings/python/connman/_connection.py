"""Single connections: :class:`Connection`, :func:`connect`, its state and stats."""

from __future__ import annotations

import ctypes
import dataclasses
import enum
from ctypes import POINTER, byref, c_uint8
from typing import TYPE_CHECKING, TypeVar

from . import _args, _callbacks, _ffi
from ._errors import NotFoundError, check, error
from ._ffi import connman_conn, connman_stats
from ._handle import Handle
from ._loader import lib
from ._options import OptionsLike, to_c

if TYPE_CHECKING:
    from ctypes import Structure

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
    last_resolve_error: int
    """getaddrinfo's ``EAI_*`` code of the last failed resolution, 0 if none."""
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
    """Bytes waiting in the send queue now."""


_S = TypeVar("_S", bound="DataclassInstance")


def snapshot(cls: type[_S], c: Structure, **override: object) -> _S:
    """Dataclass ``cls`` made of the same-named fields of C struct ``c``."""
    values = {f.name: getattr(c, f.name) for f in dataclasses.fields(cls)}
    values.update(override)
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
            raise NotFoundError(_ffi.CONNMAN_ERR_NOT_FOUND, None, "connman_fd")
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
        try:
            state = State(s.state)
        except ValueError:  # a newer library's state: keep the number
            return snapshot(Stats, s)
        return snapshot(Stats, s, state=state)

    def __repr__(self) -> str:
        return f"<connman.Connection id={self._id}>"


def connection_from_fd(fd: object) -> Connection:
    """The connection whose descriptor is ``fd``; see :meth:`Connection.from_fd`."""
    return Connection.from_fd(fd)


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
    1..65535, empty host, unknown option...), :class:`ResolveError` for a host
    that cannot be resolved.
    """
    p = _args.port(port)
    h = _args.host(host)
    if handler is None:
        raise TypeError("handler must be an object (one with no methods is fine), not None")
    copts = to_c(options)
    library = lib()
    key = _callbacks.register(handler)
    try:
        ch = _callbacks.c_handler(key, handler)
        out = connman_conn()
        rc = library.connman_connect(
            p, h, byref(ch), byref(copts) if copts is not None else None, byref(out)
        )
    except BaseException:
        _callbacks.unregister(key)
        raise
    if rc != _ffi.CONNMAN_OK:
        _callbacks.unregister(key)  # no connection: no callback will ever come
        raise error(rc, "connman_connect")
    return Connection(out.id)


def get_connection(port: int, host: str) -> Connection:
    """The most recent live single (non-pool) connection to exactly this ``host``
    string and ``port`` ("localhost" and "127.0.0.1" are different). Raises
    :class:`NotFoundError` if there is none."""
    p = _args.port(port)
    h = _args.host(host)
    out = connman_conn()
    check(lib().connman_get_connection(p, h, byref(out)), "connman_get_connection")
    return Connection(out.id)
