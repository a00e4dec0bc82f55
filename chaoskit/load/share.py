"""How a load is shared among generator processes (``[load] processes``).

Process ``index`` of ``count`` takes every ``count``-th item of whatever the
single-process engine would do, starting at its index: positions in the closed
model's list of active users (so the active users of all processes together
are exactly those of one process, classes and fixed counts included),
arrivals of each open-model schedule (so the merged arrival times are exactly
one process's, shape, bursts and seed kept), and user numbers (so identities
never overlap). With ``count = 1`` every function here changes nothing: one
process behaves as before.

Pure functions on numbers; :mod:`chaoskit.load.processes` runs the processes.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

__all__ = [
    "WHOLE",
    "Identities",
    "Part",
    "every",
    "limit",
    "position",
    "positions",
    "split",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Part:
    """Which share of the load a process runs: ``index`` of ``count``."""

    index: int = 0
    count: int = 1

    @property
    def whole(self) -> bool:
        """One process runs everything."""
        return self.count == 1


WHOLE = Part()
"""The whole load, in one process."""


def split(count: int) -> list[Part]:
    """The parts of a load run by ``count`` processes."""
    return [Part(index, count) for index in range(count)]


def positions(total: int, part: Part) -> int:
    """How many of the positions ``0 .. total-1`` are ``part``'s."""
    return len(range(part.index, max(total, 0), part.count))


def position(local: int, part: Part) -> int:
    """The global position of ``part``'s ``local``-th item."""
    return local * part.count + part.index


class Identities:
    """The user numbers of a part's arrivals in the open model.

    Each class (``member``) rotates through ``users`` identities of its own; a
    part rotates through its positions among them, so no two processes share
    a user (its captured values, its ``on_start``). A part that owns none of
    them (more processes than users) gets one past the end of the range.
    """

    __slots__ = ("_count", "_index", "_own", "_stride")

    def __init__(self, users: int, part: Part) -> None:
        self._stride = max(users, part.count)
        self._own = max(1, positions(users, part))
        self._count = part.count
        self._index = part.index

    def number(self, member: int, arrival: int) -> int:
        """The user number of a class's ``arrival``-th arrival (from 0) here."""
        local = arrival % self._own
        return member * self._stride + local * self._count + self._index


def limit(total: int | None, part: Part) -> int | None:
    """``part``'s share of a budget (``max_requests``, the in-flight cap),
    at least 1 so that no process is refused everything; None: no limit."""
    if total is None:
        return None
    return max(1, positions(total, part))


def every(items: Iterable[T], part: Part) -> Iterator[T]:
    """``part``'s items of a sequence: the ``index``-th, then every ``count``-th."""
    if part.whole:
        return iter(items)
    return itertools.islice(items, part.index, None, part.count)
