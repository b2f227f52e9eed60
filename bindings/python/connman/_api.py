"""The connman Python API (re-exported by the ``connman`` package)."""

from __future__ import annotations

import atexit
import ctypes
import dataclasses
import enum
import inspect
import itertools
import logging
import operator
import threading
from ctypes import POINTER, byref, c_int, c_size_t, c_uint8, c_void_p
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

from . import _ffi
from ._ffi import (
    connman_conn,
    connman_handler,
    connman_options,
    connman_pool,
    connman_pool_stats,
    connman_stats,
)

logger = logging.getLogger("connman")

# ---------------------------------------------------------------------------
# Codes and errors


class ErrorCode(enum.IntEnum):
    """The C library's ``connman_result`` codes (``CONNMAN_OK``, ``CONNMAN_ERR_*``)."""

    OK = _ffi.CONNMAN_OK
    INVALID_ARGUMENT = _ffi.CONNMAN_ERR_INVALID_ARGUMENT
    NOT_FOUND = _ffi.CONNMAN_ERR_NOT_FOUND
    CLOSED = _ffi.CONNMAN_ERR_CLOSED
    NOT_CONNECTED = _ffi.CONNMAN_ERR_NOT_CONNECTED
    WOULD_BLOCK = _ffi.CONNMAN_ERR_WOULD_BLOCK
    EXISTS = _ffi.CONNMAN_ERR_EXISTS
    PANIC = _ffi.CONNMAN_ERR_PANIC
    RESOLVE = _ffi.CONNMAN_ERR_RESOLVE
    TOO_LARGE = _ffi.CONNMAN_ERR_TOO_LARGE
    FACTORY = _ffi.CONNMAN_ERR_FACTORY
    IN_CALLBACK = _ffi.CONNMAN_ERR_IN_CALLBACK
    OS = _ffi.CONNMAN_ERR_OS


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


class ConnmanError(Exception):
    """An error code returned by the C library.

    Attributes:
        code: the ``connman_result`` (an :class:`ErrorCode` when known, else an int).
        name: the C name of the code, e.g. ``"CONNMAN_ERR_NOT_FOUND"``.
        message: the library's description (``connman_strerror``).
        function: the C function that returned it, when known.

    A subclass is raised for each code (e.g. :class:`NotFoundError` for
    ``CONNMAN_ERR_NOT_FOUND``), so ``except connman.ConnmanError`` catches them all.
    """

    code: Union[ErrorCode, int]
    name: str
    message: str
    function: Optional[str]

    def __init__(
        self, code: int, message: Optional[str] = None, function: Optional[str] = None
    ) -> None:
        try:
            code = ErrorCode(code)
        except ValueError:
            pass
        self.code = code
        if isinstance(code, ErrorCode):
            self.name = "CONNMAN_OK" if code == 0 else "CONNMAN_ERR_" + code.name
        else:
            self.name = f"connman error {int(code)}"
        if message is None:
            try:
                message = _ffi.strerror(int(code))
            except Exception:  # library not loadable: still a usable error
                message = self.name
        self.message = message
        self.function = function
        super().__init__(int(code), message)

    def __str__(self) -> str:
        where = f"{self.function}: " if self.function else ""
        return f"{where}{self.message} ({self.name})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({int(self.code)!r}, {self.message!r}, {self.function!r})"

    def __reduce__(self):  # pickles as its constructor call
        return (type(self), (int(self.code), self.message, self.function))


class InvalidArgumentError(ConnmanError, ValueError):
    """``CONNMAN_ERR_INVALID_ARGUMENT``: the library rejected an argument (e.g. an
    option value out of its range). Also a :class:`ValueError`."""


class NotFoundError(ConnmanError):
    """``CONNMAN_ERR_NOT_FOUND``: unknown or stale handle, or unknown pool name."""


class PoolIndexError(NotFoundError, IndexError):
    """A pool member index out of range (``CONNMAN_ERR_NOT_FOUND``). Also an
    :class:`IndexError`."""


class ClosedError(ConnmanError):
    """``CONNMAN_ERR_CLOSED``: disconnect was already requested."""


class NotConnectedError(ConnmanError):
    """``CONNMAN_ERR_NOT_CONNECTED``: not up right now (or, for :meth:`Pool.next`,
    no member is)."""


class WouldBlockError(ConnmanError):
    """``CONNMAN_ERR_WOULD_BLOCK``: the send queue is full; nothing was queued."""


