"""connman: keep TCP client connections alive.

connman opens a connection to host:port, hands you the raw socket descriptor
(write to it directly, or use :meth:`Connection.send`), tells your handler when
the connection drops and when it is back, delivers incoming bytes, and
re-establishes broken connections by itself, with backoff, forever, until you
disconnect. The descriptor number stays the same across reconnects. Connections
can be grouped in named pools built from a handler factory.

This package wraps the C library ``libconnman`` with ctypes. The library is
looked for, on first use, at ``$CONNMAN_LIBRARY`` if set (and only there), else
next to this package, else in the source tree's ``target/release`` and
``target/debug``, else among the system's libraries.

Example::

    import connman

    class Echo:
        def on_connect(self, conn):
            conn.send(b"hello")
        def on_reset(self, conn):
            print("dropped; will reconnect")
        def on_reconnect(self, conn):
            conn.send(b"hello again")
        def on_data(self, conn, data):
            print("got", data)

    conn = connman.connect(7000, "127.0.0.1", Echo())
    ...
    conn.disconnect()

Handlers: any object with some of ``on_connect(conn)``, ``on_reset(conn)``,
``on_reconnect(conn)``, ``on_data(conn, data)``, ``on_close(conn)``; missing
methods are no-ops (see :class:`Handler`). ``on_connect`` runs exactly once and
first; ``on_reset`` and ``on_reconnect`` then alternate; ``on_close`` runs once,
last, after a disconnect or shutdown. The library keeps the handler alive until
its ``on_close``, even when you keep no reference to it.

Threading: every handler method runs on the library's own thread, one at a
time, and holds the GIL only for the duration of the call. Do not block in a
handler: a slow handler delays every other connection. Every function may be
called from any thread and from inside handlers (:func:`shutdown` excepted).
An exception raised by a handler is logged on the ``"connman"`` logger (see
:mod:`logging`) and the connection keeps being managed.

Errors from the library are raised as :class:`ConnmanError` subclasses (with
``code``, ``name`` and ``message``); bad arguments raise ``TypeError`` or
``ValueError`` before reaching the library. :func:`shutdown` is registered with
:mod:`atexit`, so the library's thread stops before the interpreter does.
"""

from ._api import (
    ClosedError,
    Connection,
    ConnmanError,
    ErrorCode,
    ExistsError,
    FactoryError,
    Handler,
    InCallbackError,
    InvalidArgumentError,
    LibraryOSError,
    NotConnectedError,
    NotFoundError,
    Options,
    PanicError,
    Pool,
    PoolIndexError,
    PoolStats,
    ResolveError,
    State,
    Stats,
    TooLargeError,
    WouldBlockError,
    connect,
    connection_from_fd,
    create_pool,
    disconnect_all,
    get_connection,
    get_pool,
    library_path,
    shutdown,
    version,
)
from ._ffi import LibraryNotFoundError

__version__ = "0.1.0"

# Show the public names as connman.X (help(), reprs, tracebacks, pickling).
for _name in (
    "Connection", "Pool", "Handler", "Options", "Stats", "PoolStats", "State", "ErrorCode",
    "ConnmanError", "InvalidArgumentError", "NotFoundError", "PoolIndexError", "ClosedError",
    "NotConnectedError", "WouldBlockError", "ExistsError", "PanicError", "ResolveError",
    "TooLargeError", "FactoryError", "InCallbackError", "LibraryOSError", "LibraryNotFoundError",
    "connect", "get_connection", "connection_from_fd", "create_pool", "get_pool",
    "disconnect_all", "shutdown", "version", "library_path",
):
    globals()[_name].__module__ = __name__
del _name

__all__ = [
    # functions
    "connect",
    "get_connection",
    "connection_from_fd",
    "create_pool",
    "get_pool",
    "disconnect_all",
    "shutdown",
    "version",
    "library_path",
    # classes
    "Connection",
    "Pool",
    "Handler",
    "Options",
    "Stats",
    "PoolStats",
    "State",
    "ErrorCode",
    # errors
    "ConnmanError",
    "InvalidArgumentError",
    "NotFoundError",
    "PoolIndexError",
    "ClosedError",
    "NotConnectedError",
    "WouldBlockError",
    "ExistsError",
    "PanicError",
    "ResolveError",
    "TooLargeError",
    "FactoryError",
    "InCallbackError",
    "LibraryOSError",
    "LibraryNotFoundError",
]
