"""The values metrics hand on: percentiles, per-task stats, one-second windows.

Immutable snapshots; times are milliseconds (floats) because that is what
reports and hypotheses speak. Built from :class:`~chaoskit.metrics.histogram.Histogram`
which counts nanoseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chaoskit.metrics.histogram import Histogram

__all__ = ["Percentiles", "Snapshot", "TaskStats", "WindowStats"]

_NS_PER_MS = 1_000_000.0
_QUANTILES = (50.0, 90.0, 95.0, 99.0, 99.9)


@dataclass(frozen=True)
class Percentiles:
    """Latency percentiles in milliseconds, each within 1% of the exact value."""

    count: int = 0
    p50: float = 0.0
    p90: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    p999: float = 0.0
    max: float = 0.0
    mean: float = 0.0

    @classmethod
    def of(cls, histogram: Histogram) -> Percentiles:
        """The percentiles of a histogram of nanoseconds."""
        if histogram.count == 0:
            return cls()
        p50, p90, p95, p99, p999 = (
            v / _NS_PER_MS for v in histogram.percentiles(_QUANTILES)
        )
        return cls(
            count=histogram.count,
            p50=p50,
            p90=p90,
            p95=p95,
            p99=p99,
            p999=p999,
            max=histogram.max / _NS_PER_MS,
            mean=histogram.mean / _NS_PER_MS,
        )


@dataclass(frozen=True)
class TaskStats:
    """What one task did over a span of time (a phase, or the whole run).

    ``latency`` is measured from the intended start (coordinated-omission
    safe), ``service`` from the actual send, and ``lag`` is how late requests
    were sent; ``latency`` is about ``lag + service``.
    """

    task: str
    count: int
    """Requests due: sent ones plus dropped ones."""
    errors: int
    """Requests that failed (dropped ones included)."""
    dropped: int
    """Open model: requests never sent because the in-flight cap was reached."""
    rps: float
    """Requests completed per second over the span."""
    bytes_received: int
    latency: Percentiles
    service: Percentiles
    lag: Percentiles
    errors_by_class: dict[str, int] = field(default_factory=dict)
    """Error key -> requests carrying it; a request can carry several (a 500
    tagged ``lock`` counts under ``http_5xx`` and ``body_pattern:lock``)."""
    marked: int = 0
    """Responses that carried the task's ``marker``."""

    @property
    def error_rate(self) -> float:
        """Errors over requests due (0 when there were none)."""
        return self.errors / self.count if self.count else 0.0


@dataclass(frozen=True)
class WindowStats:
    """One second of the run: the requests due in it (by intended start)."""

    start_s: float
    """Seconds from the recorder's origin to the start of the window."""
    count: int
    errors: int
    dropped: int
    latency: Percentiles
    """Over all tasks, from the intended start."""
    tasks: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Per task: (count, errors)."""
    classes: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Per ``[[load.users]]`` class: (count, errors); empty without classes."""

    @property
    def error_rate(self) -> float:
        """Errors over requests in the window (0 when there were none)."""
        return self.errors / self.count if self.count else 0.0


@dataclass(frozen=True)
class Snapshot:
    """Everything the recorder knows at one moment; cheap enough to take each second."""

    elapsed_s: float
    """Seconds from the origin to the last sample seen."""
    phases: dict[str, dict[str, TaskStats]]
    """Phase name -> task name -> stats."""
    tasks: dict[str, TaskStats]
    """Task name -> stats over every phase."""
    total: TaskStats
    """All tasks together, over every phase (``task`` is ``"*"``)."""
    windows: list[WindowStats]
    """Closed one-second windows in time order (the live one is not included)."""
    errors: dict[str, int]
    """Error key (class, or ``body_pattern:<name>``) -> requests carrying it
    (the counts may overlap: see :func:`chaoskit.records.error_keys`)."""
    error_examples: dict[str, list[str]]
    """Error key -> the first few details seen, for reports."""
    user_errors: dict[int, dict[str, int]]
    """User -> error key -> count: which users hit which errors."""
    classes: dict[str, TaskStats] = field(default_factory=dict)
    """``[[load.users]]`` class -> stats over every phase (``task`` is the
    class's name); empty when the load has no classes."""
    user_classes: dict[int, str] = field(default_factory=dict)
    """User -> its ``[[load.users]]`` class, for the users with errors."""
