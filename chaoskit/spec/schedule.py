"""Fault schedules: when each occurrence of a fault starts and ends.

A fault starts at ``at`` (a fixed time, or ``"10s..14s"``: a time drawn from
the run's seed), lasts ``for``, and with ``every`` happens again every that
many seconds: ``count`` times (``occurrences`` on a container fault, whose
``count`` picks containers), else until the timeline's end. ``jitter`` (``shift``
on a network fault, whose ``jitter`` is Toxiproxy's) moves each occurrence
later by a seeded draw in ``[0, jitter]``.

Two views, both pure:

* :func:`occurrences`: the windows of one run, drawn from its seed (the plan);
* :func:`envelopes`: for each occurrence, the earliest start and latest end any
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

__all__ = ["Occurrence", "envelopes", "label", "occurrences", "parse_at", "repeats"]

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


def occurrences(
    name: str,
    at: tuple[float, float],
    length: float,
    every: float | None,
    count: int | None,
    jitter: float,
    duration: float,
    seed: int,
) -> list[Occurrence]:
    """The windows of one run (each end clipped to the timeline's end).

    The draws come from ``seed`` and the fault's name only, so adding a fault
    never moves another one's occurrences.
    """
    rng = random.Random(f"{seed}:{name}")
    low, high = at
    first = rng.uniform(low, high) if high > low else low
    n = repeats(high, length, every, count, jitter, duration)
    windows = []
    for k in range(n):
        base = first + k * (every or 0.0)
        start = base + (rng.uniform(0.0, jitter) if jitter > 0 else 0.0)
        start = round(start, 3)  # millisecond times: readable and replayable
        windows.append(Occurrence(k + 1, n, start, min(start + length, duration)))
    return windows


def envelopes(
    at: tuple[float, float],
    length: float,
    every: float | None,
    count: int | None,
    jitter: float,
    duration: float,
) -> list[tuple[float, float]]:
    """Per occurrence: (earliest start, latest end) over every seed (not clipped)."""
    n = repeats(at[1], length, every, count, jitter, duration)
    step = every or 0.0
    return [(at[0] + k * step, at[1] + k * step + jitter + length) for k in range(n)]


def label(name: str, index: int, of: int) -> str:
    """``"flap#2"`` for the 2nd of several occurrences; a lone one is its name."""
    return name if of == 1 else f"{name}#{index}"
