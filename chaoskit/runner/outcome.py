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

# The records a run produces live in the events leaf (checks read them too);
# they are re-exported here for the reports.
from chaoskit.events import FaultRecord, PhaseRecord, ProbeSeries, ServiceRecord
from chaoskit.fuzz.tally import FuzzTally
from chaoskit.metrics.model import Snapshot

__all__ = ["FaultRecord", "PhaseRecord", "RunOutcome", "ServiceRecord"]

Status = Literal["passed", "failed", "inconclusive", "aborted"]


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
    fuzz: tuple[FuzzTally, ...] = ()
    """Each invalid-payloads fault's requests and findings."""
    experiment_environment: str | None = None
    """The ``[environments.NAME]`` chosen (``--env``, ``CHAOSKIT_ENV``), if any."""
    probes: tuple[ProbeSeries, ...] = ()
    """Each probe's samples and gaps."""

    @property
    def exit_code(self) -> int:
        """0 every hypothesis held, 1 one failed or was inconclusive, 3 aborted."""
        return {
            "passed": EXIT_OK, "failed": EXIT_FAILED, "inconclusive": EXIT_FAILED,
        }.get(self.status, EXIT_ABORTED)  # fmt: skip
