"""What a search found, in the words of the report: the capacity with its
uncertainty, what broke first and how, the knee of the curve."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chaoskit.capacity.measure import Measurement
from chaoskit.capacity.search import Search

__all__ = ["Capacity", "capacity_of", "knee", "margin"]


@dataclass(frozen=True)
class Capacity:
    """The boundary: ``value`` held (in every trial), ``high`` broke."""

    value: float | None
    """The highest level that held; None if the lowest level broke."""
    low: float
    high: float | None
    """The lowest level that broke; None if nothing broke up to ``max``."""
    unit: str
    stopped: str | None = None

    def to_json(self) -> dict[str, object]:
        """report.json's ``capacity``."""

        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 3)

        return {
            "value": r(self.value), "low": r(self.low), "high": r(self.high),
            "unit": self.unit, "stopped": self.stopped,
        }  # fmt: skip

    def describe(self) -> str:
        """One line: ``190.6 requests/s (held; 203.1 broke)``."""
        if self.value is None:
            return f"below {self.high:g} {self.unit} (the lowest level tried broke)"
        if self.high is None:
            return f"at least {self.value:g} {self.unit} (nothing broke up to max)"
        return (
            f"{self.value:.4g} {self.unit} (held; {self.high:.4g} broke: "
            f"{self.value:.4g}..{self.high:.4g})"
        )


def capacity_of(search: Search, unit: str) -> Capacity:
    """The capacity a search found."""
    return Capacity(
        value=search.passed,
        low=search.passed if search.passed is not None else 0.0,
        high=search.failed,
        unit=unit,
        stopped=search.stopped,
    )


def knee(rows: Sequence[Measurement]) -> float | None:
    """The level where the curve bends: the highest level, in level order, before
    the first one whose achieved rate falls 5 % behind the offered one or whose
    p95 is more than twice the lowest level's."""
    ordered = sorted((r for r in rows if r.requests), key=lambda r: r.level)
    if not ordered:
        return None
    base = ordered[0].p95_ms or 1.0
    previous: float | None = None
    for row in ordered:
        behind = row.offered > 0 and row.achieved < 0.95 * row.offered
        if behind or row.p95_ms > 2 * base:
            return previous
        previous = row.level
    return previous


def margin(baseline: Capacity, under: Capacity) -> float | None:
    """The share of the baseline capacity a fault costs (0.33: a third)."""
    if not baseline.value or under.value is None:
        return None
    return round(1 - under.value / baseline.value, 4)
