"""Recovery: after each fault ends, how long until the service is back to normal.

Normal is the baseline band: the ``before`` phase's p95 times (1 + tolerance),
but at least ``slack`` above it, and its error rate plus ``error_tolerance``.
The run's requests are binned by *intended* start in 100 ms steps, starting
when the fault was rolled back. The service has recovered at the first step
from which every one-second stretch of the next ``stable_for`` seconds is
inside the band (a stretch with no request is not inside). So the recovery
time reads "requests issued from then on were served normally", to a tenth of
a second, and is reported even when it passes. With ``task`` set, only that
task's requests count.
"""

from __future__ import annotations

from collections.abc import Callable

from chaoskit.checks.base import Verdict, evaluator, inconclusive, too_little_data
from chaoskit.checks.context import CheckContext
from chaoskit.events import FaultRecord
from chaoskit.metrics.series import Bin, merge_bins
from chaoskit.spec.model import RecoveryHypothesis
from chaoskit.units import format_duration

__all__ = ["recovery_time"]


_STEP_S = 0.1
_STRETCH_S = 1.0


def _inside(stretch: Bin, p95_ms: float, max_error: float) -> bool:
    return (
        stretch.count > 0
        and stretch.p95_ms() <= p95_ms
        and stretch.error_rate <= max_error
    )


def recovery_time(
    bins: list[Bin], ended_s: float, stable_for: float, inside: Callable[[Bin], bool]
) -> float | None:
    """Seconds from ``ended_s`` to the first step that stays inside; None if never.

    ``bins`` are the 100 ms bins from ``ended_s`` to the horizon (the next fault,
    or the end of the timeline). When less than ``stable_for`` is left, at least
    one full stretch must remain, all inside.
    """
    per_stretch = round(_STRETCH_S / _STEP_S)
    need = max(per_stretch, round(stable_for / _STEP_S))
    for i in range(len(bins)):
        run = bins[i : i + need]
        if len(run) < per_stretch:
            return None
        stretches = [run[j : j + per_stretch] for j in range(0, len(run), per_stretch)]
        if len(stretches) > 1 and len(stretches[-1]) < per_stretch:
            tail = stretches.pop()  # a short last piece joins the stretch before
            stretches[-1] = stretches[-1] + tail
        if all(inside(merge_bins(part)) for part in stretches):
            return max(0.0, bins[i].start_s - ended_s)
    return None


@evaluator("recovery")
def recovery(ctx: CheckContext, hypothesis: object) -> list[Verdict]:
    """One verdict per fault window (each occurrence of a scheduled fault):
    recovered within ``within`` of its rollback."""
    assert isinstance(hypothesis, RecoveryHypothesis)  # noqa: S101 - registry dispatch
    h = hypothesis
    expected = f"back to baseline within {format_duration(h.within)}"
    baseline = ctx.stats("before", h.task)
    faults = [f for f in ctx.faults if h.fault in (None, f.declared, f.name)]
    # The baseline band is a p95: judged on enough requests, or not at all.
    answered = baseline.count - baseline.dropped if baseline is not None else 0
    scarce = too_little_data(
        h.name, h.kind, "before", expected, answered, h.needs(percentile=True),
        "answered requests", "the baseline: start the first fault later",
    )  # fmt: skip
    if scarce is not None or baseline is None:
        return [scarce] if scarce is not None else []
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
    timeline_end = ctx.end_s(fault.ended_s)
    horizon = min([*later, timeline_end])
    tasks = frozenset([h.task]) if h.task else None
    bins = ctx.bins(fault.ended_s, horizon, _STEP_S, tasks)
    took = recovery_time(
        bins, fault.ended_s, h.stable_for, lambda b: _inside(b, p95_ms, max_error)
    )
    window = horizon - fault.ended_s
    if took is None and window - _STRETCH_S < h.within:
        # A recovery starting up to `within` needs a stretch after it to be
        # seen: this window could not show one, so neither verdict is earned.
        ends = "the next fault" if horizon < timeline_end else "the end of the run"
        return inconclusive(
            name, h.kind, h.phase, expected,
            f"not recovered in {_took(window)}, observed only that long",
            f"{ends} came {_took(window)} after {fault.name} ended: a recovery "
            f"within {format_duration(h.within)} needs at least "
            f"{format_duration(h.within + _STRETCH_S)} after it to be seen "
            f"(give the timeline more time after the fault)",
            window, h.within,
        )  # fmt: skip
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
