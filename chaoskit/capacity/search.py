"""The search: a geometric ramp until a level breaks, then bisection to the
resolution, then the highest passing level confirmed ``trials`` times.

The search knows levels and verdicts only (a judge is handed in), so it is
tested on a synthetic judge without a socket. Every loop is bounded by
``max_steps`` and by the wall-time budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["Bounds", "Search", "Trial", "search"]


@dataclass(frozen=True)
class Trial:
    """One level judged."""

    level: float
    passed: bool
    hard: bool = False
    """Failed hard (errors past ``hard_error_rate``, an abort condition):
    nothing above it is tried."""
    stop: bool = False
    """The whole search must stop (interrupted)."""


@dataclass(frozen=True)
class Bounds:
    """What bounds the search."""

    low: float
    high: float
    growth: float = 2.0
    resolution: float = 0.05
    trials: int = 2
    max_steps: int = 40
    budget_s: float = 300.0
    integer: bool = False
    """Levels are whole numbers (users)."""


@dataclass
class Search:
    """What the search found: every trial, and the boundary."""

    trials: list[Trial] = field(default_factory=list)
    passed: float | None = None
    """The highest level that held in every trial of it."""
    failed: float | None = None
    """The lowest level that broke (None: nothing broke up to ``high``)."""
    stopped: str | None = None
    """Why the search ended before its resolution (budget, steps, interrupt)."""

    @property
    def first_failure(self) -> Trial | None:
        """The first trial that broke."""
        return next((t for t in self.trials if not t.passed), None)


Judge = Callable[[float], Awaitable[Trial]]


def _snap(level: float, bounds: Bounds) -> float:
    level = min(max(level, bounds.low), bounds.high)
    return float(round(level)) if bounds.integer else level


async def search(
    judge: Judge, bounds: Bounds, clock: Callable[[], float] = time.monotonic
) -> Search:
    """Find the highest level at which ``judge`` passes, within ``bounds``.

    Args:
        judge: runs one level, returns its trial.
        bounds: levels, resolution, trials and limits.
        clock: seconds, for the budget (injected by tests).

    Returns:
        The trials and the boundary: ``passed`` < capacity < ``failed``.
    """
    result = Search()
    deadline = clock() + bounds.budget_s
    stats = {"steps": 0}

    async def run(level: float) -> Trial | None:
        if result.stopped is not None:
            return None
        if stats["steps"] >= bounds.max_steps:
            result.stopped = f"max_steps ({bounds.max_steps}) reached"
            return None
        if clock() >= deadline:
            result.stopped = f"budget ({bounds.budget_s:g}s) spent"
            return None
        stats["steps"] += 1
        trial = await judge(level)
        result.trials.append(trial)
        if trial.stop:
            result.stopped = "interrupted"
            return None
        return trial

    # 1. Ramp: low, low x growth, ... until a level breaks or high holds.
    level = _snap(bounds.low, bounds)
    while True:
        trial = await run(level)
        if trial is None:
            return result
        if not trial.passed:
            result.failed = level
            break
        result.passed = level
        if level >= bounds.high:
            return result  # nothing broke up to `high`: at least `high`
        level = _snap(level * bounds.growth, bounds)
    if result.passed is None:
        return result  # broke at the lowest level: below `low`
    # 2. Bisect (geometric mean: levels span decades), then 3. confirm the
    # highest passing level; a confirmation that fails moves the boundary down.
    confirmed: set[float] = set()
    while result.failed is not None and result.passed is not None:
        low, high = result.passed, result.failed
        if (high - low) / high > bounds.resolution and not (
            bounds.integer and high - low <= 1
        ):
            mid = _snap(math.sqrt(low * high), bounds)
            if mid in (low, high):
                mid = _snap((low + high) / 2, bounds)
            if mid in (low, high):
                break
            trial = await run(mid)
            if trial is None:
                return result
            if trial.passed:
                result.passed = mid
            else:
                result.failed = mid
            continue
        if low in confirmed:
            break
        for _ in range(bounds.trials - 1):
            trial = await run(low)
            if trial is None:
                return result
            if not trial.passed:
                result.failed = low
                lower = [t.level for t in result.trials if t.passed and t.level < low]
                result.passed = max(lower) if lower else None
                break
        else:
            confirmed.add(low)
    return result