class ExistsError(ConnmanError):
    """``CONNMAN_ERR_EXISTS``: a pool with this name already exists."""


class PanicError(ConnmanError):
    """``CONNMAN_ERR_PANIC``: an internal library bug was caught."""


class ResolveError(ConnmanError):
    """``CONNMAN_ERR_RESOLVE``: the host name could not be resolved."""


class TooLargeError(ConnmanError):
    """``CONNMAN_ERR_TOO_LARGE``: the message exceeds the whole send queue."""


class FactoryError(ConnmanError):
    """``CONNMAN_ERR_FACTORY``: the pool's factory raised or returned no handler
    (the original exception, if any, is chained as ``__cause__``)."""


class InCallbackError(ConnmanError):
    """``CONNMAN_ERR_IN_CALLBACK``: not allowed from inside a connman callback
    (:func:`shutdown`), or re-entered from a pool's own factory."""


class LibraryOSError(ConnmanError):
    """``CONNMAN_ERR_OS``: an operating-system call failed (descriptors, threads,
    memory)."""


_ERROR_CLASSES: Dict[int, type] = {
    ErrorCode.INVALID_ARGUMENT: InvalidArgumentError,
    ErrorCode.NOT_FOUND: NotFoundError,
    ErrorCode.CLOSED: ClosedError,
    ErrorCode.NOT_CONNECTED: NotConnectedError,
    ErrorCode.WOULD_BLOCK: WouldBlockError,
    ErrorCode.EXISTS: ExistsError,
    ErrorCode.PANIC: PanicError,
    ErrorCode.RESOLVE: ResolveError,
    ErrorCode.TOO_LARGE: TooLargeError,
    ErrorCode.FACTORY: FactoryError,
    ErrorCode.IN_CALLBACK: InCallbackError,
    ErrorCode.OS: LibraryOSError,
}


def _error(code: int, function: Optional[str] = None) -> ConnmanError:
    cls = _ERROR_CLASSES.get(code, ConnmanError)
    return cls(code, None, function)


def _check(code: int, function: str) -> None:
    if code != _ffi.CONNMAN_OK:
        raise _error(code, function)


def _lib() -> ctypes.CDLL:
    return _ffi.lib()


# ---------------------------------------------------------------------------
# Argument checks (before anything reaches C)


def _check_port(port: Any) -> int:
    if isinstance(port, bool):
        raise TypeError("port must be an int, not bool")
    try:
        p = operator.index(port)
    except TypeError:
        raise TypeError(f"port must be an int, not {type(port).__name__}") from None
    if not 1 <= p <= 65535:
        raise ValueError(f"port must be in 1..65535, got {p}")
    return p


def _check_text(value: Any, what: str, limit: int) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{what} must not be empty")
    if "\0" in value:
        raise ValueError(f"{what} must not contain NUL characters")
    try:
        raw = value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"{what} is not encodable as UTF-8: {e}") from None
    if len(raw) > limit:
        raise ValueError(f"{what} is {len(raw)} bytes long; at most {limit} are allowed")
    return raw


def _check_index(index: Any) -> int:
    if isinstance(index, bool):
        raise TypeError("index must be an int, not bool")
    try:
        i = operator.index(index)
    except TypeError:
        raise TypeError(f"index must be an int, not {type(index).__name__}") from None
    if i < 0:
        raise IndexError(f"pool index must not be negative, got {i}")
    return i


# ---------------------------------------------------------------------------
# Options


