"""The report document: one JSON-ready dict that every renderer reads.

``report.json`` is this document as it is; ``junit.xml``, the console summary
and ``report.html`` render it. Building it once means a report re-rendered from
a journal (``chaoskit report``) says exactly what the run's own report said.

Shape (keys in this order; times ``*_s`` are seconds from the start of the
timeline, ``*_at`` ISO 8601 wall-clock times, latencies milliseconds)::

    schema, partial, experiment {name, title, file, seed}, verdict, reason,
    exit_code, command, report_dir, started_at, ended_at, duration_s,
    summary {hypotheses, passed, failed, faults, rolled_back},
    hypotheses [Verdict.to_json()], faults [...], phases [...],
    tasks {task: stats}, total stats, phase_tasks {phase: {task: stats}},
    series [...], errors {key: {count, share, samples}}, top_error_users [...],
    services [...], environment {...}, plan, fuzz [FuzzTally.to_json()],
    probes [ProbeSeries.to_json()],
    load {duration_s, scheduled, sent, dropped, late, scheduled_rps,
    achieved_rps, warning} or null

Free text (details, settings, commands, error samples) is redacted here, so
every renderer starts from clean data; the writers scrub again on the way out.
"""

from __future__ import annotations

import os
import platform
import socket
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from chaoskit.redact import Redactor
from chaoskit.report.fields import status
from chaoskit.report.journal import jsonable, read_journal
from chaoskit.report.stats import num, snapshot_sections

if TYPE_CHECKING:
    # Types only: re-rendering a journal (`chaoskit report`) should not have to
    # import the runner and every check it pulls in.
    from chaoskit.runner.outcome import FaultRecord, RunOutcome, ServiceRecord

__all__ = [
    "SCHEMA_VERSION",
    "Document",
    "build_document",
    "document_from_journal",
    "environment",
    "fault_json",
    "service_json",
]

Document: TypeAlias = dict[str, Any]
"""A report document: JSON data, whose shape the module docstring describes."""

SCHEMA_VERSION = 1
"""Bumped when a key changes meaning or disappears (adding keys does not)."""


def environment() -> dict[str, object]:
    """Where the run ran: Python, platform, chaoskit version, host, CPUs."""
    try:
        chaoskit_version = version("chaoskit")
    except PackageNotFoundError:  # running from a source tree without metadata
        chaoskit_version = "unknown"
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "chaoskit": chaoskit_version,
        "hostname": socket.gethostname(),
        "cpu_count": os.cpu_count(),
    }


def fault_json(fault: FaultRecord, clean: Redactor) -> dict[str, object]:
    """One fault window: planned against what really happened.

    A scheduled fault (``every``) gives one entry per occurrence: ``name`` is
    the occurrence's label (``flap#2``), ``fault`` the declared name,
    ``occurrence`` of ``occurrences`` its place in the schedule.
    """
    actual = (
        num(fault.ended_s - fault.started_s)
        if fault.started_s is not None and fault.ended_s is not None
        else None
    )
    return {
        "name": fault.name,
        "fault": fault.declared,
        "occurrence": fault.occurrence,
        "occurrences": fault.occurrences,
        "kind": fault.kind,
        "target": fault.target,
        "settings": clean(jsonable(fault.settings)),
        "planned_start_s": num(fault.planned_start_s),
        "planned_end_s": num(fault.planned_end_s),
        "actual_start_s": num(fault.started_s),
        "actual_end_s": num(fault.ended_s),
        "actual_duration_s": actual,
        "started_at": fault.started_at,
        "ended_at": fault.ended_at,
        "rolled_back": fault.rolled_back,
        "error": clean.text(fault.error) if fault.error else None,
    }


def service_json(service: ServiceRecord, clean: Redactor) -> dict[str, object]:
    """One service the run started or watched."""
    return {
        "name": service.name,
        "kind": service.kind,
        "address": clean.text(service.address) if service.address else None,
        "pid": service.pid,
        "ready_after_s": num(service.ready_after_s),
        "logs": list(service.logs),
    }


def _summary(
    hypotheses: list[dict[str, object]], faults: list[dict[str, object]]
) -> dict[str, int]:
    return {
        "hypotheses": len(hypotheses),
        "passed": sum(1 for h in hypotheses if status(h) == "passed"),
        "failed": sum(1 for h in hypotheses if status(h) == "failed"),
        "inconclusive": sum(1 for h in hypotheses if status(h) == "inconclusive"),
        "faults": len(faults),
        "rolled_back": sum(1 for f in faults if f.get("rolled_back")),
    }


