"""Shapes and presets: targets over time, without any clock."""

from __future__ import annotations

import pytest

from chaoskit.load.errors import LoadConfigError
from chaoskit.load.shapes import PRESETS, Burst, Shape, Stage


def test_stages_interpolate_linearly_and_zero_duration_jumps():
    shape = Shape((Stage(10, 100), Stage(0, 50), Stage(10, 50)))
    assert shape.value_at(0) == 0
    assert shape.value_at(5) == pytest.approx(50)
    assert shape.value_at(9.99) == pytest.approx(99.9)
    assert shape.value_at(10) == 50
    assert shape.value_at(100) == 50  # the last target holds
    assert shape.duration == 20


def test_ramp_and_steps():
    assert Shape.ramp(200, over=4).value_at(1) == pytest.approx(50)
    steps = Shape.steps(first=10, step=10, every=5, count=3)
    assert [steps.value_at(t) for t in (0, 4.9, 5, 10, 14.9)] == [10, 10, 20, 30, 30]


def test_spike_and_repeated_bursts():
    spike = Shape.spike(100, 5, at=10, length=2)
    assert [spike.value_at(t) for t in (9.9, 10, 11.9, 12)] == [100, 500, 500, 100]
    burst = Shape.constant(10).with_bursts(Burst(3, length=1, at=2, every=5))
    assert [burst.value_at(t) for t in (1, 2.5, 3.5, 7.2, 12.9, 13.5)] == [
        10,
        30,
        10,
        30,
        30,
        10,
    ]
    assert burst.peak == 30


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_one_line_and_stays_sane(name):
    shape = Shape.preset(name, base=100, duration=60)
    values = [shape.value_at(t / 10) for t in range(600)]
    assert all(0 <= v <= 1000 for v in values)
    assert max(values) >= 100 or name == "breaking"


def test_presets_have_their_character():
    def at(name, fraction):
        return Shape.preset(name, 100, 100).value_at(fraction * 100)

    assert at("baseline", 0) == 100
    assert at("normal", 0.5) == 100
    assert at("peak", 0.6) == 200
    assert at("stress", 0.9) == 400
    assert at("spike", 0.45) == 500
    assert at("spike", 0.6) == 100
    assert at("breaking", 0.5) == pytest.approx(500)


def test_unknown_preset_names_the_allowed_ones():
    with pytest.raises(
        LoadConfigError, match=r"profile: is not a known profile.*allowed: baseline"
    ):
        Shape.preset("bursty", 10, 10)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Stage(-1, 10), "stages.duration"),
        (lambda: Stage(1, float("nan")), "stages.target"),
        (lambda: Burst(2, length=0), "burst.length"),
        (lambda: Burst(2, length=5, every=5), "burst.every"),
        (lambda: Shape.steps(1, 1, 1, 0), "steps.count"),
        (lambda: Shape.preset("normal", 1, 0), "duration"),
    ],
)
def test_invalid_shapes_name_the_field(build, field):
    with pytest.raises(LoadConfigError) as caught:
        build()
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)
