"""A realistic finished run, built by hand: 30 s of load, two faults, three verdicts.

The load: ``browse`` (fast, slowed by the database fault), ``progress``
(writes that hit "database is locked" for a few hot users) and
``refresh_token`` (a task whose *name* looks like a credential; its stats must
survive redaction). A token leaks into an error detail, the command line, a
fault's settings and a URL: none of it may reach any file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chaoskit.checks.base import Verdict
from chaoskit.metrics import Recorder
from chaoskit.records import ErrorClass, Sample
from chaoskit.runner.outcome import FaultRecord, PhaseRecord, RunOutcome, ServiceRecord

MS = 1_000_000
S = 1_000_000_000
# Fake credentials the tests hunt for in every output.
TOKEN = "eyJhbGciOiJIUzI1NiJ9.SECRET-TOKEN-123"  # noqa: S105
PASSWORD = "hunter2-db-pass"  # noqa: S105
COMMAND = (
    "chaoskit run experiments/db-latency.toml --seed 7 "
    f"--set 'target.headers.Authorization=Bearer {TOKEN}'"
)


_PHASE_STARTS = {"before": 0, "during:slow db": 10 * S, "after:slow db": 20 * S}


def _samples() -> list[tuple[str, Sample]]:
    """(phase, sample) over 30 s: before 0-10, during:slow db 10-20, after 20-30."""
    out = []
    for second in range(30):
        phase = (
            "before"
            if second < 10
            else "during:slow db"
            if second < 20
            else "after:slow db"
        )
        slow = phase == "during:slow db"
        for i in range(10):  # browse: 10 rps
            at = second * S + i * 100 * MS
            took = (300 if slow else 5) * MS + i * MS
            error = ErrorClass.HTTP_5XX if slow and i == 0 else None
            detail = (
                f"500 from upstream; Authorization: Bearer {TOKEN}" if error else ""
            )
            out.append(
                (
                    phase,
                    Sample(
                        "browse",
                        i,
                        at,
                        at + MS,
                        at + took,
                        500 if error else 200,
                        100,
                        2000,
                        error,
                        detail,
                    ),
                )
            )
        for i in range(4):  # progress: 4 rps, users 0..3; locked for users 3 and 1
            at = second * S + i * 250 * MS
            locked = slow and i in (1, 3) and (i == 3 or second % 2 == 0)
            error = ErrorClass.BODY_PATTERN if locked else None
            out.append(
                (
                    phase,
                    Sample(
                        "progress",
                        i,
                        at,
                        at,
                        at + 20 * MS,
                        200 if not locked else 503,
                        80,
                        40,
                        error,
                        "database_locked" if locked else "",
                    ),
                )
            )
        at = second * S + 500 * MS  # refresh_token: 1 rps, always fine
        out.append(
            (
                phase,
                Sample("refresh_token", 9, at, at, at + 2 * MS, 200, 50, 30, None, ""),
            )
        )
    out.sort(key=lambda ps: ps[1].end_ns)
    return out


def build_outcome(report_dir: Path, *, status: str = "failed") -> RunOutcome:
    recorder = Recorder(origin_ns=0, phase="before")
    current = "before"
    for phase, sample in _samples():
        if phase != current:
            # Phases start on the timeline; samples belong to the phase they
            # were due in, whatever order they complete in.
            recorder.enter_phase(phase, _PHASE_STARTS[phase])
            current = phase
        recorder.write(sample)
    recorder.close()
    verdicts = (
        Verdict(
            "browse stays fast",
            "threshold",
            "during",
            False,
            "p95 309.5ms",
            "below 250ms",
            detail="p95 was 59.5ms (24%) over budget",
            observed_value=309.5,
            expected_value=250.0,
        ),
        Verdict(
            "few lock errors",
            "error_budget",
            "during",
            True,
            "database_locked 7.5%",
            "at most 10%",
        ),
        Verdict(
            "recovers",
            "recovery",
            "after",
            True,
            "recovered in 0.4s",
            "within 5s",
            detail="slow db: 0.4s",
        ),
    )
    faults = (
        FaultRecord(
            "slow db",
            "latency",
            "route db",
            {"latency": "300ms", "jitter": "50ms"},
            10.0,
            20.0,
            started_s=10.012,
            ended_s=20.004,
            started_at="2026-11-22T10:00:12.012+00:00",
            ended_at="2026-11-22T10:00:22.004+00:00",
            rolled_back=True,
        ),
        FaultRecord(
            "kill api",
            "kill",
            "service api",
            {"signal": "SIGKILL", "password": PASSWORD},
            25.0,
            26.0,
            started_s=25.001,
            started_at="2026-11-22T10:00:27.001+00:00",
            error=f"restart failed: http://admin:{PASSWORD}@127.0.0.1:8000",
        ),
    )
    phases = (
        PhaseRecord("before", 0.0, 10.0),
        PhaseRecord("during:slow db", 10.0, 20.0),
        PhaseRecord("after:slow db", 20.0, 30.0),
    )
    return RunOutcome(
        name="db-latency",
        title="Watch history survives 300 ms of PostgreSQL latency",
        file="experiments/db-latency.toml",
        seed=7,
        command=COMMAND,
        status=status,  # type: ignore[arg-type]
        reason="abort: error rate above 50% for 10s" if status == "aborted" else None,
        started_at="2026-11-22T10:00:00.000+00:00",
        ended_at="2026-11-22T10:00:32.500+00:00",
        duration_s=32.5,
        report_dir=report_dir,
        verdicts=verdicts,
        faults=faults,
        phases=phases,
        snapshot=recorder.snapshot(),
        services=(
            ServiceRecord("db", "postgres", "127.0.0.1:25432", 4242, ("db.log",), 1.25),
            ServiceRecord(
                "api",
                "process",
                f"http://app:{PASSWORD}@127.0.0.1:8000",
                4243,
                ("api.stdout.log", "api.stderr.log"),
                0.8,
            ),
        ),
        plan="0s-10s before\n10s-20s during slow db\n20s-30s after",
        environment={"ci": "true"},
    )


@pytest.fixture
def outcome(tmp_path: Path) -> RunOutcome:
    return build_outcome(tmp_path / "report")
