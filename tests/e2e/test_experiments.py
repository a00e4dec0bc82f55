"""The shipped experiments stay valid and runnable; recovery is timed right.

The experiments run shortened (``--set``) so the suite stays fast; the full
ones are what `make demo` runs.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted((REPO / "experiments").glob("*.toml"))


def chaoskit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaoskit", *args],
        cwd=REPO, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_every_shipped_experiment_is_valid(path):
    result = chaoskit("validate", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("valid")


# Shortened: the same services, load and fault kinds, on a 9 s timeline (3 s
# before, during and after the fault). test_lock_experiments.py shares the
# watch-history-locks run through ``shipped_run``, so keep these its values.
SHORT = [
    "--set", "experiment.duration=9s", "--set", "experiment.warmup=1s",
    "--set", "faults.0.at=3s", "--set", "faults.0.for=3s",
]  # fmt: skip
# fallback: requests in the last ~0.6 s of the latency get the live answer
# (their calls outlast it), so a 3 s window sits right at the 80% share; 4 s.
STREAM_SHORT = [
    "--set", "experiment.duration=14s", "--set", "experiment.warmup=1s",
    "--set", "faults.0.at=4s", "--set", "faults.0.for=2s",
]  # fmt: skip
SHORT_FOR = {
    # two windows: 503s for the first two requests, then 429 + Retry-After: 1
    "upstream-503": [
        "--set", "experiment.duration=9s", "--set", "experiment.warmup=1s",
        "--set", "faults.0.at=1s", "--set", "faults.0.for=2s",
        "--set", "faults.1.at=3.5s", "--set", "faults.1.for=3.5s",
    ],
    "fallback": [
        "--set", "experiment.duration=10s", "--set", "experiment.warmup=1s",
        "--set", "faults.0.at=3s", "--set", "faults.0.for=4s",
    ],
    # A slope needs samples (no fault to shorten); the pool's connections are
    # judged for 8 s after a 3 s down.
    "endurance-leak": [
        "--set", "experiment.duration=20s", "--set", "experiment.warmup=2s",
    ],
    # Recovery needs 3 s stable inside its 4 s: an after phase of 8 s.
    "stream-reconnect": STREAM_SHORT,
    "db-connections": [
        "--set", "experiment.duration=16s", "--set", "experiment.warmup=2s",
        "--set", "faults.0.at=4s", "--set", "faults.0.for=3s",
    ],
}  # fmt: skip


# What this machine cannot run as shipped: the compose stack (real Toxiproxy,
# PostgreSQL 16 images: nothing can be pulled here) and an image built from
# compose/streaming/Dockerfile; container-restart runs on the test image in
# tests/e2e/test_cli_docker.py instead.
NEEDS_IMAGES = {"compose-db-latency", "container-restart"}
RUNNABLE = [path for path in EXPERIMENTS if path.stem not in NEEDS_IMAGES]


def same_ports(stem: str) -> pytest.MarkDecorator:
    """One pytest-xdist worker for every run of the shipped ``stem``.toml as it
    is (its fixed ports): runs elsewhere in the suite never overlap it, and a
    ``shipped_run`` is shared, since each worker has a session of its own."""
    return pytest.mark.xdist_group(f"experiments/{stem}")


# serial: each is judged on its own hypotheses (p95s, recoveries within a few
# seconds), which other tests on the CPUs stretched (api-restart, event-sink-fuzz
# failed beside 3 other workers on a loaded machine).
@pytest.mark.slow
@pytest.mark.serial
@pytest.mark.parametrize(
    "path",
    [pytest.param(p, marks=same_ports(p.stem)) for p in RUNNABLE],
    ids=lambda p: p.stem,
)
def test_every_shipped_experiment_runs_and_passes(path, shipped_run):
    result, reports = shipped_run(path, *SHORT_FOR.get(path.stem, SHORT))
    report = json.loads((reports / "report.json").read_text())
    failed = [h for h in report["hypotheses"] if not h["passed"]]
    assert result.returncode == 0, (failed, report["reason"], result.stdout[-3000:])
    assert all(f["rolled_back"] for f in report["faults"])


@pytest.mark.slow
def test_recovery_is_timed_within_a_second_of_the_truth(tmp_path):
    """The streaming API's circuit breaker stays open 3 s after the database is
    back (then half-opens on its next 0.2 s probe): recovery takes 3.0-3.5 s."""
    port = free_port()
    path = tmp_path / "breaker.toml"
    path.write_text(f"""
[experiment]
name = "breaker"
duration = "11s"
warmup = "1s"

[[services]]
name = "db"
kind = "postgres"
durable = false

[[proxy.routes]]
name = "db"
upstream = "{{services.db.address}}"

[[services]]
name = "api"
kind = "process"
command = ["python", "-m", "fixtures.streaming", "--port", "{port}",
           "--db", "{{routes.db.listen}}", "--pool-min", "4", "--pool-max", "8",
           "--breaker-threshold", "3", "--breaker-cooldown", "3s",
           "--log-level", "warning"]
