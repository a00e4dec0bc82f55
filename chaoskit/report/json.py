"""``report.json``: the report document, pretty-printed.

Keys keep the document's order (experiment and verdict first, the long series
last), which is the same on every run, so two reports diff cleanly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from chaoskit.redact import redact
from chaoskit.report.journal import jsonable

__all__ = ["JSON_NAME", "dumps_document", "write_atomic", "write_json"]

JSON_NAME = "report.json"
"""The file name in a report directory."""


def dumps_document(document: Mapping[str, object]) -> str:
    """The document as pretty JSON text (two-space indent, UTF-8, final newline).

    Strings are scrubbed of credentials once more on the way out: a document
    assembled by hand (or by an older version) gets the same protection.
    """
    clean = redact(jsonable(document), keys=False)
    return json.dumps(clean, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    A run killed while writing leaves the previous file or the new one, never
    half of one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
    return path


def write_json(document: Mapping[str, object], report_dir: str | Path) -> Path:
    """Write ``report.json`` into ``report_dir``; returns its path."""
    return write_atomic(Path(report_dir) / JSON_NAME, dumps_document(document))