@dataclasses.dataclass
class Options:
    """Options of one connection; ``None`` leaves a field at the library default.

    Pass an ``Options``, a ``dict`` with the same keys, or ``None`` (all defaults)
    as the ``options`` argument of :func:`connect` and :meth:`Pool.add_connection`.
    Times are in milliseconds. :meth:`Options.defaults` shows the library's
    defaults. Values the library rejects raise :class:`InvalidArgumentError` (a
    :class:`ValueError`).
    """

    backoff_initial_ms: Optional[int] = None
    """Delay before the first retry after a failed attempt (default 10; >= 1)."""
    backoff_max_ms: Optional[int] = None
    """Ceiling of the doubling backoff (default 128000; >= backoff_initial_ms)."""
    connect_timeout_ms: Optional[int] = None
    """Longest time one connect attempt may take (default 10000; >= 1)."""
    idle_timeout_ms: Optional[int] = None
    """Reset the connection when nothing was received for this long (0: off)."""
    healthy_after_ms: Optional[int] = None
    """A connection dropping sooner than this after connecting counts as a failed
    attempt, so the backoff keeps growing (default 1000)."""
    send_queue_limit: Optional[int] = None
    """Bytes :meth:`Connection.send` may hold queued (default 1 MiB; 1 to 1 GiB)."""
    keepalive_idle_ms: Optional[int] = None
    """TCP keepalive idle time before the first probe (default 30000; 0: off)."""
    keepalive_interval_ms: Optional[int] = None
    """TCP keepalive interval between probes (default 10000)."""
    keepalive_count: Optional[int] = None
    """TCP keepalive probes before the peer is declared dead (default 3; 1..127)."""
    user_timeout_ms: Optional[int] = None
    """TCP_USER_TIMEOUT (default 60000; 0: the system's default)."""
    nodelay: Optional[Union[int, bool]] = None
    """TCP_NODELAY: 1/True (default) disables Nagle's algorithm, 0/False keeps it."""
    recovery_backoff_max_ms: Optional[int] = None
    """Backoff ceiling while a recently healthy connection is being re-established
    (default 250; 0: off), so a restarted server is found again quickly."""
    recovery_window_ms: Optional[int] = None
    """How long after a healthy connection dropped that ceiling applies (default 10000)."""

    @classmethod
    def defaults(cls) -> Options:
        """The library's default values (``connman_options_default()``)."""
        c = _lib().connman_options_default()
        return cls(**{name: getattr(c, name) for name in _OPTION_FIELDS})

    def to_dict(self) -> Dict[str, Optional[int]]:
        """The fields as a dict (``None`` for library defaults)."""
        return dataclasses.asdict(self)


_OPTION_FIELDS = tuple(f.name for f in dataclasses.fields(Options))

OptionsLike = Union[Options, Mapping[str, Any], None]


def _c_options(options: OptionsLike) -> Optional[connman_options]:
    if options is None:
        return None
    if isinstance(options, Options):
        values = options.to_dict()
    elif isinstance(options, Mapping):
        unknown = [k for k in options if k not in _OPTION_FIELDS]
        if unknown:
            raise TypeError(
                f"unknown option(s) {', '.join(map(repr, unknown))}; "
                f"valid options are: {', '.join(_OPTION_FIELDS)}"
            )
        values = dict(options)
    else:
        raise TypeError(
            f"options must be None, a dict or connman.Options, not {type(options).__name__}"
        )
    c = _lib().connman_options_default()
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool) and name != "nodelay":
            raise TypeError(f"option {name} must be an int, not bool")
        try:
            v = operator.index(value)
        except TypeError:
            raise TypeError(
                f"option {name} must be an int, not {type(value).__name__}"
            ) from None
        if not 0 <= v <= 0xFFFFFFFF:
            raise ValueError(f"option {name} must be in 0..4294967295, got {v}")
        setattr(c, name, v)
    return c


# ---------------------------------------------------------------------------
# Stats


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


@dataclasses.dataclass(frozen=True)
class PoolStats:
    """A snapshot of a pool (``connman_pool_stats``), from :meth:`Pool.stats`."""

    members: int
    """Members ever added: valid indexes are ``0 .. members-1``."""
    connected: int
    """Members connected now."""
    closed: int
    """Members whose ``on_close`` has run."""


# ---------------------------------------------------------------------------
# Handlers: a table of live handlers keyed by small integers (the C ctx)


class Handler:
    """Optional base class documenting the handler interface.

    A handler is *any* object with some of these methods; missing ones are no-ops
    (subclassing this class is not required). Which methods exist is checked once,
    when the connection is created.

    Every method runs on the library's single thread, one call at a time, and
    holds the GIL only for its own duration: keep handlers short and never block
    in them (a slow handler delays every connection). Any connman function may be
    called from a handler (:func:`shutdown` excepted). An exception raised by a
    handler method is logged on the ``"connman"`` logger and otherwise ignored:
    the connection keeps being managed.
    """

    def on_connect(self, conn: Connection) -> None:
        """The first connect succeeded (exactly once, before any other call).
        ``conn.fileno()`` is the descriptor, stable across reconnects."""

    def on_reset(self, conn: Connection) -> None:
        """An established connection dropped. Writes fail until ``on_reconnect``;
        data in flight is lost (retransmit after ``on_reconnect`` if needed)."""

    def on_reconnect(self, conn: Connection) -> None:
        """The connection is back, on the same descriptor number."""

    def on_data(self, conn: Connection, data: bytes) -> None:
        """``data`` (non-empty) arrived."""

    def on_close(self, conn: Connection) -> None:
        """Closed for good after a disconnect or shutdown; the last call."""


