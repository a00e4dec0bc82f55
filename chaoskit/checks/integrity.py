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
"""

from __future__ import annotations

from collections import Counter

from chaoskit.checks.base import Verdict, evaluator, too_little_data
from chaoskit.checks.context import CheckContext
from chaoskit.records import AckLog
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
    if back is None or back.error is not None:
        why = back.error if back is not None else "it did not run"
        return [
            Verdict(
                h.name, "integrity", h.phase, False, "read-back failed", expected,
                f"read-back from {back.source if back else '?'} failed: {why}",
            )
        ]  # fmt: skip
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


def _first(ids: list[str], show: int) -> str:
    head = ", ".join(ids[:show])
    return head + (f" (+{len(ids) - show} more)" if len(ids) > show else "")
