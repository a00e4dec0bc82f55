"""One run, start to finish: services up, load and faults on the timeline,
everything undone, data judged.

Whatever happens (a hypothesis fails, a service never gets healthy, a fault
cannot be applied, Ctrl-C, SIGTERM, a bug) teardown runs: the load stops, every
undo on the stack runs newest first, and anything the ledger still lists as
pending is undone from it. Signals (SIGINT, SIGTERM, SIGHUP, SIGQUIT): the
first stops the run and rolls back (exit 3); a second one cuts every undo's
deadline to a few seconds; a third exits at once, leaving the ledger to the
run's guardian, which also undoes it when the run is killed outright
(``kill -9``: :mod:`chaoskit.runner.guardian`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import signal
import sys
import time
import warnings
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from chaoskit.checks import CheckContext, evaluate
from chaoskit.checks.base import Verdict
from chaoskit.errors import ChaoskitError, RollbackError
from chaoskit.events import Event, ProbeSeries, event
from chaoskit.load.config import ClosedModel, LoadConfig
from chaoskit.load.engine import LoadEngine
from chaoskit.load.errors import LoadConfigError
from chaoskit.load.processes import ProcessEngine, process_count
from chaoskit.locust import LocustEngine
from chaoskit.metrics.recorder import Recorder
from chaoskit.metrics.samplefile import SampleFile, read_samples
from chaoskit.metrics.series import Bin, bins_by_intended_start, samples_between
from chaoskit.plan import build_plan
from chaoskit.probes import Sampler
from chaoskit.records import AckLog, ReadBack, Sample, ValueLog
from chaoskit.runner.attempts import (
    AttemptWatcher,
    request_routes,
    watched_routes,
)
from chaoskit.runner.environment import Environment, bring_up
from chaoskit.runner.generators import processes_verdict, start_processes
from chaoskit.runner.guardian import Guardian
from chaoskit.runner.ledger import Ledger, roll_back
from chaoskit.runner.load import build_load_config, observed_probes
from chaoskit.runner.locustrun import load_verdict, measured_verdict, start_locust
from chaoskit.runner.outcome import LoadRecord, RunOutcome
from chaoskit.runner.probes import ProbeAborts, watch_probes
from chaoskit.runner.readback import read_backs
from chaoskit.runner.rollback import DEFAULT_DEADLINE_S, RollbackStack
from chaoskit.runner.timeline import Timeline
from chaoskit.spec import model
from chaoskit.spec.classes import ClassShare, declared_shares

__all__ = ["RunRequest", "Stage", "StepData", "Stopped", "run_experiment", "staged"]

T = TypeVar("T")
_NS = 1_000_000_000
_FORCED_DEADLINE_S = 3.0
SAMPLES_NAME = "samples.tsv"


@dataclass(frozen=True)
class RunRequest:
    """What to run and where to write."""

    experiment: model.Experiment
    file: Path
    seed: int
    report_dir: Path
    command: str
    """The replay command line, printed in every report."""
    plan: str = ""
    early_signals: list[signal.Signals] = field(default_factory=list)
    """Stop signals the CLI received (and deferred) before the run's own
    handlers were installed; filled until then. They count as received at once:
    a SIGTERM while the journal is being opened must not be lost."""


class Stopped(Exception):
    """The run was told to stop (signal or abort) while something was starting."""


# What stops a run and rolls it back: Ctrl-C, kill, a closed terminal or a
# dropped SSH session (SIGHUP), Ctrl-backslash (SIGQUIT).
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


class _Signals:
    """The stop signals: stop, then force, then exit.

    A signal ignored when chaoskit started (``nohup`` ignores SIGHUP, a shell's
    background job SIGINT and SIGQUIT) stays ignored: whoever started us chose so.
    """

    def __init__(
        self,
        stop: asyncio.Event,
        emit: Callable[[Event], None],
        early: list[signal.Signals] | None = None,
    ) -> None:
        self.stop = stop
        self.emit = emit
        self._early = early if early is not None else []
        self.count = 0
        self.force = asyncio.Event()
        self.reason: str | None = None
        self._installed: dict[signal.Signals, Any] = {}

    def __enter__(self) -> _Signals:
        loop = asyncio.get_running_loop()
        for sig in _STOP_SIGNALS:
            previous = signal.getsignal(sig)
            if previous == signal.SIG_IGN:
                continue
            loop.add_signal_handler(sig, self._received, sig)
            self._installed[sig] = previous
        # Received before the handlers above were in place (held by the CLI).
        for sig in self._early:
            self._received(sig)
        self._early.clear()
        return self

    def __exit__(self, *exc: object) -> None:
        loop = asyncio.get_running_loop()
        for sig, previous in self._installed.items():
            loop.remove_signal_handler(sig)
            # What was there before (the CLI defers stop signals while it
            # judges and reports), not the default asyncio puts back.
            if previous is not None:
                signal.signal(sig, previous)

    @property
    def forced(self) -> bool:
        return self.count >= 2

    def _received(self, sig: signal.Signals) -> None:
        # A second signal never cuts the rollback short: it only shortens every
        # undo's deadline; the third leaves the ledger to the run's guardian.
        self.count += 1
        if self.count == 1:
            self.reason = f"interrupted by {sig.name}"
            self.emit(event("interrupted", signal=sig.name))
            self.stop.set()
        elif self.count == 2:
            self.emit(event("interrupted", signal=sig.name, forced=True))
            self.force.set()
        else:
            with contextlib.suppress(OSError):  # the console may be gone (SIGHUP)
                print(
                    "chaoskit: forced exit; the run's guardian undoes what is "
                    "left (guardian.log in the report directory)",
                    file=sys.stderr,
                    flush=True,
                )
            os._exit(3)


async def _until_stopped(coro: Coroutine[Any, Any, T], stop: asyncio.Event) -> T:
    """Run ``coro`` unless the run is stopped first (then cancel it, cleanly)."""
    task = asyncio.ensure_future(coro)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ChaoskitError):
            await task
        raise Stopped
    return task.result()


def _load_ended(timeline: Timeline, load: asyncio.Future[Any]) -> None:
    """A load that fails mid-run (the Locust master died) stops the timeline at
    once: the faults after it would be judged on no load."""
    if not load.cancelled() and load.exception() is not None:
        timeline.stop.set()  # its error is the run's reason, raised below


def _load_record(
    engine: LoadEngine | ProcessEngine, emit: Callable[[Event], None]
) -> LoadRecord:
    """What the generator offered; a warning event when it could not keep up."""
    status = engine.status()
    record = LoadRecord(
        # The schedule's seconds: requests in flight at its end do not count.
        duration_s=min(status.elapsed_s, engine.config.duration),
        scheduled=status.due + status.late,
        sent=status.sent,
        dropped=status.dropped,
        late=status.late,
        classes=_declared_classes(engine.config),
    )
    if record.warning:
        emit(event("load_behind", **record.to_json()))
    return record


def _declared_classes(config: LoadConfig) -> dict[str, float]:
    """Each user class's declared share of the users (closed) or requests (open)."""
    classes = config.classes
    if not classes:
        return {}
    model = config.model
    closed = isinstance(model, ClosedModel)
    total = model.users if isinstance(model, ClosedModel) else model.rate
    shares = declared_shares(
        [ClassShare(c.weight, c.fixed_count) for c in classes],
        [None if closed else c.rate for c in classes],
        total,
        users=closed,
    )
    return {c.name: share for c, share in zip(classes, shares, strict=True)}


