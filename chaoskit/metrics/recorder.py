"""A sink that turns samples into live statistics with bounded memory.

:class:`Recorder` keeps, per phase and task, three histograms (latency from the
intended start, service time from the actual send, scheduling lag) and counts;
per one-second window a histogram over all tasks and counts per task, reduced
to a :class:`WindowStats` summary once the window is closed. Memory grows with
phases x tasks, users and the number of seconds (a few hundred bytes each),
never with the number of requests.

A sample belongs to the phase and the window of its *intended* start, like its
latency: a request due during a fault that is answered after it is judged in
the fault's phase (where its user waited), not in the next one.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Collection, Iterable

from chaoskit.metrics.histogram import Histogram
from chaoskit.metrics.model import Percentiles, Snapshot, TaskStats, WindowStats
from chaoskit.records import ErrorClass, Sample, error_keys

__all__ = ["Recorder"]

_NS_PER_S = 1_000_000_000
_BATCH = 2048  # samples counted at once (write -> flush)


class _Accumulator:
    """Histograms and counts for one (phase, task)."""

    __slots__ = (
        "bytes_received",
        "count",
        "dropped",
        "errors",
        "errors_by_class",
        "first_ns",
        "lag",
        "last_ns",
        "latency",
        "marked",
        "service",
    )

    def __init__(self) -> None:
        self.latency = Histogram()
        self.service = Histogram()
        self.lag = Histogram()
        self.count = 0
        self.errors = 0
        self.dropped = 0
        self.bytes_received = 0
        self.errors_by_class: dict[str, int] = {}
        self.marked = 0
        self.first_ns = 0
        self.last_ns = 0

    def merge(self, other: _Accumulator) -> None:
        self.latency.merge(other.latency)
        self.service.merge(other.service)
        self.lag.merge(other.lag)
        self.count += other.count
        self.errors += other.errors
        self.dropped += other.dropped
        self.bytes_received += other.bytes_received
        self.marked += other.marked
        for key, n in other.errors_by_class.items():
            self.errors_by_class[key] = self.errors_by_class.get(key, 0) + n
        if other.count:
            self.first_ns = (
                other.first_ns
                if not self.first_ns
                else min(self.first_ns, other.first_ns)
            )
            self.last_ns = max(self.last_ns, other.last_ns)

    def stats(self, task: str) -> TaskStats:
        span_s = (self.last_ns - self.first_ns) / _NS_PER_S
        completed = self.count - self.dropped
        return TaskStats(
            task=task,
            count=self.count,
            errors=self.errors,
            dropped=self.dropped,
            rps=completed / span_s if span_s > 0 else 0.0,
            bytes_received=self.bytes_received,
            latency=Percentiles.of(self.latency),
            service=Percentiles.of(self.service),
            lag=Percentiles.of(self.lag),
            errors_by_class=dict(self.errors_by_class),
            marked=self.marked,
        )


class _Window:
    __slots__ = ("classes", "count", "dropped", "errors", "latency", "tasks")

    def __init__(self) -> None:
        self.latency = Histogram()
        self.count = 0
        self.errors = 0
        self.dropped = 0
        self.tasks: dict[str, list[int]] = {}
        self.classes: dict[str, list[int]] = {}

    def summary(self, start_s: float) -> WindowStats:
        return WindowStats(
            start_s=start_s,
            count=self.count,
            errors=self.errors,
            dropped=self.dropped,
            latency=Percentiles.of(self.latency),
            tasks={task: (c[0], c[1]) for task, c in self.tasks.items()},
            classes={name: (c[0], c[1]) for name, c in self.classes.items()},
        )


class Recorder:
    """Live statistics from a stream of samples; a :class:`~chaoskit.records.Sink`.

    Args:
        origin_ns: the monotonic time windows count from; by default the
            intended start of the first sample.
        phase: the initial phase name (see :meth:`enter_phase`).
        examples: how many error details to keep per error key.
        settle_s: how long a one-second window stays open for late answers
            (requests due in it and answered later): the longest request
            timeout plus a little.
    """

    def __init__(
        self,
        origin_ns: int | None = None,
        *,
        phase: str = "all",
        examples: int = 5,
        settle_s: float = 3.0,
    ) -> None:
        self._origin = origin_ns
        self._phase = phase
        # Phase starts (intended-start ns) and names, in order; the first
        # phase holds everything before the second.
        self._starts: list[int] = []
        self._names: list[str] = [phase]
        self._latest_intended = 0
        self._open_windows = max(1, math.ceil(settle_s))
        self._examples = examples
        # (phase, task, user class) -> stats; the class is "" without classes.
        self._acc: dict[tuple[str, str, str], _Accumulator] = {}
        self._open: dict[int, _Window] = {}
        self._closed: list[WindowStats] = []
        self._newest_window = -1
        self._last_ns = 0
        self._errors: dict[str, int] = {}
        self._error_examples: dict[str, list[str]] = {}
        self._user_errors: dict[int, dict[str, int]] = {}
        self._user_classes: dict[int, str] = {}
        self._pending: list[Sample] = []  # written, not counted yet (flush)
        # Histogram -> the values of the batch being flushed, not recorded yet.
        self._gathered: defaultdict[Histogram, list[int]] = defaultdict(list)

    def enter_phase(self, name: str, at_ns: int | None = None) -> None:
        """Phase ``name`` starts at ``at_ns``: samples *due* from then on
        belong to it (by default, those due after every sample seen so far)."""
        self.flush()
        start = self._latest_intended + 1 if at_ns is None else at_ns
        if self._starts and start < self._starts[-1]:
            start = self._starts[-1]  # phases never go back in time
        self._starts.append(start)
        self._names.append(name)
        self._phase = name

    def phase_of(self, intended_ns: int) -> str:
        """The phase a request due at ``intended_ns`` belongs to."""
        starts = self._starts
        if not starts or intended_ns >= starts[-1]:
            return self._phase  # the usual case: due in the current phase
        return self._names[bisect.bisect_right(starts, intended_ns)]

    def write(self, sample: Sample) -> None:
        """Take one sample (the :class:`~chaoskit.records.Sink` method).

        Counted in batches (:meth:`flush`): every read of the statistics
        flushes first, so what is read is always up to date."""
        pending = self._pending
        pending.append(sample)
        if len(pending) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        """Count the samples written since the last flush.

        Samples are taken in order (phases, windows and the settle rule as
        one at a time); the histogram values of the batch are gathered per
        histogram and recorded in one call each (``Histogram.record_many``).
        """
        samples = self._pending
        if not samples:
            return
        self._pending = []
        values = self._gathered
        for sample in samples:
            self._take(sample, values)
        for histogram, found in values.items():
            histogram.record_many(found)
        values.clear()

    def _take(self, sample: Sample, values: defaultdict[Histogram, list[int]]) -> None:
        intended = sample.intended_ns
        if self._origin is None:
            self._origin = intended
        if intended > self._latest_intended:
            self._latest_intended = intended
        starts = self._starts
        # Inlined common case of phase_of: due in the current phase.
        user_class = sample.user_class
        if not starts or intended >= starts[-1]:
            key = (self._phase, sample.task, user_class)
        else:
            key = (self.phase_of(intended), sample.task, user_class)
        acc = self._acc.get(key)
        if acc is None:
            acc = self._acc[key] = _Accumulator()
        end = sample.end_ns
        if not acc.count or intended < acc.first_ns:
            # The earliest due, whatever the order samples come in (several
            # generator processes deliver in batches).
            acc.first_ns = intended
        acc.count += 1
        if end > acc.last_ns:
            acc.last_ns = end
        if end > self._last_ns:
            self._last_ns = end
        second = (intended - self._origin) // _NS_PER_S
        window = self._open.get(second)  # the usual case: a window still open
        if window is None:
            window = self._window(second)
        window.count += 1
        per_task = window.tasks.get(sample.task)
        if per_task is None:
            per_task = window.tasks[sample.task] = [0, 0]
        per_task[0] += 1
        per_class = None
        if user_class:
            per_class = window.classes.get(user_class)
            if per_class is None:
                per_class = window.classes[user_class] = [0, 0]
            per_class[0] += 1
        error = sample.error
        if error is ErrorClass.DROPPED:
            acc.dropped += 1
            window.dropped += 1
        else:
            latency = end - intended
            values[acc.latency].append(latency)
            values[acc.service].append(end - sample.sent_ns)
            values[acc.lag].append(sample.sent_ns - intended)
            acc.bytes_received += sample.bytes_received
            acc.marked += sample.marked
            values[window.latency].append(latency)
        if error is not None:
            acc.errors += 1
            window.errors += 1
            per_task[1] += 1
            if per_class is not None:
                per_class[1] += 1
            self._count_error(sample, acc)

    def _count_error(self, sample: Sample, acc: _Accumulator) -> None:
        # Every facet the sample carries is counted: the counts may overlap.
        user = self._user_errors.setdefault(sample.user, {})
        if sample.user_class:
            self._user_classes[sample.user] = sample.user_class
        for name in error_keys(sample):
            acc.errors_by_class[name] = acc.errors_by_class.get(name, 0) + 1
            self._errors[name] = self._errors.get(name, 0) + 1
            user[name] = user.get(name, 0) + 1
            examples = self._error_examples.setdefault(name, [])
            if len(examples) < self._examples and sample.detail:
                examples.append(f"{sample.task}: {sample.detail}")

    def _window(self, index: int) -> _Window:
        window = self._open.get(index)
        if window is not None:
            return window
        keep = self._open_windows
        if index < self._newest_window - keep and self._open:
            # Later than the settle time allows: the oldest window still open.
            return self._open[min(self._open)]
        window = self._open[index] = _Window()
        if index > self._newest_window:
            self._newest_window = index
            for old in sorted(i for i in self._open if i < index - keep):
                closing = self._open.pop(old)
                found = self._gathered.pop(closing.latency, None)
                if found:  # closed mid-batch: its latencies first
                    closing.latency.record_many(found)
                self._closed.append(closing.summary(float(old)))
        return window

    def window(self, index: int) -> WindowStats | None:
        """Second ``index`` (by intended start) so far, open or closed; None if
        no request was due in it. An open window may still grow."""
        self.flush()
        window = self._open.get(index)
        if window is not None:
            return window.summary(float(index))
        return next((w for w in self._closed if w.start_s == index), None)

    def close(self) -> None:
        """Close every open window (the :class:`~chaoskit.records.Sink` method)."""
        self.flush()
        for index in sorted(self._open):
            self._closed.append(self._open.pop(index).summary(float(index)))
        self._closed.sort(key=lambda w: w.start_s)

    def snapshot(self) -> Snapshot:
        """The statistics so far. Windows still open are not in ``windows``."""
        self.flush()
        per_phase: dict[tuple[str, str], _Accumulator] = {}
        per_task: dict[str, _Accumulator] = {}
        per_class: dict[str, _Accumulator] = {}
        total = _Accumulator()
        for (phase, task, user_class), acc in self._acc.items():
            per_phase.setdefault((phase, task), _Accumulator()).merge(acc)
            per_task.setdefault(task, _Accumulator()).merge(acc)
            if user_class:
                per_class.setdefault(user_class, _Accumulator()).merge(acc)
            total.merge(acc)
        phases: dict[str, dict[str, TaskStats]] = {}
        for (phase, task), acc in per_phase.items():
            phases.setdefault(phase, {})[task] = acc.stats(task)
        origin = self._origin or 0
        return Snapshot(
            elapsed_s=max(0, self._last_ns - origin) / _NS_PER_S,
            phases=phases,
            tasks={task: acc.stats(task) for task, acc in per_task.items()},
            total=total.stats("*"),
            windows=sorted(self._closed, key=lambda w: w.start_s),
            errors=dict(self._errors),
            error_examples={k: list(v) for k, v in self._error_examples.items()},
            user_errors={u: dict(e) for u, e in self._user_errors.items()},
            classes={name: acc.stats(name) for name, acc in per_class.items()},
            user_classes=dict(self._user_classes),
        )

    def merged(
        self,
        phases: Iterable[str],
        tasks: Collection[str] | None = None,
        user_class: str | None = None,
    ) -> TaskStats | None:
        """Exact stats over several phases, for some tasks or all (of one user
        class or every one); None if no data.

        Histograms merge losslessly, so ``during`` can be the union of every
        ``during:<fault>`` phase, and a task group the union of its tasks,
        without losing percentile accuracy.
        """
        self.flush()
        wanted = set(phases)
        acc = _Accumulator()
        for (phase, name, cls), part in self._acc.items():
            if (
                phase in wanted
                and (tasks is None or name in tasks)
                and (user_class is None or cls == user_class)
            ):
                acc.merge(part)
        label = "*" if tasks is None else "+".join(sorted(tasks))
        return acc.stats(label) if acc.count else None

    def window_histogram(self, index: int) -> Histogram | None:
        """The full latency histogram of a window still open, else ``None``."""
        self.flush()
        window = self._open.get(index)
        return window.latency.copy() if window is not None else None
