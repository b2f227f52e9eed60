"""Result codes and the exceptions raised for them."""

from __future__ import annotations

import enum

from . import _ffi
from ._loader import lib


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
    FORKED = _ffi.CONNMAN_ERR_FORKED
    STATE = _ffi.CONNMAN_ERR_STATE


class ConnmanError(Exception):
    """An error code returned by the C library.

    Attributes:
        code: the ``connman_result`` (an :class:`ErrorCode` when known, else an int).
        name: the C name of the code, e.g. ``"CONNMAN_ERR_NOT_FOUND"``.
        message: the library's description of the code (``connman_strerror``).
        function: the C function that returned it, when known.
        detail: why this call failed, in the library's words
            (``connman_last_error_message()``, read on the failing thread right
            after the call): the function, the argument, the value and the rule,
            e.g. ``"connman_connect: options.backoff_initial_ms must be at least 1,
            got 0"``; or the binding's own explanation; ``""`` when there is none.

    ``str(error)`` is the detail when there is one, else the function and the
    message, followed by the C name. A subclass is raised for each code (e.g.
    :class:`NotFoundError` for ``CONNMAN_ERR_NOT_FOUND``), so
    ``except connman.ConnmanError`` catches them all.
    """

    code: ErrorCode | int
    name: str
    message: str
    function: str | None
    detail: str

    def __init__(
        self,
        code: int,
        message: str | None = None,
        function: str | None = None,
        detail: str = "",
    ) -> None:
        known: ErrorCode | int = code
        try:
            known = ErrorCode(code)
        except ValueError:
            pass
        self.code = known
        if isinstance(known, ErrorCode):
            self.name = "CONNMAN_OK" if known == 0 else "CONNMAN_ERR_" + known.name
        else:
            self.name = f"connman error {code}"
        if message is None:
            try:
                message = strerror(int(code))
            except Exception:  # library not loadable: still a usable error
                message = self.name
        self.message = message
        self.function = function
        self.detail = detail
        super().__init__(int(code), message)

    def __str__(self) -> str:
        if self.detail:
            return f"{self.detail} ({self.name})"
        where = f"{self.function}: " if self.function else ""
        return f"{where}{self.message} ({self.name})"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({int(self.code)!r}, {self.message!r}, "
            f"{self.function!r}, {self.detail!r})"
        )

    def __reduce__(self) -> tuple[type[ConnmanError], tuple[int, str, str | None, str]]:
        # Pickles as its constructor call.
        return (type(self), (int(self.code), self.message, self.function, self.detail))


class InvalidArgumentError(ConnmanError, ValueError):
    """``CONNMAN_ERR_INVALID_ARGUMENT``: the library rejected an argument (e.g. an
    option value out of its range). Also a :class:`ValueError`. Its
    :attr:`~ConnmanError.detail` (and ``str()``) names the argument or option
    field, the value and the rule, e.g. ``"connman_connect:
    options.backoff_initial_ms must be at least 1, got 0"``."""


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


class ForkedError(ConnmanError):
    """``CONNMAN_ERR_FORKED``: this process is a ``fork()`` child of one that used
    connman; the library's threads and descriptors belong to the parent, so
    nothing works here (exec or exit)."""


class StateError(ConnmanError):
    """``CONNMAN_ERR_STATE``: not allowed in the library's current state:
    :func:`configure` while the library runs (call :func:`shutdown` first), or
    :func:`dispatch` when not in embedded mode."""


_ERROR_CLASSES: dict[int, type[ConnmanError]] = {
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
    ErrorCode.FORKED: ForkedError,
    ErrorCode.STATE: StateError,
}


def last_error_message() -> str:
    """Why the last failed connman call on this thread failed
    (``connman_last_error_message()``); ``""`` before any call failed."""
    raw = lib().connman_last_error_message()
    return raw.decode("utf-8", "replace") if raw else ""


def error(code: int, function: str | None = None, detail: str | None = None) -> ConnmanError:
    """The exception for result ``code`` just returned by C function ``function``
    on this thread. Call it right after the failing call, before any other
    connman call that might fail: its :attr:`~ConnmanError.detail` is the
    library's message for that call (or ``detail``, if given)."""
    if detail is None:
        detail = last_error_message()
        if function is not None and not detail.startswith(function + ":"):
            detail = ""  # not about this call: a message left by an earlier one
    return _ERROR_CLASSES.get(code, ConnmanError)(code, None, function, detail)


def check(code: int, function: str) -> None:
    """Raises the exception for ``code`` unless it is ``CONNMAN_OK``."""
    if code != _ffi.CONNMAN_OK:
        raise error(code, function)


def strerror(code: int) -> str:
    """The library's description of a result code."""
    raw = lib().connman_strerror(code)
    return raw.decode("utf-8", "replace") if raw else "unknown connman result code"
