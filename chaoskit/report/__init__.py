"""Reports: the journal while the run goes, then report.json, junit.xml, CSVs, HTML.

Everything here consumes what the stages above produce; nothing but the CLI
and the pytest plugin imports it. The runner is handed a :class:`JournalSink`
and a :class:`LiveConsole` as event sinks; at the end the CLI builds the
document (:func:`build_document`), writes the journal's last record, calls
:func:`write_reports` and prints :func:`print_summary`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from chaoskit.report.capacity import write_capacity_files
from chaoskit.report.classes import CLASSES_CSV_NAME, classes_csv, write_classes_csv
from chaoskit.report.console import LiveConsole, describe_event, print_summary
from chaoskit.report.document import (
    SCHEMA_VERSION,
    Document,
    build_document,
    document_from_journal,
    environment,
)
from chaoskit.report.html import HTML_NAME, html_report, write_html
from chaoskit.report.journal import JOURNAL_NAME, JournalSink, read_journal
from chaoskit.report.json import JSON_NAME, dumps_document, write_json
from chaoskit.report.junit import JUNIT_NAME, junit_xml, write_junit
from chaoskit.report.locust_csv import locust_csvs, write_locust_csv
from chaoskit.report.probes import PROBES_CSV_NAME, probes_csv, write_probes_csv

__all__ = [
    "CLASSES_CSV_NAME",
    "HTML_NAME",
    "JOURNAL_NAME",
    "JSON_NAME",
    "JUNIT_NAME",
    "PROBES_CSV_NAME",
    "RENDERERS",
    "SCHEMA_VERSION",
    "Document",
    "JournalSink",
    "LiveConsole",
    "Renderer",
    "build_document",
    "classes_csv",
    "describe_event",
    "document_from_journal",
    "dumps_document",
    "environment",
    "html_report",
    "junit_xml",
    "locust_csvs",
    "print_summary",
    "probes_csv",
    "read_journal",
    "write_classes_csv",
    "write_html",
    "write_json",
    "write_junit",
    "write_locust_csv",
    "write_probes_csv",
    "write_reports",
]

Renderer = Callable[[Mapping[str, object], Path], Path]
"""Writes one report file for a document into a report directory; returns its path."""

RENDERERS: list[Renderer] = [
    write_json,
    write_junit,
    write_locust_csv,
    write_probes_csv,
    write_classes_csv,
    write_html,
]
"""The file reports every run gets, in order: report.json, junit.xml, Locust's
stats.csv / stats_history.csv / failures.csv, probes.csv, classes.csv,
report.html. The run and ``chaoskit report`` both go through
:func:`write_reports`, so both get them all."""


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
    written = [render(document, directory) for render in RENDERERS]
    # A capacity search's curve and chart (chaoskit capacity, issue 18).
    return written + write_capacity_files(document, directory)