def build_document(outcome: RunOutcome, *, secrets: Iterable[str] = ()) -> Document:
    """The report document of a finished (or aborted) run.

    Args:
        outcome: what the run produced.
        secrets: literal values to mask besides recognised credentials (tokens
            the run obtained, passwords from the experiment file).

    Returns:
        The document; JSON-ready, redacted, in a stable key order.
    """
    clean = Redactor(secrets)
    phases = [(p.name, p.start_s, p.end_s) for p in outcome.phases]
    hypotheses: list[dict[str, object]] = [
        {**verdict.to_json(), "detail": clean.text(verdict.detail),
         "observed": clean.text(verdict.observed),
         "expected": clean.text(verdict.expected)}
        for verdict in outcome.verdicts
    ]  # fmt: skip
    faults = [fault_json(fault, clean) for fault in outcome.faults]
    declared = outcome.load.classes if outcome.load is not None else {}
    sections = snapshot_sections(outcome.snapshot, phases, declared)
    # Error samples quote responses and exceptions: scrub them, keep their keys.
    sections["errors"] = clean(sections["errors"], keys=False)
    env = {**environment(), **outcome.environment}
    document: Document = {
        "schema": SCHEMA_VERSION,
        "partial": False,
        "experiment": {
            "name": outcome.name,
            "title": outcome.title,
            "file": outcome.file,
            "seed": outcome.seed,
            "environment": outcome.experiment_environment,
        },
        "verdict": outcome.status,
        "reason": clean.text(outcome.reason) if outcome.reason else None,
        "exit_code": outcome.exit_code,
        "command": clean.text(outcome.command),
        "report_dir": str(outcome.report_dir),
        "started_at": outcome.started_at,
        "ended_at": outcome.ended_at,
        "duration_s": num(outcome.duration_s),
        "summary": _summary(hypotheses, faults),
        "hypotheses": hypotheses,
        "faults": faults,
        "phases": [
            {"name": name, "start_s": num(start), "end_s": num(end)}
            for name, start, end in phases
        ],
        **sections,
        "services": [service_json(s, clean) for s in outcome.services],
        "environment": clean(jsonable(env)),
        "plan": clean.text(outcome.plan),
        # Each invalid-payloads fault's requests; bodies are generated payloads,
        # shown as sent (the curl lines are masked already).
        "fuzz": [tally.to_json() for tally in outcome.fuzz],
        # Each probe's samples; a DSN-based probe's target is "dsn", never the
        # DSN, and a gap's error text is scrubbed like any error sample.
        "probes": [clean(series.to_json(), keys=False) for series in outcome.probes],
        # What the generator offered; its warning when it could not keep up.
        "load": outcome.load.to_json() if outcome.load is not None else None,
    }
    return document


# --- rebuilding from a journal ---------------------------------------------------


def document_from_journal(path: str | Path) -> Document:
    """The report document a journal holds, or the best one it allows.

    A journal that ends with a ``run_finished`` record holds the run's own
    document, returned as it is. Otherwise the run crashed or was killed: the
    document is rebuilt from the events, ``metrics`` and ``progress`` records
    up to where the journal ends, with ``verdict`` "aborted", ``partial``
    true, and a ``reason`` that says so (and names faults left applied).

    Args:
        path: ``journal.jsonl``, or the report directory holding it.

    Raises:
        OSError: the journal cannot be read.
        ValueError: the file is not a journal, or holds no records.
    """
    records = list(read_journal(path))
    if not records:
        raise ValueError(f"{path}: the journal holds no records")
    for record in reversed(records):
        document = record.get("document")
        finished = record.get("type") == "run_finished" or (
            record.get("type") == "event" and record.get("kind") == "run_finished"
        )
        if finished and isinstance(document, dict):
            return document
    # Imported here: rebuild builds on this module's helpers (no import cycle).
    from chaoskit.report.rebuild import rebuild_document

    journal = Path(path)
    return rebuild_document(records, journal if journal.is_dir() else journal.parent)


def iso(wall: float | None) -> str | None:
    """A Unix time as ISO 8601 UTC with milliseconds."""
    if wall is None:
        return None
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds")
