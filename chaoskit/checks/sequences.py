"""Retry sequences from connection attempts, and the rules a backoff must keep.

One implementation for the ``backoff`` hypothesis and the pytest plugin's
``route.attempts()``. Pure: attempts in, sequences and broken rules out.

Grouping: attempts are grouped by a key (the caller's choice: by default the
client's source address without its port), in time order. A new sequence
starts when the gap since the key's previous attempt exceeds ``gap_s``, or
after an attempt that succeeded (the next one is a new logical request).
"""

from __future__ import annotations

import email.utils
import itertools
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "Attempt",
    "BackoffRules",
    "Broken",
    "RetrySequence",
    "client_host",
    "connection_attempts",
    "group_sequences",
    "jitter_cv",
    "judge_backoff",
    "judge_retry_after",
    "retry_after_seconds",
]


def client_host(client: str) -> str:
    """``127.0.0.2:51234`` -> ``127.0.0.2`` (``[::1]:5`` -> ``::1``)."""
    host, sep, port = client.rpartition(":")
    if not sep or not port.isdigit():
        return client
    return host.removeprefix("[").removesuffix("]")


@dataclass(frozen=True)
class Attempt:
    """One attempt at the dependency: a connection, or a keep-alive exchange."""

    at_s: float
    key: str
    ok: bool = False
    """The dependency answered (bytes came back and the peer closed cleanly)."""
    end_s: float | None = None
    """When its response ended (request log only)."""
    retry_after_s: float | None = None
    """The ``Retry-After`` its response carried, in seconds (request log only)."""


@dataclass(frozen=True)
class RetrySequence:
    """The attempts of one logical request, in time order."""

    key: str
    times: tuple[float, ...]
    succeeded: bool
    """Its last attempt succeeded."""

    @property
    def count(self) -> int:
        return len(self.times)

    @property
    def intervals(self) -> tuple[float, ...]:
        """Seconds between consecutive attempts."""
        return tuple(b - a for a, b in zip(self.times, self.times[1:], strict=False))

    @property
    def span_s(self) -> float:
        return self.times[-1] - self.times[0]

    def to_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "times_s": [round(t, 4) for t in self.times],
            "succeeded": self.succeeded,
        }


def group_sequences(attempts: Iterable[Attempt], gap_s: float) -> list[RetrySequence]:
    """Attempts as retry sequences, ordered by their first attempt."""
    open_: dict[str, list[Attempt]] = {}
    done: list[list[Attempt]] = []
    for attempt in sorted(attempts, key=lambda a: a.at_s):
        current = open_.get(attempt.key)
        if current and (current[-1].ok or attempt.at_s - current[-1].at_s > gap_s):
            done.append(current)
            current = None
        if current is None:
            open_[attempt.key] = current = []
        current.append(attempt)
    done.extend(open_.values())
    sequences = [
        RetrySequence(s[0].key, tuple(a.at_s for a in s), s[-1].ok) for s in done
    ]
    return sorted(sequences, key=lambda s: s.times[0])


def jitter_cv(sequences: Sequence[RetrySequence]) -> float | None:
    """Spread of intervals across sequences at the same position.

    The coefficient of variation (stdev / mean) of the n-th interval over every
    sequence that has one, averaged over positions with two or more; None when
    no position has two. Timers without jitter give near 0 (scheduling noise).
    """
    by_position: dict[int, list[float]] = {}
    for seq in sequences:
        for i, interval in enumerate(seq.intervals):
            by_position.setdefault(i, []).append(interval)
    cvs = [
        statistics.pstdev(values) / mean
        for values in by_position.values()
        if len(values) >= 2 and (mean := statistics.fmean(values)) > 0
    ]
    return statistics.fmean(cvs) if cvs else None


@dataclass(frozen=True)
class BackoffRules:
    """What a well-behaved retry policy keeps to; None: not checked."""

    max_attempts: int | None = None
    min_growth: float | None = None
    """Each interval >= this x the previous (exponential backoff)."""
    tolerance: float = 0.25
    """Slack on ``min_growth`` (0.25: 25% below still passes); intervals at the
    ``max_interval`` cap are not held to growth."""
    max_interval: float | None = None
    jitter: float | None = None
    """Minimum :func:`jitter_cv`."""
    max_rate: float | None = None
    """Attempts per second over the observed window."""
    gives_up_within: float | None = None
    """A sequence that never succeeds stops within this many seconds."""
    min_first_wait: float | None = None
    """The first retry comes at least this many seconds after the first attempt."""
    min_total_growth: float | None = None
    """Last interval / first interval, per sequence of 3 or more attempts (with
    ``tolerance``, like ``min_growth``)."""


