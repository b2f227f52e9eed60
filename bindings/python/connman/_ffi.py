"""ctypes mirror of include/connman.h: constants, types, struct layouts,
callback types and function signatures, in header order.

Generated from the header by bindings/python/tools/generate.py; do not edit.
After the header changes, run ``python3 bindings/python/tools/generate.py``:
``.ci/run`` fails while this file is not what the generator makes of the header.
Nothing here is public API; include/connman.h documents every item.
"""

from __future__ import annotations

from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char_p,
    c_int,
    c_int32,
    c_size_t,
    c_uint16,
    c_uint32,
    c_uint64,
    c_uint8,
    c_void_p,
)
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ctypes import Array, _CArgObject, _CData, _CDataType, _CFunctionType, _Pointer
    from typing import TypeAlias, TypeVar

    _CT = TypeVar("_CT", bound=_CData)
    # What a pointer parameter accepts: a pointer, an array, byref(x) or NULL.
    _Ptr: TypeAlias = "_Pointer[_CT] | Array[_CT] | _CArgObject | None"

# ---------------------------------------------------------------------------
# Constants

CONNMAN_VERSION_MAJOR = 1
CONNMAN_VERSION_MINOR = 0
CONNMAN_VERSION_PATCH = 0
CONNMAN_MAX_HOST_LEN = 253
CONNMAN_MAX_UNIX_PATH_LEN = 107
CONNMAN_MAX_POOL_NAME_LEN = 255
CONNMAN_MAX_THREADS = 64
CONNMAN_OK = 0
CONNMAN_ERR_INVALID_ARGUMENT = 1
CONNMAN_ERR_NOT_FOUND = 2
CONNMAN_ERR_CLOSED = 3
CONNMAN_ERR_NOT_CONNECTED = 4
CONNMAN_ERR_WOULD_BLOCK = 5
CONNMAN_ERR_EXISTS = 6
CONNMAN_ERR_PANIC = 7
CONNMAN_ERR_RESOLVE = 8
CONNMAN_ERR_TOO_LARGE = 9
CONNMAN_ERR_FACTORY = 10
CONNMAN_ERR_IN_CALLBACK = 11
CONNMAN_ERR_OS = 12
CONNMAN_ERR_FORKED = 13
CONNMAN_ERR_STATE = 14
CONNMAN_STATE_CONNECTING = 0
CONNMAN_STATE_CONNECTED = 1
CONNMAN_STATE_RECONNECTING = 2
CONNMAN_STATE_CLOSING = 3
CONNMAN_STATE_CLOSED = 4
CONNMAN_LOG_ERROR = 1
CONNMAN_LOG_WARN = 2
CONNMAN_LOG_INFO = 3
CONNMAN_LOG_DEBUG = 4


# ---------------------------------------------------------------------------
# Types

connman_result = c_int32


class connman_conn(Structure):
    id: int


connman_conn._fields_ = [
    ("id", c_uint64),
]


class connman_pool(Structure):
    id: int


connman_pool._fields_ = [
    ("id", c_uint64),
]


class connman_handler(Structure):
    ctx: int | None
    on_connect: _CFunctionType
    on_reset: _CFunctionType
    on_reconnect: _CFunctionType
    on_data: _CFunctionType
    on_close: _CFunctionType


connman_handler_on_connect = CFUNCTYPE(None, c_void_p, connman_conn, c_int)


connman_handler_on_reset = CFUNCTYPE(None, c_void_p, connman_conn)


connman_handler_on_reconnect = CFUNCTYPE(None, c_void_p, connman_conn, c_int)


connman_handler_on_data = CFUNCTYPE(None, c_void_p, connman_conn, POINTER(c_uint8), c_size_t)


connman_handler_on_close = CFUNCTYPE(None, c_void_p, connman_conn)


connman_handler._fields_ = [
    ("ctx", c_void_p),
    ("on_connect", connman_handler_on_connect),
    ("on_reset", connman_handler_on_reset),
    ("on_reconnect", connman_handler_on_reconnect),
    ("on_data", connman_handler_on_data),
    ("on_close", connman_handler_on_close),
]


connman_handler_factory = CFUNCTYPE(connman_result, c_void_p, c_size_t, POINTER(connman_handler))


class connman_options(Structure):
    backoff_initial_ms: int
    backoff_max_ms: int
    connect_timeout_ms: int
    idle_timeout_ms: int
    healthy_after_ms: int
    send_queue_limit: int
    keepalive_idle_ms: int
    keepalive_interval_ms: int
    keepalive_count: int
    user_timeout_ms: int
    nodelay: int
    recovery_backoff_max_ms: int
    recovery_window_ms: int
    resolve_in_background: int
    send_while_reconnecting: int
    reserved: Array[c_uint32]


