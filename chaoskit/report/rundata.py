"""Per-task, per-second numbers from a run's ``samples.tsv``, for charts and CSVs.

The report document carries one-second windows for the whole run (``series``)
but per task only counts and errors; the HTML charts of each task's latency and
Locust's per-task ``stats_history.csv`` need more. The run's sample file has
every request, so this module reads it back (in one pass, bounded memory: one
histogram per task per second) into the same shape as the document's series:

* windows are one second wide, keyed by *intended start* on the timeline, like
  :class:`~chaoskit.metrics.recorder.Recorder`'s windows and its phases;
* latency is measured from the *intended* start (coordinated-omission safe),
  as everywhere else in chaoskit; dropped requests count, but have no latency.

Samples carry monotonic nanoseconds; the timeline's zero comes from the
journal's ``phase`` events, which carry both ``at_ns`` and ``at_s``. Both the
run and ``chaoskit report`` read the same two files, so both render the same.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from chaoskit.metrics.histogram import Histogram
from chaoskit.metrics.samplefile import read_samples
from chaoskit.records import ErrorClass, error_keys
from chaoskit.report.journal import JOURNAL_NAME, read_journal

__all__ = ["SAMPLES_NAME", "RunData", "TaskSeconds", "find_run_dir", "load_run_data"]

SAMPLES_NAME = "samples.tsv"
"""The sample file's name in a report directory (written by the runner)."""

_NS = 1_000_000_000


@dataclass
class TaskSeconds:
    """One task's (or all tasks') requests: per second and over the whole run."""

    seconds: dict[int, Histogram] = field(default_factory=dict)
    """Second on the timeline -> latencies (ns) of requests due in it."""
    counts: dict[int, list[int]] = field(default_factory=dict)
    """Second -> [requests, errors] due in it (dropped ones included)."""
    total: Histogram = field(default_factory=Histogram)
    count: int = 0
    errors: int = 0
    bytes_received: int = 0
    first_ns: int | None = None
    last_ns: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    """Error key (as in the document's ``errors``) -> requests carrying it
    (a request can carry several: the counts may overlap)."""
    bytes_by_second: dict[int, int] = field(default_factory=dict)
    """Second -> bytes received by requests due in it."""

    def add(
        self,
        second: int,
        latency: int | None,
        errors: tuple[str, ...],
        received: int = 0,
    ) -> None:
        """Count one request due in ``second`` (latency None: dropped), failed
        when it carries error keys."""
        counts = self.counts.setdefault(second, [0, 0])
        counts[0] += 1
        self.count += 1
        if latency is not None:
            self.seconds.setdefault(second, Histogram()).record(latency)
            self.total.record(latency)
            self.bytes_received += received
            self.bytes_by_second[second] = (
                self.bytes_by_second.get(second, 0) + received
            )
        if errors:
            counts[1] += 1
            self.errors += 1
            for key in errors:
                self.failures[key] = self.failures.get(key, 0) + 1

    @property
    def span_s(self) -> float:
        """Seconds from the first intended start to the last completion."""
        if self.first_ns is None:
            return 0.0
        return max(0.0, (self.last_ns - self.first_ns) / _NS)


@dataclass
class RunData:
    """What ``samples.tsv`` says, per task, on the document's timeline."""

    tasks: dict[str, TaskSeconds]
    """Task -> its requests, tasks in name order."""
    overall: TaskSeconds
    origin_wall: float | None
    """Unix time of the timeline's zero (for Locust's ``Timestamp``)."""
    users: dict[int, int] = field(default_factory=dict)
    """Second -> distinct users with a request due in it."""
    classes: dict[str, TaskSeconds] = field(default_factory=dict)
    """``[[load.users]]`` class -> its requests (empty without classes)."""


def find_run_dir(document: Mapping[str, object], report_dir: Path) -> Path | None:
    """The directory holding the run's sample file and journal, if any.

    ``report_dir`` first (the run writes there; ``chaoskit report`` defaults to
    the journal's directory), then the ``report_dir`` the document names (a
    journal re-rendered into another directory).
    """
    candidates = [report_dir]
    named = document.get("report_dir")
    if isinstance(named, str) and named:
        candidates.append(Path(named))
    for directory in candidates:
        if (directory / SAMPLES_NAME).is_file() and (
            directory / JOURNAL_NAME
        ).is_file():
            return directory
    return None


def _origin(journal: Path) -> tuple[int, float] | None:
    """Monotonic ns and Unix time of the timeline's zero, from a phase event."""
    for record in read_journal(journal):
        at_ns, at_s, wall = record.get("at_ns"), record.get("at_s"), record.get("wall")
        if (
            record.get("kind") == "phase"
            and isinstance(at_ns, int)
            and isinstance(at_s, int | float)
        ):
            origin_wall = wall - at_s if isinstance(wall, int | float) else math.nan
            return at_ns - round(at_s * _NS), origin_wall
    return None


def load_run_data(document: Mapping[str, object], report_dir: Path) -> RunData | None:
    """Per-task and overall per-second numbers, or None without a sample file.

    Args:
        document: the report document (to find the run directory).
        report_dir: the directory being rendered into.

    Returns:
        None when the sample file or the journal's timeline is missing or
        unreadable: the renderers then use the document alone.
    """
    directory = find_run_dir(document, report_dir)
    if directory is None:
        return None
    try:
        origin = _origin(directory / JOURNAL_NAME)
        if origin is None:
            return None
        origin_ns, origin_wall = origin
        tasks: dict[str, TaskSeconds] = {}
        classes: dict[str, TaskSeconds] = {}
        overall = TaskSeconds()
        users: dict[int, set[int]] = {}
        for sample in read_samples(directory / SAMPLES_NAME):
            second = (sample.intended_ns - origin_ns) // _NS
            dropped = sample.error is ErrorClass.DROPPED
            latency = None if dropped else sample.end_ns - sample.intended_ns
            errors = error_keys(sample)
            task = tasks.get(sample.task)
            if task is None:
                task = tasks[sample.task] = TaskSeconds()
            users.setdefault(second, set()).add(sample.user)
            targets: tuple[TaskSeconds, ...] = (task, overall)
            if sample.user_class:
                of_class = classes.get(sample.user_class)
                if of_class is None:
                    of_class = classes[sample.user_class] = TaskSeconds()
                targets = (task, overall, of_class)
            for target in targets:
                target.add(second, latency, errors, sample.bytes_received)
                if target.first_ns is None or sample.intended_ns < target.first_ns:
                    target.first_ns = sample.intended_ns
                target.last_ns = max(target.last_ns, sample.end_ns)
    except (OSError, ValueError):
        # A sample file cut short by a crash, or from another version: the
        # document alone still makes a report.
        return None
    return RunData(
        tasks=dict(sorted(tasks.items())),
        overall=overall,
        origin_wall=None if math.isnan(origin_wall) else origin_wall,
        users={second: len(ids) for second, ids in sorted(users.items())},
        classes=classes,
    )
