"""Verdicts and the registry of hypothesis evaluators (one per hypothesis kind).

An evaluator reads metrics and events only; it never runs anything. A verdict
is passed, failed or *inconclusive*: too little data to judge (an empty phase,
fewer than ``min_samples``) is never a pass, and every kind decides it with
:func:`too_little_data`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from chaoskit.checks.context import CheckContext

__all__ = [
    "EVALUATORS",
    "Evaluator",
    "Verdict",
    "VerdictStatus",
    "evaluator",
    "inconclusive",
    "too_little_data",
]

VerdictStatus = Literal["passed", "failed", "inconclusive"]


@dataclass(frozen=True)
class Verdict:
    """The judgement on one hypothesis, in units a person reads."""

    name: str
    kind: str
    phase: str
    passed: bool
    observed: str
    """E.g. ``"p95 412ms"``; ``"no data"`` when nothing was measured."""
    expected: str
    """E.g. ``"below 800ms"``."""
    detail: str = ""
    """Why, by how much, and per fault where it applies."""
    observed_value: float | None = None
    expected_value: float | None = None
    data: Mapping[str, object] | None = None
    """A kind's own structured result for reports (``integrity``: counts and
    ids; ``backoff``: the retry sequences), in report.json as ``data``."""
    inconclusive: bool = False
    """Too little data to judge (then ``passed`` is False too)."""

    @property
    def status(self) -> VerdictStatus:
        """``passed``, ``failed`` or ``inconclusive``."""
        if self.inconclusive:
            return "inconclusive"
        return "passed" if self.passed else "failed"

    def to_json(self) -> dict[str, object]:
        """The report.json shape (``passed`` kept beside ``status``)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "passed": self.passed,
            "observed": self.observed,
            "expected": self.expected,
            "phase": self.phase,
            "detail": self.detail,
            "observed_value": self.observed_value,
            "expected_value": self.expected_value,
            **({"data": dict(self.data)} if self.data is not None else {}),
        }


def too_little_data(
    name: str,
    kind: str,
    phase: str,
    expected: str,
    count: int,
    min_samples: int,
    what: str = "requests",
    hint: str = "",
) -> Verdict | None:
    """The inconclusive verdict when ``count`` is below ``min_samples`` (at
    least one: nothing at all is always too little); else None, judge on.

    The one rule every kind uses for "too little data", so an empty phase or
    a handful of requests never reads as a pass (nor as a failure).
    """
    need = max(1, min_samples)
    if count >= need:
        return None
    if count == 0:
        observed = "no data"
        detail = f"no {what} in phase {phase!r}: nothing to judge"
    else:
        observed = f"{count} {what}"
        detail = (
            f"only {count} {what} in phase {phase!r}, fewer than min_samples = "
            f"{need}: too few to judge"
        )
    if hint:
        detail += f" ({hint})"
    return inconclusive(
        name, kind, phase, expected, observed, detail, float(count), float(need)
    )


def inconclusive(
    name: str,
    kind: str,
    phase: str,
    expected: str,
    observed: str,
    detail: str,
    observed_value: float | None = None,
    expected_value: float | None = None,
) -> Verdict:
    """A verdict that could not be judged (what :func:`too_little_data` gives;
    for kinds whose missing data is not a count, e.g. no fault window ended)."""
    return Verdict(
        name, kind, phase, passed=False, observed=observed, expected=expected,
        detail=detail, observed_value=observed_value,
        expected_value=expected_value, inconclusive=True,
    )  # fmt: skip


Evaluator = Callable[["CheckContext", object], list[Verdict]]
"""Judges one hypothesis (of its kind) on the run's data; one verdict or more."""

EVALUATORS: dict[str, Evaluator] = {}


def evaluator(kind: str) -> Callable[[Evaluator], Evaluator]:
    """Register the evaluator of a hypothesis kind."""

    def register(function: Evaluator) -> Evaluator:
        EVALUATORS[kind] = function
        return function

    return register
