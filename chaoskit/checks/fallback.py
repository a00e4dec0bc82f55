"""Fallback: during a fault, a task's responses carry its marker, in time.

The load engine marks each response that matches the task's ``marker`` (a
header, a JSON value or a status: ``chaoskit.load.tasks.CompiledTask.marked``)
and the recorder counts them per phase; this judges the share and the p95.
"""

from __future__ import annotations

from chaoskit.checks.base import Verdict, evaluator, too_little_data
from chaoskit.checks.context import CheckContext
from chaoskit.spec.model import FallbackHypothesis
from chaoskit.units import format_duration

__all__: list[str] = []


@evaluator("fallback")
def fallback(ctx: CheckContext, hypothesis: object) -> list[Verdict]:
    """At least ``min_share`` of the task's responses are marked (and p95 in budget)."""
    assert isinstance(hypothesis, FallbackHypothesis)  # noqa: S101 - registry dispatch
    h = hypothesis
    expected = h.rules_text()
    stats = ctx.stats(h.phase, h.task)
    answered = stats.count - stats.dropped if stats is not None else 0
    scarce = too_little_data(
        # The share is what is judged (its p95 budget is a side rule): at
        # least one answer by default, like every share.
        h.name, h.kind, h.phase, expected, answered, h.needs(), "answered requests",
    )  # fmt: skip
    if scarce is not None or stats is None:
        return [scarce] if scarce is not None else []
    share = stats.marked / answered
    p95 = stats.latency.p95 / 1000.0
    broken = []
    if share < h.min_share:
        broken.append(
            f"min_share: {stats.marked} of {answered} responses marked "
            f"({share:.1%}), below {h.min_share:.0%}"
        )
    if h.p95 is not None and p95 > h.p95:
        broken.append(f"p95: {format_duration(p95)} above {format_duration(h.p95)}")
    errors = f", {stats.errors} errors" if stats.errors else ""
    return [
        Verdict(
            h.name,
            h.kind,
            h.phase,
            passed=not broken,
            observed=f"{share:.1%} marked, p95 {format_duration(p95)}",
            expected=expected,
            detail="; ".join(broken)
            or f"{stats.marked} of {answered} responses marked{errors}",
            observed_value=share,
            expected_value=h.min_share,
        )
    ]
