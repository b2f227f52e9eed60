"""The library as a whole: how it runs (its own thread, N threads, or embedded in
the application's loop), disconnecting everything, shutting down, versions."""

from __future__ import annotations

import atexit
from ctypes import byref
from typing import Callable

from . import _callbacks, _ffi, _logging
from ._args import integer
from ._errors import StateError, check, last_error_message
from ._loader import lib, on_load


def configure(threads: int = 1) -> None:
    """Sets how the library runs from its next start on (it starts with the first
    :func:`connect`, :meth:`Pool.add_connection` or :func:`event_fd`).

    ``threads`` = N >= 1 (default 1): N library I/O threads; connections are
    spread over them, and all handler methods of one connection run on one of
    them, one at a time (those of different connections may run at the same
    time when N > 1). ``threads`` = 0: embedded mode, no library thread: the
    application watches :func:`event_fd` in its own loop and calls
    :func:`dispatch`, inside which every handler method runs
    (:func:`connman.asyncio.attach` does both for asyncio).

    Allowed before the first connection and after :func:`shutdown`; otherwise
    :class:`StateError` and nothing changes. ``configure()`` restores the
    default. Also re-reads the ``connman`` logger's level (see
    :func:`set_log_level`).
    """
    n = integer(threads, "threads")
    if not 0 <= n <= _ffi.CONNMAN_MAX_THREADS:
        raise ValueError(f"threads must be in 0..{_ffi.CONNMAN_MAX_THREADS}, got {n}")
    library = lib()
    config = library.connman_config_default()
    config.threads = n
    check(library.connman_configure(byref(config)), "connman_configure")
    _logging.set_log_level()


def event_fd() -> int:
    """Embedded mode (``configure(threads=0)``): the descriptor to watch for
    readability in the application's loop; call :func:`dispatch` whenever it is
    readable. It becomes readable whenever the library has work (I/O, a due
    timer, a request from another thread) and stays unreadable while nothing is
    due. Starts the library if needed; the same descriptor until
    :func:`shutdown`, which closes it. Never read, write or close it. Raises
    :class:`StateError` when not in embedded mode."""
    fd = lib().connman_event_fd()
    if fd < 0:
        raise StateError(_ffi.CONNMAN_ERR_STATE, None, "connman_event_fd", last_error_message())
    return fd


def dispatch() -> None:
    """Embedded mode: does the work that is ready on this thread (every handler
    method runs inside this call) and returns without blocking; harmless when
    nothing is ready. Raises :class:`StateError` when not in embedded mode and
    :class:`InCallbackError` from inside a handler."""
    check(lib().connman_dispatch(), "connman_dispatch")


def disconnect_all() -> None:
    """Disconnects every connection and every pool. Returns at once; the
    ``on_close`` calls follow on the library thread (in embedded mode: at the
    next :func:`dispatch`)."""
    library = lib()
    before = _callbacks.factory_keys()
    check(library.connman_disconnect_all(), "connman_disconnect_all")
    _callbacks.sweep_factories(only=before)  # those pools are disconnected: never called again


def shutdown() -> None:
    """Disconnects everything and waits until every ``on_close`` has run and the
    library's threads have exited (in embedded mode it does the remaining work
    itself, on this thread). Every handle becomes stale; a later :func:`connect`
    starts the library afresh, as configured. Raises :class:`InCallbackError`
    from inside a handler. Called automatically at interpreter exit.

    While :mod:`connman.asyncio` is attached, this is
    :func:`connman.asyncio.detach`: the loop stops watching the library, which
    shuts down, and the default configuration is restored."""
    override = _shutdown_override
    if override is not None:
        override()
    else:
        shutdown_library()


def shutdown_library() -> None:
    """``connman_shutdown``, then drops the factories of the pools it closed."""
    check(lib().connman_shutdown(), "connman_shutdown")
    _callbacks.sweep_factories()


_shutdown_override: Callable[[], None] | None = None


def set_shutdown_override(fn: Callable[[], None] | None) -> None:
    """Has :func:`shutdown` call ``fn`` instead (:mod:`connman.asyncio` while
    attached: it must stop watching the event fd first); None: the default."""
    global _shutdown_override
    _shutdown_override = fn


def version() -> str:
    """The C library's version, e.g. ``"1.0.0"`` (``connman.__version__`` is the
    package's; the bundled library's is the same)."""
    raw = lib().connman_version()
    return raw.decode("utf-8", "replace") if raw else "unknown"


def _atexit_shutdown() -> None:
    # Stop the library's threads before the interpreter finalizes, so that they
    # never call into a dying interpreter, then send the library's messages back
    # to stderr (no Python hook is called after this).
    try:
        shutdown()
    except BaseException:  # pragma: no cover - nothing sensible to do at exit
        try:
            lib().connman_shutdown()
        except BaseException:
            pass
    try:
        _logging.uninstall()
    except BaseException:  # pragma: no cover
        pass


def _on_library_loaded() -> None:
    atexit.register(_atexit_shutdown)


on_load(_on_library_loaded)
