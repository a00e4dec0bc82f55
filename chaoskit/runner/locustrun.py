"""The run's side of the Locust engine: its processes on the rollback stack, its
events in the journal, and the verdict on a load that lost a worker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from chaoskit.checks.base import Verdict
from chaoskit.events import Event, event
from chaoskit.faults.base import LedgerEntry, Undo
from chaoskit.locust import LocustEngine
from chaoskit.records import AckLog
from chaoskit.runner.load import build_locust_config
from chaoskit.runner.rollback import RollbackStack
from chaoskit.services.process import ProcessService
from chaoskit.spec import model

__all__ = ["CLOSED_MODEL_NOTE", "load_verdict", "measured_verdict", "start_locust"]

CLOSED_MODEL_NOTE = (
    "Locust is a closed model: each user waits for its answer, so a slow service "
    "lowers the request rate; latency is measured from each request's start, as "
    "Locust does (no correction for requests a user could not send meanwhile)"
)


async def start_locust(
    experiment: model.Experiment,
    *,
    base_url: str,
    base_dir: Path,
    report_dir: Path,
    stack: RollbackStack,
    emit: Callable[[Event], None],
    acks: AckLog | None,
) -> LocustEngine:
    """The master and workers up (each on the ledger and the stack), ready to go."""
    config = build_locust_config(experiment, base_url, base_dir=base_dir)

    def starting(service: ProcessService) -> None:
        # On the ledger before it starts (its PID file), amended with its PID
        # and start time once it runs: as every service is (runner.environment).
        planned = dict(service.planned_ledger_data() or {})
        entry = LedgerEntry("process", f"stop {service.name}", planned)
        ledger_id = stack.before(entry)
        if ledger_id is not None:
            service.on_launch = lambda data: stack.amend(ledger_id, data)
        stack.push(Undo(f"stop {service.name}", service.stop), ledger_id, service.name)

    def started(service: ProcessService) -> None:
        emit(event("service_ready", name=service.name, pid=service.pid))

    def emit_fields(kind: str, fields: dict[str, object]) -> None:
        emit(event(kind, **fields))

    engine = LocustEngine(
        config,
        log_dir=report_dir,
        acks=acks,
        starting=starting,
        started=started,
        emit=emit_fields,
    )
    emit(
        event(
            "load_engine",
            engine="locust",
            locustfile=str(config.locustfile),
            workers=config.expect_workers,
            note=CLOSED_MODEL_NOTE,
        )
    )
    await engine.prepare()
    emit(event("load_ready", **engine.describe()))
    return engine


def load_verdict(engine: LocustEngine) -> Verdict | None:
    """Whether the load held after a worker was lost; None when none was."""
    if not engine.losses:
        return None
    lost = "; ".join(
        f"{loss.worker}{f' (pid {loss.pid})' if loss.pid else ''} at "
        f"{(loss.at_ns - engine.origin_ns) / 1e9:.1f}s with {loss.users} users: "
        f"{loss.how}"
        for loss in engine.losses
    )
    found = engine.shortfall()
    if found is None:
        return Verdict(
            name="load held after a worker was lost", kind="load", phase="all",
            passed=False, observed="no user counts after the loss",
            expected="the target users", detail=f"lost: {lost}",
        )  # fmt: skip
    users, target = found
    short = engine.fell_short()
    return Verdict(
        name="load held after a worker was lost",
        kind="load",
        phase="all",
        passed=not short,
        observed=f"{users:.1f} of {target:.1f} users on average after the loss",
        expected="at least 90% of the target users",
        detail=(
            ("the load fell short: " if short else "the other workers took over: ")
            + f"lost {lost}"
        ),
        observed_value=users,
        expected_value=target,
    )


def measured_verdict(engine: LocustEngine) -> Verdict | None:
    """Inconclusive when requests were made that never became samples (None
    when every one did): the hypotheses were judged on part of the load, and
    an error rate or a percentile may then be wrong in a way no one sees."""
    parts = []
    if engine.lost_records:
        parts.append(
            f"{engine.lost_records} records dropped at the workers (a worker's "
            f"buffer was full: the master did not keep up)"
        )
    if engine.unreadable_records:
        parts.append(f"{engine.unreadable_records} records unreadable")
    if engine.bad_lines:
        parts.append(f"{engine.bad_lines} batches of records unreadable")
    if not parts:
        return None
    return Verdict(
        name="every request measured",
        kind="load",
        phase="all",
        passed=False,
        inconclusive=True,
        observed="; ".join(parts),
        expected="every request's record reaches chaoskit",
        detail=(
            "the hypotheses were judged on the requests whose records arrived; "
            "with fewer users per worker (more workers) the records keep up"
        ),
    )
