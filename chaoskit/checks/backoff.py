"""Backoff: the retries a route's upstream received, grouped and judged.

The attempts come from the proxy's connection log (the runner polls it during
the run into :class:`~chaoskit.events.AttemptRecord`), or, grouped by a request
header or judging ``Retry-After``, from the request log of an HTTP route
(:class:`~chaoskit.events.RequestAttempt`); grouping and the rules
are :mod:`chaoskit.checks.sequences`, shared with the pytest plugin.
"""

from __future__ import annotations

import math
from dataclasses import replace

from chaoskit.checks.base import Verdict, evaluator, too_little_data
from chaoskit.checks.context import CheckContext
from chaoskit.checks.sequences import (
    Attempt,
    BackoffRules,
    RetrySequence,
    client_host,
    group_sequences,
    jitter_cv,
    judge_backoff,
    judge_retry_after,
)
from chaoskit.events import RequestAttempt
from chaoskit.spec.model import BackoffHypothesis

__all__: list[str] = []


def _observed(sequences: list[RetrySequence]) -> str:
    if not sequences:
        return "no attempts"
    counts = [s.count for s in sequences]
    intervals = [i for s in sequences for i in s.intervals]
    text = (
        f"{len(sequences)} sequences, {min(counts)}-{max(counts)} attempts"
        if min(counts) != max(counts)
        else f"{len(sequences)} sequences, {counts[0]} attempts"
    )
    if intervals:
        text += f", intervals {min(intervals):.3f}-{max(intervals):.3f}s"
    return text


def _request_attempt(h: BackoffHypothesis, r: RequestAttempt) -> Attempt:
    """A request as an attempt, keyed by ``group_by`` (its header, else its client)."""
    header = h.group_header
    if header is not None:
        value = r.headers.get(header.lower())
        key = value if value is not None else f"{client_host(r.client)} (no {header})"
    elif h.group_by == "route":
        key = h.route
    else:
        key = client_host(r.client)
    return Attempt(r.at_s, key, r.ok, end_s=r.end_s, retry_after_s=r.retry_after_s)


@evaluator("backoff")
def backoff(ctx: CheckContext, hypothesis: object) -> list[Verdict]:
    """Retry sequences at the route's upstream keep every rule the hypothesis sets."""
    assert isinstance(hypothesis, BackoffHypothesis)  # noqa: S101 - registry dispatch
    h = hypothesis
    expected = h.rules_text()
    labels = set(ctx.labels(h.phase))
    windows = [(p.start_s, p.end_s) for p in ctx.phases if p.name in labels]

    def inside(at_s: float) -> bool:
        return any(start <= at_s < end for start, end in windows)

    attempts: list[Attempt]
    if h.uses_requests:
        requests = [r for r in ctx.requests.get(h.route, ()) if inside(r.at_s)]
        attempts = [_request_attempt(h, r) for r in requests]
        records: list[object] = list(requests)
    else:
        conns = [r for r in ctx.attempts.get(h.route, ()) if inside(r.at_s)]
        key = (lambda _client: h.route) if h.group_by == "route" else client_host
        attempts = [Attempt(r.at_s, key(r.client), r.ok) for r in conns]
        records = list(conns)
    gap = h.sequence_gap
    if h.group_header is not None and "sequence_gap" not in h.model_fields_set:
        gap = math.inf  # one request id is one logical request, however long
    sequences = group_sequences(attempts, gap)
    window_s = sum(end - start for start, end in windows)
    max_rate = None
    rate_note = ""
    if h.max_rate is not None:
        value, relative = h.rate_limit
        max_rate = value
        if relative:
            # Offered: requests due in the phase (by intended start), also those
            # that completed after it: a hung request was still offered.
            tasks = frozenset([h.task]) if h.task else None
            due = sum(
                b.count
                for start, end in windows
                for b in ctx.bins(start, end, end - start, tasks)
            )
            offered = due / window_s if window_s > 0 else 0.0
            max_rate = value * offered
            rate_note = f", offered {offered:.1f} req/s"
    rules = BackoffRules(
        max_attempts=h.max_attempts,
        min_growth=h.min_growth,
        tolerance=h.tolerance,
        max_interval=h.max_interval,
        jitter=h.jitter,
        max_rate=max_rate,
        gives_up_within=h.gives_up_within,
        min_first_wait=h.min_first_wait,
        min_total_growth=h.min_total_growth,
    )
    broken = judge_backoff(
        sequences, rules, window_s=window_s, attempts_in_window=len(records)
    )
    if h.honours_retry_after and (early := judge_retry_after(attempts)) is not None:
        broken.append(early)
    figures: dict[str, object] = {
        "route": h.route,
        "source": "requests" if h.uses_requests else "connections",
        "group_by": h.group_by,
        "attempts": len(records),
        "window_s": round(window_s, 3),
        "rate": round(len(records) / window_s, 3) if window_s > 0 else None,
        "jitter_cv": cv if (cv := jitter_cv(sequences)) is None else round(cv, 4),
        "broken": [b.rule for b in broken],
        "sequences": [s.to_json() for s in sequences],
    }
    hint = (
        "the request log is chaoskit's proxy's, on a route with protocol = \"http\""
        if h.uses_requests
        else "with a down fault, set observe = true: a refused connection never "
        "reaches the proxy's log; and the log is chaoskit's proxy's: a real "
        "Toxiproxy has none"
    )
    scarce = too_little_data(
        h.name, h.kind, h.phase, expected, len(records), h.needs(),
        f"{'requests' if h.uses_requests else 'attempts'} at route {h.route!r}",
        hint,
    )  # fmt: skip
    if scarce is not None:
        return [replace(scarce, data=figures)]
    if broken:
        detail = "; ".join(
            f"{b}{rate_note}" if b.rule == "max_rate" else str(b) for b in broken
        )
        passed = False
    else:
        rate = len(records) / window_s if window_s > 0 else 0.0
        detail = (
            f"{len(records)} attempts ({rate:.1f}/s{rate_note}) in "
            f"{len(sequences)} sequences kept every rule"
        )
        passed = True
    return [
        Verdict(
            h.name,
            h.kind,
            h.phase,
            passed=passed,
            observed=_observed(sequences),
            expected=expected,
            detail=detail,
            observed_value=float(len(records)),
            data=figures,
        )
    ]
