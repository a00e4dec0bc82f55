"""Durations, ratios, sizes and growth rates as users write them."""

from __future__ import annotations

import math

import pytest

from chaoskit.units import (
    format_duration,
    format_size,
    parse_duration,
    parse_rate,
    parse_ratio,
    parse_size,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("15s", 15),
        ("2m", 120),
        ("1h", 3600),
        ("500us", 0.0005),
        (" 1.5s ", 1.5),
        (3, 3.0),
        (0.5, 0.5),
    ],
)
def test_parse_duration(text, seconds):
    assert math.isclose(parse_duration(text), seconds)


@pytest.mark.parametrize("bad", ["15", "fast", "-1s", "1 sec", True, float("nan"), -2])
def test_bad_durations_name_the_forms(bad):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.25, "250ms"), (15, "15s"), (90, "1m30s"), (120, "2m")]
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("text", "ratio"),
    [("1%", 0.01), ("0.5%", 0.005), (0.01, 0.01), ("0.2", 0.2), (1, 1.0)],
)
def test_parse_ratio(text, ratio):
    assert math.isclose(parse_ratio(text), ratio)


@pytest.mark.parametrize("bad", ["150%", "lots", -0.1, True, float("nan")])
def test_bad_ratios(bad):
    with pytest.raises(ValueError, match="ratio"):
        parse_ratio(bad)


@pytest.mark.parametrize(
    ("text", "per_s"),
    [("1MB/min", 1e6 / 60), ("10/s", 10.0), ("2KB/h", 2000 / 3600),
     ("1.5 MiB / min", 1.5 * 1024**2 / 60), (3, 3.0), ("0/s", 0.0)],
)  # fmt: skip
def test_parse_rate(text, per_s):
    assert math.isclose(parse_rate(text), per_s)


@pytest.mark.parametrize("bad", ["1MB", "1MB/week", "lots/min", "-1/s", True, "/s"])
def test_bad_rates(bad):
    with pytest.raises(ValueError, match="growth rate"):
        parse_rate(bad)


def test_sizes_parse_and_format_in_decimal_units():
    assert parse_size("10KB") == 10_000
    assert parse_size("1GiB") == 1024**3
    assert format_size(12_300_000) == "12.3MB"
    assert format_size(-2_000) == "-2KB"
    assert format_size(512) == "512B"
