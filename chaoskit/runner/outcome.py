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

__all__ = ["FaultRecord", "LoadRecord", "PhaseRecord", "RunOutcome", "ServiceRecord"]

Status = Literal["passed", "failed", "inconclusive", "aborted"]


@dataclass(frozen=True)
class LoadRecord:
    """What the load generator offered, against what the schedule asked for."""

    duration_s: float
    """Seconds of the schedule the load ran (the run's, or until it stopped)."""
    scheduled: int
    """Arrivals the schedule held up to where the load ended (sent, dropped, late)."""
    sent: int
    dropped: int
    late: int
    """Arrivals never sent: the generator fell more than a second behind."""
    classes: dict[str, float] = field(default_factory=dict)
    """``[[load.users]]`` class -> its declared share: of the users (closed
    model) or of the requests (open model)."""

    @property
    def scheduled_rps(self) -> float:
        return self.scheduled / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def achieved_rps(self) -> float:
        return self.sent / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def warning(self) -> str | None:
        """Why the measured load is not the load asked for, if it is not."""
        if not self.late:
            return None
        return (
            f"the load generator could not keep up: {self.achieved_rps:,.0f} "
            f"requests/s sent of {self.scheduled_rps:,.0f} scheduled; "
            f"{self.late:,} arrivals were never sent (late), {self.dropped:,} "
            "dropped at the in-flight cap. Lower load.rate or spread the load "
            "over several generators"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "duration_s": round(self.duration_s, 3),
            "scheduled": self.scheduled,
            "sent": self.sent,
            "dropped": self.dropped,
            "late": self.late,
            "scheduled_rps": round(self.scheduled_rps, 1),
            "achieved_rps": round(self.achieved_rps, 1),
            "warning": self.warning,
            "classes": {name: round(share, 6) for name, share in self.classes.items()},
        }


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
    load: LoadRecord | None = None
    """The load as offered (None when the run ended before the load started)."""

    @property
    def exit_code(self) -> int:
        """0 every hypothesis held, 1 one failed or was inconclusive, 3 aborted."""
        return {
            "passed": EXIT_OK, "failed": EXIT_FAILED, "inconclusive": EXIT_FAILED,
        }.get(self.status, EXIT_ABORTED)  # fmt: skip