class _Entry:
    __slots__ = ("handler", "conn")

    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self.conn: Optional[Connection] = None

    def connection(self, conn_id: int) -> Connection:
        c = self.conn
        if c is None or c._id != conn_id:
            c = self.conn = Connection(conn_id)
        return c


_handlers: Dict[int, _Entry] = {}
_handlers_lock = threading.Lock()
_keys = itertools.count(1)  # 0 would be a NULL ctx


def _register(handler: Any) -> int:
    key = next(_keys)
    with _handlers_lock:
        _handlers[key] = _Entry(handler)
    return key


def _unregister(key: int) -> None:
    with _handlers_lock:
        _handlers.pop(key, None)


def _dispatch(ctx: Optional[int], conn_id: int, method: str, *args: Any) -> None:
    entry = _handlers.get(ctx) if ctx else None  # a dict lookup is atomic
    if entry is None:
        return
    handler = entry.handler
    try:
        fn = getattr(handler, method, None)
        if fn is not None:
            fn(entry.connection(conn_id), *args)
    except BaseException:
        logger.exception(
            "connman: %s.%s raised (connection %d); the connection stays managed",
            type(handler).__name__,
            method,
            conn_id,
        )


def _on_connect(ctx: Optional[int], conn: connman_conn, fd: int) -> None:
    _dispatch(ctx, conn.id, "on_connect")


def _on_reset(ctx: Optional[int], conn: connman_conn) -> None:
    _dispatch(ctx, conn.id, "on_reset")


def _on_reconnect(ctx: Optional[int], conn: connman_conn, fd: int) -> None:
    _dispatch(ctx, conn.id, "on_reconnect")


def _on_data(ctx: Optional[int], conn: connman_conn, data: Any, length: int) -> None:
    try:
        payload = ctypes.string_at(data, length)
    except BaseException:  # pragma: no cover - defensive
        logger.exception("connman: cannot read on_data payload")
        return
    _dispatch(ctx, conn.id, "on_data", payload)


def _on_close(ctx: Optional[int], conn: connman_conn) -> None:
    # on_close is the last callback: the library never uses ctx again, so the
    # table entry (and with it the handler) is dropped here.
    try:
        _dispatch(ctx, conn.id, "on_close")
    finally:
        if ctx:
            _unregister(ctx)


# Module-level trampolines: created once and kept alive for the module's life.
_C_ON_CONNECT = _ffi.ON_CONNECT(_on_connect)
_C_ON_RESET = _ffi.ON_RESET(_on_reset)
_C_ON_RECONNECT = _ffi.ON_RECONNECT(_on_reconnect)
_C_ON_DATA = _ffi.ON_DATA(_on_data)
_C_ON_CLOSE = _ffi.ON_CLOSE(_on_close)

_OPTIONAL_CALLBACKS = (
    ("on_connect", _C_ON_CONNECT),
    ("on_reset", _C_ON_RESET),
    ("on_reconnect", _C_ON_RECONNECT),
    ("on_data", _C_ON_DATA),
)


def _c_handler(key: int, handler: Any) -> connman_handler:
    h = connman_handler()
    h.ctx = key
    for name, tramp in _OPTIONAL_CALLBACKS:
        # Leave absent methods NULL: the library then never takes the GIL for them.
        if callable(getattr(handler, name, None)):
            setattr(h, name, tramp)
    h.on_close = _C_ON_CLOSE  # always: it drops the table entry
    return h


# ---------------------------------------------------------------------------
# Pool factories: a table keyed by integers (the C factory_ctx)


class _FactoryEntry:
    __slots__ = ("factory", "pass_index", "pool_id")

    def __init__(self, factory: Callable[..., Any], pass_index: bool) -> None:
        self.factory = factory
        self.pass_index = pass_index
        self.pool_id = 0


_factories: Dict[int, _FactoryEntry] = {}
_factories_lock = threading.Lock()
_tls = threading.local()


