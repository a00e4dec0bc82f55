"""Hypothesis evaluators: each ``[[hypotheses]]`` entry judged on the run's data.

Named ``checks`` so as not to clash with the Hypothesis library.
"""

from __future__ import annotations

from collections.abc import Iterable

# Importing the evaluator modules registers them by kind.
from chaoskit.checks import (  # noqa: F401
    backoff,
    fallback,
    fuzz,
    integrity,
    probes,
    recovery,
    threshold,
)
from chaoskit.checks.base import EVALUATORS, Verdict
from chaoskit.checks.context import CheckContext
from chaoskit.spec.model import Hypothesis

__all__ = ["EVALUATORS", "CheckContext", "Verdict", "evaluate"]


def evaluate(hypotheses: Iterable[Hypothesis], ctx: CheckContext) -> list[Verdict]:
    """Every hypothesis's verdicts, in the file's order; a hypothesis with a
    ``user_class`` sees only that class's requests (:meth:`CheckContext.scoped`)."""
    verdicts: list[Verdict] = []
    for hypothesis in hypotheses:
        scoped = ctx.scoped(getattr(hypothesis, "user_class", None))
        verdicts.extend(EVALUATORS[hypothesis.kind](scoped, hypothesis))
    return verdicts
