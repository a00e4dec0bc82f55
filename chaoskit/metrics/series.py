"""Fine-grained time series from the raw samples, for timing what happened when.

One-second windows (by intended start, like phases) are right for live
progress; timing a recovery needs better: bins of 100 ms, by intended start too,
so "requests issued after t were served normally" can be read off to the tenth
of a second. Built from the run's sample file on demand, only for the stretch
asked about, so memory stays bounded whatever the run's length.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from chaoskit.metrics.histogram import Histogram
from chaoskit.records import ErrorClass, Sample

__all__ = ["Bin", "bins_by_intended_start", "merge_bins", "samples_between"]

_NS = 1_000_000_000


@dataclass
class Bin:
    """Requests intended to start in [start_s, start_s + step)."""

    start_s: float
    count: int = 0
    errors: int = 0
    latency: Histogram = field(default_factory=Histogram)
    """Nanoseconds from the intended start (requests never sent not included)."""

    @property
    def error_rate(self) -> float:
        return self.errors / self.count if self.count else 0.0

    def p95_ms(self) -> float:
        return self.latency.percentile(95) / 1e6 if self.latency.count else 0.0


def bins_by_intended_start(
    samples: Iterable[Sample],
    origin_ns: int,
    start_s: float,
    end_s: float,
    step_s: float = 0.1,
    tasks: frozenset[str] | None = None,
) -> list[Bin]:
    """Bins of ``step_s`` over [start_s, end_s) on the timeline (``origin_ns`` = 0).

    Args:
        samples: the run's samples, in any order.
        tasks: only these tasks; None for all.
    """
    count = max(0, math.ceil((end_s - start_s) / step_s - 1e-9))
    bins = [Bin(start_s + i * step_s) for i in range(count)]
    for sample in samples:
        if tasks is not None and sample.task not in tasks:
            continue
        t = (sample.intended_ns - origin_ns) / _NS
        index = math.floor((t - start_s) / step_s)
        if not 0 <= index < count:
            continue
        target = bins[index]
        target.count += 1
        if sample.error is not None:
            target.errors += 1
        if sample.error is not ErrorClass.DROPPED:
            target.latency.record(sample.end_ns - sample.intended_ns)
    return bins


def samples_between(
    samples: Iterable[Sample],
    origin_ns: int,
    start_s: float,
    end_s: float,
    tasks: frozenset[str] | None = None,
) -> Iterator[Sample]:
    """The samples intended to start in [start_s, end_s) on the timeline
    (``-math.inf``/``math.inf``: unbounded, the warm-up included)."""
    low = origin_ns + round(start_s * _NS) if math.isfinite(start_s) else None
    high = origin_ns + round(end_s * _NS) if math.isfinite(end_s) else None
    for sample in samples:
        if (
            (low is None or low <= sample.intended_ns)
            and (high is None or sample.intended_ns < high)
            and (tasks is None or sample.task in tasks)
        ):
            yield sample


def merge_bins(bins: Iterable[Bin]) -> Bin:
    """One bin holding several (exact: histograms merge losslessly)."""
    out: Bin | None = None
    for item in bins:
        if out is None:
            out = Bin(item.start_s)
        out.count += item.count
        out.errors += item.errors
        out.latency.merge(item.latency)
    return out if out is not None else Bin(0.0)