def _iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds")


def _environment() -> dict[str, str]:
    from importlib.metadata import version

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "chaoskit": version("chaoskit"),
        "hostname": platform.node(),
        "cpus": str(os.cpu_count()),
    }


@dataclass
class StepData:
    """What one load run on the stage left: its records, to judge and report."""

    experiment: model.Experiment
    report_dir: Path
    recorder: Recorder | None = None
    timeline: Timeline | None = None
    watcher: AttemptWatcher | None = None
    sampler: Sampler | None = None
    acks: AckLog | None = None
    values: ValueLog | None = None
    found: dict[str, ReadBack] = field(default_factory=dict)
    extra: tuple[Verdict, ...] = ()
    load: LoadRecord | None = None
    reason: str | None = None
    """Why the step stopped early (an abort condition, a signal); None if it ran."""

    @property
    def probes(self) -> tuple[ProbeSeries, ...]:
        """The probe series sampled during the step."""
        return tuple(w.series for w in self.sampler.watched) if self.sampler else ()

    def verdicts(self) -> tuple[Verdict, ...]:
        """Every hypothesis of the step's experiment judged on what it recorded."""
        experiment = self.experiment
        recorder = self.recorder or Recorder(origin_ns=0)
        timeline = self.timeline
        if timeline is not None:
            timeline.close_phases()
        snapshot = recorder.snapshot()
        samples_path = self.report_dir / SAMPLES_NAME
        origin = timeline.t0_ns if timeline else 0

        def bins(
            start: float, end: float, step: float, tasks: frozenset[str] | None
        ) -> list[Bin]:
            return bins_by_intended_start(
                read_samples(samples_path), origin, start, end, step, tasks
            )

        def samples(
            start: float, end: float, tasks: frozenset[str] | None
        ) -> Iterator[Sample]:
            return samples_between(
                read_samples(samples_path), origin, start, end, tasks
            )

        watcher = self.watcher
        classes = experiment.load.classes
        tasks = [*experiment.load.tasks, *(t for c in classes for t in c.tasks)]
        ctx = CheckContext(
            origin_ns=origin,
            values=self.values,
            samples=samples,
            bins=bins,
            merged=recorder.merged,
            phases=tuple(timeline.phases) if timeline else (),
            windows=tuple(w for w in snapshot.windows if w.start_s >= 0),
            faults=tuple(timeline.faults.values()) if timeline else (),
            task_groups={t.name: t.group for t in tasks if t.group},
            attempts=watcher.records(origin) if watcher else {},
            requests=watcher.request_records(origin) if watcher else {},
            acks=self.acks,
            read_backs=self.found,
            fuzz=tuple(timeline.fuzz.values()) if timeline else (),
            probes={series.name: series for series in self.probes},
        )
        return (*evaluate(experiment.hypotheses, ctx), *self.extra)


