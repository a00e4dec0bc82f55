"""The run's side of ``[load] processes``: each generator process on the ledger
and the rollback stack, a lost one in the journal, and the verdict on a load
that lost one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from chaoskit.checks.base import Verdict
from chaoskit.events import Event, event
from chaoskit.faults.base import LedgerEntry, Undo
from chaoskit.load.config import LoadConfig
from chaoskit.load.processes import ProcessEngine, ProcessLoss
from chaoskit.records import AckLog, ValueLog
from chaoskit.runner.rollback import RollbackStack
from chaoskit.services import _proc

__all__ = ["processes_verdict", "start_processes"]

_STOP_S = 5.0


async def start_processes(
    config: LoadConfig,
    count: int,
    *,
    stack: RollbackStack,
    emit: Callable[[Event], None],
    report_dir: Path,
    origin_ns: Callable[[], int],
    acks: AckLog | None,
    values: ValueLog | None,
) -> ProcessEngine:
    """``count`` generator processes up (each on the ledger and the stack),
    ready to go. ``origin_ns()``: the timeline's zero, for the time of a loss."""

    def spawned(pid: int) -> None:
        # PID and start time name the process group to stop (as for every
        # process chaoskit starts), also from the guardian if the run is killed.
        # Written as soon as it exists: before that it has nothing to undo, and
        # it dies with chaoskit anyway (PR_SET_PDEATHSIG).
        started = _proc.start_time(pid) or 0
        name = f"load process {pid}"
        data = {"pid": pid, "start_time": started, "name": name}
        ledger_id = stack.before(LedgerEntry("process", f"stop {name}", data))

        async def stop() -> None:
            await _proc.terminate_group(pid, started, _STOP_S)

        stack.push(Undo(f"stop {name}", stop), ledger_id, name)

    def lost(loss: ProcessLoss) -> None:
        emit(
            event(
                "load_process_lost",
                process=loss.index,
                pid=loss.pid,
                at_s=round((loss.at_ns - origin_ns()) / 1e9, 3),
                share=loss.share,
                how=loss.how,
            )
        )

    engine = ProcessEngine(
        config, count, acks=acks, values=values, spawned=spawned, lost=lost,
        log_dir=report_dir,
    )  # fmt: skip
    await engine.prepare()
    emit(event("load_engine", engine="native", processes=count, pids=engine.pids))
    return engine


def processes_verdict(engine: ProcessEngine, origin_ns: int) -> Verdict | None:
    """The load fell short when a generator process was lost; None when none was."""
    if not engine.losses:
        return None
    lost = "; ".join(
        f"process {loss.index} (pid {loss.pid}) at "
        f"{(loss.at_ns - origin_ns) / 1e9:.1f}s with {loss.share}: {loss.how}"
        for loss in engine.losses
    )
    return Verdict(
        name="load held: every generator process ran to the end",
        kind="load",
        phase="all",
        passed=False,
        observed=f"{len(engine.losses)} of {engine.count} processes lost",
        expected="none lost",
        detail=f"the load fell short: lost {lost}; the others went on",
        observed_value=float(len(engine.losses)),
        expected_value=0.0,
    )