health = "http://127.0.0.1:{port}/health"

[target]
base_url = "http://127.0.0.1:{port}"

[load]
rate = 60

[[load.tasks]]
name = "browse"
path = "/movies?page={{{{ randint(1, 20) }}}}"

[[faults]]
name = "db gone"
kind = "down"
route = "db"
at = "3s"
for = "2s"

[[hypotheses]]
name = "recovers"
kind = "recovery"
within = "10s"
stable_for = "2s"
""")
    reports = tmp_path / "report"
    result = chaoskit("run", str(path), "--report-dir", str(reports))
    assert result.returncode == 0, result.stdout[-3000:]
    (verdict,) = json.loads((reports / "report.json").read_text())["hypotheses"]
    truth_low, truth_high = 3.0, 3.5  # cooldown, plus one probe and a reconnect
    # Within a second of the truth on either side (slack for a busy CI machine).
    assert truth_low - 1 <= verdict["observed_value"] <= truth_high + 1, verdict


@pytest.mark.slow
def test_event_sink_fuzz_catches_a_broken_rule(tmp_path):
    """The shipped experiment (which passes against the correct sink, above)
    fails against a sink with ``--break progress-range``: exit 1, the fuzz
    verdict names the rule, findings.json holds the minimal payload, the
    steady load was judged on its own samples."""
    reports = tmp_path / "report"
    result = chaoskit(
        "run", str(REPO / "experiments" / "event-sink-fuzz.toml"),
        "--report-dir", str(reports), *SHORT,
        "--env", "broken", "--var", f"port={free_port()}",
        # Every rule: the targeted pass breaks each keyword location of the
        # schema in turn, progress's bounds among the first hundred.
        "--set", "faults.0.rate=100",
    )  # fmt: skip
    report = json.loads((reports / "report.json").read_text())
    assert result.returncode == 1, (report["reason"], result.stdout[-3000:])
    verdicts = {h["name"]: h for h in report["hypotheses"]}
    fuzz = verdicts["garbage is refused"]
    assert not fuzz["passed"]
    assert "(out-of-range)" in fuzz["observed"]
    assert "broken rules: out-of-range" in fuzz["detail"]
    # The minimal payload breaks the range on one side or the other (101, -1...).
    progress = re.search(r'"progress": (-?[0-9.eE+-]+)', fuzz["detail"])
    assert progress, fuzz["detail"]
    assert not 0 <= float(progress.group(1)) <= 100
    (tally,) = report["fuzz"]
    assert tally["by_outcome"]["5xx"] > 0
    assert tally["locations"]["exercised"] > 0
    # The steady load's samples hold its own requests only (POST /events as
    # heartbeat and playing), none of the fuzzer's.
    assert set(report["tasks"]) == {"heartbeat", "playing"}
    assert verdicts["valid events unharmed: errors"]["passed"]
    findings = json.loads((reports / "findings.json").read_text())
    assert findings["findings"][0]["check"] == "no-5xx"
    assert "--replay" in findings["replay"]
    html = (reports / "report.html").read_text()
    assert 'id="fuzz"' in html
    assert "curl -sS -i -X POST" in html
    assert "Fuzzed payloads: garbage" in result.stdout
    assert all(f["rolled_back"] for f in report["faults"])


@pytest.mark.slow
def test_stream_reconnect_fails_on_a_feed_that_does_not_resume(tmp_path):
    """The shipped experiment (which passes against the correct feed, above)
    fails against ``--break no-resume``: the streams reconnect, are never sent
    anything, and neither recovery holds; the cut is seen as the kinds'
    connect and disconnect classes, under ``<task>.connect`` too."""
    reports = tmp_path / "report"
    result = chaoskit(
        "run", str(REPO / "experiments" / "stream-reconnect.toml"),
        "--report-dir", str(reports), *STREAM_SHORT, "--env", "broken",
        "--var", f"port={free_port()}", "--var", f"proxied={free_port()}",
    )  # fmt: skip
    report = json.loads((reports / "report.json").read_text())
    assert result.returncode == 1, (report["reason"], result.stdout[-3000:])
    verdicts = {h["name"]: h for h in report["hypotheses"]}
    assert not verdicts["events flow again [cut the streams]"]["passed"]
    assert not verdicts["exchanges answered again [cut the streams]"]["passed"]
    assert verdicts["exchanges stay fast"]["passed"]
    assert {
        "ticks",
        "ticks.connect",
        "ticks.first_event",
        "echo",
        "echo.connect",
    } <= set(report["tasks"])
    errors = set(report["errors"])
    assert {"sse_connect_failed", "sse_disconnect", "ws_connect_failed"} <= errors
    assert "timeout" in errors  # the silent resumed streams (idle = 2s)
    assert all(f["rolled_back"] for f in report["faults"])
