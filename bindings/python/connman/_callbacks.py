"""Handlers and pool factories: their types, and the C callbacks that call them.

The library calls five trampolines (one per handler method) and one factory
trampoline, all created once. Their ``ctx`` is a small integer, a key into a
table of live handlers (or of factories), so no Python object's address is
ever handed to C and a handler lives exactly until its ``on_close``.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import inspect
import itertools
import logging
import sys
import threading
from typing import TYPE_CHECKING, Awaitable, Callable, Iterator, Protocol, TypeAlias, TypeVar

from . import _connection, _ffi, _waiters
from ._ffi import connman_conn, connman_handler, connman_pool
from ._loader import lib

if TYPE_CHECKING:
    from ctypes import _CFunctionType, _Pointer, c_uint8

    from ._connection import Connection

logger = logging.getLogger("connman")


MethodResult: TypeAlias = "Awaitable[object] | None"
"""What a handler method returns: nothing, or (an ``async def`` method, under
:mod:`connman.asyncio`) an awaitable."""


class Handler(Protocol):
    """What a connection's handler is: an object with these five methods.

    Subclass ``connman.Handler`` and override the methods you need: the others
    do nothing and cost nothing (the library never calls them). To the library,
    any object with some of these methods is a handler, missing ones being
    no-ops; for a type checker, a class is a handler when it subclasses this one
    or defines all five. Which methods exist is checked once, when the
    connection is made.

    Order: ``on_connect`` exactly once, first; then ``on_reset`` and
    ``on_reconnect`` alternate; ``on_data`` only while connected; ``on_close``
    exactly once, last, after a disconnect or shutdown.

    Threading: every method runs on the library's thread, one call at a time, and
    holds the GIL only for its own duration: keep handlers short and never block
    in them (a slow handler delays every connection). With
    ``connman.configure(threads=N)``, N > 1, methods of different connections may
    run at the same time on different threads (those of one connection never
    do). Under :mod:`connman.asyncio` every method runs on the loop's thread, and
    methods may be coroutine functions (``async def``). Any connman function may
    be called from a handler (:func:`connman.shutdown` excepted). An exception a
    method raises is logged on the ``"connman"`` logger and otherwise ignored:
    the connection keeps being managed.
    """

    def on_connect(self, conn: Connection, /) -> MethodResult:
        """The first connect succeeded (exactly once, before any other call).
        ``conn.fileno()`` is the descriptor, stable across reconnects."""
        return None

    def on_reset(self, conn: Connection, /) -> MethodResult:
        """An established connection dropped. Writes fail until ``on_reconnect``;
        data in flight is lost (retransmit after ``on_reconnect`` if needed)."""
        return None

    def on_reconnect(self, conn: Connection, /) -> MethodResult:
        """The connection is back, on the same descriptor number."""
        return None

    def on_data(self, conn: Connection, data: bytes, /) -> MethodResult:
        """``data`` (non-empty) arrived."""
        return None

    def on_close(self, conn: Connection, /) -> MethodResult:
        """Closed for good after a disconnect or shutdown; the last call."""
        return None


H = TypeVar("H", bound=Handler)
H_co = TypeVar("H_co", bound=Handler, covariant=True)


class FactoryWithIndex(Protocol[H_co]):
    """A pool factory that takes the new member's index: ``factory(index)``."""

    def __call__(self, index: int, /) -> H_co: ...


class FactoryWithoutIndex(Protocol[H_co]):
    """A pool factory that takes no argument, ``factory()``: a handler class
    whose constructor needs no argument is one."""

    def __call__(self) -> H_co: ...


Factory: TypeAlias = FactoryWithIndex[H] | FactoryWithoutIndex[H]
"""What :func:`connman.create_pool` takes: a callable making the handler of
each new member, called as ``factory(index)`` if it requires a positional
argument, else as ``factory()``."""