def _wants_index(factory: Callable[..., Any]) -> bool:
    """True if ``factory`` requires a positional argument (or takes ``*args``)."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return False
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            return True
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty:
            return True
    return False


def _factory(fctx: Optional[int], index: int, out: Any) -> int:
    key = 0
    try:
        entry = _factories.get(fctx) if fctx else None
        if entry is None:
            logger.error("connman: pool factory called for an unknown pool; refused")
            return _ffi.CONNMAN_ERR_FACTORY
        handler = entry.factory(index) if entry.pass_index else entry.factory()
        if handler is None:
            raise TypeError(f"pool factory {entry.factory!r} returned None, not a handler")
        key = _register(handler)
        out[0] = _c_handler(key, handler)
        pending = getattr(_tls, "pending", None)
        if pending is not None:
            pending.append(key)
        return _ffi.CONNMAN_OK
    except BaseException as e:
        if key:
            _unregister(key)
        _tls.factory_exc = e
        logger.exception("connman: pool factory raised for member %d; member refused", index)
        return _ffi.CONNMAN_ERR_FACTORY


_C_FACTORY = _ffi.HANDLER_FACTORY(_factory)


def _pool_is_stale(pool_id: int) -> bool:
    n = c_size_t()
    return _lib().connman_pool_size(connman_pool(pool_id), byref(n)) == _ffi.CONNMAN_ERR_NOT_FOUND


def _sweep_factories(only: Optional[List[int]] = None) -> None:
    """Drop factories of pools that no longer exist (or of the given keys)."""
    with _factories_lock:
        items = list(_factories.items())
    dead = []
    for key, entry in items:
        if only is not None:
            if key in only:
                dead.append(key)
        elif entry.pool_id and _pool_is_stale(entry.pool_id):
            dead.append(key)
    if dead:
        with _factories_lock:
            for key in dead:
                _factories.pop(key, None)


def _drop_factory_of(pool_id: int) -> None:
    with _factories_lock:
        for key, entry in list(_factories.items()):
            if entry.pool_id == pool_id:
                del _factories[key]


# ---------------------------------------------------------------------------
# Connection


class Connection:
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

    __slots__ = ("_id", "__weakref__")

    def __init__(self, id: int) -> None:
        """Wraps an existing connection handle id (normally you get a Connection
        from :func:`connect` or a handler call rather than building one)."""
        if isinstance(id, bool) or not isinstance(id, int):
            raise TypeError("id must be an int")
        if not 0 < id < 2**64:
            raise ValueError("id must be in 1..2**64-1")
        self._id = id

    @property
    def id(self) -> int:
        """The handle's id (never 0, never reused)."""
        return self._id

    @property
    def _c(self) -> connman_conn:
        return connman_conn(self._id)

    @classmethod
    def from_fd(cls, fd: Any) -> Connection:
        """The connection whose descriptor is ``fd`` (an int or an object with
        ``fileno()``). Raises :class:`NotFoundError` if no connection has it."""
        if isinstance(fd, bool):
            raise TypeError("fd must be an int, not bool")
        if not isinstance(fd, int) and hasattr(fd, "fileno"):
            fd = fd.fileno()
        try:
            n = operator.index(fd)
        except TypeError:
            raise TypeError(f"fd must be an int, not {type(fd).__name__}") from None
        if n < 0:
            raise ValueError(f"fd must not be negative, got {n}")
        if n > 0x7FFFFFFF:
            raise ValueError(f"fd out of range: {n}")
        out = connman_conn()
        _check(_lib().connman_conn_from_fd(n, byref(out)), "connman_conn_from_fd")
        return cls(out.id)

    def fileno(self) -> int:
        """The connection's descriptor: the same number from connect until
        ``on_close``, across every reconnect. Do not close it. Raises
        :class:`NotFoundError` once the connection is closed."""
        fd = _lib().connman_fd(self._c)
        if fd < 0:
            raise NotFoundError(_ffi.CONNMAN_ERR_NOT_FOUND, None, "connman_fd")
        return fd

    def send(self, data: Union[bytes, bytearray, memoryview]) -> None:
        """Queues ``data`` (any bytes-like object) to be sent, all or nothing.

        Never raises SIGPIPE. Raises :class:`NotConnectedError` while the
        connection is down (between ``on_reset`` and ``on_reconnect``, or before
        the first connect), :class:`WouldBlockError` when the send queue is full
        (retry later), :class:`TooLargeError` when ``data`` exceeds the whole
        queue, :class:`ClosedError` after :meth:`disconnect`, and
        :class:`TypeError` for non-bytes-like data (``str`` included).
        """
        if isinstance(data, bytes):
            buf: Any = data
            n = len(data)
            ptr: Any = ctypes.cast(data, POINTER(c_uint8))
        else:
            if isinstance(data, str):
                raise TypeError("data must be bytes-like, not str (encode it first)")
            try:
                mv = memoryview(data)
            except TypeError:
                raise TypeError(
                    f"data must be a bytes-like object, not {type(data).__name__}"
                ) from None
            buf = mv.tobytes()
            n = len(buf)
            ptr = ctypes.cast(buf, POINTER(c_uint8))
        _check(_lib().connman_send(self._c, ptr, n), "connman_send")

    def disconnect(self) -> None:
        """Closes the connection for good, in any state and from any thread or
        handler. ``on_close`` follows on the library thread. A second call raises
        :class:`ClosedError`; after ``on_close``, :class:`NotFoundError`."""
        _check(_lib().connman_disconnect(self._c), "connman_disconnect")

    def stats(self) -> Stats:
        """A :class:`Stats` snapshot of the connection's state and counters."""
        s = connman_stats()
        _check(_lib().connman_get_stats(self._c, byref(s)), "connman_get_stats")
        try:
            state: Any = State(s.state)
        except ValueError:
            state = s.state
        return Stats(
            state=state,
            last_error=s.last_error,
            last_resolve_error=s.last_resolve_error,
            connects=s.connects,
            resets=s.resets,
            attempts=s.attempts,
            consecutive_failures=s.consecutive_failures,
            bytes_received=s.bytes_received,
            bytes_sent=s.bytes_sent,
            bytes_discarded=s.bytes_discarded,
            send_queue_bytes=s.send_queue_bytes,
        )

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.disconnect()
        except (ClosedError, NotFoundError):
            pass

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Connection):
            return self._id == other._id
        return NotImplemented

    def __hash__(self) -> int:
        return hash((Connection, self._id))

    def __repr__(self) -> str:
        return f"<connman.Connection id={self._id}>"


