"""Low-level ctypes mirror of ``include/connman.h``: structures, callback types,
result codes, and the loading of ``libconnman``.

Nothing here is public API; use the ``connman`` package instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char_p,
    c_int,
    c_int32,
    c_size_t,
    c_uint8,
    c_uint32,
    c_uint64,
    c_void_p,
)
from typing import Callable, List, Optional, Tuple

# ---------------------------------------------------------------------------
# Constants (connman.h)

CONNMAN_MAX_HOST_LEN = 253
CONNMAN_MAX_POOL_NAME_LEN = 255

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

CONNMAN_STATE_CONNECTING = 0
CONNMAN_STATE_CONNECTED = 1
CONNMAN_STATE_RECONNECTING = 2
CONNMAN_STATE_CLOSING = 3
CONNMAN_STATE_CLOSED = 4

# typedef int32_t connman_result; typedef int32_t connman_state;
connman_result = c_int32
connman_state = c_int32


# ---------------------------------------------------------------------------
# Structures (field order and types exactly as in connman.h)


class connman_options(Structure):
    _fields_ = [
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
    ]


class connman_conn(Structure):
    _fields_ = [("id", c_uint64)]


class connman_pool(Structure):
    _fields_ = [("id", c_uint64)]


class connman_stats(Structure):
    _fields_ = [
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
    ]


class connman_pool_stats(Structure):
    _fields_ = [
        ("members", c_size_t),
        ("connected", c_size_t),
        ("closed", c_size_t),
    ]


# Callback types: each takes ctx first and the connection handle (by value) second.
ON_CONNECT = CFUNCTYPE(None, c_void_p, connman_conn, c_int)
ON_RESET = CFUNCTYPE(None, c_void_p, connman_conn)
ON_RECONNECT = CFUNCTYPE(None, c_void_p, connman_conn, c_int)
ON_DATA = CFUNCTYPE(None, c_void_p, connman_conn, POINTER(c_uint8), c_size_t)
ON_CLOSE = CFUNCTYPE(None, c_void_p, connman_conn)


class connman_handler(Structure):
    _fields_ = [
        ("ctx", c_void_p),
        ("on_connect", ON_CONNECT),
        ("on_reset", ON_RESET),
        ("on_reconnect", ON_RECONNECT),
        ("on_data", ON_DATA),
        ("on_close", ON_CLOSE),
    ]


# typedef connman_result (*connman_handler_factory)(void *, size_t, connman_handler *);
HANDLER_FACTORY = CFUNCTYPE(connman_result, c_void_p, c_size_t, POINTER(connman_handler))


# ---------------------------------------------------------------------------
# Function declarations: (name, restype, argtypes). Every function once.

_P = POINTER
_DECLARATIONS: List[Tuple[str, object, list]] = [
    ("connman_strerror", c_char_p, [connman_result]),
    ("connman_version", c_char_p, []),
    ("connman_options_default", connman_options, []),
    (
        "connman_connect",
        connman_result,
        [ctypes.c_uint16, c_char_p, _P(connman_handler), _P(connman_options), _P(connman_conn)],
    ),
    ("connman_get_connection", connman_result, [ctypes.c_uint16, c_char_p, _P(connman_conn)]),
    ("connman_fd", c_int, [connman_conn]),
    ("connman_conn_from_fd", connman_result, [c_int, _P(connman_conn)]),
    ("connman_send", connman_result, [connman_conn, _P(c_uint8), c_size_t]),
    ("connman_disconnect", connman_result, [connman_conn]),
    ("connman_get_stats", connman_result, [connman_conn, _P(connman_stats)]),
    ("connman_disconnect_all", connman_result, []),
    ("connman_shutdown", connman_result, []),
    ("connman_pool_create", connman_result, [c_char_p, HANDLER_FACTORY, c_void_p, _P(connman_pool)]),
    ("connman_pool_find", connman_result, [c_char_p, _P(connman_pool)]),
    (
        "connman_pool_add",
        connman_result,
        [connman_pool, ctypes.c_uint16, c_char_p, _P(connman_options), _P(c_size_t)],
    ),
    ("connman_pool_size", connman_result, [connman_pool, _P(c_size_t)]),
    ("connman_pool_get_connection", connman_result, [connman_pool, c_size_t, _P(c_int)]),
    ("connman_pool_get_handler", connman_result, [connman_pool, c_size_t, _P(c_void_p)]),
    ("connman_pool_conn", connman_result, [connman_pool, c_size_t, _P(connman_conn)]),
    ("connman_pool_next", connman_result, [connman_pool, _P(connman_conn)]),
    ("connman_pool_get_stats", connman_result, [connman_pool, _P(connman_pool_stats)]),
    ("connman_pool_disconnect", connman_result, [connman_pool]),
]


# ---------------------------------------------------------------------------
# Library loading


def _library_file_names() -> List[str]:
    if sys.platform == "darwin":
        return ["libconnman.dylib"]
    if sys.platform == "win32":
        return ["connman.dll"]
    return ["libconnman.so"]


def _candidates() -> List[str]:
    """Files to try, in order, after CONNMAN_LIBRARY."""
    here = os.path.dirname(os.path.abspath(__file__))
    target = os.path.normpath(os.path.join(here, os.pardir, os.pardir, os.pardir, "target"))
    paths = []
    for name in _library_file_names():
        paths.append(os.path.join(here, name))
    for profile in ("release", "debug"):
        for name in _library_file_names():
            paths.append(os.path.join(target, profile, name))
    return paths


class LibraryNotFoundError(OSError):
    """libconnman could not be found or loaded; the message names every place looked."""


_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None
_lib_path: Optional[str] = None
_on_load: List[Callable[[], None]] = []


def _declare(lib: ctypes.CDLL) -> None:
    for name, restype, argtypes in _DECLARATIONS:
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


def _try_load(path: str) -> ctypes.CDLL:
    lib = ctypes.CDLL(path)
    # Make sure it is really connman (and declare every function).
    _declare(lib)
    return lib


def _load() -> Tuple[ctypes.CDLL, str]:
    looked: List[str] = []
    env = os.environ.get("CONNMAN_LIBRARY")
    if env:
        # An explicit override is authoritative: never fall back silently.
        try:
            return _try_load(env), env
        except (OSError, AttributeError) as e:
            raise LibraryNotFoundError(
                f"cannot load libconnman from CONNMAN_LIBRARY={env!r}: {e}"
            ) from e
    looked.append("CONNMAN_LIBRARY (not set)")
    for path in _candidates():
        if os.path.exists(path):
            try:
                return _try_load(path), path
            except (OSError, AttributeError) as e:
                looked.append(f"{path} (failed to load: {e})")
        else:
            looked.append(f"{path} (no such file)")
    found = ctypes.util.find_library("connman")
    if found:
        try:
            return _try_load(found), found
        except (OSError, AttributeError) as e:
            looked.append(f"system library {found!r} (failed to load: {e})")
    else:
        looked.append("system libraries (ctypes.util.find_library('connman') found nothing)")
    raise LibraryNotFoundError(
        "cannot find libconnman. Build it with `cargo build` in the connman repository, "
        "or set CONNMAN_LIBRARY=/path/to/libconnman.so. Looked in:\n  - "
        + "\n  - ".join(looked)
    )


def lib() -> ctypes.CDLL:
    """The loaded library (loaded on first use)."""
    global _lib, _lib_path
    loaded = _lib
    if loaded is not None:
        return loaded
    with _lock:
        if _lib is None:
            loaded, path = _load()
            _lib_path = path
            _lib = loaded
            for hook in _on_load:
                hook()
        return _lib


def lib_path() -> str:
    """Path (or name) of the loaded library, loading it if needed."""
    lib()
    assert _lib_path is not None
    return _lib_path


def strerror(code: int) -> str:
    raw = lib().connman_strerror(code)
    return raw.decode("utf-8", "replace") if raw else "unknown connman result code"
