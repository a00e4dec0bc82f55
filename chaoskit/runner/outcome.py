"""What a run produced: the value every report renders.

Times ``*_s`` are seconds from the start of the timeline (after the warm-up);
``*_at`` are ISO 8601 wall-clock times for people.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from chaoskit.checks.base import Verdict
from chaoskit.errors import EXIT_ABORTED, EXIT_FAILED, EXIT_OK
from chaoskit.metrics.model import Snapshot

__all__ = ["FaultRecord", "PhaseRecord", "RunOutcome", "ServiceRecord"]

Status = Literal["passed", "failed", "aborted"]


@dataclass(frozen=True)
class FaultRecord:
    """One fault: planned window, what really happened, and whether it was undone."""

    name: str
    kind: str
    target: str
    """``route db`` or ``service api``."""
    settings: dict[str, object]
    """The fault's own settings in the units the user wrote (latency "300ms"...)."""
    planned_start_s: float
    planned_end_s: float
    started_s: float | None = None
    ended_s: float | None = None
    started_at: str | None = None
    ended_at: str | None = None
    rolled_back: bool = False
    error: str | None = None


@dataclass(frozen=True)
class PhaseRecord:
    """A labelled stretch of the timeline (``before``, ``during:slow db``...)."""

    name: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class ServiceRecord:
    """A service the run started or watched."""

    name: str
    kind: str
    address: str | None = None
    pid: int | None = None
    logs: tuple[str, ...] = ()
    ready_after_s: float | None = None


@dataclass(frozen=True)
class RunOutcome:
    """Everything about one run that reports need."""

    name: str
    title: str
    file: str
    seed: int
    command: str
    """The command line that replays this run (same file, overrides and seed)."""
    status: Status
    reason: str | None
    """Why the run was aborted, when it was."""
    started_at: str
    ended_at: str
    duration_s: float
    report_dir: Path
    verdicts: tuple[Verdict, ...]
    faults: tuple[FaultRecord, ...]
    phases: tuple[PhaseRecord, ...]
    snapshot: Snapshot
    services: tuple[ServiceRecord, ...] = ()
    plan: str = ""
    """The plan as ``chaoskit validate`` prints it."""
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 every hypothesis held, 1 one failed, 3 aborted."""
        return {"passed": EXIT_OK, "failed": EXIT_FAILED}.get(self.status, EXIT_ABORTED)