def connection_from_fd(fd: Any) -> Connection:
    """The connection whose descriptor is ``fd``; see :meth:`Connection.from_fd`."""
    return Connection.from_fd(fd)


# ---------------------------------------------------------------------------
# Pool


class Pool:
    """A named pool of connections whose handlers come from a factory.

    Obtained from :func:`create_pool` or :func:`get_pool`. Members are indexed
    0, 1, 2, ... in the order of :meth:`add_connection`; indexes never change.
    ``len(pool)`` is the number of members ever added. Using it as a context
    manager disconnects the pool on exit.
    """

    __slots__ = ("_id", "_name", "__weakref__")

    def __init__(self, id: int, name: Optional[str] = None) -> None:
        """Wraps an existing pool handle id (use :func:`create_pool` or
        :func:`get_pool` instead)."""
        if isinstance(id, bool) or not isinstance(id, int):
            raise TypeError("id must be an int")
        if not 0 < id < 2**64:
            raise ValueError("id must be in 1..2**64-1")
        self._id = id
        self._name = name

    @property
    def id(self) -> int:
        """The handle's id (never 0)."""
        return self._id

    @property
    def name(self) -> Optional[str]:
        """The pool's name, as given to :func:`create_pool` or :func:`get_pool`."""
        return self._name

    @property
    def _c(self) -> connman_pool:
        return connman_pool(self._id)

    def add_connection(self, port: int, host: str, options: OptionsLike = None) -> int:
        """Adds a member connected to ``host``:``port`` and returns its index.

        The factory is called (on this thread) with the new index to make the
        member's handler. Raises :class:`FactoryError` if the factory raised or
        returned ``None`` (the cause is chained and logged), :class:`ResolveError`
        for an unresolvable host, :class:`ClosedError` if the pool was
        disconnected, ``TypeError``/``ValueError`` for bad arguments.
        """
        p = _check_port(port)
        h = _check_text(host, "host", _ffi.CONNMAN_MAX_HOST_LEN)
        copts = _c_options(options)
        out = c_size_t()
        prev_pending = getattr(_tls, "pending", None)
        pending: List[int] = []
        _tls.pending = pending
        _tls.factory_exc = None
        try:
            rc = _lib().connman_pool_add(
                self._c, p, h, byref(copts) if copts is not None else None, byref(out)
            )
        finally:
            _tls.pending = prev_pending
            exc = getattr(_tls, "factory_exc", None)
            _tls.factory_exc = None
        if rc != _ffi.CONNMAN_OK:
            for key in pending:  # handlers made for a member that was not added
                _unregister(key)
            err = _error(rc, "connman_pool_add")
            if exc is not None and rc == _ffi.CONNMAN_ERR_FACTORY:
                raise err from exc
            raise err
        return out.value

    def _index_error(self, rc: int, index: int, function: str) -> ConnmanError:
        if rc == _ffi.CONNMAN_ERR_NOT_FOUND:
            n = c_size_t()
            if _lib().connman_pool_size(self._c, byref(n)) == _ffi.CONNMAN_OK:
                return PoolIndexError(
                    rc, f"pool index {index} out of range (pool has {n.value} members)", function
                )
        return _error(rc, function)

    def get_connection(self, index: int) -> Connection:
        """The :class:`Connection` of member ``index``. Raises :class:`IndexError`
        (:class:`PoolIndexError`) for an index out of range and
        :class:`ClosedError` if that member is closed."""
        i = _check_index(index)
        fd = c_int()
        rc = _lib().connman_pool_get_connection(self._c, i, byref(fd))
        if rc != _ffi.CONNMAN_OK:
            raise self._index_error(rc, i, "connman_pool_get_connection")
        out = connman_conn()
        rc = _lib().connman_pool_conn(self._c, i, byref(out))
        if rc != _ffi.CONNMAN_OK:
            raise self._index_error(rc, i, "connman_pool_conn")
        return Connection(out.id)

    def get_handler(self, index: int) -> Any:
        """The handler object the factory made for member ``index``. Raises
        :class:`IndexError` for an index out of range and :class:`ClosedError` if
        that member is closed."""
        i = _check_index(index)
        ctx = c_void_p()
        rc = _lib().connman_pool_get_handler(self._c, i, byref(ctx))
        if rc != _ffi.CONNMAN_OK:
            raise self._index_error(rc, i, "connman_pool_get_handler")
        entry = _handlers.get(ctx.value) if ctx.value else None
        if entry is None:  # its on_close ran meanwhile
            raise ClosedError(_ffi.CONNMAN_ERR_CLOSED, None, "connman_pool_get_handler")
        return entry.handler

    def next(self) -> Connection:
        """Round robin over the members connected right now. Raises
        :class:`NotConnectedError` when none is, :class:`ClosedError` once the
        pool is disconnected."""
        out = connman_conn()
        _check(_lib().connman_pool_next(self._c, byref(out)), "connman_pool_next")
        return Connection(out.id)

    def __len__(self) -> int:
        n = c_size_t()
        _check(_lib().connman_pool_size(self._c, byref(n)), "connman_pool_size")
        return n.value

    def __bool__(self) -> bool:  # an empty pool is still a pool
        return True

    def stats(self) -> PoolStats:
        """A :class:`PoolStats` snapshot: members, connected, closed."""
        s = connman_pool_stats()
        _check(_lib().connman_pool_get_stats(self._c, byref(s)), "connman_pool_get_stats")
        return PoolStats(members=s.members, connected=s.connected, closed=s.closed)

    def disconnect(self) -> None:
        """Disconnects every member (each gets ``on_close``). The pool takes no new
        members afterwards; its name is released once every member's
        ``on_close`` has run. A second call raises :class:`ClosedError`."""
        _check(_lib().connman_pool_disconnect(self._c), "connman_pool_disconnect")
        _drop_factory_of(self._id)  # the factory is never called again

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.disconnect()
        except (ClosedError, NotFoundError):
            pass

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Pool):
            return self._id == other._id
        return NotImplemented

    def __hash__(self) -> int:
        return hash((Pool, self._id))

    def __repr__(self) -> str:
        return f"<connman.Pool id={self._id} name={self._name!r}>"


