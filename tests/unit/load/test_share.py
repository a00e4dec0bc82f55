"""How a load is shared among generator processes: users, classes, identities,
arrivals (pure functions; no processes)."""

from __future__ import annotations

import itertools
import random

import pytest

from chaoskit.load.arrivals import ArrivalSchedule, arrival_times
from chaoskit.load.shapes import Burst, Shape, Stage
from chaoskit.load.share import (
    WHOLE,
    Identities,
    Part,
    every,
    limit,
    position,
    positions,
    split,
)
from chaoskit.spec.classes import ClassShare, Seats


@pytest.mark.parametrize("count", [1, 2, 3, 7])
@pytest.mark.parametrize("total", [0, 1, 5, 64, 1001])
def test_positions_split_every_total_exactly_once(count, total):
    owned = [
        position(local, part)
        for part in split(count)
        for local in range(positions(total, part))
    ]
    assert sorted(owned) == list(range(total))
    sizes = [positions(total, part) for part in split(count)]
    assert max(sizes) - min(sizes) <= 1  # users split evenly, within one


def test_one_process_is_the_whole_load():
    assert split(1) == [WHOLE]
    assert positions(17, WHOLE) == 17
    assert position(5, WHOLE) == 5
    assert Identities(100, WHOLE).number(2, 130) == 2 * 100 + 30  # as before
    assert limit(1000, WHOLE) == 1000
    assert limit(None, Part(1, 4)) is None
    assert list(every("abc", WHOLE)) == ["a", "b", "c"]


def test_budgets_are_split_and_never_zero():
    assert sum(limit(1000, part) or 0 for part in split(3)) == 1000
    assert [limit(2, part) for part in split(4)] == [1, 1, 1, 1]


def _classes_of_active(shares, desired, count):
    """The class of every active user, over all processes, position by position
    (what ClosedRunner does with ClassOrder and its part)."""
    order = list(itertools.islice(Seats(shares), desired))
    found = {}
    for part in split(count):
        for local in range(positions(desired, part)):
            found[position(local, part)] = order[position(local, part)]
    return [found[p] for p in range(desired)]


@pytest.mark.parametrize("count", [2, 3, 4])
def test_closed_users_with_classes_match_one_process(count):
    shares = [ClassShare(3.0), ClassShare(1.0, fixed_count=2), ClassShare(1.0)]
    for desired in (0, 1, 2, 9, 40):
        whole = list(itertools.islice(Seats(shares), desired))
        assert _classes_of_active(shares, desired, count) == whole
        # The fixed count holds over all processes, whatever the split.
        assert whole.count(1) == min(2, desired)


@pytest.mark.parametrize("count", [2, 3, 5])
def test_open_model_identities_never_overlap(count):
    users = 10
    owners: dict[int, int] = {}
    for part in split(count):
        for member in range(3):
            for arrival in range(200):
                number = Identities(users, part).number(member, arrival)
                assert member * users <= number < (member + 1) * users
                assert owners.setdefault(number, part.index) == part.index
    assert len(owners) == 3 * users  # every identity is used by somebody


def test_more_processes_than_identities_still_unique():
    numbers = {
        Identities(2, part).number(member, arrival): part.index
        for part in split(3)
        for member in range(2)
        for arrival in range(5)
    }
    owners: dict[int, set[int]] = {}
    for number, owner in numbers.items():
        owners.setdefault(number, set()).add(owner)
    assert all(len(o) == 1 for o in owners.values())


def test_class_seats_of_the_parts_merge_into_the_whole():
    shares = [ClassShare(40), ClassShare(30), ClassShare(5), ClassShare(1, 3)]
    whole = list(itertools.islice(Seats(shares), 999))
    for count in (2, 3):
        merged = [None] * 999
        for part in split(count):
            for local, seat in enumerate(
                itertools.islice(every(Seats(shares), part), positions(999, part))
            ):
                merged[position(local, part)] = seat
        assert merged == whole


SHAPES = [
    Shape.constant(500),
    Shape((Stage(1.0, 100), Stage(1.0, 800), Stage(0.5, 0))),
    Shape.constant(300).with_bursts(Burst(4.0, 0.3, 0.5, 1.0)),
    Shape.ramp(900, 2.0),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("poisson", [False, True])
@pytest.mark.parametrize("count", [2, 3])
def test_merged_arrivals_are_the_whole_schedule(shape, poisson, count):
    """Same seed, same shape: the parts' arrivals together are exactly one
    process's (to float rounding), and part i has every count-th of them."""

    def times(part: Part) -> list[float]:
        return list(
            arrival_times(
                shape.value_at, 2.5, poisson=poisson, rng=random.Random("7:a"),
                part=part,
            )
        )  # fmt: skip

    whole = times(WHOLE)
    assert len(whole) > 100
    for part in split(count):
        assert times(part) == pytest.approx(whole[part.index :: count], abs=1e-9)
    merged = sorted(t for part in split(count) for t in times(part))
    assert merged == pytest.approx(whole, abs=1e-9)


def test_skipping_behind_skips_each_part_its_share():
    rate = Shape.constant(1000).value_at
    whole = ArrivalSchedule(rate, 3.0)
    skipped = whole.skip_until(1.5)
    parts = [ArrivalSchedule(rate, 3.0, part=part) for part in split(3)]
    assert sum(p.skip_until(1.5) for p in parts) == skipped
    # And they go on with the whole's arrivals after the skip.
    rest = sorted(t for p in parts for t in p)
    assert rest == pytest.approx(list(whole), abs=1e-9)
