"""What evaluators read: merged stats by phase, one-second windows, fault times.

Phase labels are the runner's: ``warmup``, ``before``, ``during:<fault>[+<fault>]``
(faults active together), ``after:<fault>`` (from that fault's end to the next
fault); a fault with several occurrences appears as ``<fault>#<k>``, and
``during:<fault>`` / ``after:<fault>`` take every occurrence's labels.
A hypothesis names a phase the user's way (``before``, ``during``,
``after``, ``all``, ``during:<fault>``, ``after:<fault>``); :meth:`labels`
turns it into the runner's labels.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from chaoskit.events import (
    AttemptRecord,
    FaultRecord,
    PhaseRecord,
    ProbeSeries,
    RequestAttempt,
)
from chaoskit.metrics.model import TaskStats, WindowStats
from chaoskit.metrics.series import Bin, bins_by_intended_start
from chaoskit.records import AckLog, ErrorClass, ReadBack, Sample, ValueLog

if TYPE_CHECKING:
    from chaoskit.fuzz.tally import FuzzTally

__all__ = ["CheckContext", "MergedStats", "error_key_for"]

_BUILTIN_ERRORS = {e.value for e in ErrorClass}


def error_key_for(error_class: str) -> str:
    """The metrics' key for an error class the user names.

    A built-in class (``timeout``, ``http_5xx``...) is its own key; any other
    name is one of ``load.error_patterns`` (counted as ``body_pattern:<name>``).
    """
    if error_class in _BUILTIN_ERRORS or error_class.startswith("body_pattern:"):
        return error_class
    return f"body_pattern:{error_class}"


class MergedStats(Protocol):
    """(phase labels, tasks or None for all, user class or None for all) ->
    exact merged stats (``Recorder.merged``)."""

    def __call__(
        self,
        phases: Sequence[str],
        tasks: Collection[str] | None,
        user_class: str | None = None,
        /,
    ) -> TaskStats | None:
        """The stats, None when no request matches."""


@dataclass(frozen=True)
class CheckContext:
    """The run's data, as evaluators see it."""

    merged: MergedStats
    """(phase labels, tasks or None for all[, user class]) -> exact merged stats."""
    phases: tuple[PhaseRecord, ...]
    windows: tuple[WindowStats, ...]
    """One-second windows; ``start_s`` counts from the timeline's start."""
    faults: tuple[FaultRecord, ...]
    task_groups: dict[str, str]
    """Task name -> its ``group`` (for SLA budgets)."""
    bins: Callable[[float, float, float, frozenset[str] | None], list[Bin]]
    """(start_s, end_s, step_s, tasks) -> bins by intended start, from the samples."""
    attempts: Mapping[str, tuple[AttemptRecord, ...]] = field(default_factory=dict)
    """Route -> attempts at its upstream (routes a ``backoff`` hypothesis names)."""
    requests: Mapping[str, tuple[RequestAttempt, ...]] = field(default_factory=dict)
    """HTTP route -> requests from the proxy's request log (``backoff`` grouped by
    a header, or judging ``Retry-After``)."""
    acks: AckLog | None = None
    """What each write of a task with ``ack`` acknowledged (integrity checks)."""
    read_backs: Mapping[str, ReadBack] = field(default_factory=dict)
    """Integrity hypothesis name -> what its read-back found after the run."""
    fuzz: tuple[FuzzTally, ...] = ()
    """Each invalid-payloads fault's requests (kept apart from the load)."""
    probes: Mapping[str, ProbeSeries] = field(default_factory=dict)
    """Probe name -> its samples (``probe``, ``leak``, ``returns`` hypotheses)."""

    def end_s(self, default: float) -> float:
        """Where the timeline ended (its last phase's end); ``default`` without
        phases. What a check that waits for something after a fault may see."""
        return max((p.end_s for p in self.phases), default=default)

    def spans(self, phase: str) -> list[tuple[float, float]]:
        """(start, end) on the timeline of every stretch of a hypothesis phase."""
        wanted = set(self.labels(phase))
        return [(p.start_s, p.end_s) for p in self.phases if p.name in wanted]

    values: ValueLog | None = None
    """Numbers read from responses (threshold hypotheses on a header or value)."""
    samples: Callable[[float, float, frozenset[str] | None], Iterable[Sample]] = (
        lambda start, end, tasks: ()
    )
    """(start_s, end_s, tasks) -> the samples intended to start in that stretch,
    from the sample file (rules that need each request, not a histogram)."""
    origin_ns: int = 0
    """The monotonic time of the timeline's zero (samples' times count from it)."""
    user_class: str | None = None
    """The ``[[load.users]]`` class this context is scoped to (None: all)."""

    def scoped(self, user_class: str | None) -> CheckContext:
        """This context seeing only the requests of one user class (itself
        for None): the one place a hypothesis's ``user_class`` takes effect,
        for stats, samples and fine bins alike."""
        if user_class is None:
            return self
        outer_merged, outer_samples = self.merged, self.samples

        def merged(
            phases: Sequence[str],
            tasks: Collection[str] | None,
            _: str | None = None,
            /,
        ) -> TaskStats | None:
            return outer_merged(phases, tasks, user_class)

        def samples(
            start: float, end: float, tasks: frozenset[str] | None
        ) -> Iterator[Sample]:
            for sample in outer_samples(start, end, tasks):
                if sample.user_class == user_class:
                    yield sample

        def bins(
            start: float, end: float, step: float, tasks: frozenset[str] | None
        ) -> list[Bin]:
            found = samples(start, end, tasks)
            return bins_by_intended_start(found, self.origin_ns, start, end, step)

        return replace(
            self, merged=merged, samples=samples, bins=bins, user_class=user_class
        )

    def labels(self, phase: str) -> list[str]:
        """The runner's phase labels that make up a hypothesis phase."""
        present = [p.name for p in self.phases]
        if phase == "all":
            return [p for p in present if p != "warmup"]
        if phase in ("before", "warmup"):
            return [p for p in present if p == phase]
        kind, _, fault = phase.partition(":")
        if kind == "during":
            return [
                p
                for p in present
                if p.startswith("during:")
                and (
                    not fault
                    or any(
                        self._names(label, fault)
                        for label in p.removeprefix("during:").split("+")
                    )
                )
            ]
        if kind == "after":
            if not fault:
                ended = [f for f in self.faults if f.ended_s is not None]
                if not ended:
                    return []
                fault = max(ended, key=lambda f: f.ended_s or 0.0).name
            return [
                p
                for p in present
                if p.startswith("after:")
                and self._names(p.removeprefix("after:"), fault)
            ]
        return []

    def _names(self, label: str, fault: str) -> bool:
        """Whether a phase label's occurrence is ``fault`` (a name or a label)."""
        if label == fault:
            return True
        return any(f.name == label and f.declared == fault for f in self.faults)

    def phase_samples(self, phase: str, task: str | None = None) -> Iterator[Sample]:
        """Every sample intended to start in a hypothesis phase (of ``task``)."""
        wanted = set(self.labels(phase))
        tasks = None if task is None else frozenset([task])
        for record in self.phases:
            if record.name in wanted:
                yield from self.samples(record.start_s, record.end_s, tasks)

    def in_phase(self, phase: str) -> Callable[[float], bool]:
        """Whether a time on the timeline (s) is in a hypothesis phase's stretches."""
        wanted = set(self.labels(phase))
        spans = [(p.start_s, p.end_s) for p in self.phases if p.name in wanted]
        return lambda t: any(start <= t < end for start, end in spans)

    def span_s(self, labels: Sequence[str]) -> float:
        """Seconds the timeline spent in these phases."""
        wanted = set(labels)
        return sum(p.end_s - p.start_s for p in self.phases if p.name in wanted)

    def stats(self, phase: str, task: str | None = None) -> TaskStats | None:
        """Merged stats of a hypothesis phase (None: no request in it)."""
        if not (labels := self.labels(phase)):
            return None
        return self.merged(labels, None if task is None else [task])