connman_options._fields_ = [
    ("backoff_initial_ms", c_uint32),
    ("backoff_max_ms", c_uint32),
    ("connect_timeout_ms", c_uint32),
    ("idle_timeout_ms", c_uint32),
    ("healthy_after_ms", c_uint32),
    ("send_queue_limit", c_uint32),
    ("keepalive_idle_ms", c_uint32),
    ("keepalive_interval_ms", c_uint32),
    ("keepalive_count", c_uint32),
    ("user_timeout_ms", c_uint32),
    ("nodelay", c_uint32),
    ("recovery_backoff_max_ms", c_uint32),
    ("recovery_window_ms", c_uint32),
    ("resolve_in_background", c_uint32),
    ("send_while_reconnecting", c_uint32),
    ("reserved", (c_uint32 * 17)),
]


connman_state = c_int32


class connman_stats(Structure):
    state: int
    last_error: int
    last_resolve_error: int
    connects: int
    resets: int
    attempts: int
    consecutive_failures: int
    bytes_received: int
    bytes_sent: int
    bytes_discarded: int
    send_queue_bytes: int
    reserved: Array[c_uint64]


connman_stats._fields_ = [
    ("state", connman_state),
    ("last_error", c_int32),
    ("last_resolve_error", c_int32),
    ("connects", c_uint64),
    ("resets", c_uint64),
    ("attempts", c_uint64),
    ("consecutive_failures", c_uint64),
    ("bytes_received", c_uint64),
    ("bytes_sent", c_uint64),
    ("bytes_discarded", c_uint64),
    ("send_queue_bytes", c_uint64),
    ("reserved", (c_uint64 * 8)),
]


class connman_pool_stats(Structure):
    members: int
    connected: int
    closed: int
    reserved: Array[c_uint64]


connman_pool_stats._fields_ = [
    ("members", c_size_t),
    ("connected", c_size_t),
    ("closed", c_size_t),
    ("reserved", (c_uint64 * 5)),
]


class connman_config(Structure):
    threads: int
    reserved: Array[c_uint32]


connman_config._fields_ = [
    ("threads", c_uint32),
    ("reserved", (c_uint32 * 15)),
]


connman_log_level = c_int32


connman_log_fn = CFUNCTYPE(None, c_void_p, connman_log_level, connman_conn, c_char_p)


# ---------------------------------------------------------------------------
# Functions: (name, restype, argtypes), every function of the header once.

FUNCTIONS: tuple[tuple[str, type[_CDataType] | None, tuple[type[_CDataType], ...]], ...] = (
    ("connman_version", c_char_p, ()),
    ("connman_strerror", c_char_p, (connman_result,)),
    ("connman_last_error_message", c_char_p, ()),
    ("connman_options_default", connman_options, ()),
    (
        "connman_connect",
        connman_result,
        (
            c_uint16,
            c_char_p,
            POINTER(connman_handler),
            POINTER(connman_options),
            POINTER(connman_conn),
        ),
    ),
    (
        "connman_connect_unix",
        connman_result,
        (c_char_p, POINTER(connman_handler), POINTER(connman_options), POINTER(connman_conn)),
    ),
    ("connman_get_connection", connman_result, (c_uint16, c_char_p, POINTER(connman_conn))),
    ("connman_get_connection_unix", connman_result, (c_char_p, POINTER(connman_conn))),
    ("connman_fd", c_int, (connman_conn,)),
    ("connman_conn_from_fd", connman_result, (c_int, POINTER(connman_conn))),
    ("connman_send", connman_result, (connman_conn, POINTER(c_uint8), c_size_t)),
    ("connman_disconnect", connman_result, (connman_conn,)),
    ("connman_get_stats", connman_result, (connman_conn, POINTER(connman_stats))),
    (
        "connman_pool_create",
        connman_result,
        (c_char_p, connman_handler_factory, c_void_p, POINTER(connman_pool)),
    ),
    ("connman_pool_find", connman_result, (c_char_p, POINTER(connman_pool))),
    (
        "connman_pool_add",
        connman_result,
        (connman_pool, c_uint16, c_char_p, POINTER(connman_options), POINTER(c_size_t)),
    ),
    (
        "connman_pool_add_unix",
        connman_result,
        (connman_pool, c_char_p, POINTER(connman_options), POINTER(c_size_t)),
    ),
    ("connman_pool_size", connman_result, (connman_pool, POINTER(c_size_t))),
    ("connman_pool_get_connection", connman_result, (connman_pool, c_size_t, POINTER(c_int))),
    ("connman_pool_get_handler", connman_result, (connman_pool, c_size_t, POINTER(c_void_p))),
    ("connman_pool_conn", connman_result, (connman_pool, c_size_t, POINTER(connman_conn))),
    ("connman_pool_next", connman_result, (connman_pool, POINTER(connman_conn))),
    ("connman_pool_get_stats", connman_result, (connman_pool, POINTER(connman_pool_stats))),
    ("connman_pool_disconnect", connman_result, (connman_pool,)),
    ("connman_config_default", connman_config, ()),
    ("connman_configure", connman_result, (POINTER(connman_config),)),
    ("connman_disconnect_all", connman_result, ()),
    ("connman_shutdown", connman_result, ()),
    ("connman_event_fd", c_int, ()),
    ("connman_dispatch", connman_result, ()),
    ("connman_set_log", connman_result, (connman_log_fn, c_void_p, connman_log_level)),
)


