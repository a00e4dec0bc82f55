"""The search on a synthetic judge: no socket, no sleep (issue 18)."""

from __future__ import annotations

import asyncio

import pytest

from chaoskit.capacity.search import Bounds, Trial, search


class Judge:
    """Passes below ``capacity``; counts its calls; a fake clock per call."""

    def __init__(self, capacity: float, flaky_at: float | None = None) -> None:
        self.capacity = capacity
        self.flaky_at = flaky_at
        self.levels: list[float] = []
        self.now = 0.0

    async def __call__(self, level: float) -> Trial:
        self.levels.append(level)
        self.now += 5.0
        seen = self.levels.count(level)
        if self.flaky_at is not None and level == self.flaky_at and seen > 1:
            return Trial(level, passed=False)
        passed = level <= self.capacity
        return Trial(level, passed, hard=level > 3 * self.capacity)

    def clock(self) -> float:
        return self.now


def found(judge: Judge, bounds: Bounds):
    return asyncio.run(search(judge, bounds, clock=judge.clock))


@pytest.mark.parametrize("capacity", [30.0, 200.0, 333.0, 999.0])
def test_the_boundary_brackets_the_capacity_within_the_resolution(capacity):
    judge = Judge(capacity)
    result = found(judge, Bounds(25, 1000, resolution=0.05, trials=2))
    assert result.passed is not None
    assert result.failed is not None
    assert result.passed <= capacity < result.failed
    assert (result.failed - result.passed) / result.failed <= 0.05
    assert result.stopped is None


def test_the_ramp_is_geometric_until_a_level_breaks():
    judge = Judge(200)
    found(judge, Bounds(25, 1000, growth=2))
    assert judge.levels[:5] == [25, 50, 100, 200, 400]


def test_the_highest_passing_level_is_run_trials_times():
    judge = Judge(200)
    result = found(judge, Bounds(25, 1000, trials=3))
    assert judge.levels.count(result.passed) == 3


def test_a_confirmation_that_breaks_moves_the_boundary_down():
    """200 held once, then broke: it is not the capacity."""
    judge = Judge(200, flaky_at=200)
    result = found(judge, Bounds(25, 1000, trials=2))
    assert result.failed is not None
    assert result.failed <= 200
    assert result.passed is not None
    assert result.passed < 200


def test_nothing_breaking_up_to_max_says_at_least_max():
    result = found(Judge(5000), Bounds(25, 1000))
    assert result.passed == 1000
    assert result.failed is None


def test_breaking_at_the_lowest_level_says_below_it():
    result = found(Judge(10), Bounds(25, 1000))
    assert result.passed is None
    assert result.failed == 25


def test_max_steps_bounds_the_search():
    judge = Judge(200)
    result = found(judge, Bounds(25, 1000, max_steps=4, resolution=0.001))
    assert len(judge.levels) == 4
    assert result.stopped == "max_steps (4) reached"


def test_the_budget_bounds_the_search():
    """Each trial takes 5 s on the fake clock: 12 s allow three."""
    judge = Judge(200)
    result = found(judge, Bounds(25, 1000, budget_s=12, resolution=0.001))
    assert len(judge.levels) == 3
    assert result.stopped is not None
    assert "budget" in result.stopped


def test_an_interrupt_stops_at_once():
    async def judge(level: float) -> Trial:
        return Trial(level, passed=True, stop=True)

    result = asyncio.run(search(judge, Bounds(25, 1000)))
    assert len(result.trials) == 1
    assert result.stopped == "interrupted"


def test_user_levels_are_whole_numbers():
    judge = Judge(47)
    result = found(judge, Bounds(1, 200, integer=True, resolution=0.01))
    assert all(level == int(level) for level in judge.levels)
    assert result.passed == 47
    assert result.failed == 48
