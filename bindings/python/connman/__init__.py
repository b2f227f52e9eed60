"""connman: keep TCP and Unix-socket client connections alive.

connman opens a connection to host:port (:func:`connect`) or to a Unix socket
(:func:`connect_unix`), hands you the raw socket descriptor
(write to it directly, or use :meth:`Connection.send`), tells your handler when
the connection drops and when it is back, delivers incoming bytes, and
re-establishes broken connections by itself, with backoff, forever, until you
disconnect. The descriptor number stays the same across reconnects. Connections
can be grouped in named pools built from a handler factory.

This package wraps the C library ``libconnman`` with ctypes; ``pip install``
builds the library and bundles it inside the package. It is loaded on first
use: from ``$CONNMAN_LIBRARY`` if set (and only from there), else the bundled
copy (used in place from a source tree, the most recently built of it and
``target/{debug,release}``), else the system's (see :func:`library_path`).

Example::

    import connman

    class Echo(connman.Handler):
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
methods are no-ops. Subclass :class:`Handler` (a ``typing.Protocol`` whose
methods do nothing) and override what you need, so that type checkers know the
class is a handler. ``on_connect`` runs exactly once and first; ``on_reset``
and ``on_reconnect`` then alternate; ``on_close`` runs once, last, after a
disconnect or shutdown. The library keeps the handler alive until
its ``on_close``, even when you keep no reference to it.

Threading: every handler method runs on the library's own thread, one at a
time, and holds the GIL only for the duration of the call. Do not block in a
handler: a slow handler delays every other connection. Every function may be
called from any thread and from inside handlers (:func:`shutdown` excepted).
An exception raised by a handler is logged on the ``"connman"`` logger (see
:mod:`logging`) and the connection keeps being managed. :func:`configure`
chooses N library threads, or none: embedded mode, where the application
watches :func:`event_fd` and calls :func:`dispatch`; :mod:`connman.asyncio`
does that on an asyncio loop, where handler methods may be coroutines.

Errors from the library are raised as :class:`ConnmanError` subclasses (with
``code``, ``name``, ``message`` and ``detail``, the library's explanation of
this very failure, which names the bad argument); bad arguments raise
``TypeError`` or ``ValueError`` before reaching the library. The library's own
messages (failed attempts, resets, reconnects) are records of the ``"connman"``
logger (see :func:`set_log_level`). :func:`shutdown` is registered with
:mod:`atexit`, so the library's thread stops before the interpreter does.
"""

import types as _types

from ._callbacks import Factory, FactoryWithIndex, FactoryWithoutIndex, Handler
from ._connection import (
    Connection,
    State,
    Stats,
    connect,
    connect_unix,
    connection_from_fd,
    get_connection,
    get_connection_unix,
)
from ._errors import (
    ClosedError,
    ConnmanError,
    ErrorCode,
    ExistsError,
    FactoryError,
    ForkedError,
    InCallbackError,
    InvalidArgumentError,
    LibraryOSError,
    NotConnectedError,
    NotFoundError,
    PanicError,
    PoolIndexError,
    ResolveError,
    StateError,
    TooLargeError,
    WouldBlockError,
)
from ._loader import LibraryNotFoundError, library_path
from ._logging import set_log_level
from ._options import Options, OptionsLike
from ._pool import Pool, PoolStats, create_pool, get_pool
from ._runtime import configure, disconnect_all, dispatch, event_fd, shutdown, version
from ._version import __version__

__all__ = [
    # functions
    "connect",
    "connect_unix",
    "get_connection",
    "get_connection_unix",
    "connection_from_fd",
    "create_pool",
    "get_pool",
    "disconnect_all",
    "shutdown",
    "configure",
    "event_fd",
    "dispatch",
    "set_log_level",
    "version",
    "library_path",
    # classes
    "Connection",
    "Pool",
    "Options",
    "Stats",
    "PoolStats",
    "State",
    "ErrorCode",
    # typing
    "Handler",
    "Factory",
    "FactoryWithIndex",
    "FactoryWithoutIndex",
    "OptionsLike",
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
    "ForkedError",
    "StateError",
    "LibraryNotFoundError",
    # the package's version (Cargo.toml's)
    "__version__",
]

# Show the public names as connman.X (help(), reprs, tracebacks, pickling).
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, (type, _types.FunctionType)):
        _obj.__module__ = __name__
del _name, _obj, _types
