"""Fault windows against the timeline and against each other.

Every rule here holds for every seed: a schedule is judged on its envelopes
(:func:`chaoskit.spec.schedule.envelopes`: each occurrence's earliest start
and latest end), so an experiment that validates runs with any ``--seed``.

One overlap rule for every fault kind: two windows on one *exclusive* target
may not overlap, because the target has one state (a paused process resumed
by the shorter pause, a second lock that waits for the first, a second kill of
a process already dead). Toxics on a route and fuzzed payloads stack, so they
are not exclusive; ``down`` is.
"""

from __future__ import annotations

from collections.abc import Sequence

from chaoskit.errors import SpecIssue
from chaoskit.spec.model import (
    ContainerFault,
    FaultModel,
    HttpFault,
    LockFault,
    PayloadFault,
    ProcessFault,
    ToxicFault,
)
from chaoskit.units import format_duration

__all__ = ["SCHEDULE_KEYS", "check_overlaps", "check_schedule", "exclusive_target"]

SCHEDULE_KEYS = frozenset({"period", "occurrences", "shift"})
"""Schedule keys every fault kind takes (besides ``at`` and ``for``); most
kinds also take ``count`` and ``jitter`` (see :mod:`chaoskit.spec.schedule`)."""

_WINDOWED = (
    "latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer",
    "limit_data", "down", "pause", "stop", "lock", "invalid-payloads",
    "http_status", "http_delay", "http_abort", "http_throttle",
)  # fmt: skip


def exclusive_target(fault: FaultModel) -> str | None:
    """The one-state thing a fault changes (``service api``), or None if it stacks."""
    if isinstance(fault, ToxicFault):
        return f"route {fault.route}" if fault.kind == "down" else None
    if isinstance(fault, PayloadFault | HttpFault):
        return None  # several senders, or HTTP faults in order on one route
    if isinstance(fault, LockFault):
        if fault.database is not None:
            return f"database {fault.database}"
        return f"table {fault.table} of service {fault.service}"
    if isinstance(fault, ContainerFault):
        if fault.service is not None:
            return f"service {fault.service}"
        if fault.container is not None:
            return f"container {fault.container}"
        labels = ", ".join(f"{k}={v}" for k, v in sorted(fault.labels.items()))
        return f"containers labelled {labels}"
    assert isinstance(fault, ProcessFault)  # noqa: S101 - the union is closed
    return f"service {fault.service}"


def check_schedule(
    where: str, fault: FaultModel, duration: float | None
) -> list[SpecIssue]:
    """``for``, ``every``, ``count`` and ``jitter`` fit each other and the timeline."""
    if fault.kind in _WINDOWED and fault.for_ <= 0:
        message = (
            "must be > 0"
            if "for_" in fault.model_fields_set
            else "is required (how long the fault lasts)"
        )
        return [
            SpecIssue(
                f"{where}.for",
                f"{message} for a {fault.kind} fault",
                None,
                'a duration: "15s"',
            )
        ]
    count_key = _key(fault, "occurrences", "count")
    jitter_key = _key(fault, "shift", "jitter")
    every_key = (
        "every"
        if fault._EVERY_IS_SCHEDULE and "period" not in fault.model_fields_set
        else "period"
    )
    every = fault.repeat_every
    jitter = fault.schedule_jitter
    issues = []
    if every is None and fault.repeat_count not in (None, 1):
        issues.append(
            SpecIssue(
                f"{where}.{count_key}",
                f"repeats a fault, so it needs {every_key}",
                None,
                f'{every_key} = "6s" (the time from one start to the next)',
            )
        )
    if every is not None and every < fault.for_ + jitter:
        plus = f" + {jitter_key} {_d(jitter)}" if jitter else ""
        issues.append(
            SpecIssue(
                f"{where}.{every_key}",
                f"is shorter than for ({_d(fault.for_)}{plus}): one occurrence "
                "would still run when the next starts",
                _d(every),
                f"at least {_d(fault.for_ + jitter)}",
            )
        )
    if duration is None or issues:
        return issues
    earliest, latest = fault.start_range
    if earliest >= duration:
        return [
            SpecIssue(
                f"{where}.at",
                f"is not inside the timeline (experiment.duration = {_d(duration)})",
                _d(earliest),
                f"less than {_d(duration)}",
            )
        ]
    spans = fault.envelopes(duration)
    end = spans[-1][1]
    if end <= duration + 1e-9:
        return []
    if len(spans) == 1 and latest == earliest and not jitter:
        return [
            SpecIssue(
                f"{where}.for",
                f"the window {_d(earliest)}..{_d(end)} ends after "
                f"experiment.duration ({_d(duration)})",
                _d(fault.for_),
                f"at most {_d(duration - earliest)}",
            )
        ]
    which = f"occurrence {len(spans)} of {len(spans)}" if len(spans) > 1 else "it"
    key = count_key if fault.repeat_count is not None else "at"
    return [
        SpecIssue(
            f"{where}.{key}",
            f"{which} may run until {_d(end)} (latest start {_d(end - fault.for_)} "
            f"plus for {_d(fault.for_)}), after experiment.duration "
            f"({_d(duration)})",
            None,
            "fewer occurrences, an earlier or narrower at, a shorter every or "
            f"{jitter_key}, or a longer experiment.duration",
        )
    ]


