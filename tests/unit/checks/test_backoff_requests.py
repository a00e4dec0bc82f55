"""Backoff on the request log: grouped by a request header, Retry-After judged."""

from __future__ import annotations

from chaoskit.checks import CheckContext, evaluate
from chaoskit.checks.sequences import Attempt, judge_retry_after, retry_after_seconds
from chaoskit.events import PhaseRecord, RequestAttempt
from chaoskit.spec.model import BackoffHypothesis


def req(
    rid: str | None,
    at: float,
    status: int,
    *,
    retry_after: float | None = None,
    client: str = "127.0.0.1:5000",
) -> RequestAttempt:
    return RequestAttempt(
        route="reco",
        client=client,
        at_s=at,
        end_s=at + 0.01,
        method="GET",
        path="/recommendations",
        status=status,
        ok=status < 500 and status != 429,
        headers={"x-request-id": rid} if rid is not None else {},
        retry_after_s=retry_after,
    )


def context(requests: list[RequestAttempt]) -> CheckContext:
    return CheckContext(
        merged=lambda labels, tasks: None,
        phases=(PhaseRecord("before", 0, 2), PhaseRecord("during:f", 2, 10)),
        windows=(),
        faults=(),
        task_groups={},
        bins=lambda start, end, step, tasks: [],
        requests={"reco": tuple(requests)},
    )


def hypothesis(**rules: object) -> BackoffHypothesis:
    return BackoffHypothesis.model_validate(
        {"name": "h", "kind": "backoff", "route": "reco", "phase": "during", **rules}
    )


# Two logical requests from one client (one source address), interleaved: only
# the request id tells their attempts apart.
INTERLEAVED = [
    req("a", 2.0, 503),
    req("b", 2.05, 503),
    req("a", 2.1, 503),
    req("b", 2.2, 200),
    req("a", 2.3, 200),
    req(None, 2.4, 200),
    req("early", 1.0, 503),  # before the phase: not judged
]


def test_header_grouping_tells_interleaved_requests_apart() -> None:
    by_id = hypothesis(group_by="header:X-Request-Id", max_attempts=3)
    [verdict] = evaluate([by_id], context(INTERLEAVED))
    assert verdict.passed, verdict.detail
    assert verdict.data is not None
    assert verdict.data["source"] == "requests"
    seqs = {s["key"]: len(s["times_s"]) for s in verdict.data["sequences"]}
    assert seqs == {"a": 3, "b": 2, "127.0.0.1 (no X-Request-Id)": 1}
    [tight] = evaluate(
        [hypothesis(group_by="header:X-Request-Id", max_attempts=2)],
        context(INTERLEAVED),
    )
    assert not tight.passed
    assert tight.detail.startswith("max_attempts: 1 of 3 sequences made more than 2")


def test_retry_after_ignored_fails_with_figures_and_honoured_passes() -> None:
    rude = [
        req("r", 2.0, 429, retry_after=2),
        req("r", 2.5, 429, retry_after=2),
        req("r", 4.6, 200),
    ]
    [verdict] = evaluate(
        [hypothesis(group_by="header:X-Request-Id", honours_retry_after=True)],
        context(rude),
    )
    assert not verdict.passed
    assert verdict.detail == (
        "honours_retry_after: 1 of 2 retries came before the Retry-After they "
        "were given; e.g. r at 2.50s waited 0.490s of 2s"
    )
    polite = [req("p", 2.0, 429, retry_after=1), req("p", 3.2, 200)]
    [ok] = evaluate(
        [hypothesis(group_by="header:X-Request-Id", honours_retry_after=True)],
        context(polite),
    )
    assert ok.passed, ok.detail


def test_judge_retry_after_ignores_responses_without_it() -> None:
    attempts = [Attempt(0.0, "k", end_s=0.1), Attempt(0.15, "k", ok=True)]
    assert judge_retry_after(attempts) is None


def test_no_request_in_the_phase_says_where_they_come_from() -> None:
    [verdict] = evaluate(
        [hypothesis(honours_retry_after=True)], context([req("x", 1.0, 429)])
    )
    assert not verdict.passed
    assert "request log" in verdict.detail


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_seconds("3", 0.0) == 3.0
    assert retry_after_seconds(None, 0.0) is None
    assert retry_after_seconds("soon", 0.0) is None
    # Sun, 06 Nov 1994 08:49:37 GMT is 784111777 in Unix time.
    date = "Sun, 06 Nov 1994 08:49:37 GMT"
    assert retry_after_seconds(date, 784111775.5) == 1.5
    assert retry_after_seconds(date, 784111800.0) == 0.0  # already past
