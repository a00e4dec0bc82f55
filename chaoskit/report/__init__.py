"""Reports: the journal while the run goes, then report.json, junit.xml, the console.

Everything here consumes what the stages above produce; nothing but the CLI
and the pytest plugin imports it. The runner is handed a :class:`JournalSink`
and a :class:`LiveConsole` as event sinks; at the end the CLI builds the
document (:func:`build_document`), writes the journal's last record, calls
:func:`write_reports` and prints :func:`print_summary`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from chaoskit.report.console import LiveConsole, describe_event, print_summary
from chaoskit.report.document import (
    SCHEMA_VERSION,
    Document,
    build_document,
    document_from_journal,
    environment,
)
from chaoskit.report.journal import JOURNAL_NAME, JournalSink, read_journal
from chaoskit.report.json import JSON_NAME, dumps_document, write_json
from chaoskit.report.junit import JUNIT_NAME, junit_xml, write_junit

__all__ = [
    "JOURNAL_NAME",
    "JSON_NAME",
    "JUNIT_NAME",
    "RENDERERS",
    "SCHEMA_VERSION",
    "Document",
    "JournalSink",
    "LiveConsole",
    "Renderer",
    "build_document",
    "describe_event",
    "document_from_journal",
    "dumps_document",
    "environment",
    "junit_xml",
    "print_summary",
    "read_journal",
    "write_json",
    "write_junit",
    "write_reports",
]

Renderer = Callable[[Mapping[str, object], Path], Path]
"""Writes one report file for a document into a report directory; returns its path."""

RENDERERS: list[Renderer] = [write_json, write_junit]
"""The file reports every run gets, in order. The HTML report (issue 8) is
added here: append its ``write_html(document, report_dir) -> Path``; the run
and ``chaoskit report`` both go through :func:`write_reports`, so both get it."""


def write_reports(document: Mapping[str, object], report_dir: str | Path) -> list[Path]:
    """Write every file report of a document into ``report_dir``.

    Args:
        document: a report document (:func:`build_document` or
            :func:`document_from_journal`).
        report_dir: the directory; created if needed.

    Returns:
        The paths written, in :data:`RENDERERS` order.
    """
    directory = Path(report_dir)
    directory.mkdir(parents=True, exist_ok=True)
    return [render(document, directory) for render in RENDERERS]
