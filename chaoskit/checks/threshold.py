"""Threshold, SLA budget and error-budget hypotheses: a metric against a bound."""

from __future__ import annotations

from chaoskit.checks.base import Verdict, evaluator, too_little_data
from chaoskit.checks.context import CheckContext, error_key_for
from chaoskit.checks.values import judge_values
from chaoskit.metrics.model import TaskStats
from chaoskit.spec.model import (
    LATENCY_METRICS,
    ErrorBudgetHypothesis,
    SlaHypothesis,
    ThresholdHypothesis,
)
from chaoskit.units import format_duration

__all__ = ["format_metric", "judged_count", "metric_value"]

_PERCENTILES = frozenset(LATENCY_METRICS) - {"max"}


def metric_value(
    metric: str, stats: TaskStats, span_s: float, error_class: str | None = None
) -> float:
    """A metric of some stats: latency in seconds, error rate a ratio, or a number."""
    if metric in LATENCY_METRICS:
        field = "max" if metric == "max" else metric
        return float(getattr(stats.latency, field)) / 1000.0
    errors = stats.errors
    if error_class is not None:
        errors = stats.errors_by_class.get(error_key_for(error_class), 0)
    if metric == "error_rate":
        return errors / stats.count if stats.count else 0.0
    if metric == "count":
        return float(errors if error_class is not None else stats.count)
    # rps: completed requests over the phase's length on the timeline.
    completed = stats.count - stats.dropped
    return completed / span_s if span_s > 0 else 0.0


def format_metric(metric: str, value: float) -> str:
    """A value in the units a person reads: "412ms", "1.20%", "98.5 req/s"."""
    if metric in LATENCY_METRICS:
        return format_duration(value)
    if metric == "error_rate":
        return f"{value * 100:.2f}%"
    if metric == "rps":
        return f"{value:.1f} req/s"
    return f"{value:.0f}"


def judged_count(metric: str, stats: TaskStats | None) -> int:
    """How many samples a metric is judged on: answered requests for a
    latency (a dropped one has none), every request due otherwise."""
    if stats is None:
        return 0
    return stats.count - stats.dropped if metric in LATENCY_METRICS else stats.count


@evaluator("threshold")
def threshold(ctx: CheckContext, hypothesis: object) -> list[Verdict]:
    """The metric, in the phase (and task), is below or above the bound."""
    assert isinstance(hypothesis, ThresholdHypothesis)  # noqa: S101 - registry dispatch
    h = hypothesis
    if h.metric is None:  # a header or JSON value of each response
        return [judge_values(ctx, h)]
    bound, word = h.limit, h.direction
    named = [f"class {h.user_class}" if h.user_class else "", h.task or ""]
    scope = f" ({', '.join(n for n in named if n)})" if any(named) else ""
    expected = f"{h.metric}{scope} {word} {format_metric(h.metric, bound)}"
    stats = ctx.stats(h.phase, h.task)
    scarce = too_little_data(
        h.name, h.kind, h.phase, expected, judged_count(h.metric, stats),
        h.needs(h.metric in _PERCENTILES),
    )  # fmt: skip
    if scarce is not None or stats is None:
        return [scarce] if scarce is not None else []
    value = metric_value(
        h.metric, stats, ctx.span_s(ctx.labels(h.phase)), h.error_class
    )
    passed = value < bound if word == "below" else value > bound
    shown = format_metric(h.metric, value)
    margin = value - bound
    if h.metric in LATENCY_METRICS:
        by = format_duration(abs(margin))
    else:
        by = format_metric(h.metric, abs(margin))
    detail = (
        f"{h.metric} was {shown} over {stats.count} requests; "
        f"{'within' if passed else 'missed'} the bound by {by}"
    )
    return [
        Verdict(
            h.name,
            h.kind,
            h.phase,
            passed,
            f"{h.metric} {shown}",
            expected,
            detail,
            observed_value=value,
            expected_value=bound,
        )
    ]


@evaluator("sla")
def sla(ctx: CheckContext, hypothesis: object) -> list[Verdict]:
    """Each task group's p95/p99 (and error rate) within its budget."""
    assert isinstance(hypothesis, SlaHypothesis)  # noqa: S101 - registry dispatch
    h = hypothesis
    verdicts = []
    labels = ctx.labels(h.phase)
    for group, budget in h.budgets.items():
        tasks = list(budget.tasks) or [
            t for t, g in ctx.task_groups.items() if g == group
        ]
        limits: list[tuple[str, float]] = [
            (metric, limit)
            for metric, limit in (("p95", budget.p95), ("p99", budget.p99),
                                  ("error_rate", budget.error_rate))
            if limit is not None
        ]  # fmt: skip
        expected = ", ".join(f"{m} < {format_metric(m, v)}" for m, v in limits)
        name = f"{h.name} [{group}]"
        merged = ctx.merged(labels, tasks) if labels and tasks else None
        percentile = budget.p95 is not None or budget.p99 is not None
        scarce = too_little_data(
            name, h.kind, h.phase, expected,
            judged_count("p95" if percentile else "error_rate", merged),
            h.needs(percentile),
        )  # fmt: skip
        if scarce is not None or merged is None:
            verdicts.extend([scarce] if scarce is not None else [])
            continue
        span = ctx.span_s(labels)
        observed = {m: metric_value(m, merged, span) for m, _ in limits}
        misses = [m for m, limit in limits if observed[m] >= limit]
        shown = ", ".join(f"{m} {format_metric(m, observed[m])}" for m, _ in limits)
        detail = f"tasks {', '.join(tasks)}; {merged.count} requests"
        if misses:
            detail += "; over budget: " + ", ".join(misses)
        verdicts.append(
            Verdict(name, h.kind, h.phase, not misses, shown, expected, detail)
        )
    return verdicts


@evaluator("error_budget")
def error_budget(ctx: CheckContext, hypothesis: object) -> list[Verdict]:
    """At most ``max`` of the requests fail with the named error class."""
    assert isinstance(hypothesis, ErrorBudgetHypothesis)  # noqa: S101 - registry dispatch
    h = hypothesis
    expected = f"{h.error_class} at most {format_metric('error_rate', h.max)}"
    stats = ctx.stats(h.phase, h.task)
    scarce = too_little_data(
        h.name, h.kind, h.phase, expected, judged_count("error_rate", stats), h.needs()
    )
    if scarce is not None or stats is None:
        return [scarce] if scarce is not None else []
    hits = stats.errors_by_class.get(error_key_for(h.error_class), 0)
    rate = hits / stats.count if stats.count else 0.0
    passed = rate <= h.max
    return [
        Verdict(
            h.name,
            h.kind,
            h.phase,
            passed,
            f"{h.error_class} {format_metric('error_rate', rate)}",
            expected,
            f"{hits} of {stats.count} requests carried {h.error_class} "
            "(a request can carry several classes)",
            observed_value=rate,
            expected_value=h.max,
        )
    ]