# ---------------------------------------------------------------------------
# Module functions


def connect(port: int, host: str, handler: Any, options: OptionsLike = None) -> Connection:
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
    p = _check_port(port)
    h = _check_text(host, "host", _ffi.CONNMAN_MAX_HOST_LEN)
    if handler is None:
        raise TypeError("handler must be an object (one with no methods is fine), not None")
    copts = _c_options(options)
    lib = _lib()
    key = _register(handler)
    try:
        ch = _c_handler(key, handler)
        out = connman_conn()
        rc = lib.connman_connect(
            p, h, byref(ch), byref(copts) if copts is not None else None, byref(out)
        )
    except BaseException:
        _unregister(key)
        raise
    if rc != _ffi.CONNMAN_OK:
        _unregister(key)  # no connection: no callback will ever come
        raise _error(rc, "connman_connect")
    return Connection(out.id)


def get_connection(port: int, host: str) -> Connection:
    """The most recent live single (non-pool) connection to exactly this ``host``
    string and ``port`` ("localhost" and "127.0.0.1" are different). Raises
    :class:`NotFoundError` if there is none."""
    p = _check_port(port)
    h = _check_text(host, "host", _ffi.CONNMAN_MAX_HOST_LEN)
    out = connman_conn()
    _check(_lib().connman_get_connection(p, h, byref(out)), "connman_get_connection")
    return Connection(out.id)


