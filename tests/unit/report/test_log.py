"""chaoskit.log: one JSON line per event, warnings for trouble, secrets masked."""

from __future__ import annotations

import json

from chaoskit.events import event
from chaoskit.report.log import StructlogSink


def test_events_become_json_lines_with_levels_and_no_secrets(tmp_path):
    with StructlogSink(tmp_path, secrets=["s3cret-token"]) as sink:
        sink.emit(event("service_ready", service="api", address="127.0.0.1:8000"))
        sink.emit(event("progress", elapsed_s=1.0))
        error = "refused: Authorization: Bearer s3cret-token"
        sink.emit(event("fault_failed", fault="slow db", error=error))
    lines = [
        json.loads(x) for x in (tmp_path / "chaoskit.log").read_text().splitlines()
    ]
    assert [(x["event"], x["level"]) for x in lines] == [
        ("service_ready", "info"),
        ("fault_failed", "warning"),
    ]
    assert lines[0]["address"] == "127.0.0.1:8000"
    assert "timestamp" in lines[0]
    assert "s3cret-token" not in (tmp_path / "chaoskit.log").read_text()
