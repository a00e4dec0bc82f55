"""Fuzz: the fuzzed requests of ``invalid-payloads`` faults got right answers.

Every invalid payload refused with an allowed 4xx (no 2xx for garbage), every
valid one accepted with a 2xx, no 5xx, no dropped connection, every answer
within the fault's budget; at most ``max_failures`` wrong answers. The
detail names the broken rule(s), the counts by outcome and the first minimal
payload. That the steady load was unharmed meanwhile is the threshold and
error-rate hypotheses' job, on the ``during`` phase.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chaoskit.checks.base import Verdict, evaluator, too_little_data
from chaoskit.checks.context import CheckContext
from chaoskit.fuzz.rules import policy_from
from chaoskit.spec.model import FuzzHypothesis

if TYPE_CHECKING:
    from chaoskit.fuzz.tally import FuzzTally

__all__ = ["describe_tally"]

#: Characters of a minimal payload shown in a verdict.
_SHOWN = 200


def describe_tally(tally: FuzzTally) -> str:
    """Counts by outcome, the broken rules and the first minimal payload."""
    counts = ", ".join(f"{name} {count}" for name, count in tally.by_outcome().items())
    text = (
        f"{tally.fault}: {tally.requests} requests to {tally.url} ({counts or 'none'})"
    )
    rules = tally.broken_rules()
    if rules:
        text += "; broken rules: " + ", ".join(rules)
    failing = [f for f in tally.findings if f.hardening is None]
    if failing:
        first = failing[0]
        body = b"" if first.body is None else first.body
        shown = body[:_SHOWN].decode("utf-8", "replace")
        more = f" ... ({len(body)} bytes)" if len(body) > _SHOWN else ""
        status = "no answer" if first.status is None else str(first.status)
        text += (
            f"; first minimal payload ({first.rule}, {first.check}, {status}): "
            f"{shown}{more}; replay: {tally.replay}"
        )
    return text


@evaluator("fuzz")
def _fuzz(ctx: CheckContext, hypothesis: object) -> list[Verdict]:
    assert isinstance(hypothesis, FuzzHypothesis)  # noqa: S101 - the registry's kind
    tallies = [
        t for t in ctx.fuzz if hypothesis.fault is None or t.fault == hypothesis.fault
    ]
    requests = sum(t.requests for t in tallies)
    # Hardening findings count as wrong where the hypothesis states their policy.
    policy = policy_from(
        max_body=None if hypothesis.max_body is None else str(hypothesis.max_body),
        max_depth=hypothesis.max_depth,
        content_type=hypothesis.content_type,
        strict_utf8=hypothesis.strict_utf8,
        hardening=hypothesis.hardening,
        where=f"hypothesis {hypothesis.name!r}: ",
    )
    wrong = sum(t.wrong() + t.hardening_wrong(policy) for t in tallies)
    expected = f"at most {hypothesis.max_failures} wrong answers"
    scarce = too_little_data(
        hypothesis.name, "fuzz", hypothesis.phase, expected, requests,
        hypothesis.needs(), "fuzzed requests", "did the fault run?",
    )  # fmt: skip
    if scarce is not None:
        return [scarce]
    rules = sorted({rule for t in tallies for rule in t.broken_rules()})
    observed = f"{wrong} wrong of {requests}"
    if rules:
        observed += " (" + ", ".join(rules) + ")"
    return [
        Verdict(
            hypothesis.name,
            "fuzz",
            hypothesis.phase,
            wrong <= hypothesis.max_failures,
            observed,
            expected,
            "; ".join(describe_tally(t) for t in tallies),
            observed_value=float(wrong),
            expected_value=float(hypothesis.max_failures),
        )
    ]
