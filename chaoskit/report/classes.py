"""``classes.csv``: a row per user class of the report's ``classes`` section
(built by :func:`chaoskit.report.stats.classes_section`).

A load with ``[[load.users]]`` classes gets one row per class: its requests,
errors, rate and latency percentiles (as a task's), beside the share the file
declared (of the users in the closed model, of the requests in the open one)
and the share of the requests it made. Without classes the section is empty
and ``classes.csv`` holds its header only.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path

from chaoskit.report.fields import mapping, number
from chaoskit.report.json import write_atomic

__all__ = ["CLASSES_CSV_NAME", "classes_csv", "write_classes_csv"]

CLASSES_CSV_NAME = "classes.csv"
_COLUMNS = [
    "class", "declared_share", "request_share", "count", "errors", "error_rate",
    "rps", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms",
]  # fmt: skip


def classes_csv(document: Mapping[str, object]) -> str:
    """One row per class of the document's ``classes`` section."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_COLUMNS)
    for name, raw in mapping(document.get("classes")).items():
        row = mapping(raw)
        cells: list[object] = [name]
        for column in _COLUMNS[1:]:
            value = number(row.get(column.removesuffix("_ms")))
            if value is not None and column in ("count", "errors"):
                value = int(value)
            cells.append("" if value is None else value)
        writer.writerow(cells)
    return out.getvalue()


def write_classes_csv(document: Mapping[str, object], report_dir: str | Path) -> Path:
    """Write ``classes.csv`` into ``report_dir`` (a header only without classes)."""
    return write_atomic(Path(report_dir) / CLASSES_CSV_NAME, classes_csv(document))