def create_pool(name: str, factory: Callable[..., Any]) -> Pool:
    """Creates an empty pool named ``name`` whose members get their handlers from
    ``factory``.

    The factory is called on the thread calling :meth:`Pool.add_connection`, as
    ``factory(index)`` if it requires a positional argument, else ``factory()``
    (so a handler class with a no-argument constructor is a factory). It must
    return a handler. Raises :class:`ExistsError` if the name is taken (including
    by a pool still closing).
    """
    n = _check_text(name, "pool name", _ffi.CONNMAN_MAX_POOL_NAME_LEN)
    if not callable(factory):
        raise TypeError(f"factory must be callable, not {type(factory).__name__}")
    lib = _lib()
    _sweep_factories()
    entry = _FactoryEntry(factory, _wants_index(factory))
    fkey = next(_keys)
    with _factories_lock:
        _factories[fkey] = entry
    out = connman_pool()
    try:
        rc = lib.connman_pool_create(n, _C_FACTORY, fkey, byref(out))
    except BaseException:
        _sweep_factories(only=[fkey])
        raise
    if rc != _ffi.CONNMAN_OK:
        _sweep_factories(only=[fkey])
        raise _error(rc, "connman_pool_create")
    entry.pool_id = out.id
    return Pool(out.id, name)


def get_pool(name: str) -> Pool:
    """Finds a pool by name (a disconnected pool is found until every member's
    ``on_close`` has run). Raises :class:`NotFoundError` if there is none."""
    n = _check_text(name, "pool name", _ffi.CONNMAN_MAX_POOL_NAME_LEN)
    out = connman_pool()
    _check(_lib().connman_pool_find(n, byref(out)), "connman_pool_find")
    return Pool(out.id, name)


def disconnect_all() -> None:
    """Disconnects every connection and every pool. Returns at once; the
    ``on_close`` calls follow on the library thread."""
    lib = _lib()
    with _factories_lock:
        before = [k for k, e in _factories.items() if e.pool_id]
    _check(lib.connman_disconnect_all(), "connman_disconnect_all")
    _sweep_factories(only=before)  # those pools are disconnected: never called again


def shutdown() -> None:
    """Disconnects everything and waits until every ``on_close`` has run and the
    library's threads have exited. Every handle becomes stale; a later
    :func:`connect` starts the library afresh. Raises :class:`InCallbackError`
    from inside a handler. Called automatically at interpreter exit."""
    _check(_lib().connman_shutdown(), "connman_shutdown")
    _sweep_factories()


def version() -> str:
    """The C library's version, e.g. ``"0.1.0"``."""
    raw = _lib().connman_version()
    return raw.decode("utf-8", "replace") if raw else "unknown"


def library_path() -> str:
    """Where the C library was loaded from (loading it if needed)."""
    return _ffi.lib_path()


def _atexit_shutdown() -> None:
    # Stop the library thread before the interpreter finalizes, so that it never
    # calls into a dying interpreter.
    try:
        _ffi.lib().connman_shutdown()
    except BaseException:  # pragma: no cover - nothing sensible to do at exit
        pass


def _on_library_loaded() -> None:
    atexit.register(_atexit_shutdown)


_ffi._on_load.append(_on_library_loaded)
