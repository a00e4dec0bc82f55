"""A step judged: the hypotheses on its records, and its row of the curve."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from chaoskit.errors import UsageError
from chaoskit.runner.orchestrator import StepData
from chaoskit.spec import model

__all__ = ["JUDGED_KINDS", "Broken", "Measurement", "judged_hypotheses", "measure"]

JUDGED_KINDS = ("threshold", "sla", "error_budget", "probe")
"""Hypotheses a step of steady load can judge (a recovery, a backoff or an
integrity read-back needs a fault's before and after)."""


def judged_hypotheses(
    experiment: model.Experiment, slos: Sequence[str] = ()
) -> tuple[model.Hypothesis, ...]:
    """The hypotheses each step is judged on: those named, else every one of a
    kind a step can judge.

    Raises:
        UsageError: a name is not a hypothesis of the file, or not of a kind a
            step can judge; or nothing is left to judge (exit 2).
    """
    by_name = {h.name: h for h in experiment.hypotheses}
    if slos:
        chosen = []
        for name in slos:
            hypothesis = by_name.get(name)
            if hypothesis is None:
                known = ", ".join(repr(n) for n in by_name) or "none"
                raise UsageError(
                    f"--slo {name!r}: no hypothesis of that name (the file has: "
                    f"{known})"
                )
            if hypothesis.kind not in JUDGED_KINDS:
                raise UsageError(
                    f"--slo {name!r}: a {hypothesis.kind} hypothesis cannot judge "
                    f"one load level; allowed kinds: {', '.join(JUDGED_KINDS)}"
                )
            chosen.append(hypothesis)
        return tuple(chosen)
    chosen = [h for h in experiment.hypotheses if h.kind in JUDGED_KINDS]
    if not chosen:
        raise UsageError(
            "capacity: the experiment has no hypothesis a load level can be judged "
            f"on (kinds: {', '.join(JUDGED_KINDS)}); add one, e.g. "
            '[[hypotheses]] metric = "p95" below = "200ms"'
        )
    return tuple(chosen)


@dataclass(frozen=True)
class Broken:
    """A hypothesis that failed at a step, and how."""

    hypothesis: str
    how: str
    """``latency``, ``errors``, ``throughput``, ``probe`` or ``inconclusive``."""
    observed: str
    expected: str
    error_class: str | None = None
    """The most frequent error class of the step, when errors broke it."""

    def to_json(self) -> dict[str, object]:
        """The report.json shape (``broke_first``)."""
        return {
            "hypothesis": self.hypothesis, "how": self.how, "observed": self.observed,
            "expected": self.expected, "error_class": self.error_class,
        }  # fmt: skip


@dataclass(frozen=True)
class Measurement:
    """One step's row: the level, what it did, and whether it held."""

    search: str
    """Which search the step belongs to (``baseline``, ``fault``, ``vary``)."""
    level: float
    offered: float
    """Requests/s scheduled."""
    achieved: float
    """Successful responses/s."""
    p50_ms: float
    p95_ms: float
    p99_ms: float
    requests: int
    errors: int
    passed: bool
    hard: bool
    broke: tuple[Broken, ...] = ()
    error_classes: dict[str, int] = field(default_factory=dict)
    reason: str | None = None
    verdicts: tuple[dict[str, object], ...] = ()

    @property
    def error_rate(self) -> float:
        """Errors over requests due."""
        return self.errors / self.requests if self.requests else 0.0

    def to_json(self) -> dict[str, object]:
        """A row of report.json's ``curve``."""
        return {
            "search": self.search, "level": round(self.level, 3),
            "offered": round(self.offered, 2), "achieved": round(self.achieved, 2),
            "p50_ms": round(self.p50_ms, 2), "p95_ms": round(self.p95_ms, 2),
            "p99_ms": round(self.p99_ms, 2), "requests": self.requests,
            "errors": self.errors, "error_rate": round(self.error_rate, 4),
            "passed": self.passed, "hard": self.hard,
            "broke": [b.to_json() for b in self.broke],
            "error_classes": self.error_classes, "reason": self.reason,
        }  # fmt: skip


def _broken(verdict: object, data: StepData, error_classes: dict[str, int]) -> Broken:
    name = str(getattr(verdict, "name", ""))
    observed = str(getattr(verdict, "observed", ""))
    expected = str(getattr(verdict, "expected", ""))
    hypothesis = next((h for h in data.experiment.hypotheses if h.name == name), None)
    metric = getattr(hypothesis, "metric", None)
    top = max(error_classes, key=lambda k: error_classes[k]) if error_classes else None
    if getattr(verdict, "inconclusive", False):
        how = "inconclusive"
    elif getattr(hypothesis, "kind", "") == "probe":
        how = "probe"  # what the service does inside: memory, connections...
    elif metric in model.LATENCY_METRICS:
        how = "latency"
    elif metric in ("rps", "count"):
        how = "throughput"
    elif metric == "error_rate" or getattr(hypothesis, "kind", "") == "error_budget":
        how = "errors"
    else:  # an SLA: latency and errors budgets both; the observed text says which
        how = "errors" if "error" in observed and top else "latency"
    return Broken(name, how, observed, expected, top if how == "errors" else None)


def measure(
    data: StepData, search: str, level: float, hard_error_rate: float
) -> Measurement:
    """Judge one step and read its row of the curve."""
    recorder = data.recorder
    duration = data.experiment.experiment.duration
    phases: list[str] = []
    stats = None
    if recorder is not None:
        phases = [p for p in recorder.snapshot().phases if p != "warmup"]
        stats = recorder.merged(phases)
    requests = stats.count if stats else 0
    errors = stats.errors if stats else 0
    classes = dict(stats.errors_by_class) if stats else {}
    offered = data.load.scheduled_rps if data.load else requests / duration
    # Successes per second from the first due to the last answer: past the
    # capacity the answers run on after the step's end, at the service's pace.
    completed = (stats.count - stats.dropped) if stats else 0
    achieved = (
        stats.rps * (requests - errors) / completed if stats and completed else 0.0
    )
    verdicts = data.verdicts() if data.reason is None else ()
    failed = [v for v in verdicts if v.status != "passed"]
    rate = errors / requests if requests else 0.0
    hard = data.reason is not None or rate > hard_error_rate
    latency = stats.latency if stats else None
    return Measurement(
        search=search,
        level=level,
        offered=offered,
        achieved=achieved,
        p50_ms=latency.p50 if latency else 0.0,
        p95_ms=latency.p95 if latency else 0.0,
        p99_ms=latency.p99 if latency else 0.0,
        requests=requests,
        errors=errors,
        passed=data.reason is None and not failed and bool(verdicts),
        hard=hard,
        broke=tuple(_broken(v, data, classes) for v in failed),
        error_classes=classes,
        reason=data.reason,
        verdicts=tuple(v.to_json() for v in verdicts),
    )
