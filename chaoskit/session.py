"""``chaoskit run`` and ``chaoskit rollback``: the whole flow, for the CLI.

spec -> plan -> (leftovers of a killed run undone) -> runner -> checks ->
reports. The CLI parses arguments and maps errors to exit codes; this module
owns the order of things and what the user sees.
"""

from __future__ import annotations

import asyncio
import shlex
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from chaoskit import spec
from chaoskit.errors import EXIT_ABORTED, EXIT_OK, SpecError
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
from chaoskit.report.log import StructlogSink
from chaoskit.runner.ledger import find_open_ledgers, roll_back
from chaoskit.runner.load import check_load_config
from chaoskit.runner.orchestrator import RunRequest, run_experiment
from chaoskit.spec.model import Experiment

__all__ = ["load_and_plan", "rollback", "run"]

DEFAULT_REPORTS = Path("reports")


def load_and_plan(
    file: Path, overrides: Sequence[str], seed: int | None
) -> tuple[Experiment, Plan]:
    """The validated experiment and its plan; SpecError (exit 2) on any issue."""
    experiment = spec.load(file, overrides, seed)
    issues = check_load_config(experiment, file=str(file))
    issues += payload_fault_issues(experiment, file.parent)
    if issues:
        raise SpecError(str(file), issues)
    return experiment, build_plan(experiment, seed)


def replay_command(file: Path, overrides: Sequence[str], seed: int) -> str:
    """The command line that runs the same experiment again, seed included."""
    parts = ["chaoskit", "run", str(file), "--seed", str(seed)]
    for override in overrides:
        parts += ["--set", override]
    return shlex.join(parts)


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
    seed: int | None = None,
    report_dir: Path | None = None,
    dry_run: bool = False,
    console: Console | None = None,
) -> int:
    """Run an experiment file; the exit code (0 passed, 1 failed, 3 aborted)."""
    console = console or Console()
    experiment, plan = load_and_plan(file, overrides, seed)
    if dry_run:
        console.print(plan.describe(), markup=False, highlight=False)
        console.print("dry run: nothing was started")
        return EXIT_OK
    for note in payload_fault_notes(experiment, file.parent):
        console.print(f"note: {note}", markup=False, highlight=False)
    name = experiment.experiment.name
    if report_dir is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        report_dir = DEFAULT_REPORTS / f"{name}-{stamp}"
    if report_dir.parent.is_dir():
        _undo_leftovers(report_dir.parent, console)
    report_dir.mkdir(parents=True, exist_ok=True)
    command = replay_command(file, overrides, plan.seed)
    request = RunRequest(
        experiment=experiment,
        file=file,
        seed=plan.seed,
        report_dir=report_dir,
        command=command,
        plan=plan.describe(),
    )
    secrets = list(experiment.target.headers.values())
    with (
        JournalSink(report_dir, secrets=secrets) as journal,
        StructlogSink(report_dir, secrets=secrets) as log,
        LiveConsole(console, secrets=secrets) as live,
    ):

        def emit(event: Event) -> None:
            journal.emit(event)
            log.emit(event)
            live.emit(event)

        with asyncio.Runner(loop_factory=_new_loop) as runner:
            outcome = runner.run(run_experiment(request, emit))
        document = build_document(outcome, secrets=secrets)
        journal.write_document(document)
    write_reports(document, report_dir)
    print_summary(document, console)
    return outcome.exit_code


def rollback(root: Path, console: Console | None = None) -> int:
    """Undo what killed runs under ``root`` left in place; 0, or 3 if an undo failed."""
    console = console or Console()
    ledgers = list(find_open_ledgers(root))
    if not ledgers:
        console.print(f"Nothing to roll back under {root}.")
        return EXIT_OK
    failed = 0
    for ledger in ledgers:
        console.print(f"{ledger}:", highlight=False)
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
    return EXIT_ABORTED if failed else EXIT_OK
