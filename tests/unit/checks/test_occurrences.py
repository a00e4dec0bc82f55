"""Phases and recovery of a scheduled fault: each occurrence is its own window."""

from __future__ import annotations

from chaoskit.checks import CheckContext
from chaoskit.events import FaultRecord, PhaseRecord


def record(k: int, start: float) -> FaultRecord:
    return FaultRecord(
        f"flap#{k}", "pause", "service api", {}, start, start + 1,
        started_s=start, ended_s=start + 1, rolled_back=True,
        fault="flap", occurrence=k, occurrences=2,
    )  # fmt: skip


CTX = CheckContext(
    merged=lambda labels, tasks: None,
    phases=(
        PhaseRecord("before", 0, 2),
        PhaseRecord("during:flap#1", 2, 3),
        PhaseRecord("after:flap#1", 3, 5),
        PhaseRecord("during:flap#2+slow", 5, 6),
        PhaseRecord("after:flap#2", 6, 9),
    ),
    windows=(),
    faults=(record(1, 2), record(2, 5)),
    task_groups={},
    bins=lambda *args: [],
)


def test_a_fault_name_covers_every_occurrence_and_a_label_one():
    assert CTX.labels("during:flap") == ["during:flap#1", "during:flap#2+slow"]
    assert CTX.labels("during:flap#2") == ["during:flap#2+slow"]
    assert CTX.labels("during:slow") == ["during:flap#2+slow"]
    assert CTX.labels("after:flap") == ["after:flap#1", "after:flap#2"]
    assert CTX.labels("after:flap#1") == ["after:flap#1"]
    # after: once the last occurrence has ended.
    assert CTX.labels("after") == ["after:flap#2"]
    inside = CTX.in_phase("after:flap")
    assert [inside(t) for t in (2.5, 3.5, 5.5, 8.9)] == [False, True, False, True]
