"""Fallback: during a fault, a task's responses carry its marker, in time.

The load engine marks each response that matches the task's ``marker`` (a
header, a JSON value or a status: ``chaoskit.load.tasks.CompiledTask.marked``)
and the recorder counts them per phase; this judges the shares and the p95.

``min_share`` alone is the share of marked responses. With ``fresh_within`` a
response is *good* if marked, or unmarked, successful and answered within
that time from its intended start: a service that answers 10 % fresh and fast
is as right as one that always falls back, and ``min_share`` is the share of
good ones. ``max_share`` bounds the marked share (no fallback once healthy).
Both read every request of the phase from the sample file (by intended start).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from chaoskit.checks.base import Verdict, evaluator, too_little_data
from chaoskit.checks.context import CheckContext
from chaoskit.records import ErrorClass, Sample
from chaoskit.spec.model import FallbackHypothesis
from chaoskit.units import format_duration

__all__: list[str] = []

_NS = 1_000_000_000


@dataclass
class _Tally:
    answered: int = 0
    marked: int = 0
    fresh: int = 0
    """Unmarked, successful, within ``fresh_within``."""
    slow: int = 0
    """Unmarked and successful, but later than ``fresh_within``."""
    failed: int = 0
    """Unmarked errors."""

    @classmethod
    def of(cls, samples: Iterable[Sample], fresh_within: float | None) -> _Tally:
        tally = cls()
        limit = round((fresh_within or 0.0) * _NS)
        for sample in samples:
            if sample.error is ErrorClass.DROPPED:
                continue
            tally.answered += 1
            if sample.marked:
                tally.marked += 1
            elif sample.error is not None:
                tally.failed += 1
            elif sample.end_ns - sample.intended_ns <= limit:
                tally.fresh += 1
            else:
                tally.slow += 1
        return tally


@evaluator("fallback")
def fallback(ctx: CheckContext, hypothesis: object) -> list[Verdict]:
    """The shares of marked (or good) responses, and the p95, in the phase."""
    assert isinstance(hypothesis, FallbackHypothesis)  # noqa: S101 - registry dispatch
    h = hypothesis
    expected = h.rules_text()
    stats = ctx.stats(h.phase, h.task)
    if h.fresh_within is None and h.max_share is None:
        answered = stats.count - stats.dropped if stats is not None else 0
        tally = _Tally(answered, stats.marked if stats is not None else 0)
    else:
        tally = _Tally.of(ctx.phase_samples(h.phase, h.task), h.fresh_within)
    scarce = too_little_data(
        # The share is what is judged (its p95 budget is a side rule): at
        # least one answer by default, like every share.
        h.name, h.kind, h.phase, expected, tally.answered, h.needs(),
        "answered requests",
    )  # fmt: skip
    if scarce is not None or stats is None:
        return [scarce] if scarce is not None else []
    answered = tally.answered
    share = tally.marked / answered
    good = (tally.marked + tally.fresh) / answered
    p95 = stats.latency.p95 / 1000.0
    broken = []
    if h.min_share is not None and h.fresh_within is not None and good < h.min_share:
        broken.append(
            f"min_share: {tally.marked + tally.fresh} of {answered} responses good "
            f"({good:.1%}: {tally.marked} marked, {tally.fresh} fresh within "
            f"{format_duration(h.fresh_within)}; {tally.slow} unmarked and slower, "
            f"{tally.failed} failed), below {h.min_share:.0%}"
        )
    elif h.min_share is not None and h.fresh_within is None and share < h.min_share:
        broken.append(
            f"min_share: {tally.marked} of {answered} responses marked "
            f"({share:.1%}), below {h.min_share:.0%}"
        )
    if h.max_share is not None and share > h.max_share:
        broken.append(
            f"max_share: {tally.marked} of {answered} responses marked "
            f"({share:.1%}), above {h.max_share:.0%}"
        )
    if h.p95 is not None and p95 > h.p95:
        broken.append(f"p95: {format_duration(p95)} above {format_duration(h.p95)}")
    errors = f", {stats.errors} errors" if stats.errors else ""
    judged = h.fresh_within is not None and h.min_share is not None
    observed = f"{share:.1%} marked"
    if judged:
        observed = f"{good:.1%} good ({share:.1%} marked)"
    summary = f"{tally.marked} of {answered} responses marked{errors}"
    if judged:
        summary += (
            f"; {tally.fresh} fresh within {format_duration(h.fresh_within or 0)}, "
            f"{tally.slow} unmarked and slower"
        )
    bound = h.min_share if h.min_share is not None else h.max_share
    return [
        Verdict(
            h.name,
            h.kind,
            h.phase,
            passed=not broken,
            observed=f"{observed}, p95 {format_duration(p95)}",
            expected=expected,
            detail="; ".join(broken) or summary,
            observed_value=good if judged else share,
            expected_value=bound,
        )
    ]
