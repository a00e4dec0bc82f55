"""A bounded ring of records in change order, read with a cursor.

The connection log and the request log both keep one: every change to a record
gives it a new cursor value and moves it to the end, so a reader polling with
``since=<last cursor>`` sees each new record and each later change exactly once.
When the ring is full the least recently changed record is evicted and counted.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, Protocol, TypeVar

__all__ = ["CursorRing", "Logged"]


class Logged(Protocol):
    id: int
    cursor: int


R = TypeVar("R", bound=Logged)


class CursorRing(Generic[R]):
    """Records by id, in change order, at most ``capacity`` of them."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity={capacity} must be >= 1")
        self.capacity = capacity
        self.evicted = 0
        self._cursor = 0
        self._records: OrderedDict[int, R] = OrderedDict()

    @property
    def cursor(self) -> int:
        """The cursor value of the latest change."""
        return self._cursor

    def changed(self, record: R) -> None:
        self._cursor += 1
        record.cursor = self._cursor
        self._records[record.id] = record
        self._records.move_to_end(record.id)
        while len(self._records) > self.capacity:
            self._records.popitem(last=False)
            self.evicted += 1

    def since(self, cursor: int, limit: int | None = None) -> list[R]:
        """Records changed after ``cursor``, oldest change first (at most ``limit``)."""
        newer: list[R] = []
        for record in reversed(self._records.values()):
            if record.cursor <= cursor:
                break
            newer.append(record)
        newer.reverse()
        return newer[:limit] if limit is not None else newer
