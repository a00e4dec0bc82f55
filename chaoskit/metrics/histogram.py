"""A compact HDR-style (log-linear) histogram of non-negative integers.

Values (nanoseconds here) below 256 are counted exactly. Above, each power of two
is split into 128 equal buckets, so a bucket is at most 1/128 (0.78%) of its
values wide; percentiles report the bucket's midpoint, which is within 0.4% of
every value in it — "exact to 1%" with room to spare. Merging is exact.

Why not the ``hdrhistogram`` package: its ``record_value`` is pure Python and
measured 1.25 us per call on the benchmark machine, against 0.19 us here; the
engine records up to three histograms per request at tens of thousands of
requests per second, which would cost a fifth of the generator's core. The
bucket layout is the same idea (HdrHistogram with 2 significant digits).

Counts are kept sparse (bucket index -> count), so a one-second window holds only
the buckets it saw.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

__all__ = ["Histogram", "bucket_bounds", "bucket_index"]

_SUB_BITS = 8
_HALF = 1 << (_SUB_BITS - 1)  # 128 buckets per power of two above 256


def bucket_index(value: int) -> int:
    """The bucket a non-negative value falls in."""
    shift = value.bit_length() - _SUB_BITS
    return value if shift <= 0 else (shift << (_SUB_BITS - 1)) + (value >> shift)


def bucket_bounds(index: int) -> tuple[int, int]:
    """Lowest and highest value (inclusive) of a bucket."""
    if index < (1 << _SUB_BITS):
        return index, index
    shift = (index >> (_SUB_BITS - 1)) - 1
    mantissa = index - (shift << (_SUB_BITS - 1))
    return mantissa << shift, ((mantissa + 1) << shift) - 1


class Histogram:
    """Counts of values in log-linear buckets, with exact min, max and sum.

    Args:
        values: optional initial values to record.
    """

    __slots__ = ("_counts", "count", "max", "min", "total")

    def __init__(self, values: Iterable[int] = ()) -> None:
        self._counts: dict[int, int] = {}
        self.count = 0
        """How many values were recorded."""
        self.total = 0
        """Sum of the recorded values (for the mean)."""
        self.min = 0
        self.max = 0
        for value in values:
            self.record(value)

    def record(self, value: int) -> None:
        """Count one value; negative values are clamped to 0 (never dropped)."""
        if value < 0:
            value = 0
        shift = value.bit_length() - _SUB_BITS
        index = value if shift <= 0 else (shift << (_SUB_BITS - 1)) + (value >> shift)
        counts = self._counts
        counts[index] = counts.get(index, 0) + 1
        if self.count == 0 or value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        self.count += 1
        self.total += value

    def record_many(self, values: Sequence[int]) -> None:
        """Count several values at once (as ``record`` each, in one call)."""
        if not values:
            return
        counts = self._counts
        get = counts.get
        total = 0
        low = high = values[0] if values[0] > 0 else 0
        for value in values:
            if value < 0:
                value = 0
            elif value > high:
                high = value
            if value < low:
                low = value
            shift = value.bit_length() - _SUB_BITS
            index = (
                value if shift <= 0 else (shift << (_SUB_BITS - 1)) + (value >> shift)
            )
            counts[index] = get(index, 0) + 1
            total += value
        if self.count == 0 or low < self.min:
            self.min = low
        if high > self.max:
            self.max = high
        self.count += len(values)
        self.total += total

    def merge(self, other: Histogram) -> None:
        """Add every count of ``other`` into this histogram (exact)."""
        if other.count == 0:
            return
        counts = self._counts
        for index, n in other._counts.items():
            counts[index] = counts.get(index, 0) + n
        self.min = other.min if self.count == 0 else min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.count += other.count
        self.total += other.total

    def copy(self) -> Histogram:
        """An independent copy."""
        clone = Histogram()
        clone.merge(self)
        return clone

    @property
    def mean(self) -> float:
        """Arithmetic mean of the recorded values (0 when empty)."""
        return self.total / self.count if self.count else 0.0

    def percentile(self, q: float) -> int:
        """The value at percentile ``q`` (0-100), within 0.4%; 0 when empty.

        Uses the nearest-rank definition (the smallest value with at least
        ``q``% of values at or below it), clamped to the exact min and max.

        Raises:
            ValueError: ``q`` is outside 0..100.
        """
        return self.percentiles((q,))[0]

    def percentiles(self, qs: Sequence[float]) -> list[int]:
        """Several percentiles in one pass over the buckets (see :meth:`percentile`).

        Raises:
            ValueError: a percentile is outside 0..100.
        """
        for q in qs:
            if not 0 <= q <= 100:
                raise ValueError(f"percentile {q!r} is outside 0..100")
        if self.count == 0:
            return [0 for _ in qs]
        order = sorted(range(len(qs)), key=lambda i: qs[i])
        result = [0] * len(qs)
        # round() first: 20000 * 99.9 / 100 is 19980.000000000004, not 19980
        ranks = [max(1, math.ceil(round(self.count * qs[i] / 100, 6))) for i in order]
        items = sorted(self._counts.items())
        seen = 0
        position = 0
        for slot, rank in zip(order, ranks, strict=True):
            while seen + items[position][1] < rank:
                seen += items[position][1]
                position += 1
            low, high = bucket_bounds(items[position][0])
            value = (low + high) // 2
            result[slot] = min(max(value, self.min), self.max)
        return result

    def buckets(self) -> list[tuple[int, int]]:
        """``(bucket index, count)`` pairs in index order, for export."""
        return sorted(self._counts.items())

    def __repr__(self) -> str:
        return (
            f"Histogram(count={self.count}, min={self.min}, max={self.max}, "
            f"buckets={len(self._counts)})"
        )
