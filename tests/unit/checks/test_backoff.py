"""The backoff evaluator's own choices: phase window, grouping key, relative rate."""

from __future__ import annotations

from chaoskit.checks import CheckContext, evaluate
from chaoskit.events import AttemptRecord, PhaseRecord
from chaoskit.metrics.series import Bin
from chaoskit.spec.model import BackoffHypothesis


def context(times: list[tuple[str, float]], offered: int) -> CheckContext:
    """Attempts at route ``reco``; ``offered`` requests due in the 2 s fault."""
    return CheckContext(
        merged=lambda labels, tasks: None,
        phases=(
            PhaseRecord("before", 0, 2),
            PhaseRecord("during:reco down", 2, 4),
        ),
        windows=(),
        faults=(),
        task_groups={},
        bins=lambda start, end, step, tasks: [Bin(start, count=offered)],
        attempts={
            "reco": tuple(AttemptRecord("reco", c, t, ok=False) for c, t in times)
        },
    )


def hypothesis(**rules: object) -> BackoffHypothesis:
    return BackoffHypothesis.model_validate(
        {"name": "h", "kind": "backoff", "route": "reco", **rules}
    )


ATTEMPTS = [
    ("127.0.0.2:1001", 1.0),  # before the fault: not judged
    ("127.0.0.2:1002", 2.1),
    ("127.0.0.2:1003", 2.2),
    ("127.0.0.3:1004", 2.15),
    ("127.0.0.3:1005", 2.35),
]


def test_only_the_phase_counts_and_clients_are_addresses_without_ports():
    [verdict] = evaluate([hypothesis(max_attempts=2)], context(ATTEMPTS, 4))
    assert verdict.passed, verdict.detail
    assert verdict.observed.startswith("2 sequences, 2 attempts")
    assert verdict.data is not None
    assert verdict.data["attempts"] == 4


def test_grouping_by_route_makes_one_stream():
    [verdict] = evaluate(
        [hypothesis(max_attempts=2, group_by="route")], context(ATTEMPTS, 4)
    )
    assert not verdict.passed
    assert verdict.detail.startswith("max_attempts: 1 of 1 sequences made more than 2")


def test_a_relative_rate_is_measured_against_the_offered_requests():
    # 4 attempts in 2 s = 2/s; 1 request due in 2 s = 0.5/s; 3x allows 1.5/s.
    [verdict] = evaluate([hypothesis(max_rate="3x")], context(ATTEMPTS, 1))
    assert not verdict.passed
    assert verdict.detail == (
        "max_rate: 2.0 attempts/s above 1.5/s (4 attempts in 2.0s), offered 0.5 req/s"
    )
    [verdict] = evaluate([hypothesis(max_rate="3x")], context(ATTEMPTS, 2))
    assert verdict.passed
    assert verdict.detail == (
        "4 attempts (2.0/s, offered 1.0 req/s) in 2 sequences kept every rule"
    )


def test_no_attempt_in_the_phase_is_inconclusive_and_says_why():
    [verdict] = evaluate([hypothesis(max_attempts=3)], context([], 1))
    assert (verdict.passed, verdict.status) == (False, "inconclusive")
    assert "set observe = true" in verdict.detail
