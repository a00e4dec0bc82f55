"""A number each response carries (a header, a JSON value), against a bound.

``metric = "header:X-Upstream-Attempts"`` (or ``value = "$.attempts"``) on a
threshold hypothesis: the load engine reads that number from every response of
the hypothesis's task (and of no other: :class:`chaoskit.records.ValueLog`),
each response belongs to the phase of its intended start, and ``stat`` (max,
min, mean, p50...p99) of the phase's numbers is compared with the bound.
"""

from __future__ import annotations

import math
import statistics

from chaoskit.checks.base import Verdict, too_little_data
from chaoskit.checks.context import CheckContext
from chaoskit.spec.model import ThresholdHypothesis

__all__ = ["judge_values", "summarise"]

_NS = 1_000_000_000


def summarise(stat: str, values: list[float]) -> float:
    """``max``, ``min``, ``mean`` or ``p<q>`` (nearest rank) of some numbers."""
    if stat == "max":
        return max(values)
    if stat == "min":
        return min(values)
    if stat == "mean":
        return statistics.fmean(values)
    ordered = sorted(values)
    rank = math.ceil(float(stat.removeprefix("p")) / 100 * len(ordered))
    return ordered[max(0, rank - 1)]


def judge_values(ctx: CheckContext, h: ThresholdHypothesis) -> Verdict:
    """The hypothesis's statistic of its task's numbers in the phase."""
    probe, task = h.probe or "", h.task or ""
    bound, word = h.limit, h.direction
    expected = f"{h.measure} ({task}) {word} {bound:g}"
    log = ctx.values
    origin = log.origin_ns if log else 0
    inside = ctx.in_phase(h.phase)
    found = [
        value
        for at_ns, value in (log.values.get((task, probe), []) if log else [])
        if inside((at_ns - origin) / _NS)
    ]
    missing = sum(
        1
        for at_ns in (log.missing.get((task, probe), []) if log else [])
        if inside((at_ns - origin) / _NS)
    )
    where = "header " + probe.removeprefix("header:") if h.header else probe
    scarce = too_little_data(
        h.name, h.kind, h.phase, expected, len(found), h.needs(),
        f"responses of {task} carrying a number in {where}",
        f"{missing} responses without one",
    )  # fmt: skip
    if scarce is not None:
        return scarce
    value = summarise(h.summary, found)
    passed = value < bound if word == "below" else value > bound
    without = f", {missing} without one" if missing else ""
    detail = (
        f"{h.summary} {value:g} over {len(found)} responses of {task} carrying "
        f"{where}{without}; largest {max(found):g}, mean "
        f"{statistics.fmean(found):.3g}; {'within' if passed else 'missed'} the "
        f"bound by {abs(value - bound):g}"
    )
    return Verdict(
        h.name, h.kind, h.phase, passed, f"{h.measure} {value:g}", expected, detail,
        observed_value=value, expected_value=bound,
    )  # fmt: skip
