"""Argument checks made before anything reaches C, raising what Python users
expect: ``TypeError`` for a wrong type, ``ValueError`` for a bad value,
``IndexError`` for a negative index."""

from __future__ import annotations

import operator
import os
from typing import SupportsIndex

from . import _ffi


def integer(value: object, what: str) -> int:
    """``value`` as an int: an int or any object with ``__index__``, never a bool."""
    if isinstance(value, bool) or not isinstance(value, SupportsIndex):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    return operator.index(value)


def port(value: object) -> int:
    p = integer(value, "port")
    if not 1 <= p <= 65535:
        raise ValueError(f"port must be in 1..65535, got {p}")
    return p


def text(value: object, what: str, limit: int) -> bytes:
    """A non-empty str without NUL, as UTF-8 of at most ``limit`` bytes."""
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


def host(value: object) -> bytes:
    return text(value, "host", _ffi.CONNMAN_MAX_HOST_LEN)


def unix_path(value: object) -> bytes:
    """A Unix socket path (a str or ``os.PathLike[str]``): 1 to 107 UTF-8 bytes,
    or ``@`` and up to 107 bytes of an abstract name; no NUL."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, bytes):
        raise TypeError("path must be a str or an os.PathLike of str, not bytes (decode it)")
    if not isinstance(value, str):
        raise TypeError(f"path must be a str or an os.PathLike, not {type(value).__name__}")
    limit = _ffi.CONNMAN_MAX_UNIX_PATH_LEN
    what = "path"
    if value.startswith("@"):
        limit, what = limit + 1, f"path (abstract: '@' and at most {limit} bytes)"
    return text(value, what, limit)


def pool_name(value: object) -> bytes:
    return text(value, "pool name", _ffi.CONNMAN_MAX_POOL_NAME_LEN)


def index(value: object) -> int:
    i = integer(value, "index")
    if i < 0:
        raise IndexError(f"pool index must not be negative, got {i}")
    return i


def fd(value: object) -> int:
    """A descriptor: an int, or an object with ``fileno()``."""
    if not isinstance(value, (int, SupportsIndex)) and hasattr(value, "fileno"):
        value = value.fileno()
    n = integer(value, "fd")
    if n < 0:
        raise ValueError(f"fd must not be negative, got {n}")
    if n > 0x7FFFFFFF:
        raise ValueError(f"fd out of range: {n}")
    return n