@dataclass(frozen=True)
class Broken:
    """A rule a run broke, with the measured figures."""

    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


def _growth_breaks(seq: RetrySequence, rules: BackoffRules) -> list[str]:
    if rules.min_growth is None:
        return []
    needed = rules.min_growth * (1 - rules.tolerance)
    cap = rules.max_interval
    out = []
    intervals = seq.intervals
    for i, (prev, nxt) in enumerate(itertools.pairwise(intervals)):
        if cap is not None and nxt >= cap * (1 - rules.tolerance):
            continue  # reached the cap: growth stops there by design
        if prev > 0 and nxt / prev < needed:
            out.append(f"interval {i + 2} {nxt:.3f}s is {nxt / prev:.2f}x the previous")
    return out


def judge_backoff(
    sequences: Sequence[RetrySequence],
    rules: BackoffRules,
    *,
    window_s: float | None = None,
    attempts_in_window: int | None = None,
) -> list[Broken]:
    """Every rule the sequences break (empty: the backoff behaves)."""
    broken: list[Broken] = []

    def worst(label: str, items: list[tuple[float, RetrySequence]]) -> str:
        value, seq = max(items, key=lambda x: x[0])
        return f"{label} (sequence of {seq.key} at {seq.times[0]:.2f}s)" % value

    if rules.max_attempts is not None:
        over = [(float(s.count), s) for s in sequences if s.count > rules.max_attempts]
        if over:
            broken.append(
                Broken(
                    "max_attempts",
                    f"{len(over)} of {len(sequences)} sequences made more than "
                    f"{rules.max_attempts} attempts; " + worst("most %.0f", over),
                )
            )
    if rules.min_growth is not None:
        flat = [(s, b) for s in sequences if (b := _growth_breaks(s, rules))]
        judged = sum(1 for s in sequences if len(s.intervals) >= 2)
        if flat:
            seq, breaks = flat[0]
            broken.append(
                Broken(
                    "min_growth",
                    f"{len(flat)} of {judged} sequences do not grow by "
                    f">= {rules.min_growth:g}x (tolerance {rules.tolerance:.0%}); "
                    f"e.g. {seq.key} at {seq.times[0]:.2f}s: {breaks[0]}",
                )
            )
        elif judged == 0 and sequences:
            broken.append(
                Broken("min_growth", "no sequence has 3 attempts: growth unmeasured")
            )
    if rules.max_interval is not None:
        longest = [
            (max(s.intervals), s)
            for s in sequences
            if s.intervals and max(s.intervals) > rules.max_interval
        ]
        if longest:
            broken.append(
                Broken(
                    "max_interval",
                    f"interval above {rules.max_interval:g}s in {len(longest)} "
                    "sequences; " + worst("longest %.3fs", longest),
                )
            )
    if rules.jitter is not None:
        cv = jitter_cv(sequences)
        if cv is None:
            broken.append(
                Broken(
                    "jitter",
                    f"{len(sequences)} sequence(s): jitter needs two sequences "
                    "with an interval at the same position",
                )
            )
        elif cv < rules.jitter:
            broken.append(
                Broken(
                    "jitter",
                    f"interval spread (CV) {cv:.3f} below {rules.jitter:g}: "
                    "clients retry in lockstep",
                )
            )
    if rules.max_rate is not None and window_s and attempts_in_window is not None:
        rate = attempts_in_window / window_s
        if rate > rules.max_rate:
            broken.append(
                Broken(
                    "max_rate",
                    f"{rate:.1f} attempts/s above {rules.max_rate:.1f}/s "
                    f"({attempts_in_window} attempts in {window_s:.1f}s)",
                )
            )
    if rules.min_first_wait is not None:
        broken += _first_wait(sequences, rules.min_first_wait)
    if rules.min_total_growth is not None:
        broken += _total_growth(sequences, rules.min_total_growth, rules.tolerance)
    if rules.gives_up_within is not None:
        long = [
            (s.span_s, s)
            for s in sequences
            if not s.succeeded and s.span_s > rules.gives_up_within
        ]
        if long:
            broken.append(
                Broken(
                    "gives_up_within",
                    f"{len(long)} failing sequences kept retrying past "
                    f"{rules.gives_up_within:g}s; " + worst("longest %.2fs", long),
                )
            )
    return broken


