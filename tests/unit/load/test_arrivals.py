"""Arrival schedules and the open scheduler on a fake clock (no sockets, no sleeps)."""

from __future__ import annotations

import asyncio
import itertools
import random
import statistics

import pytest

from chaoskit.clock import FakeClock
from chaoskit.load.arrivals import ArrivalSchedule, arrival_times
from chaoskit.load.shapes import Shape


def test_constant_rate_gives_evenly_spaced_arrivals():
    times = list(arrival_times(Shape.constant(100).value_at, 2.0))
    assert len(times) == 200
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) - min(gaps) < 1e-6
    assert times[0] == 0.0


def test_ramp_from_zero_follows_the_integral():
    # A ramp 0 -> 100/s over 10 s has 500 arrivals in it: the area under the line.
    times = list(arrival_times(Shape.ramp(100, over=10).value_at, 10.0))
    assert abs(len(times) - 500) <= 1
    first_half = sum(1 for t in times if t < 5)
    assert abs(first_half - 125) <= 1  # a quarter of the area lies in the first half


def test_zero_rate_gives_no_arrivals_and_ends():
    assert list(arrival_times(lambda t: 0.0, 5.0)) == []


def test_poisson_arrivals_have_the_right_mean_and_spread():
    times = list(
        arrival_times(
            Shape.constant(1000).value_at, 10.0, poisson=True, rng=random.Random(1)
        )
    )
    assert 9700 < len(times) < 10300  # 10000 expected, sd 100
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Exponential gaps: the standard deviation equals the mean.
    assert statistics.stdev(gaps) == pytest.approx(statistics.mean(gaps), rel=0.05)


def test_poisson_arrivals_are_seeded():
    def run(seed):
        rng = random.Random(seed)
        return list(
            arrival_times(Shape.constant(50).value_at, 1.0, poisson=True, rng=rng)
        )

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_fake_clock_jumps_to_deadlines_and_refuses_to_go_back():
    clock = FakeClock()

    async def main():
        await clock.sleep_until(5_000_000_000)
        await clock.sleep_until(1)  # already past: no change
        return clock.now_ns()

    assert asyncio.run(main()) == 5_000_000_000
    clock.advance(0.5)
    assert clock.now_ns() == 5_500_000_000
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)


@pytest.mark.parametrize("poisson", [False, True])
def test_skipping_ahead_leaves_out_the_arrivals_before_the_offset(poisson):
    rng = random.Random(2)
    schedule = ArrivalSchedule(
        Shape.constant(1000).value_at, 2.0, poisson=poisson, rng=rng
    )
    head = [next(schedule) for _ in range(100)]
    assert head[-1] < 0.2
    skipped = schedule.skip_until(1.0)
    rest = list(schedule)
    assert rest[0] >= 1.0
    # 2000 arrivals in all (Poisson: expected counts), none produced twice.
    assert len(head) + skipped + len(rest) == pytest.approx(
        2000, abs=100 if poisson else 1
    )
    assert rest == sorted(rest)


def test_skipping_ten_million_arrivals_does_not_produce_them():
    # At 10 million/s a second behind is 10 million arrivals: skipping them is
    # one pass over the 1 ms steps, not one iteration per arrival.
    schedule = ArrivalSchedule(Shape.constant(10_000_000).value_at, 5.0)
    assert next(schedule) == 0.0
    assert schedule.skip_until(4.0) == pytest.approx(40_000_000, abs=2)
    assert next(schedule) >= 4.0


def test_past_the_end_nothing_is_left_to_skip():
    schedule = ArrivalSchedule(Shape.constant(100).value_at, 1.0)
    assert schedule.skip_until(5.0) == 100
    assert list(schedule) == []
