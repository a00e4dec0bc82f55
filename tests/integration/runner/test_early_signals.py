"""A stop signal the CLI held back before the run's own handlers were in place
(the journal being opened, the event loop being made) stops the run at once:
it used to be dropped, and the run went on to its end."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

from chaoskit import spec
from chaoskit.events import Event
from chaoskit.runner.orchestrator import RunRequest, run_experiment
from tests.conftest import free_port


def test_a_signal_received_before_the_handlers_stops_the_run(tmp_path: Path) -> None:
    port = free_port()
    path = tmp_path / "early.toml"
    path.write_text(f"""
[experiment]
name = "early"
duration = "30s"

[[services]]
name = "api"
kind = "process"
command = ["python", "-m", "tests.e2e.app", "--port", "{port}"]
health = "http://127.0.0.1:{port}/health"

[target]
base_url = "http://127.0.0.1:{port}"

[load]
rate = 1

[[load.tasks]]
name = "ok"
path = "/ok"
""")
    experiment = spec.load(path)
    request = RunRequest(
        experiment=experiment, file=path, seed=1, report_dir=tmp_path / "report",
        command="chaoskit run early.toml", early_signals=[signal.SIGTERM],
    )  # fmt: skip
    events: list[Event] = []
    outcome = asyncio.run(run_experiment(request, events.append))
    assert outcome.exit_code == 3
    assert outcome.reason == "interrupted by SIGTERM"
    kinds = [e.kind for e in events]
    assert "interrupted" in kinds
    assert "service_ready" not in kinds  # stopped before anything was up
    assert request.early_signals == []
    ledger = json.loads((tmp_path / "report" / "ledger.json").read_text())
    assert ledger["closed"] is True
    assert all(e["state"] == "done" for e in ledger["entries"])
