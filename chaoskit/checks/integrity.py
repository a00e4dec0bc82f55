"""``integrity``: every acknowledged write is read back, exactly once (Jepsen-style).

The load records what each successful write of a task with ``ack``
acknowledged; a write without a definite answer (timeout, reset, error status)
is *indeterminate*: it may or may not have happened, so it is neither required
nor unexpected in the read-back. After the run, the read-back's ids are
compared with them:

* lost: acknowledged, not read back (the broken promise);
* duplicated: read back more than once;
* unexpected: read back but never written by this run (nor attempted).

The hypothesis holds when nothing is lost or duplicated and, unless
``allow_unexpected``, nothing is unexpected.

A counter read-back (``count = "$.total"``, or SQL with ``expect =
"acknowledged"``) is one number: it must lie between the task's acknowledged
writes (successful requests, warm-up included) and those plus the
indeterminate ones. Below: lost updates; above: extra updates.
"""

from __future__ import annotations

import math
from collections import Counter

from chaoskit.checks.base import Verdict, evaluator, too_little_data
from chaoskit.checks.context import CheckContext
from chaoskit.records import AckLog, ErrorClass
from chaoskit.spec.model import IntegrityHypothesis

__all__ = ["evaluate_integrity"]

_EXPECTED = "0 lost, 0 duplicated"


@evaluator("integrity")
def evaluate_integrity(ctx: CheckContext, hypothesis: object) -> list[Verdict]:
    """One verdict: the read-back against the acknowledgements."""
    assert isinstance(hypothesis, IntegrityHypothesis)  # noqa: S101 - registry by kind
    h = hypothesis
    expected = _EXPECTED + ("" if h.allow_unexpected else ", 0 unexpected")
    acks = ctx.acks or AckLog()
    mine = (lambda task: task == h.task) if h.task else (lambda task: True)
    acked = list(dict.fromkeys(key for task, key in acks.acked if mine(task)))
    maybe = {k for task, k in acks.indeterminate if mine(task)} - set(acked)
    attempted = {key for _, key in acks.acked} | {k for _, k in acks.indeterminate}
    no_id = sum(n for task, n in acks.unknown.items() if mine(task))
    back = ctx.read_backs.get(h.name)
    if h.read_back.counts:
        expected = "counter = acknowledged writes (0 lost, 0 extra)"
    if back is None or back.error is not None:
        why = back.error if back is not None else "it did not run"
        return [
            Verdict(
                h.name, "integrity", h.phase, False, "read-back failed", expected,
                f"read-back from {back.source if back else '?'} failed: {why}",
            )
        ]  # fmt: skip
    if h.read_back.counts:
        return [_counter(ctx, h, back.value or 0.0, back.source, expected)]
    scarce = too_little_data(
        h.name, "integrity", h.phase, expected, len(acked), h.needs(),
        f"acknowledged writes{f' of task {h.task!r}' if h.task else ''}",
    )  # fmt: skip
    if scarce is not None:
        return [scarce]
    counts = Counter(back.ids)
    lost = [key for key in acked if key not in counts]
    duplicated = [key for key, n in counts.items() if n > 1]
    # Against every task's writes: another task's record is not unexpected.
    unexpected = [key for key in counts if key not in attempted]
    maybe_found = sum(1 for key in maybe if key in counts)
    broken = []
    if lost:
        broken.append(f"{len(lost)} acknowledged write(s) lost")
    if duplicated:
        broken.append(f"{len(duplicated)} record(s) read back more than once")
    if unexpected and not h.allow_unexpected:
        broken.append(f"{len(unexpected)} unexpected record(s)")
    show = h.show
    data: dict[str, object] = {
        "acknowledged": len(acked),
        "read_back": len(back.ids),
        "lost": len(lost),
        "duplicated": len(duplicated),
        "unexpected": len(unexpected),
        "indeterminate": len(maybe) + no_id,
        "indeterminate_found": maybe_found,
        "lost_ids": lost[:show],
        "duplicated_ids": duplicated[:show],
        "unexpected_ids": unexpected[:show],
        "source": back.source,
    }
    observed = (
        f"{len(lost)} lost, {len(duplicated)} duplicated, {len(unexpected)} "
        f"unexpected of {len(acked)} acknowledged"
    )
    detail = (
        f"{len(acked)} acknowledged, {len(back.ids)} read back; "
        f"{len(maybe) + no_id} indeterminate (timeouts, errors), "
        f"{maybe_found} of them found"
    )
    for label, ids in (("lost", lost), ("duplicated", duplicated)):
        if ids:
            detail += f"; {label}: {_first(ids, show)}"
    if unexpected:
        detail += f"; unexpected: {_first(unexpected, show)}"
    if broken:
        detail = "; ".join(broken) + " — " + detail
    return [
        Verdict(
            h.name, "integrity", h.phase, not broken, observed, expected, detail,
            observed_value=float(len(lost)), expected_value=0.0, data=data,
        )
    ]  # fmt: skip


# A request that never reached the service cannot have been applied; any
# other failure (a timeout, a reset, a 5xx) may have been.
_NOT_APPLIED = frozenset(
    {ErrorClass.CONNECT_REFUSED, ErrorClass.CONNECT_ERROR, ErrorClass.DROPPED}
)


def _counter(
    ctx: CheckContext, h: IntegrityHypothesis, value: float, source: str, expected: str
) -> Verdict:
    """A counter read back against the task's acknowledged writes of the run."""
    acked = maybe = 0
    tasks = frozenset([h.task]) if h.task else None
    for sample in ctx.samples(-math.inf, math.inf, tasks):  # warm-up included
        if sample.error is None:
            acked += 1
        elif sample.error not in _NOT_APPLIED:
            maybe += 1
    scarce = too_little_data(
        h.name, "integrity", h.phase, expected, acked + maybe, h.needs(),
        f"writes of task {h.task!r}",
    )  # fmt: skip
    if scarce is not None:
        return scarce
    lost = max(0.0, acked - value)
    extra = max(0.0, value - (acked + maybe))
    shown = f"{value:g}"
    broken = []
    if lost:
        broken.append(f"{lost:g} acknowledged update(s) lost")
    if extra:
        broken.append(f"{extra:g} extra update(s)")
    detail = (
        f"counter {shown} read back from {source}; {acked} writes of task "
        f"{h.task} acknowledged, {maybe} indeterminate (timeouts, errors: may "
        f"count or not), so {acked}..{acked + maybe} expected"
    )
    if broken:
        detail = "; ".join(broken) + " — " + detail
    data: dict[str, object] = {
        "mode": "count",
        "counter": value,
        "acknowledged": acked,
        "indeterminate": maybe,
        "lost": lost,
        "extra": extra,
        "source": source,
    }
    return Verdict(
        h.name, "integrity", h.phase, not broken,
        f"{lost:g} lost, {extra:g} extra: counter {shown} of {acked} acknowledged",
        expected, detail,
        observed_value=value, expected_value=float(acked), data=data,
    )  # fmt: skip


def _first(ids: list[str], show: int) -> str:
    head = ", ".join(ids[:show])
    return head + (f" (+{len(ids) - show} more)" if len(ids) > show else "")