class Stage:
    """Services and proxy brought up once, then any number of load runs on them.

    Made by :func:`staged`, which owns the signals, the ledger and the teardown.
    """

    def __init__(
        self,
        request: RunRequest,
        emit: Callable[[Event], None],
        stack: RollbackStack,
        stop: asyncio.Event,
        signals: _Signals,
    ) -> None:
        self.request = request
        self.emit = emit
        self.stack = stack
        self.stop = stop
        self.signals = signals
        self.env = Environment()
        self.reason: str | None = None
        """Why the stage stopped early; set when :func:`staged` exits."""
        self.failure: str | None = None
        """Why the caller aborts the stage (a step's abort condition)."""
        self.last: StepData | None = None
        """The latest step (also one cut short by a stop)."""

    async def bring_up(self) -> Environment:
        """Start the experiment's services and proxy routes; wait for health."""
        request = self.request
        self.env = await _until_stopped(
            bring_up(
                request.experiment,
                base_dir=request.file.parent,
                report_dir=request.report_dir,
                stack=self.stack,
                emit=self.emit,
                seed=request.seed,
            ),
            self.stop,
        )
        return self.env

    async def run_step(
        self,
        experiment: model.Experiment | None = None,
        report_dir: Path | None = None,
    ) -> StepData:
        """One timeline of load and faults on the running services.

        Args:
            experiment: what to run (default the request's); its services,
                proxy and target must be the stage's.
            report_dir: where the step's samples go (default the request's).

        Returns:
            The step's records; ``reason`` says why it stopped early, if it did.

        Raises:
            Stopped: the stage was told to stop while something was starting.
            ChaoskitError: a fault or the load failed (the stage aborts).
        """
        request = self.request
        experiment = experiment or request.experiment
        report_dir = report_dir or request.report_dir
        report_dir.mkdir(parents=True, exist_ok=True)
        if self.stop.is_set():
            raise Stopped
        env, stack, emit, signals = self.env, self.stack, self.emit, self.signals
        # Only integrity hypotheses need what each write acknowledged.
        integrity = any(h.kind == "integrity" for h in experiment.hypotheses)
        step = StepData(
            experiment,
            report_dir,
            acks=AckLog() if integrity else None,
            # Only threshold hypotheses on a header or JSON value read numbers.
            values=ValueLog() if observed_probes(experiment) else None,
        )
        self.last = step
        acks, values = step.acks, step.values
        # The timeline ends its own step (its stop is set at the end); the
        # stage's stop (a signal) ends the step too.
        stop = asyncio.Event()
        linked = asyncio.ensure_future(self.stop.wait())
        linked.add_done_callback(lambda _: stop.set())
        try:
            locust: LocustEngine | None = None
            native: ProcessEngine | None = None
            t0_ns = 0
            if experiment.load.engine == "locust":
                # Processes up and workers connected before the clock starts.
                locust = await _until_stopped(
                    start_locust(
                        experiment, base_url=env.base_url,
                        base_dir=request.file.parent, report_dir=report_dir,
                        stack=stack, emit=emit, acks=acks,
                    ),
                    self.stop,
                )  # fmt: skip
                drain_s = 15.0
                # Records come in batches (up to 0.5 s late); a request's own
                # timeout is the locustfile's, bounded by Locust's stop timeout.
                settle_s = locust.config.stop_timeout + 2
            else:
                config = build_load_config(experiment, request.seed, env.base_url)
                drain_s = config.longest_timeout() + 5
                settle_s = config.longest_timeout() + 2
                count = process_count(experiment.load.processes, config)
                if count > 1:
                    # Processes up before the clock starts, as Locust's.
                    native = await _until_stopped(
                        start_processes(
                            config, count, stack=stack, emit=emit,
                            report_dir=report_dir, origin_ns=lambda: t0_ns,
                            acks=acks, values=values,
                        ),
                        self.stop,
                    )  # fmt: skip
            warmup = experiment.experiment.warmup
            start_ns = time.monotonic_ns()
            t0_ns = start_ns + round(warmup * _NS)
            recorder = step.recorder = Recorder(
                origin_ns=t0_ns,
                phase="warmup" if warmup else "before",
                settle_s=settle_s,
            )
            samples = SampleFile(report_dir / SAMPLES_NAME)
            if values is not None:
                values.origin_ns = t0_ns
            engine: LoadEngine | ProcessEngine | LocustEngine
            if locust is not None:
                locust.origin_ns = t0_ns
                engine = locust.attach([recorder, samples])
            elif native is not None:
                engine = native.attach([recorder, samples])
            else:
                engine = LoadEngine(
                    config, [recorder, samples], acks=acks, values=values
                )
            timeline = step.timeline = Timeline(
                experiment, env, stack, recorder, engine, emit, t0_ns, stop,
                windows=build_plan(experiment, request.seed).faults,
                report_dir=report_dir,
            )  # fmt: skip
            watcher = step.watcher = AttemptWatcher(
                env.toxiproxy,
                watched_routes(experiment),
                http_routes=request_routes(experiment),
            )
            watcher.start()
            # Probes sample on their own tasks, from the warm-up to the end.
            sampler = step.sampler = Sampler(
                watch_probes(experiment, env), t0_ns, emit,
                ProbeAborts(experiment.abort, timeline.abort),
            )  # fmt: skip
            sampler.start()
            load = asyncio.ensure_future(engine.run())
            load.add_done_callback(partial(_load_ended, timeline))
            try:
                await timeline.run()
            finally:
                if not timeline.completed or isinstance(engine, LocustEngine):
                    engine.stop()
                # else the native engine ends its own schedule, which is the
                # timeline's: stopped at the timeline's last instant, it left
                # out arrivals due just before the end whenever it was a few ms
                # late (a loaded machine), neither sent nor counted.
                await sampler.stop()
                await watcher.stop()
                # Requests in flight end within their timeout; do not wait
                # longer, nor at all after a second Ctrl-C.
                forced = asyncio.ensure_future(signals.force.wait())
                await asyncio.wait(
                    [load, forced],
                    timeout=drain_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                forced.cancel()
                if not load.done():
                    load.cancel()
                    await asyncio.wait([load])
                samples.close()
                if not isinstance(engine, LocustEngine):  # it keeps no schedule
                    step.load = _load_record(engine, emit)
            if load.done() and not load.cancelled() and load.exception() is not None:
                raise load.exception()  # type: ignore[misc]
            recorder.close()
            timeline.close_phases()
            if locust is not None:
                step.extra = tuple(
                    v
                    for v in (load_verdict(locust), measured_verdict(locust))
                    if v is not None
                )
            elif native is not None:
                held = processes_verdict(native, t0_ns)
                step.extra = (held,) if held is not None else ()
            step.reason = timeline.abort_reason or signals.reason
            if integrity and step.reason is None:
                # After every undo (a killed service is back), before teardown;
                # bounded by each read-back's timeout (the run's stop is set).
                step.found = await read_backs(experiment, env)
        finally:
            linked.cancel()
        return step


def _start_guardian(ledger: Ledger) -> Guardian | None:
    """The process that undoes the ledger if this one dies without doing it
    (``kill -9``); recorded in the ledger. None, with a warning, if it cannot
    be spawned: the run goes on, leftovers then wait for ``chaoskit rollback``."""
    try:
        guardian = Guardian.start(ledger.path)
    except OSError as exc:
        warnings.warn(
            f"the run's guardian could not be started ({exc}): if chaoskit is "
            "killed, run `chaoskit rollback` on its report directory",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    ledger.note_run(guardian=guardian.identity)
    return guardian


@contextlib.asynccontextmanager
async def staged(
    request: RunRequest, emit: Callable[[Event], None]
) -> AsyncIterator[Stage]:
    """A stage for one run or a series of steps; teardown always runs.

    Stop signals are handled for the whole stage (stop, force, exit). A stop,
    an abort or a ``ChaoskitError`` inside the block ends it: the exception is
    taken, its reason recorded in ``Stage.reason``. On the way out every undo
    runs newest first and the ledger settles what is left.
    """
    experiment = request.experiment
    report_dir = request.report_dir
    report_dir.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(
        report_dir,
        {"experiment": experiment.experiment.name, "file": str(request.file)},
    )
    guardian = _start_guardian(ledger)
    stack = RollbackStack(ledger, emit)
    stop = asyncio.Event()
    emit(
        event(
            "run_started",
            experiment=experiment.experiment.name,
            seed=request.seed,
            environment=experiment.environment,
            command=request.command,
            report_dir=str(report_dir),
        )
    )
    with _Signals(stop, emit, request.early_signals) as signals:
        stage = Stage(request, emit, stack, stop, signals)
        reason: str | None = None
        try:
            yield stage
            reason = stage.failure or signals.reason
        except Stopped:
            timeline = stage.last.timeline if stage.last else None
            reason = (timeline.abort_reason if timeline else None) or signals.reason
        except (ChaoskitError, LoadConfigError) as exc:
            reason = str(exc)
            emit(event("abort", reason=reason))
        finally:
            deadline = _FORCED_DEADLINE_S if signals.forced else DEFAULT_DEADLINE_S
            await stack.unwind(deadline)
            ledger.close()
            # What the stack never got an undo for (cut mid-apply, a service
            # that failed to start) is in the ledger; this settles it there.
            for result in await roll_back(ledger.path):
                if not result.ok:
                    stack.failures.append(f"{result.description}: {result.message}")
            await stage.env.aclose()
            if guardian is not None:
                await guardian.release()
    if stack.failures:
        rollback = RollbackError("; ".join(stack.failures))
        reason = f"{reason}; {rollback}" if reason else str(rollback)
    stage.reason = reason


async def run_experiment(
    request: RunRequest, emit: Callable[[Event], None]
) -> RunOutcome:
    """Run one experiment and judge it; never leaves a fault in place on purpose."""
    started_wall = time.time()
    async with staged(request, emit) as stage:
        await stage.bring_up()
        step = await stage.run_step()
        stage.failure = step.reason
    return _outcome(request, stage, started_wall)


def _outcome(request: RunRequest, stage: Stage, started_wall: float) -> RunOutcome:
    experiment = request.experiment
    step = stage.last or StepData(experiment, request.report_dir)
    reason = stage.reason
    recorder = step.recorder or Recorder(origin_ns=0)
    timeline = step.timeline
    if timeline is not None:
        timeline.close_phases()
    phases = tuple(timeline.phases) if timeline else ()
    faults = tuple(timeline.faults.values()) if timeline else ()
    snapshot = recorder.snapshot()
    verdicts: tuple[Any, ...] = () if reason is not None else step.verdicts()
    statuses = {v.status for v in verdicts}
    if reason is not None:
        status = "aborted"
    elif "failed" in statuses:
        status = "failed"
    elif "inconclusive" in statuses:
        status = "inconclusive"  # too little data is never a pass
    else:
        status = "passed"
    ended = time.time()
    return RunOutcome(
        name=experiment.experiment.name,
        title=experiment.experiment.title,
        file=str(request.file),
        seed=request.seed,
        experiment_environment=experiment.environment,
        command=request.command,
        status=status,  # type: ignore[arg-type]
        reason=reason,
        started_at=_iso(started_wall),
        ended_at=_iso(ended),
        duration_s=round(ended - started_wall, 3),
        report_dir=request.report_dir,
        verdicts=verdicts,
        faults=faults,
        phases=phases,
        snapshot=snapshot,
        services=tuple(stage.env.records),
        plan=request.plan,
        environment=_environment(),
        fuzz=tuple(timeline.fuzz.values()) if timeline else (),
        probes=step.probes,
        load=step.load,
    )
