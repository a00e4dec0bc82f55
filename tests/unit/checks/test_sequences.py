"""Retry sequences and backoff rules, on attempt times as the proxy logs them."""

from __future__ import annotations

import random

import pytest

from chaoskit.checks.sequences import (
    Attempt,
    BackoffRules,
    RetrySequence,
    client_host,
    connection_attempts,
    group_sequences,
    jitter_cv,
    judge_backoff,
)

RULES = BackoffRules(
    max_attempts=6, min_growth=1.5, max_interval=2.0, jitter=0.05, gives_up_within=5
)


def _client(key: str, start: float, intervals: list[float], ok: bool = False):
    times = [start]
    for interval in intervals:
        times.append(times[-1] + interval)
    return [Attempt(t, key, ok=ok and i == len(times) - 1) for i, t in enumerate(times)]


def _exponential(seed: int, clients: int = 4) -> list[Attempt]:
    rng = random.Random(seed)
    out: list[Attempt] = []
    for c in range(clients):
        waits = [0.1 * 2**n * rng.uniform(0.75, 1.25) for n in range(4)]
        out += _client(f"127.0.0.{c + 2}", c * 0.01, waits)
    return out


def test_client_host_drops_the_port() -> None:
    assert client_host("127.0.0.2:51234") == "127.0.0.2"
    assert client_host("[::1]:80") == "::1"
    assert client_host("nohost") == "nohost"


def test_sequences_split_on_gap_and_after_success() -> None:
    attempts = [
        *_client("a", 0.0, [0.1, 0.2], ok=True),
        *_client("a", 0.35, [0.1]),  # right after a success: a new sequence
        *_client("a", 5.0, [0.1]),  # after a gap above 1 s: a new sequence
        *_client("b", 0.05, [0.1]),
    ]
    seqs = group_sequences(attempts, gap_s=1.0)
    assert [(s.key, s.count, s.succeeded) for s in seqs] == [
        ("a", 3, True),
        ("b", 2, False),
        ("a", 2, False),
        ("a", 2, False),
    ]
    assert seqs[0].intervals == pytest.approx((0.1, 0.2))


def test_exponential_backoff_with_jitter_keeps_every_rule() -> None:
    seqs = group_sequences(_exponential(seed=1), gap_s=3.0)
    assert len(seqs) == 4
    assert judge_backoff(seqs, RULES, window_s=10, attempts_in_window=20) == []
    cv = jitter_cv(seqs)
    assert cv is not None
    assert cv > 0.05


def test_immediate_retry_storm_breaks_attempts_growth_and_rate() -> None:
    storm = [a for c in range(3) for a in _client(f"c{c}", 0, [0.001] * 50)]
    rules = BackoffRules(max_attempts=6, min_growth=1.5, max_rate=20)
    broken = judge_backoff(
        group_sequences(storm, 1.0), rules, window_s=1.0, attempts_in_window=153
    )
    assert [b.rule for b in broken] == ["max_attempts", "min_growth", "max_rate"]
    assert "153.0 attempts/s above 20.0/s" in str(broken[2])
    assert "made more than 6 attempts; most 51" in str(broken[0])


def test_fixed_interval_breaks_growth_and_jitter() -> None:
    fixed = [a for c in range(3) for a in _client(f"c{c}", c * 0.01, [0.2] * 4)]
    broken = judge_backoff(group_sequences(fixed, 1.0), RULES)
    assert [b.rule for b in broken] == ["min_growth", "jitter"]
    assert "1.00x the previous" in broken[0].message
    assert "(CV) 0.000 below 0.05" in broken[1].message


def test_unbounded_retries_break_attempts_and_give_up() -> None:
    # Capped exponential that never stops: 0.1, 0.2, ... 2, 2, 2 for 20 s.
    waits = [min(0.1 * 2**n, 2.0) for n in range(16)]
    seqs = group_sequences(_client("a", 0, waits) + _client("b", 0, waits), 3.0)
    broken = judge_backoff(seqs, RULES)
    assert {b.rule for b in broken} >= {"max_attempts", "gives_up_within"}
    assert "kept retrying past 5s; longest" in str(
        next(b for b in broken if b.rule == "gives_up_within")
    )


def test_intervals_at_the_cap_are_not_held_to_growth() -> None:
    waits = [0.5, 1.0, 2.0, 2.0, 2.0]
    seqs = group_sequences(_client("a", 0, waits), 3.0)
    assert judge_backoff(seqs, BackoffRules(min_growth=2, max_interval=2.0)) == []


def test_jitter_needs_two_sequences() -> None:
    seqs = group_sequences(_client("a", 0, [0.1, 0.2]), 1.0)
    [broken] = judge_backoff(seqs, BackoffRules(jitter=0.1))
    assert broken.rule == "jitter"
    assert "needs two sequences" in broken.message


def test_connection_attempts_one_per_exchange() -> None:
    assert connection_attempts(
        accepted_ns=5, exchanges_ns=[], bytes_down=0, end="refused"
    ) == [(5, False)]
    assert connection_attempts(
        accepted_ns=5, exchanges_ns=[6, 9], bytes_down=10, end="client_close"
    ) == [(6, False), (9, True)]
    assert connection_attempts(
        accepted_ns=5, exchanges_ns=[6], bytes_down=10, end="reset"
    ) == [(6, False)]


def _seq(*times: float, key: str = "127.0.0.1") -> RetrySequence:
    return RetrySequence(key, times, succeeded=False)


def test_min_first_wait_names_how_many_and_the_shortest():
    sequences = [_seq(0, 0.1, 0.3), _seq(1, 1.01, 1.2), _seq(2, 2.03, 2.2)]
    [broken] = judge_backoff(sequences, BackoffRules(min_first_wait=0.05))
    assert str(broken) == (
        "min_first_wait: 2 of 3 retried sequences waited less than 50ms before the "
        "first retry; shortest 10ms (sequence of 127.0.0.1 at 1.00s)"
    )
    assert judge_backoff(sequences[:1], BackoffRules(min_first_wait=0.05)) == []


def test_min_total_growth_is_last_wait_over_first_with_the_tolerance():
    doubling = _seq(0, 0.1, 0.3, 0.7)  # waits 100, 200, 400 ms: 4x
    flat = _seq(1, 1.1, 1.25, 1.4)  # 100, 150, 150 ms: 1.5x
    rules = BackoffRules(min_total_growth=4, tolerance=0.25)
    assert judge_backoff([doubling], rules) == []
    [broken] = judge_backoff([doubling, flat], rules)
    assert str(broken) == (
        "min_total_growth: 1 of 2 sequences grew less than 4x from the first wait "
        "to the last (tolerance 25%); least 1.50x: first 100ms, last 150ms "
        "(sequence of 127.0.0.1 at 1.00s)"
    )
    [unmeasured] = judge_backoff([_seq(0, 0.1)], rules)
    assert "no sequence has 3 attempts" in unmeasured.message
