"""Verdicts and the registry of hypothesis evaluators (one per hypothesis kind).

An evaluator reads metrics and events only; it never runs anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chaoskit.checks.context import CheckContext

__all__ = ["EVALUATORS", "Evaluator", "Verdict", "evaluator"]


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

    def to_json(self) -> dict[str, object]:
        """The report.json shape."""
        return {
            "name": self.name,
            "kind": self.kind,
            "passed": self.passed,
            "observed": self.observed,
            "expected": self.expected,
            "phase": self.phase,
            "detail": self.detail,
            "observed_value": self.observed_value,
            "expected_value": self.expected_value,
            **({"data": dict(self.data)} if self.data is not None else {}),
        }


Evaluator = Callable[["CheckContext", object], list[Verdict]]
"""Judges one hypothesis (of its kind) on the run's data; one verdict or more."""

EVALUATORS: dict[str, Evaluator] = {}


def evaluator(kind: str) -> Callable[[Evaluator], Evaluator]:
    """Register the evaluator of a hypothesis kind."""

    def register(function: Evaluator) -> Evaluator:
        EVALUATORS[kind] = function
        return function

    return register
