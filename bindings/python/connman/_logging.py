"""The library's messages as records of the standard :mod:`logging` logger
``connman``.

When the library is loaded, a ``connman_set_log`` hook is installed that turns
each C message into a record: ``CONNMAN_LOG_ERROR`` -> ``ERROR``, ``_WARN`` ->
``WARNING`` (failed connect attempts, resolution failures), ``_INFO`` ->
``INFO`` (connects, resets with their reason, reconnects), ``_DEBUG`` ->
``DEBUG``. Each record has the attributes ``conn`` (the :class:`Connection` the
message is about, or None for the library as a whole) and ``conn_id`` (its id,
0 for none); its message starts with ``connection N:`` when there is one.

The library formats nothing for levels it does not deliver, so the hook
delivers only the levels the logger is enabled for *when it is set*: at load,
at :func:`connman.configure`, and whenever :func:`set_log_level` is called.
Change the ``connman`` logger's level (or the root logger's, which it
inherits) before the first connman call, or call :func:`set_log_level`
afterwards; ``logging.basicConfig(level=logging.DEBUG)`` before using connman
shows everything it does.
"""

from __future__ import annotations

import logging
import sys

from . import _connection, _ffi
from ._ffi import connman_conn
from ._loader import lib, on_load

logger = logging.getLogger("connman")

_PY_LEVELS = {
    _ffi.CONNMAN_LOG_ERROR: logging.ERROR,
    _ffi.CONNMAN_LOG_WARN: logging.WARNING,
    _ffi.CONNMAN_LOG_INFO: logging.INFO,
    _ffi.CONNMAN_LOG_DEBUG: logging.DEBUG,
}


def c_level(threshold: int) -> int:
    """The most detailed C level that a logger with ``threshold`` (a
    :mod:`logging` level) lets through; 0: none."""
    for c, py in sorted(_PY_LEVELS.items(), reverse=True):
        if py >= threshold:
            return c
    return 0


def _hook(ctx: int | None, level: int, conn: connman_conn, message: bytes | None) -> None:
    # Runs on whatever thread the library logs from; must never raise into C.
    try:
        py_level = _PY_LEVELS.get(level, logging.ERROR)
        if not logger.isEnabledFor(py_level):
            return
        text = message.decode("utf-8", "replace") if message else ""
        conn_id = conn.id
        connection = _connection.Connection(conn_id) if conn_id else None
        extra = {"conn": connection, "conn_id": conn_id}
        if conn_id:
            logger.log(py_level, "connection %d: %s", conn_id, text, extra=extra)
        else:
            logger.log(py_level, "%s", text, extra=extra)
    except BaseException:  # a broken handler or formatter: say so, carry on
        try:
            sys.stderr.write(f"connman: cannot log a message of the library: {message!r}\n")
        except BaseException:
            pass


# Kept alive for the module's life: the library may call it at any time.
_C_HOOK = _ffi.connman_log_fn(_hook)


def set_log_level(level: int | str | None = None) -> None:
    """Makes the library deliver exactly the messages the ``connman`` logger
    would record.

    With ``level`` (a :mod:`logging` level such as ``logging.DEBUG`` or
    ``"INFO"``), first sets the ``connman`` logger's level to it. Then reads the
    logger's effective level and tells the library the most detailed level to
    deliver (the library formats nothing above it). Call it after changing the
    logging configuration while connman is in use; it is done automatically
    when the library is loaded and by :func:`connman.configure`.
    """
    if level is not None:
        logger.setLevel(level)
    install()


def install() -> None:
    """Installs the hook, with the level from the logger's effective level."""
    lib().connman_set_log(_C_HOOK, None, c_level(logger.getEffectiveLevel()))


def uninstall() -> None:
    """Sends the library's messages back to stderr (errors only), as without
    Python."""
    lib().connman_set_log(None, None, _ffi.CONNMAN_LOG_ERROR)


on_load(install)