# ---------------------------------------------------------------------------
# Live handlers, keyed by their C ctx


class _Entry:
    """A live handler: the object, the :class:`Connection` given to its methods,
    which of its methods are coroutine functions, and (under
    :mod:`connman.asyncio`) the calls queued behind a running coroutine."""

    __slots__ = ("handler", "conn", "coroutines", "pending")

    def __init__(self, handler: object) -> None:
        self.handler = handler
        self.conn: Connection | None = None
        self.coroutines = coroutine_methods(handler)
        self.pending: collections.deque[Call] | None = None  # see Runner

    def connection(self, conn_id: int) -> Connection:
        c = self.conn
        if c is None or c.id != conn_id:
            c = self.conn = _connection.Connection(conn_id)
        return c


METHODS = ("on_connect", "on_reset", "on_reconnect", "on_data", "on_close")


def coroutine_methods(handler: object) -> frozenset[str]:
    """The names of ``handler``'s methods that are coroutine functions."""
    return frozenset(
        name for name in METHODS if inspect.iscoroutinefunction(getattr(handler, name, None))
    )


Call: TypeAlias = "tuple[str, Callable[..., object], tuple[object, ...], object]"
"""A queued handler call: method name, function, arguments, and the awaitable it
already returned (None: not called yet)."""


class Runner(Protocol):
    """Runs handler method ``method`` of ``entry`` as ``fn(*args)``, instead of
    a plain call (:mod:`connman.asyncio` installs one)."""

    def __call__(
        self, entry: _Entry, method: str, fn: Callable[..., object], args: tuple[object, ...], /
    ) -> None: ...


_runner: Runner | None = None


def set_runner(runner: Runner | None) -> None:
    """Installs (or, with None, removes) what runs handler methods."""
    global _runner
    _runner = runner


handlers: dict[int, _Entry] = {}
_handlers_lock = threading.Lock()
_keys = itertools.count(1)  # 0 would be a NULL ctx


def register(handler: object) -> int:
    """Adds ``handler`` to the table; its key is the ctx to give the library.
    Refuses (TypeError) a handler with coroutine methods when nothing can run
    them (no :func:`connman.asyncio.attach`)."""
    entry = _Entry(handler)
    if entry.coroutines and _runner is None:
        raise TypeError(
            f"{type(handler).__name__}.{min(entry.coroutines)} is a coroutine function "
            "(async def): run connman on an asyncio loop with connman.asyncio.attach() first"
        )
    key = next(_keys)
    with _handlers_lock:
        handlers[key] = entry
    return key


def unregister(key: int) -> None:
    with _handlers_lock:
        handlers.pop(key, None)


def handler_of(ctx: int | None) -> object | None:
    """The handler whose key is ``ctx``, or None once its ``on_close`` ran."""
    entry = handlers.get(ctx) if ctx else None
    return entry.handler if entry is not None else None


def report(
    handler: object, method: str, conn_id: int, exc: BaseException | None = None
) -> None:
    """Logs ``exc`` (default: the exception being handled), raised by
    ``handler``'s ``method``."""
    try:
        logger.error(
            "connman: %s.%s raised (connection %d); the connection stays managed",
            type(handler).__name__,
            method,
            conn_id,
            exc_info=exc if exc is not None else True,
        )
    except BaseException:  # a broken logging setup: never into the library
        sys.stderr.write(f"connman: {type(handler).__name__}.{method} raised; cannot log it\n")


def call(entry: _Entry, method: str, fn: Callable[..., object], args: tuple[object, ...]) -> object:
    """``fn(*args)``, its exception logged; returns what it returned (None if it raised)."""
    try:
        return fn(*args)
    except BaseException:
        report(entry.handler, method, entry.conn.id if entry.conn else 0)
        return None


