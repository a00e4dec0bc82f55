"""Toxic attribute checks and the slicer's cutting, without sockets."""

from __future__ import annotations

import random

import pytest

from chaoskit.proxy.toxics import (
    ATTRIBUTES,
    ToxicError,
    _slice,
    check_attributes,
    slicer_sizes,
)


@pytest.mark.parametrize("toxic_type", sorted(ATTRIBUTES))
def test_attributes_are_zero_filled(toxic_type):
    assert check_attributes(toxic_type, {}) == dict.fromkeys(ATTRIBUTES[toxic_type], 0)


def test_attribute_keys_match_case_insensitively_and_unknown_are_ignored():
    attrs = check_attributes("latency", {"Latency": 100, "JITTER": 5, "extra": 1})
    assert attrs == {"latency": 100, "jitter": 5}


def test_exact_key_wins_over_case_insensitive_one():
    assert check_attributes("latency", {"LATENCY": 1, "latency": 2})["latency"] == 2


def test_update_merges_over_the_current_values():
    base = {"latency": 100, "jitter": 5}
    assert check_attributes("latency", {"latency": 300}, base=base) == {
        "latency": 300,
        "jitter": 5,
    }


def test_null_keeps_the_default():
    assert check_attributes("bandwidth", {"rate": None}) == {"rate": 0}


@pytest.mark.parametrize("bad", [1.5, "100", True, [1], {"a": 1}])
def test_non_integer_attributes_are_refused_like_go(bad):
    with pytest.raises(ToxicError, match=r"^bad request body: json: cannot unmarshal"):
        check_attributes("latency", {"latency": bad})


def test_negative_bandwidth_is_refused():
    with pytest.raises(ToxicError, match="rate=-1 must be >= 0"):
        check_attributes("bandwidth", {"rate": -1})


def test_slicer_halves_to_exact_pieces_without_variation():
    """24 bytes at average 1, variation 0: exactly 24 one-byte pieces, in order."""
    pieces = _slice(b"abcdefghijklmnopqrstuvwx", 1, 0, random.Random(0).randrange)
    assert pieces == [bytes([c]) for c in b"abcdefghijklmnopqrstuvwx"]


def test_slicer_piece_count_for_480kb():
    """Toxiproxy's own test: 480 KB at 1024 +- 512 gives roughly 240-720 pieces."""
    data = bytes(480_000)
    pieces = _slice(data, 1024, 512, random.Random(1).randrange)
    assert b"".join(pieces) == data
    assert 240 <= len(pieces) <= 720
    assert max(map(len, pieces)) <= 1024 + 512


def test_slicer_is_reproducible_with_a_seed():
    data = bytes(range(256)) * 40
    first = _slice(data, 100, 50, random.Random(42).randrange)
    second = _slice(data, 100, 50, random.Random(42).randrange)
    assert first == second


@pytest.mark.parametrize(
    ("average", "variation", "safe"),
    [(10, 50, (10, 9)), (0, 0, (1, 0)), (-5, 3, (1, 0)), (100, -1, (100, 0))],
)
def test_slicer_sizes_are_clamped_to_what_terminates(average, variation, safe):
    """Toxiproxy can panic (variation > average) or recurse for ever (average 0)."""
    attrs = {"average_size": average, "size_variation": variation, "delay": 0}
    assert slicer_sizes(attrs) == safe
    pieces = _slice(b"x" * 1000, *safe, random.Random(3).randrange)
    assert b"".join(pieces) == b"x" * 1000
    assert all(1 <= len(p) <= sum(safe) for p in pieces)
