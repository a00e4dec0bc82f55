"""Fault schedules: when each occurrence of a fault starts and ends.

A fault starts at ``at`` (a fixed time, or ``"10s..14s"``: a time drawn from
the run's seed), lasts ``for``, and with ``every`` happens again every that
many seconds: ``count`` times (``occurrences`` on a container fault, whose
``count`` picks containers), else until the timeline's end. ``jitter`` (``shift``
on a network fault, whose ``jitter`` is Toxiproxy's) moves each occurrence
later by a seeded draw in ``[0, jitter]``.

Two views, both pure:

* :meth:`Schedule.occurrences`: the windows of one run, drawn from its seed
  (the plan);
* :meth:`Schedule.envelopes`: for each occurrence, the earliest start and latest end any
  seed can give (validation: timeline end, overlaps), so an experiment that
  validates runs with every seed.

The number of occurrences never depends on the seed: without ``count`` it is
how many fit before the end when ``at`` and every shift draw their latest.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from chaoskit.units import parse_duration

__all__ = ["Occurrence", "Schedule", "label", "parse_at", "repeats"]

_MAX_OCCURRENCES = 10_000


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One window of a fault: ``start`` to ``end`` seconds into the timeline."""

    index: int
    """1-based."""
    of: int
    start: float
    end: float


def parse_at(value: object) -> tuple[float, float]:
    """``"15s"`` -> (15, 15); ``"10s..14s"`` -> (10, 14); a number is seconds.

    Raises:
        ValueError: not a duration, or a range whose low end is above its high end.
    """
    if isinstance(value, str) and ".." in value:
        low_text, high_text = value.replace("...", "..").split("..", 1)
        try:
            low, high = parse_duration(low_text.strip()), parse_duration(high_text)
        except ValueError:
            raise ValueError(
                f'{value!r} is not a range of two durations, e.g. "10s..14s"'
            ) from None
        if low > high:
            raise ValueError(
                f"{value!r} is inverted: the low end ({low_text.strip()}) is above "
                f"the high end ({high_text.strip()})"
            )
        return low, high
    if isinstance(value, str | int | float):
        seconds = parse_duration(value)
        return seconds, seconds
    raise ValueError(f"{value!r} is not a duration or a range of two")


def repeats(
    at_high: float,
    length: float,
    every: float | None,
    count: int | None,
    jitter: float,
    duration: float,
) -> int:
    """How many occurrences a schedule has (seed-independent; at least 1)."""
    if every is None or every <= 0:
        return 1
    if count is not None:
        return count
    room = duration - length - jitter - at_high
    return max(1, min(_MAX_OCCURRENCES, math.floor(room / every + 1e-9) + 1))


@dataclass(frozen=True, slots=True)
class Schedule:
    """A fault's schedule, in seconds (``at`` is the range of the first start)."""

    at: tuple[float, float]
    length: float
    every: float | None = None
    count: int | None = None
    jitter: float = 0.0

    def repeats(self, duration: float) -> int:
        """How many occurrences (seed-independent; at least 1)."""
        return repeats(
            self.at[1], self.length, self.every, self.count, self.jitter, duration
        )

    def occurrences(self, name: str, duration: float, seed: int) -> list[Occurrence]:
        """The windows of one run (each end clipped to the timeline's end).

        The draws come from ``seed`` and the fault's name only, so adding a
        fault never moves another one's occurrences.
        """
        rng = random.Random(f"{seed}:{name}")
        low, high = self.at
        first = rng.uniform(low, high) if high > low else low
        n = self.repeats(duration)
        windows = []
        for k in range(n):
            base = first + k * (self.every or 0.0)
            shift = rng.uniform(0.0, self.jitter) if self.jitter > 0 else 0.0
            start = round(base + shift, 3)  # millisecond times: readable, replayable
            end = min(start + self.length, duration)
            windows.append(Occurrence(k + 1, n, start, end))
        return windows

    def envelopes(self, duration: float) -> list[tuple[float, float]]:
        """Per occurrence: (earliest start, latest end) over every seed, unclipped."""
        step = self.every or 0.0
        return [
            (self.at[0] + k * step, self.at[1] + k * step + self.jitter + self.length)
            for k in range(self.repeats(duration))
        ]


def label(name: str, index: int, of: int) -> str:
    """``"flap#2"`` for the 2nd of several occurrences; a lone one is its name."""
    return name if of == 1 else f"{name}#{index}"