def _dispatch(ctx: int | None, conn_id: int, method: str, *args: bytes) -> None:
    entry = handlers.get(ctx) if ctx else None  # a dict lookup is atomic
    if entry is None:
        return
    try:
        fn = getattr(entry.handler, method, None)
        if fn is None:
            return
        full = (entry.connection(conn_id), *args)
        runner = _runner
        if runner is not None:
            runner(entry, method, fn, full)
            return
    except BaseException:
        report(entry.handler, method, conn_id)
        return
    result = call(entry, method, fn, full)
    if result is not None and inspect.isawaitable(result):  # nothing here can await it
        close_awaitable(result)
        logger.error(
            "connman: %s.%s returned an awaitable, but no asyncio loop runs connman "
            "(connman.asyncio.attach()); it was not run (connection %d)",
            type(entry.handler).__name__,
            method,
            conn_id,
        )


def close_awaitable(awaitable: object) -> None:
    """Closes a coroutine that will never run (so Python does not warn about it)."""
    close = getattr(awaitable, "close", None)
    if callable(close):
        try:
            close()
        except BaseException:  # pragma: no cover - defensive
            pass


def _on_connect(ctx: int | None, conn: connman_conn, fd: int) -> None:
    # The waiters of Connection.wait_connected wake after the handler's method.
    _dispatch(ctx, conn.id, "on_connect")
    _waiters.wake(conn.id)


def _on_reset(ctx: int | None, conn: connman_conn) -> None:
    _dispatch(ctx, conn.id, "on_reset")


def _on_reconnect(ctx: int | None, conn: connman_conn, fd: int) -> None:
    _dispatch(ctx, conn.id, "on_reconnect")
    _waiters.wake(conn.id)


def _on_data(ctx: int | None, conn: connman_conn, data: _Pointer[c_uint8], length: int) -> None:
    try:
        payload = ctypes.string_at(data, length)
    except BaseException:  # pragma: no cover - defensive
        logger.exception("connman: cannot read on_data payload")
        return
    _dispatch(ctx, conn.id, "on_data", payload)


def _on_close(ctx: int | None, conn: connman_conn) -> None:
    # on_close is the last callback: the library never uses ctx again, so the
    # table entry (and with it the handler) is dropped here.
    try:
        _waiters.wake(conn.id, closed=True)
        _dispatch(ctx, conn.id, "on_close")
    finally:
        if ctx:
            unregister(ctx)


# Module-level trampolines: created once and kept alive for the module's life.
_C_ON_CONNECT = _ffi.connman_handler_on_connect(_on_connect)
_C_ON_RESET = _ffi.connman_handler_on_reset(_on_reset)
_C_ON_RECONNECT = _ffi.connman_handler_on_reconnect(_on_reconnect)
_C_ON_DATA = _ffi.connman_handler_on_data(_on_data)
_C_ON_CLOSE = _ffi.connman_handler_on_close(_on_close)

_OPTIONAL_CALLBACKS: tuple[tuple[str, _CFunctionType], ...] = (
    ("on_reset", _C_ON_RESET),
    ("on_data", _C_ON_DATA),
)


def _implements(handler: object, name: str) -> bool:
    """True if ``handler`` has method ``name``, other than Handler's no-op."""
    fn = getattr(handler, name, None)
    return callable(fn) and getattr(fn, "__func__", None) is not getattr(Handler, name)


def c_handler(key: int, handler: object) -> connman_handler:
    """The ``connman_handler`` for ``handler``, registered under ``key``."""
    h = connman_handler()
    h.ctx = key
    for name, tramp in _OPTIONAL_CALLBACKS:
        # Leave absent methods NULL: the library then never takes the GIL for them.
        if _implements(handler, name):
            setattr(h, name, tramp)
    # Always: they wake Connection.wait_connected (rare events, unlike on_data).
    h.on_connect = _C_ON_CONNECT
    h.on_reconnect = _C_ON_RECONNECT
    h.on_close = _C_ON_CLOSE  # always: it also drops the table entry
    return h


