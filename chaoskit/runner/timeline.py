"""The timeline of a run: phases, faults applied and rolled back on schedule,
progress every second, and abort conditions.

Each fault occurrence (a scheduled fault has several, ``flap#1``, ``flap#2``...)
runs as its own task: wait for its start, write each change to the ledger,
apply it, wait for its end, undo it. The recorder is told when each phase
starts (``warmup``, ``before``, ``during:<fault>``, ``after:<fault>``), so every
sample lands in the phase it was due in, however late its answer. Times are
measured, not assumed: a fault that took 800 ms to apply starts its phase
800 ms late.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from chaoskit.errors import ChaoskitError
from chaoskit.events import Event, FaultRecord, PhaseRecord, event
from chaoskit.faults.base import Change
from chaoskit.faults.http import http_changes
from chaoskit.faults.locks import lock_changes
from chaoskit.faults.network import network_changes
from chaoskit.faults.payloads import PayloadSender, load_payload_model
from chaoskit.faults.process import process_changes
from chaoskit.fuzz.tally import FuzzTally
from chaoskit.load.engine import LoadEngine
from chaoskit.load.processes import ProcessEngine
from chaoskit.locust import LocustEngine
from chaoskit.metrics.recorder import Recorder
from chaoskit.plan import FaultWindow, container_target, fault_settings
from chaoskit.runner.containers import docker_changes
from chaoskit.runner.environment import Environment
from chaoskit.runner.rollback import RollbackStack
from chaoskit.services.container import ContainerService
from chaoskit.services.process import ProcessService
from chaoskit.spec import model, refs

__all__ = ["Timeline", "fault_target"]

_NS = 1_000_000_000
_ABORT_DELAY_S = 2


def fault_target(fault: model.Fault) -> str:
    """What a fault hits: ``route db``, ``service api``, ``container web-1``..."""
    if isinstance(fault, model.ToxicFault | model.HttpFault):
        return f"route {fault.route}"
    if isinstance(fault, model.LockFault) and fault.database is not None:
        return f"database {fault.database}"
    if isinstance(fault, model.ContainerFault):
        return container_target(fault)
    if isinstance(fault, model.PayloadFault):
        return f"{fault.url or 'target'} {fault.path}"
    return f"service {fault.service}"


def _iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds")


@dataclass
class Timeline:
    """Runs the fault schedule against a running load, until the end or a stop."""

    experiment: model.Experiment
    env: Environment
    stack: RollbackStack
    recorder: Recorder
    engine: LoadEngine | ProcessEngine | LocustEngine
    emit: Callable[[Event], None]
    t0_ns: int
    """Monotonic time of the timeline's start (the warm-up ends)."""
    stop: asyncio.Event
    windows: tuple[FaultWindow, ...] = ()
    """Every occurrence of every fault, from the plan (seeded draws included)."""
    abort_reason: str | None = None
    completed: bool = False
    """The timeline reached its end (no abort, no signal before it)."""
    report_dir: Path = Path()
    fuzz: dict[str, FuzzTally] = field(default_factory=dict)
    """Each invalid-payloads fault's requests, kept apart from the load."""
    phases: list[PhaseRecord] = field(default_factory=list)
    faults: dict[str, FaultRecord] = field(default_factory=dict)
    _active: list[str] = field(default_factory=list)
    _last_ended: str | None = None
    _phase_start: float = 0.0
    _phase: str = ""

    # -- clock ---------------------------------------------------------------------

    def now_s(self) -> float:
        """Seconds since the timeline's start (negative during the warm-up)."""
        return (time.monotonic_ns() - self.t0_ns) / _NS

    async def _sleep_until(self, at_s: float) -> bool:
        """Wait until ``at_s`` on the timeline; False if the run was stopped first."""
        delay = at_s - self.now_s()
        if delay <= 0:
            return not self.stop.is_set()
        try:
            await asyncio.wait_for(self.stop.wait(), delay)
        except TimeoutError:
            return True
        return False

    # -- phases --------------------------------------------------------------------

    def enter(self, label: str, at_s: float | None = None) -> None:
        """Switch the recorder to a phase (from ``at_s``, default now), closing
        the previous one."""
        now = self.now_s() if at_s is None else at_s
        now = max(now, 0.0, self._phase_start) if label != "warmup" else now
        if self._phase:
            self.phases.append(PhaseRecord(self._phase, self._phase_start, now))
        self._phase, self._phase_start = label, now
        self.recorder.enter_phase(label, self.t0_ns + round(now * _NS))
        self.emit(event("phase", name=label, at_s=round(now, 3)))

    def _current_label(self) -> str:
        if self._active:
            return "during:" + "+".join(self._active)
        return f"after:{self._last_ended}" if self._last_ended else "before"

    def close_phases(self) -> None:
        end = max(self.now_s(), self._phase_start)
        if self._phase:
            self.phases.append(PhaseRecord(self._phase, self._phase_start, end))
            self._phase = ""

    # -- run -------------------------------------------------------------------------

    async def run(self) -> None:
        """Warm-up, then every fault on schedule, until the end (or a stop)."""
        duration = self.experiment.experiment.duration
        self.enter("warmup" if self.now_s() < 0 else "before")
        if not await self._sleep_until(0.0):
            return
        if self._phase == "warmup":
            self.enter("before")
        async with asyncio.TaskGroup() as tasks:
            progress = tasks.create_task(self._progress(duration))
            for window in self.windows:
                tasks.create_task(self._run_fault(window))
            self.completed = await self._sleep_until(duration)
            self.stop.set()  # ends the fault tasks' waits; undos still run
            progress.cancel()

    async def _changes(self, fault: model.Fault) -> Iterable[Change]:
        if isinstance(fault, model.LockFault):
            if fault.database is not None:
                path = self.env.base_dir / refs.bind(fault.database, self.env.values)
                return lock_changes(fault, path=path)
            return lock_changes(
                fault, dsn=self.env.values.get(f"services.{fault.service}.dsn")
            )
        if isinstance(fault, model.ToxicFault):
            assert self.env.toxiproxy is not None  # noqa: S101 - validated: routes exist
            return network_changes(fault, self.env.toxiproxy, fault.route)
        if isinstance(fault, model.HttpFault):
            assert self.env.toxiproxy is not None  # noqa: S101 - validated: routes exist
            return http_changes(fault, self.env.toxiproxy, fault.route)
        if isinstance(fault, model.PayloadFault):
            sender = PayloadSender(
                fault,
                load_payload_model(fault, self.env.base_dir),
                base_url=self.env.base_url,
                seed=self.env.seed,
                report_dir=self.report_dir,
                tallies=self.fuzz,
                allow_remote=self.experiment.experiment.allow_remote,
                target_headers=self.experiment.target.headers,
            )
            self.fuzz[fault.name] = sender.tally
            return sender.changes()
        if isinstance(fault, model.ContainerFault) or isinstance(
            self.env.services.get(fault.service), ContainerService
        ):
            # The target decides the driver: kill/restart/pause on a container
            # service go through the Docker API too.
            return await docker_changes(fault, self.env)
        service = self.env.services[fault.service]
        assert isinstance(service, ProcessService)  # noqa: S101 - validated by spec
        return process_changes(fault, service)

    def _target(self, fault: model.Fault) -> str:
        """The fault's target with references bound (an SQLite file under
        ``{run.report.dir}`` shows its real path in the report)."""
        target = fault_target(fault)
        if all(ref.key in self.env.values for ref in refs.find(target)):
            return refs.bind(target, self.env.values)
        return target

    async def _run_fault(self, window: FaultWindow) -> None:
        """One occurrence: its own ledger entries, undo, record and phases."""
        fault, name = window.fault, window.label
        record = FaultRecord(
            name,
            fault.kind,
            self._target(fault),
            fault_settings(fault),
            planned_start_s=window.start,
            planned_end_s=window.end,
            fault=fault.name,
            occurrence=window.occurrence,
            occurrences=window.occurrences,
        )
        self.faults[name] = record
        if not await self._sleep_until(window.start):
            return
        label = f"fault {name}"
        self.emit(
            event(
                "fault_applying",
                fault=name,
                fault_kind=fault.kind,
                target=record.target,
                settings=record.settings,
                planned_start_s=window.start,
                planned_end_s=window.end,
                declared=fault.name,
                occurrence=window.occurrence,
                occurrences=window.occurrences,
            )
        )
        pending = []
        effective_ns = 0  # when the last change took effect: the fault is in place
        try:
            for change in await self._changes(fault):
                ledger_id = self.stack.before(change.entry)
                try:
                    undo = await change.apply()
                except BaseException as exc:
                    self.stack.abandon(ledger_id, str(exc) or type(exc).__name__)
                    raise
                effective_ns = max(
                    effective_ns, undo.effective_ns or time.monotonic_ns()
                )
                pending.append(self.stack.push(undo, ledger_id, label))
        except (ChaoskitError, OSError) as exc:
            self.faults[name] = replace(record, error=str(exc))
            self.emit(event("fault_failed", fault=name, error=str(exc)))
            self.abort(f"fault {name!r} could not be applied: {exc}")
            return
        # Measured from when the fault took effect, not from the bookkeeping
        # after it: a request due in between meets the fault, so it is
        # counted in the fault's phase.
        started_s = self.now_s()
        if effective_ns:
            started_s = min((effective_ns - self.t0_ns) / _NS, started_s)
        wall = time.time() - (self.now_s() - started_s)
        record = replace(record, started_s=started_s, started_at=_iso(wall))
        self.faults[name] = record
        self._active.append(name)
        self.enter(self._current_label(), at_s=started_s)
        self.emit(
            event(
                "fault_applied",
                fault=name,
                fault_kind=fault.kind,
                target=record.target,
                at_s=round(record.started_s or 0, 3),
            )
        )
        await self._sleep_until(window.end)
        ended_s, ended_wall = self.now_s(), time.time()
        results = [await self.stack.undo(p) for p in reversed(pending)]
        self._active.remove(name)
        self._last_ended = name
        self.faults[name] = replace(
            record, ended_s=ended_s, ended_at=_iso(ended_wall), rolled_back=all(results)
        )
        if not self.stop.is_set():  # no new phase once the run is ending
            self.enter(self._current_label())

    def abort(self, reason: str) -> None:
        """Stop the run early; the first reason is the one reported."""
        if self.abort_reason is None:
            self.abort_reason = reason
            self.emit(event("abort", reason=reason))
        self.stop.set()

    # -- progress and abort conditions --------------------------------------------

    async def _progress(self, duration: float) -> None:
        seen = -1
        streaks = [0.0 for _ in self.experiment.abort]
        while True:
            await asyncio.sleep(1.0)
            status = self.engine.status()
            # The last full second by intended start (as phases count it):
            # requests due then and still unanswered are not in it yet.
            second = math.floor(self.now_s()) - 1
            last = self.recorder.window(second)
            # Abort conditions wait a little longer for the slow answers.
            judged = second - _ABORT_DELAY_S
            fresh = [
                w
                for i in range(max(seen + 1, 0), judged + 1)
                if (w := self.recorder.window(i)) is not None
            ]
            self.emit(
                event(
                    "progress",
                    elapsed_s=round(self.now_s(), 2),
                    total_s=duration,
                    phase=self.recorder.phase_of(self.t0_ns + second * _NS),
                    rps=last.count if last else 0,
                    p95_ms=round(last.latency.p95, 3) if last else 0.0,
                    error_rate=round(last.error_rate, 4) if last else 0.0,
                    active_faults=list(self._active),
                    in_flight=status.in_flight,
                    dropped=status.dropped,
                    sent=status.sent,
                )
            )
            seen = max(seen, judged)
            for window in fresh:
                for i, condition in enumerate(self.experiment.abort):
                    if condition.probe is not None:
                        continue  # sampled by the probes (runner.probes)
                    value = (
                        window.error_rate
                        if condition.metric == "error_rate"
                        else getattr(window.latency, condition.metric) / 1000
                    )
                    streaks[i] = streaks[i] + 1 if value > condition.limit else 0
                    if streaks[i] >= condition.hold_s:
                        self.abort(
                            f"abort condition: {condition.metric} above "
                            f"{condition.above} for {condition.hold_s:g}s"
                        )
