"""What connections and pools share: a handle id, equality, and use as a
context manager that disconnects on exit."""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

from ._errors import ClosedError, NotFoundError

_T = TypeVar("_T", bound="Handle")


class Handle:
    """A library handle (``connman_conn`` or ``connman_pool``): equal to another
    of its kind with the same id."""

    __slots__ = ("_id", "__weakref__")

    def __init__(self, id: int) -> None:
        if isinstance(id, bool) or not isinstance(id, int):
            raise TypeError("id must be an int")
        if not 0 < id < 2**64:
            raise ValueError("id must be in 1..2**64-1")
        self._id = id

    @property
    def id(self) -> int:
        """The handle's id (never 0, never reused)."""
        return self._id

    def disconnect(self) -> None:
        raise NotImplementedError

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.disconnect()
        except (ClosedError, NotFoundError):
            pass  # already disconnected, or already closed

    def __eq__(self, other: object) -> bool:
        if type(other) is type(self):
            assert isinstance(other, Handle)
            return self._id == other._id
        return NotImplemented

    def __hash__(self) -> int:
        return hash((type(self), self._id))