class Library(Protocol):
    """The loaded library as ctypes calls it, for type checkers."""

    def connman_version(self, /) -> bytes | None: ...

    def connman_strerror(self, code: int, /) -> bytes | None: ...

    def connman_last_error_message(self, /) -> bytes | None: ...

    def connman_options_default(self, /) -> connman_options: ...

    def connman_connect(
        self,
        port: int,
        host: bytes | None,
        handler: _Ptr[connman_handler],
        options: _Ptr[connman_options],
        out: _Ptr[connman_conn],
        /,
    ) -> int: ...

    def connman_connect_unix(
        self,
        path: bytes | None,
        handler: _Ptr[connman_handler],
        options: _Ptr[connman_options],
        out: _Ptr[connman_conn],
        /,
    ) -> int: ...

    def connman_get_connection(
        self,
        port: int,
        host: bytes | None,
        out: _Ptr[connman_conn],
        /,
    ) -> int: ...

    def connman_get_connection_unix(
        self,
        path: bytes | None,
        out: _Ptr[connman_conn],
        /,
    ) -> int: ...

    def connman_fd(self, conn: connman_conn, /) -> int: ...

    def connman_conn_from_fd(self, fd: int, out: _Ptr[connman_conn], /) -> int: ...

    def connman_send(self, conn: connman_conn, data: _Ptr[c_uint8], len: int, /) -> int: ...

    def connman_disconnect(self, conn: connman_conn, /) -> int: ...

    def connman_get_stats(self, conn: connman_conn, out: _Ptr[connman_stats], /) -> int: ...

    def connman_pool_create(
        self,
        name: bytes | None,
        factory: _CFunctionType | None,
        factory_ctx: int | None,
        out: _Ptr[connman_pool],
        /,
    ) -> int: ...

    def connman_pool_find(self, name: bytes | None, out: _Ptr[connman_pool], /) -> int: ...

    def connman_pool_add(
        self,
        pool: connman_pool,
        port: int,
        host: bytes | None,
        options: _Ptr[connman_options],
        index_out: _Ptr[c_size_t],
        /,
    ) -> int: ...

    def connman_pool_add_unix(
        self,
        pool: connman_pool,
        path: bytes | None,
        options: _Ptr[connman_options],
        index_out: _Ptr[c_size_t],
        /,
    ) -> int: ...

    def connman_pool_size(self, pool: connman_pool, out: _Ptr[c_size_t], /) -> int: ...

    def connman_pool_get_connection(
        self,
        pool: connman_pool,
        index: int,
        fd_out: _Ptr[c_int],
        /,
    ) -> int: ...

    def connman_pool_get_handler(
        self,
        pool: connman_pool,
        index: int,
        ctx_out: _Ptr[c_void_p],
        /,
    ) -> int: ...

    def connman_pool_conn(
        self,
        pool: connman_pool,
        index: int,
        out: _Ptr[connman_conn],
        /,
    ) -> int: ...

    def connman_pool_next(self, pool: connman_pool, out: _Ptr[connman_conn], /) -> int: ...

    def connman_pool_get_stats(
        self,
        pool: connman_pool,
        out: _Ptr[connman_pool_stats],
        /,
    ) -> int: ...

    def connman_pool_disconnect(self, pool: connman_pool, /) -> int: ...

    def connman_config_default(self, /) -> connman_config: ...

    def connman_configure(self, config: _Ptr[connman_config], /) -> int: ...

    def connman_disconnect_all(self, /) -> int: ...

    def connman_shutdown(self, /) -> int: ...

    def connman_event_fd(self, /) -> int: ...

    def connman_dispatch(self, /) -> int: ...

    def connman_set_log(
        self,
        fn: _CFunctionType | None,
        ctx: int | None,
        max_level: int,
        /,
    ) -> int: ...
