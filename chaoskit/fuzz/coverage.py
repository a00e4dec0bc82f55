"""Which breakable keyword locations of the schema a run exercised.

A run visits every :class:`~chaoskit.fuzz.targets.Target` before random
generation (one request each, unless a failure is shrunk); a location counts
as *exercised* when a case that breaks exactly its keyword was sent (by the
targeted pass or by a random mutation labelled with it), *unreachable* when
no valid document could be changed to break it alone (a redundant keyword:
``type: string`` beside an ``enum`` of strings; a hole there is not a hole),
and *not visited* when the budget ran out first. The console summary, the
``invalid-payloads`` tally (``fuzz[].locations`` in report.json) and the HTML
report show it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Coverage", "describe_locations"]

#: Locations named in full in the report (the rest are counted).
_SHOWN = 20


@dataclass
class Coverage:
    """Keyword locations: all of them, exercised, unreachable.

    Attributes:
        targets: every location, in visiting order
            (``oneOf/2/properties/progress/maximum``).
        exercised: locations a case broke alone.
        unreachable: locations no document could break alone.
    """

    targets: list[str] = field(default_factory=list)
    exercised: set[str] = field(default_factory=set)
    unreachable: set[str] = field(default_factory=set)
    _known: frozenset[str] = field(default=frozenset(), repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._known = frozenset(self.targets)

    def sent(self, keyword: str) -> None:
        """A case labelled with ``keyword`` (its schema path) was sent."""
        if keyword in self._known:
            with self._lock:
                self.exercised.add(keyword)

    def unreached(self, location: str) -> None:
        """No document could break ``location`` alone."""
        with self._lock:
            self.unreachable.add(location)

    def not_visited(self) -> list[str]:
        """Locations neither exercised nor found unreachable (the budget ran out)."""
        done = self.exercised | self.unreachable
        return [t for t in self.targets if t not in done]

    def warning(self, budget: int) -> str | None:
        """A warning when ``budget`` requests cannot visit every location."""
        if budget >= len(self.targets):
            return None
        return (
            f"the budget ({budget} requests) is smaller than the schema's "
            f"{len(self.targets)} breakable keyword locations: some are not "
            "visited (raise --max-examples, or the fault's rate or window)"
        )

    def summary(self) -> str:
        """One line for the console."""
        return describe_locations(self.to_json())

    def to_json(self) -> dict[str, object]:
        """The report's shape (``locations`` of a fuzz entry)."""
        missing = self.not_visited()
        return {
            "total": len(self.targets),
            "exercised": len(self.exercised),
            "redundant": sorted(self.unreachable)[:_SHOWN],
            "redundant_count": len(self.unreachable),
            "not_visited": missing[:_SHOWN],
            "not_visited_count": len(missing),
        }


def describe_locations(locations: Mapping[str, object]) -> str:
    """One line from :meth:`Coverage.to_json`'s shape (reports read it back)."""
    left = locations.get("not_visited_count") or 0
    text = (
        f"keyword locations: {locations.get('exercised', 0)} of "
        f"{locations.get('total', 0)} exercised, "
        f"{locations.get('redundant_count', 0)} redundant (no payload breaks one "
        "alone)"
    )
    return text + (f", {left} not visited (budget)" if left else "")
