"""``chaoskit run`` and ``chaoskit rollback``: the whole flow, for the CLI.

spec -> plan -> (leftovers of a killed run undone) -> runner -> checks ->
reports. The CLI parses arguments and maps errors to exit codes; this module
owns the order of things and what the user sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from chaoskit import spec
from chaoskit.capacity.measure import Measurement
from chaoskit.capacity.run import (
    CapacityOptions,
    capacity_document,
    check_options,
    run_capacity,
    settings_of,
)
from chaoskit.errors import (
    EXIT_ABORTED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    SpecError,
    UsageError,
)
from chaoskit.events import Event
from chaoskit.faults.payloads import payload_fault_issues, payload_fault_notes
from chaoskit.plan import Plan, build_plan
from chaoskit.report import (
    JournalSink,
    LiveConsole,
    build_document,
    print_summary,
    write_reports,
)
from chaoskit.report.log import StructlogSink, route_warnings
from chaoskit.runner.ledger import find_open_ledgers, live_owner, roll_back
from chaoskit.runner.load import check_load_config
from chaoskit.runner.orchestrator import RunRequest, run_experiment
from chaoskit.spec.model import Experiment

__all__ = ["capacity", "load_and_plan", "prepare_report_dir", "rollback", "run"]

DEFAULT_REPORTS = Path("reports")


def load_and_plan(
    file: Path,
    overrides: Sequence[str],
    seed: int | None,
    *,
    variables: Sequence[str] = (),
    environment: str | None = None,
) -> tuple[Experiment, Plan]:
    """The validated experiment and its plan; SpecError (exit 2) on any issue."""
    experiment = spec.load(
        file, overrides, seed, variables=variables, environment=environment
    )
    issues = check_load_config(experiment, file=str(file))
    issues += payload_fault_issues(experiment, file.parent)
    if issues:
        raise SpecError(str(file), issues)
    return experiment, build_plan(experiment, seed)


def replay_command(
    file: Path,
    overrides: Sequence[str],
    seed: int,
    variables: Sequence[str] = (),
    environment: str | None = None,
    verb: str = "run",
) -> str:
    """The command line that runs the same experiment again, seed included
    (as text to mask: every writer passes it through ``chaoskit.redact``)."""
    parts = ["chaoskit", verb, str(file), "--seed", str(seed)]
    if environment is not None:
        parts += ["--env", environment]
    for variable in variables:
        parts += ["--var", variable]
    for override in overrides:
        parts += ["--set", override]
    return shlex.join(parts)


def _ready_report_dir(report_dir: Path | None, stem: str) -> Path:
    """The report directory given, or reports/<stem>-<date>-<time>, prepared."""
    if report_dir is None:
        report_dir = DEFAULT_REPORTS / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    prepare_report_dir(report_dir)
    return report_dir


def prepare_report_dir(report_dir: Path) -> None:
    """Create the report directory and check it takes files, before anything starts.

    Raises:
        UsageError: it cannot be created or written (a file on the way, no
            permission, a name too long, a read-only file system): exit 2.
    """
    probe = report_dir / ".chaoskit-write-test"
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        where = f" ({exc.filename})" if exc.filename not in (None, str(probe)) else ""
        raise UsageError(
            f"report directory {report_dir}: cannot write there: {reason}{where}; "
            "choose another with --report-dir"
        ) from None


@contextlib.contextmanager
def _stop_signals_deferred() -> Iterator[list[signal.Signals]]:
    """SIGTERM, SIGHUP and SIGQUIT wait while chaoskit undoes a killed run's
    leftovers or writes the reports (short, and cut short they would leave
    changes in place or a report half-written); the run itself handles them in
    its event loop. Yields the signals received meanwhile. Ctrl-C still
    interrupts; a signal ignored when chaoskit started stays ignored."""
    received: list[signal.Signals] = []
    if threading.current_thread() is not threading.main_thread():
        yield received  # signal handlers can only be set in the main thread
        return
    saved: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        previous = signal.getsignal(sig)
        if previous == signal.SIG_IGN:
            continue
        saved[sig] = previous
        signal.signal(
            sig, lambda number, _frame: received.append(signal.Signals(number))
        )
    try:
        yield received
    finally:
        for sig, previous in saved.items():
            signal.signal(sig, previous)


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _undo_leftovers(root: Path, console: Console) -> None:
    """Undo what a killed earlier run left (from its ledger), before starting."""
    for ledger in find_open_ledgers(root, skip_live=True):
        console.print(
            f"[yellow]An earlier run left changes in place ({ledger}); undoing:"
        )
        results = asyncio.run(roll_back(ledger))
        for result in results:
            mark = "[green]undone" if result.ok else f"[red]FAILED: {result.message}"
            console.print(f"  {result.description}: {mark}", highlight=False)


def run(
    file: Path,
    *,
    overrides: Sequence[str] = (),
    variables: Sequence[str] = (),
    environment: str | None = None,
    seed: int | None = None,
    report_dir: Path | None = None,
    dry_run: bool = False,
    console: Console | None = None,
) -> int:
    """Run an experiment file; the exit code (0 passed, 1 failed, 3 aborted)."""
    console = console or Console()
    experiment, plan = load_and_plan(
        file, overrides, seed, variables=variables, environment=environment
    )
    if dry_run:
        console.print(plan.describe(), markup=False, highlight=False)
        console.print("dry run: nothing was started")
        return EXIT_OK
    for note in payload_fault_notes(experiment, file.parent):
        console.print(f"note: {note}", markup=False, highlight=False)
    name = experiment.experiment.name
    report_dir = _ready_report_dir(report_dir, name)
    # Stop signals wait while leftovers are undone and while the run is judged
    # and reported; during the run itself its event loop handles them.
    with _stop_signals_deferred() as received:
        _undo_leftovers(report_dir.parent, console)
        if received:
            console.print(
                f"interrupted by {received[0].name} before the run started: "
                "nothing was started",
                highlight=False,
            )
            return EXIT_ABORTED
        command = replay_command(
            file, overrides, plan.seed, variables, experiment.environment
        )
        request = RunRequest(
            experiment=experiment,
            file=file,
            seed=plan.seed,
            report_dir=report_dir,
            command=command,
            plan=plan.describe(),
            # Filled by a stop signal until the run handles them itself.
            early_signals=received,
        )
        return _run(request, console)


def _run(request: RunRequest, console: Console) -> int:
    experiment, report_dir = request.experiment, request.report_dir
    # Declared secrets and the file's credential-shaped values (spec.secrets).
    secrets = list(experiment.secrets)
    with (
        JournalSink(report_dir, secrets=secrets) as journal,
        StructlogSink(report_dir, secrets=secrets) as log,
        LiveConsole(console, secrets=secrets) as live,
    ):

        def emit_all(event: Event) -> None:
            journal.emit(event)
            log.emit(event)
            live.emit(event)

        with (
            route_warnings(emit_all) as emit,
            asyncio.Runner(loop_factory=_new_loop) as runner,
        ):
            outcome = runner.run(run_experiment(request, emit))
        document = build_document(outcome, secrets=secrets)
        journal.write_document(document)
    write_reports(document, report_dir)
    print_summary(document, console)
    return outcome.exit_code


def capacity(
    file: Path,
    *,
    options: CapacityOptions | None = None,
    overrides: Sequence[str] = (),
    variables: Sequence[str] = (),
    environment: str | None = None,
    seed: int | None = None,
    report_dir: Path | None = None,
    console: Console | None = None,
) -> int:
    """Search an experiment's capacity (``chaoskit capacity``); the exit code:
    0 found (and at least ``required``), 1 below ``required``, 3 aborted."""
    console = console or Console()
    options = options or CapacityOptions()
    experiment, plan = load_and_plan(
        file, overrides, seed, variables=variables, environment=environment
    )
    check_options(experiment, options)
    name = experiment.experiment.name
    report_dir = _ready_report_dir(report_dir, f"{name}-capacity")
    with _stop_signals_deferred() as received:
        _undo_leftovers(report_dir.parent, console)
        if received:
            console.print(
                f"interrupted by {received[0].name} before the search started: "
                "nothing was started",
                highlight=False,
            )
            return EXIT_ABORTED
        command = replay_command(
            file, overrides, plan.seed, variables, experiment.environment,
            verb="capacity",
        )  # fmt: skip
        for slo in options.slos:
            command += f" --slo {shlex.quote(slo)}"
        if options.fault is not None:
            command += f" --fault {shlex.quote(options.fault)}"
        request = RunRequest(
            experiment=experiment, file=file, seed=plan.seed,
            report_dir=report_dir, command=command, plan=plan.describe(),
        )  # fmt: skip
        return _capacity(request, options, console)


def _capacity(request: RunRequest, options: CapacityOptions, console: Console) -> int:
    experiment, report_dir = request.experiment, request.report_dir
    secrets = list(experiment.secrets)

    def progress(row: Measurement) -> None:
        mark = "[green]held" if row.passed else "[red]broke"
        console.print(
            f"capacity {row.search}: level {row.level:.4g}: {mark}[/] "
            f"(achieved {row.achieved:.1f}/s, p95 {row.p95_ms:.1f} ms, "
            f"errors {row.errors}/{row.requests})",
            highlight=False,
        )

    with (
        JournalSink(report_dir, secrets=secrets) as journal,
        StructlogSink(report_dir, secrets=secrets) as log,
    ):

        def emit_all(event: Event) -> None:
            journal.emit(event)
            log.emit(event)

        with (
            route_warnings(emit_all) as emit,
            asyncio.Runner(loop_factory=_new_loop) as runner,
        ):
            found = runner.run(run_capacity(request, options, emit, progress))
        required = settings_of(experiment).required
        document = capacity_document(found, request, required)
        journal.write_document(document)
    write_reports(document, report_dir)
    _capacity_summary(document, console)
    verdict = document["verdict"]
    if verdict == "aborted":
        return EXIT_ABORTED
    return EXIT_FAILED if verdict == "failed" else EXIT_OK


def _capacity_summary(document: dict[str, object], console: Console) -> None:
    def line(text: str) -> None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)

    def found(answer: object) -> str:
        if not isinstance(answer, dict):
            return "nothing judged"
        unit, value, high = answer.get("unit"), answer.get("value"), answer.get("high")
        held = f"{value:.4g} {unit} held" if value is not None else "nothing held"
        broke = f"{high:.4g} {unit} broke" if high is not None else "nothing broke"
        stopped = f" (stopped: {answer['stopped']})" if answer.get("stopped") else ""
        return f"{held}, {broke}{stopped}"

    line(f"capacity: {found(document.get('capacity'))}")
    baseline = document.get("baseline")
    if isinstance(baseline, dict) and "unit" in baseline:
        line(f"baseline: {found(baseline)}")
    elif isinstance(baseline, dict):
        held = "held" if baseline.get("passed") else "broke"
        line(f"baseline: {baseline.get('level')} without the fault: {held}")
    broke = document.get("broke_first")
    if isinstance(broke, dict):
        line(
            f"broke first: {broke.get('hypothesis')} ({broke.get('how')}: "
            f"{broke.get('observed')}, expected {broke.get('expected')}) "
            f"at {broke.get('level')}"
        )
    cost = document.get("margin")
    if isinstance(cost, float):
        line(f"margin: the fault costs {cost:.1%} of the capacity")
    for key in ("knee", "required"):
        if document.get(key) is not None:
            line(f"{key}: {document[key]}")
    if document.get("reason"):
        line(f"aborted: {document['reason']}")
    line(f"verdict: {document.get('verdict')}; report: {document.get('report_dir')}")
    line(f"replay: {document.get('command')}")


def rollback(root: Path, console: Console | None = None, *, force: bool = False) -> int:
    """Undo what killed runs under ``root`` left in place.

    The ledger of a run still going (same PID and start time) is left alone
    unless ``force``: undoing it would tear the live run down under its load.

    Returns 0; 3 if an undo failed; 2 if a live run's ledger was left alone.
    """
    console = console or Console()
    ledgers = list(find_open_ledgers(root))
    if not ledgers:
        console.print(f"Nothing to roll back under {root}.", highlight=False)
        return EXIT_OK
    failed = 0
    live_left = 0
    for ledger in ledgers:
        owner = live_owner(ledger)
        if owner is not None and not force:
            live_left += 1
            console.print(
                f"[yellow]{ledger}: left alone, its run is still going (pid "
                f"{owner}).[/] Stop it (Ctrl-C, or `kill -TERM {owner}`: it rolls "
                "back itself), or use `chaoskit rollback --force` to undo its "
                "changes under it.",
                highlight=False,
            )
            continue
        note = f" (run pid {owner} still going: --force)" if owner else ""
        console.print(f"{ledger}:{note}", highlight=False)
        for result in asyncio.run(roll_back(ledger)):
            if result.ok:
                console.print(
                    f"  [green]undone[/] {result.description}", highlight=False
                )
            else:
                failed += 1
                console.print(
                    f"  [red]FAILED[/] {result.description}: {result.message}",
                    highlight=False,
                )
    if failed:
        return EXIT_ABORTED
    return EXIT_USAGE if live_left else EXIT_OK
