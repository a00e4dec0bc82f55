"""A tiny snapshot helper: compare text with a file, or rewrite it.

``UPDATE_SNAPSHOTS=1 pytest tests/unit/spec`` rewrites every snapshot; review
the diff before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path


def assert_snapshot(text: str, path: Path) -> None:
    """``text`` equals the content of ``path`` (rewritten when asked)."""
    if os.environ.get("UPDATE_SNAPSHOTS") == "1" or not path.exists():
        path.write_text(text, encoding="utf-8")
        if os.environ.get("UPDATE_SNAPSHOTS") != "1":
            raise AssertionError(f"new snapshot written: {path}; check it and re-run")
        return
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{path.name} differs (UPDATE_SNAPSHOTS=1 rewrites it)"
