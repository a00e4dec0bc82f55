"""The log-linear histogram: bucket layout, percentiles within 1%, exact merges."""

from __future__ import annotations

import random

import numpy as np
import pytest

from chaoskit.metrics.histogram import Histogram, bucket_bounds, bucket_index

QUANTILES = [50, 90, 95, 99, 99.9, 100]


def test_small_values_are_counted_exactly():
    for value in range(256):
        assert bucket_bounds(bucket_index(value)) == (value, value)


def test_buckets_tile_the_number_line_without_gaps():
    previous_high = 255
    for index in range(256, 256 + 128 * 30):
        low, high = bucket_bounds(index)
        assert low == previous_high + 1
        assert bucket_index(low) == index == bucket_index(high)
        assert (high - low + 1) / low <= 1 / 128  # at most 0.78% wide
        previous_high = high


@pytest.mark.parametrize(
    "draw",
    [
        lambda r: int(r.lognormvariate(13, 1.2)),  # latencies around 0.5 ms, long tail
        lambda r: r.randint(0, 5_000),
        lambda r: int(r.expovariate(1 / 2e6)),
        lambda r: r.choice([120_000, 121_000, 9_000_000]),
    ],
)
def test_percentiles_agree_with_numpy_within_one_percent(draw):
    rng = random.Random(3)
    values = [draw(rng) for _ in range(20_000)]
    histogram = Histogram(values)
    for q, got in zip(QUANTILES, histogram.percentiles(QUANTILES), strict=True):
        # Nearest rank, as the histogram defines it. The tiny offset keeps numpy
        # from rounding the rank up: 20000 * 0.999 is 19980.000000000004 in floats.
        exact = float(np.percentile(values, q - 1e-9, method="inverted_cdf"))
        assert abs(got - exact) <= 0.01 * exact + 1, (q, got, exact)
    assert histogram.min == min(values)
    assert histogram.max == max(values)
    assert histogram.count == len(values)
    assert histogram.mean == pytest.approx(float(np.mean(values)))


def test_merge_equals_recording_everything_in_one():
    rng = random.Random(5)
    a_values = [rng.randint(1, 10**7) for _ in range(3000)]
    b_values = [rng.randint(1, 10**5) for _ in range(3000)]
    merged = Histogram(a_values)
    merged.merge(Histogram(b_values))
    together = Histogram(a_values + b_values)
    assert merged.buckets() == together.buckets()
    assert (merged.min, merged.max, merged.count, merged.total) == (
        together.min,
        together.max,
        together.count,
        together.total,
    )


def test_empty_histogram_reports_zeros_and_copy_is_independent():
    empty = Histogram()
    assert empty.percentiles([50, 99]) == [0, 0]
    assert empty.mean == 0.0
    copy = empty.copy()
    copy.record(10)
    assert empty.count == 0
    assert copy.percentile(50) == 10


def test_negative_values_are_clamped_not_dropped():
    histogram = Histogram([-5, 3])
    assert histogram.count == 2
    assert histogram.min == 0


def test_percentile_outside_range_is_refused():
    with pytest.raises(ValueError, match=r"outside 0\.\.100"):
        Histogram([1]).percentile(101)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_record_many_counts_as_record_each(seed):
    rng = random.Random(seed)
    values = [rng.choice([-5, 0, 7, 255, 256]) for _ in range(20)]
    values += [int(rng.lognormvariate(14, 2)) for _ in range(2000)]
    one, many = Histogram(), Histogram([3])
    one.record(3)
    for value in values:
        one.record(value)
    many.record_many(values[:500])
    many.record_many([])
    many.record_many(values[500:])
    assert (many.count, many.total, many.min, many.max) == (
        one.count, one.total, one.min, one.max,
    )  # fmt: skip
    assert many.buckets() == one.buckets()


def test_record_many_on_an_empty_histogram_takes_the_batch_minimum():
    histogram = Histogram()
    histogram.record_many([900, 40, 5000])
    assert (histogram.min, histogram.max, histogram.count) == (40, 5000, 3)