def check_overlaps(
    faults: Sequence[tuple[int, FaultModel]], duration: float | None
) -> list[SpecIssue]:
    """No two windows (occurrences expanded) on one exclusive target may overlap."""
    horizon = duration if duration is not None else float("inf")
    windows = []
    for index, fault in faults:
        if (target := exclusive_target(fault)) is None:
            continue
        spans = fault.envelopes(horizon)
        windows += [
            (target, index, fault, (position, len(spans)), span)
            for position, span in enumerate(spans, start=1)
        ]
    issues = []
    reported: set[tuple[int, int]] = set()
    for target, index, fault, position, span in windows:
        for other_target, other_index, other, other_position, other_span in windows:
            if (
                other_target != target
                or other_index >= index
                or (other_index, index) in reported
                or not _meet(span, other_span)
            ):
                continue
            reported.add((other_index, index))
            issues.append(
                SpecIssue(
                    f"faults[{index}].at",
                    f"{_window(fault, position, span)} overlaps faults[{other_index}] "
                    f"{_window(other, other_position, other_span)} on {target}; "
                    f"faults on one {target.split()[0]} cannot overlap "
                    "(it has one state: the end of one window would undo the other)",
                    None,
                    f"a start at {_d(other_span[1])} or later, or another target",
                )
            )
    return issues


def _meet(a: tuple[float, float], b: tuple[float, float]) -> bool:
    if a[0] == a[1] or b[0] == b[1]:  # an instant fault (a restart) inside a window
        return b[0] <= a[0] < b[1] or a[0] <= b[0] < a[1] or a[0] == b[0]
    return a[0] < b[1] and b[0] < a[1]


def _window(
    fault: FaultModel, position: tuple[int, int], span: tuple[float, float]
) -> str:
    index, count = position
    which = f" occurrence {index} of {count}," if count > 1 else ""
    when = f"{_d(span[0])}..{_d(span[1])}"
    if abs(span[1] - span[0] - fault.for_) > 1e-9:
        when = f"within {when}"  # a drawn start: every seed's window is inside
    return f"({fault.name!r},{which} {when})"


def _key(fault: FaultModel, general: str, short: str) -> str:
    """The key the user set for a schedule setting with two spellings."""
    means_schedule = (
        fault._COUNT_IS_SCHEDULE if short == "count" else fault._JITTER_IS_SCHEDULE
    )
    if general in fault.model_fields_set or short not in fault.model_fields_set:
        return general
    return short if means_schedule else general


def _d(seconds: float) -> str:
    return "0s" if seconds == 0 else format_duration(seconds)
