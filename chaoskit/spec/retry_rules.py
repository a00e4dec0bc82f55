"""Cross-field checks for retry and fallback hypotheses.

Kept apart from ``consistency`` (which calls them): a backoff hypothesis names
a route and sets rules, a fallback hypothesis needs a task with a ``marker``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chaoskit.errors import SpecIssue
from chaoskit.spec.model import (
    BackoffHypothesis,
    FallbackHypothesis,
    parse_attempt_rate,
)
from chaoskit.spec.parts import Parts, items
from chaoskit.spec.rules import unknown

__all__ = ["retry_issues"]

_BACKOFF_RULES = (
    "max_attempts",
    "min_growth",
    "max_interval",
    "jitter",
    "max_rate",
    "gives_up_within",
    "min_first_wait",
    "min_total_growth",
)


def retry_issues(
    where: str,
    hypothesis: BackoffHypothesis | FallbackHypothesis,
    parts: Parts,
    table: Mapping[str, Any],
    partial: bool = False,
) -> list[SpecIssue]:
    """What a backoff or fallback hypothesis says that the rest does not back."""
    if isinstance(hypothesis, FallbackHypothesis):
        return _fallback(where, hypothesis, table)
    issues = []
    routes = parts.declared("routes")
    if hypothesis.route not in routes:
        issues.append(
            unknown(f"{where}.route", "proxy route", hypothesis.route, routes)
        )
    if (
        not partial
        and all(getattr(hypothesis, r) is None for r in _BACKOFF_RULES)
        and not hypothesis.honours_retry_after
    ):
        rules = ", ".join((*_BACKOFF_RULES, "honours_retry_after"))
        issues.append(SpecIssue(where, "sets no rule", None, rules))
    if hypothesis.max_rate is not None:
        try:
            parse_attempt_rate(hypothesis.max_rate)
        except ValueError:
            issues.append(
                SpecIssue(
                    f"{where}.max_rate",
                    "is not an attempt rate",
                    hypothesis.max_rate,
                    'a number of attempts/s (20), or "<n>x" of the offered '
                    'request rate ("2x")',
                )
            )
    return issues


def _fallback(
    where: str, hypothesis: FallbackHypothesis, table: Mapping[str, Any]
) -> list[SpecIssue]:
    h = hypothesis
    if h.min_share is None and h.max_share is None:
        return [
            SpecIssue(
                f"{where}.min_share",
                "is required (or max_share)",
                None,
                'a ratio: min_share = "90%" (responses marked, or good with '
                'fresh_within), max_share = "0%" (marked, e.g. in after)',
            )
        ]
    if h.fresh_within is not None and h.min_share is None:
        return [
            SpecIssue(
                f"{where}.fresh_within",
                "judges the share of good responses: it needs min_share",
                None,
                'min_share = "95%"',
            )
        ]
    if (
        h.min_share is not None
        and h.max_share is not None
        and h.fresh_within is None
        and h.min_share > h.max_share
    ):
        return [
            SpecIssue(
                f"{where}.max_share",
                f"is below min_share ({h.min_share:.0%}): no share of marked "
                "responses can pass both",
                f"{h.max_share:.0%}",
                f"at least {h.min_share:.0%}",
            )
        ]
    for index, task in items(table, "load", "tasks"):
        if isinstance(task, dict) and task.get("name") == hypothesis.task:
            if isinstance(task.get("marker"), dict) and task["marker"]:
                return []
            return [
                SpecIssue(
                    f"load.tasks[{index}].marker",
                    f"is missing: hypothesis {where} judges this task's marker",
                    None,
                    'marker = { header = "X-Fallback" }, { json_path = "$.fallback",'
                    ' equals = "true" } or { status = [203] }',
                )
            ]
    return []  # an unknown task is reported by the generic task check
