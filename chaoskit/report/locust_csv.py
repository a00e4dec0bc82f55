"""Locust-compatible CSVs: ``stats.csv``, ``stats_history.csv`` and ``failures.csv``.

For users whose pandas scripts read what ``locust --csv`` writes: same column
names in the same order (Locust's ``StatsCSV.requests_csv_columns``,
``stats_history_csv_columns`` and ``failures_columns``), one row per task (a
task is Locust's request name; Type is its HTTP method) plus an
``Aggregated`` row with an empty Type, times in milliseconds.

Where the numbers come from: the run's ``samples.tsv`` when it is there (read
by :mod:`chaoskit.report.rundata`): it has every request, so every percentile
Locust reports (50% ... 99.99%, 100%), the minimum, the average content size
and a row per task per second are exact. Without it (a journal moved on its
own) the document is used: columns it does not carry are ``N/A``, as Locust
writes for an entry without requests.

Deliberate differences, so nobody is surprised:

* response times are chaoskit's latency, from each request's *intended* start
  (coordinated-omission safe), so stats.csv agrees with report.json; Locust
  measures from the actual send;
* a stats_history row per second of the timeline for every task and the
  aggregate (Locust's ``--csv-full-history``); its percentiles are those of
  the requests completing in that second (Locust uses a sliding 10 s window),
  so a fault's edges are sharp; ``User Count`` is the number of distinct
  users with a request in that second.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from chaoskit.metrics.histogram import Histogram
from chaoskit.redact import redact
from chaoskit.report.journal import jsonable
from chaoskit.report.json import write_atomic
from chaoskit.report.rundata import RunData, TaskSeconds, load_run_data

__all__ = [
    "FAILURES_COLUMNS",
    "FAILURES_NAME",
    "HISTORY_COLUMNS",
    "HISTORY_NAME",
    "PERCENTILE_COLUMNS",
    "STATS_COLUMNS",
    "STATS_NAME",
    "locust_csvs",
    "write_locust_csv",
]

STATS_NAME = "stats.csv"
HISTORY_NAME = "stats_history.csv"
FAILURES_NAME = "failures.csv"

_PERCENTILES = (50, 66, 75, 80, 90, 95, 98, 99, 99.9, 99.99, 100)
PERCENTILE_COLUMNS = [f"{p:g}%" for p in _PERCENTILES]
"""Locust's default ``PERCENTILES_TO_REPORT`` as it labels them."""
STATS_COLUMNS = [
    "Type", "Name", "Request Count", "Failure Count", "Median Response Time",
    "Average Response Time", "Min Response Time", "Max Response Time",
    "Average Content Size", "Requests/s", "Failures/s", *PERCENTILE_COLUMNS,
]  # fmt: skip
HISTORY_COLUMNS = [
    "Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s",
    *PERCENTILE_COLUMNS, "Total Request Count", "Total Failure Count",
    "Total Median Response Time", "Total Average Response Time",
    "Total Min Response Time", "Total Max Response Time", "Total Average Content Size",
]  # fmt: skip
FAILURES_COLUMNS = ["Method", "Name", "Error", "Occurrences"]

_NA = "N/A"
_AGGREGATED = "Aggregated"
# The plan's load lines: "  task browse (55%): GET /movies?page=...".
_TASK_LINE = re.compile(r"^\s*task (?P<name>.+?) \([^)]*\): (?P<method>[A-Z]+) ", re.M)


def _methods(doc: Mapping[str, Any]) -> dict[str, str]:
    """Task -> HTTP method, read off the plan (the document has no other record)."""
    plan = doc.get("plan")
    if not isinstance(plan, str):
        return {}
    return {m["name"]: m["method"] for m in _TASK_LINE.finditer(plan)}


def _ms(nanoseconds: float) -> float:
    return round(nanoseconds / 1e6, 3)


def _percentiles(hist: Histogram) -> list[object]:
    if not hist.count:
        return [_NA] * len(_PERCENTILES)
    # Locust writes whole milliseconds here.
    return [round(v / 1e6) for v in hist.percentiles(_PERCENTILES)]


def _totals(data: TaskSeconds) -> list[object]:
    """Count, failures, median, average, min, max and average content size."""
    hist = data.total
    if not hist.count:
        return [data.count, data.errors, 0, 0.0, 0, 0, 0]
    return [
        data.count, data.errors, round(hist.percentile(50) / 1e6),
        _ms(hist.mean), _ms(hist.min), _ms(hist.max),
        round(data.bytes_received / hist.count, 2),
    ]  # fmt: skip


