"""Recovery: after each fault ends, how long until the service is back to normal.

Normal is the baseline band: the ``before`` phase's p95 times (1 + tolerance),
but at least ``slack`` above it, and its error rate plus ``error_tolerance``.
From the one-second window in which the fault was rolled back, the service has
recovered at the start of the first
window that opens a run of ``stable_for`` seconds all inside the band (windows
with no completed request do not count as inside). The recovery time is that
window's start minus the rollback time, so it errs late by less than a second;
it is reported even when it passes. Per-second latency is over all tasks (the
windows keep one histogram each); with ``task`` set, its error rate is the
task's own.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

from chaoskit.checks.base import Verdict, evaluator
from chaoskit.checks.context import CheckContext
from chaoskit.events import FaultRecord
from chaoskit.metrics.model import WindowStats
from chaoskit.spec.model import RecoveryHypothesis
from chaoskit.units import format_duration

__all__ = ["recovery_time"]


def _inside(
    window: WindowStats, p95_ms: float, max_error: float, task: str | None
) -> bool:
    if task is not None:
        count, errors = window.tasks.get(task, (0, 0))
    else:
        count, errors = window.count - window.dropped, window.errors
    if count <= 0:
        return False
    return window.latency.p95 <= p95_ms and errors / count <= max_error


def recovery_time(
    windows: tuple[WindowStats, ...],
    ended_s: float,
    horizon_s: float,
    stable_for: float,
    inside: Callable[[WindowStats], bool],
) -> float | None:
    """Seconds from ``ended_s`` until the band holds for ``stable_for``; None if never.

    ``inside`` is a predicate on a window; only windows before ``horizon_s``
    (the next fault, or the end of the timeline) are considered.
    """
    first = math.floor(ended_s)
    candidates = [w for w in windows if first <= w.start_s < horizon_s]
    need = max(1, math.ceil(stable_for))
    for i, window in enumerate(candidates):
        run = candidates[i : i + need]
        if len(run) < need:
            # Not enough timeline left to see it stay recovered: accept what
            # remains only if there is at least a second of it, all inside.
            if not run or not all(inside(w) for w in run):
                return None
            return max(0.0, window.start_s - ended_s)
        contiguous = all(b.start_s - a.start_s == 1 for a, b in itertools.pairwise(run))
        if contiguous and all(inside(w) for w in run):
            return max(0.0, window.start_s - ended_s)
    return None


@evaluator("recovery")
def recovery(ctx: CheckContext, hypothesis: object) -> list[Verdict]:
    """One verdict per fault: recovered within ``within`` of its rollback."""
    assert isinstance(hypothesis, RecoveryHypothesis)  # noqa: S101 - registry dispatch
    h = hypothesis
    expected = f"back to baseline within {format_duration(h.within)}"
    baseline = ctx.stats("before", h.task)
    faults = [f for f in ctx.faults if h.fault is None or f.name == h.fault]
    if baseline is None:
        return [
            Verdict(
                h.name,
                h.kind,
                h.phase,
                passed=False,
                observed="no baseline",
                expected=expected,
                detail="no request completed before the first fault: nothing to "
                "compare recovery with (start the first fault later)",
            )
        ]
    p95_ms = max(
        baseline.latency.p95 * (1 + h.tolerance), baseline.latency.p95 + h.slack * 1000
    )
    max_error = baseline.error_rate + h.error_tolerance
    base_p95 = format_duration(baseline.latency.p95 / 1000)
    band = (
        f"p95 <= {format_duration(p95_ms / 1000)} and error rate <= "
        f"{max_error * 100:.2f}% (baseline p95 {base_p95})"
    )
    verdicts = []
    for fault in faults:
        verdicts.append(_judge(ctx, h, fault, p95_ms, max_error, band, expected))
    return verdicts


def _judge(
    ctx: CheckContext,
    h: RecoveryHypothesis,
    fault: FaultRecord,
    p95_ms: float,
    max_error: float,
    band: str,
    expected: str,
) -> Verdict:
    name = f"{h.name} [{fault.name}]"
    if fault.ended_s is None:
        return Verdict(
            name,
            h.kind,
            h.phase,
            passed=False,
            observed="fault never ended",
            expected=expected,
            detail=f"{fault.name} was not rolled back during the run",
        )
    later = [
        f.started_s
        for f in ctx.faults
        if f.started_s is not None and f.started_s >= fault.ended_s
    ]
    timeline_end = max((p.end_s for p in ctx.phases), default=fault.ended_s)
    horizon = min([*later, timeline_end])
    took = recovery_time(
        ctx.windows,
        fault.ended_s,
        horizon,
        h.stable_for,
        lambda w: _inside(w, p95_ms, max_error, h.task),
    )
    if took is None:
        return Verdict(
            name,
            h.kind,
            h.phase,
            passed=False,
            observed=f"not recovered in {_took(horizon - fault.ended_s)}",
            expected=expected,
            detail=f"after {fault.name} ended, the service never stayed inside the "
            f"band ({band}) for {format_duration(h.stable_for)}",
            expected_value=h.within,
        )
    passed = took <= h.within
    return Verdict(
        name,
        h.kind,
        h.phase,
        passed,
        observed=f"recovered in {_took(took)}",
        expected=expected,
        detail=f"back inside the band ({band}) {_took(took)} "
        f"after {fault.name} ended, and stayed for {format_duration(h.stable_for)}",
        observed_value=took,
        expected_value=h.within,
    )


def _took(seconds: float) -> str:
    return format_duration(seconds) if seconds > 0 else "0s"