def _first_wait(sequences: Sequence[RetrySequence], minimum: float) -> list[Broken]:
    retried = [s for s in sequences if s.intervals]
    short = [s for s in retried if s.intervals[0] < minimum]
    if not short:
        return []
    seq = min(short, key=lambda s: s.intervals[0])
    return [
        Broken(
            "min_first_wait",
            f"{len(short)} of {len(retried)} retried sequences waited less than "
            f"{_ms(minimum)} before the first retry; shortest "
            f"{_ms(seq.intervals[0])} (sequence of {seq.key} at {seq.times[0]:.2f}s)",
        )
    ]


def _total_growth(
    sequences: Sequence[RetrySequence], minimum: float, tolerance: float
) -> list[Broken]:
    judged = [s for s in sequences if len(s.intervals) >= 2 and s.intervals[0] > 0]
    if not judged:
        if not sequences:
            return []
        return [
            Broken(
                "min_total_growth",
                "no sequence has 3 attempts: growth from the first to the last wait "
                "unmeasured",
            )
        ]
    needed = minimum * (1 - tolerance)
    flat = [s for s in judged if s.intervals[-1] / s.intervals[0] < needed]
    if not flat:
        return []
    seq = min(flat, key=lambda s: s.intervals[-1] / s.intervals[0])
    first, last = seq.intervals[0], seq.intervals[-1]
    return [
        Broken(
            "min_total_growth",
            f"{len(flat)} of {len(judged)} sequences grew less than {minimum:g}x "
            f"from the first wait to the last (tolerance {tolerance:.0%}); least "
            f"{last / first:.2f}x: first {_ms(first)}, last {_ms(last)} "
            f"(sequence of {seq.key} at {seq.times[0]:.2f}s)",
        )
    ]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms" if seconds < 10 else f"{seconds:.1f}s"


_FAILED_ENDS = frozenset(
    {"reset", "refused", "toxic", "disabled", "upstream_unreachable", "error"}
)


def connection_attempts(
    *,
    accepted_ns: int,
    exchanges_ns: Sequence[int],
    bytes_down: int,
    end: str | None,
) -> list[tuple[int, bool]]:
    """(time ns, ok) of each attempt one logged connection holds.

    A connection is one attempt; a keep-alive connection is one per exchange
    (each request the client started after a reply). The proxy does not parse
    HTTP, so only the connection's last attempt has a verdict: it succeeded when
    bytes came back and it did not end in a reset, refusal or toxic. Earlier
    exchanges count as failed, so keep-alive sequences split on gaps alone.
    """
    ok = bytes_down > 0 and end not in _FAILED_ENDS
    starts = list(exchanges_ns) or [accepted_ns]
    return [(at, ok and i == len(starts) - 1) for i, at in enumerate(starts)]


def retry_after_seconds(value: str | None, at_unix_s: float) -> float | None:
    """``Retry-After`` in seconds: delta-seconds, or an HTTP-date counted from
    ``at_unix_s`` (when the response was sent); None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - at_unix_s)


def judge_retry_after(attempts: Iterable[Attempt]) -> Broken | None:
    """Each attempt waits the ``Retry-After`` the previous one of its key got.

    Measured at the proxy: from the end of the response that carried
    ``Retry-After: N`` to the start of the same key's next request.
    """
    last: dict[str, Attempt] = {}
    early: list[tuple[float, float, Attempt]] = []
    judged = 0
    for attempt in sorted(attempts, key=lambda a: a.at_s):
        before = last.get(attempt.key)
        last[attempt.key] = attempt
        if before is None or before.retry_after_s is None or before.end_s is None:
            continue
        judged += 1
        waited = attempt.at_s - before.end_s
        if waited < before.retry_after_s:
            early.append((waited, before.retry_after_s, attempt))
    if not early:
        return None
    waited, asked, worst = min(early, key=lambda e: e[0] - e[1])
    return Broken(
        "honours_retry_after",
        f"{len(early)} of {judged} retries came before the Retry-After they were "
        f"given; e.g. {worst.key} at {worst.at_s:.2f}s waited {waited:.3f}s of "
        f"{asked:g}s",
    )