# ---------------------------------------------------------------------------
# Pool factories, keyed by their C factory_ctx


class _FactoryEntry:
    __slots__ = ("factory", "make", "pool_id")

    def __init__(self, factory: object, make: Callable[[int], object]) -> None:
        self.factory = factory
        self.make = make
        self.pool_id = 0


class FactoryCalls:
    """What the factory did during one ``connman_pool_add`` on this thread."""

    def __init__(self) -> None:
        self.keys: list[int] = []  # handlers it made
        self.exception: BaseException | None = None

    def discard(self) -> None:
        """Drops the handlers made for a member that was not added."""
        for key in self.keys:
            unregister(key)


factories: dict[int, _FactoryEntry] = {}
_factories_lock = threading.Lock()
_tls = threading.local()


def _wants_index(factory: Callable[..., object]) -> bool:
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


def register_factory(factory: Callable[..., object]) -> int:
    """Adds ``factory`` to the table; its key is the factory_ctx to give the library."""
    sweep_factories()
    if _wants_index(factory):
        make: Callable[[int], object] = factory
    else:
        make = lambda index: factory()  # noqa: E731
    key = next(_keys)
    with _factories_lock:
        factories[key] = _FactoryEntry(factory, make)
    return key


def bind_factory(key: int, pool_id: int) -> None:
    """Records which pool the factory under ``key`` serves."""
    with _factories_lock:
        factories[key].pool_id = pool_id


def factory_keys() -> list[int]:
    """The keys of the factories of every pool created so far."""
    with _factories_lock:
        return [k for k, e in factories.items() if e.pool_id]


@contextlib.contextmanager
def factory_calls() -> Iterator[FactoryCalls]:
    """Collects what the factory does on this thread inside the block."""
    calls = FactoryCalls()
    outer = getattr(_tls, "calls", None)  # a factory may add to another pool
    _tls.calls = calls
    try:
        yield calls
    finally:
        _tls.calls = outer


def _factory(fctx: int | None, index: int, out: _Pointer[connman_handler]) -> int:
    calls: FactoryCalls | None = getattr(_tls, "calls", None)
    key = 0
    try:
        entry = factories.get(fctx) if fctx else None
        if entry is None:
            logger.error("connman: pool factory called for an unknown pool; refused")
            return _ffi.CONNMAN_ERR_FACTORY
        handler = entry.make(index)
        if handler is None:
            raise TypeError(f"pool factory {entry.factory!r} returned None, not a handler")
        key = register(handler)
        out[0] = c_handler(key, handler)
        if calls is not None:
            calls.keys.append(key)
        return _ffi.CONNMAN_OK
    except BaseException as e:
        if key:
            unregister(key)
        if calls is not None:
            calls.exception = e
        logger.exception("connman: pool factory raised for member %d; member refused", index)
        return _ffi.CONNMAN_ERR_FACTORY


C_FACTORY = _ffi.connman_handler_factory(_factory)


def _pool_is_stale(pool_id: int) -> bool:
    n = ctypes.c_size_t()
    rc = lib().connman_pool_size(connman_pool(pool_id), ctypes.byref(n))
    return rc == _ffi.CONNMAN_ERR_NOT_FOUND


def sweep_factories(only: list[int] | None = None) -> None:
    """Drops the factories of pools that no longer exist (or those of ``only``)."""
    with _factories_lock:
        items = list(factories.items())
    if only is not None:
        dead = [key for key, _ in items if key in only]
    else:
        dead = [key for key, e in items if e.pool_id and _pool_is_stale(e.pool_id)]
    if dead:
        with _factories_lock:
            for key in dead:
                factories.pop(key, None)


def drop_factory_of(pool_id: int) -> None:
    """Drops the factory of a pool that was disconnected (never called again)."""
    with _factories_lock:
        for key, entry in list(factories.items()):
            if entry.pool_id == pool_id:
                del factories[key]