def _stats_rows(run: RunData, methods: Mapping[str, str]) -> list[list[object]]:
    entries = [*((methods.get(t, ""), t, d) for t, d in run.tasks.items()),
               ("", _AGGREGATED, run.overall)]  # fmt: skip
    rows: list[list[object]] = []
    for method, name, data in entries:
        span = data.span_s or 1.0
        count, errors, *rest = _totals(data)
        rows.append([
            method, name, count, errors, *rest,
            round(data.count / span, 6), round(data.errors / span, 6),
            *_percentiles(data.total),
        ])  # fmt: skip
    return rows


def _history_rows(run: RunData, methods: Mapping[str, str]) -> list[list[object]]:
    seconds = sorted(run.overall.counts)
    entries = [*((methods.get(t, ""), t, d) for t, d in run.tasks.items()),
               ("", _AGGREGATED, run.overall)]  # fmt: skip
    running = {name: TaskSeconds() for _, name, _ in entries}
    rows: list[list[object]] = []
    for second in seconds:
        stamp = int((run.origin_wall or 0.0) + second + 1)  # when the second ends
        users = run.users.get(second, 0)
        for method, name, data in entries:
            count, errors = data.counts.get(second, (0, 0))
            hist = data.seconds.get(second, Histogram())
            total = running[name]
            total.count += count
            total.errors += errors
            total.total.merge(hist)
            total.bytes_received += data.bytes_by_second.get(second, 0)
            rows.append([
                stamp, users, method, name, f"{count:.6f}", f"{errors:.6f}",
                *_percentiles(hist), *_totals(total),
            ])  # fmt: skip
    return rows


def _failure_rows(
    failures: Iterable[tuple[str, str, str, int]],
) -> list[list[object]]:
    # Most frequent first, as people read a failures table.
    return [list(row) for row in sorted(failures, key=lambda r: (-r[3], r[1], r[2]))]


def _from_document(doc: Mapping[str, Any], methods: Mapping[str, str]) -> tuple[
    list[list[object]], list[list[object]], list[list[object]]
]:  # fmt: skip
    """The three tables from the document alone (no sample file)."""
    given = doc.get("tasks")
    tasks: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
    known = {50: "p50", 90: "p90", 95: "p95", 99: "p99", 99.9: "p999", 100: "max"}
    stats, failures = [], []
    for method, name, s in [*((methods.get(t, ""), t, s) for t, s in tasks.items()),
                            ("", _AGGREGATED, doc.get("total") or {})]:  # fmt: skip

        def pick(key: str, s: Mapping[str, Any] = s) -> object:
            value = s.get(key)
            return _NA if value is None else value

        rps, rate = s.get("rps") or 0, s.get("error_rate") or 0
        stats.append([
            method, name, s.get("count") or 0, s.get("errors") or 0, pick("p50"),
            pick("mean"), _NA, pick("max"), _NA, rps, round(rps * rate, 6),
            *(pick(known[p]) if p in known else _NA for p in _PERCENTILES),
        ])  # fmt: skip
        if name != _AGGREGATED:
            by_class = s.get("errors_by_class")
            for error, count in (
                by_class if isinstance(by_class, dict) else {}
            ).items():
                failures.append((method, name, error, count))
    history = []
    for window in doc.get("series") or []:
        count, errors = window.get("count") or 0, window.get("errors") or 0
        history.append([
            "", _NA, "", _AGGREGATED, f"{count:.6f}", f"{errors:.6f}",
            *(window.get(known[p]) if known.get(p) in window else _NA
              for p in _PERCENTILES),
            *[_NA] * 7,
        ])  # fmt: skip
    return stats, history, _failure_rows(failures)


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def locust_csvs(
    document: Mapping[str, object], report_dir: str | Path = "."
) -> dict[str, str]:
    """The three CSV files' text, by file name.

    Args:
        document: a report document.
        report_dir: where they go; ``samples.tsv`` is looked for there first.
    """
    clean = redact(jsonable(document), keys=False)
    doc: Mapping[str, Any] = clean if isinstance(clean, Mapping) else {}
    methods = _methods(doc)
    run = load_run_data(doc, Path(report_dir))
    if run is None:
        stats, history, failures = _from_document(doc, methods)
    else:
        stats = _stats_rows(run, methods)
        history = _history_rows(run, methods)
        failures = _failure_rows(
            (methods.get(task, ""), task, error, count)
            for task, data in run.tasks.items()
            for error, count in data.failures.items()
        )
    return {
        STATS_NAME: _csv(STATS_COLUMNS, stats),
        HISTORY_NAME: _csv(HISTORY_COLUMNS, history),
        FAILURES_NAME: _csv(FAILURES_COLUMNS, failures),
    }


def write_locust_csv(document: Mapping[str, object], report_dir: str | Path) -> Path:
    """Write the three CSVs into ``report_dir``; returns the ``stats.csv`` path."""
    directory = Path(report_dir)
    for name, text in locust_csvs(document, directory).items():
        write_atomic(directory / name, text)
    return directory / STATS_NAME
