"""The lock and integrity experiments, end to end on the SQLite fixture.

``test_experiments.py`` runs both shortened and checks they pass; these check
what they measure: a lock held 3 s gives lock errors and a measured recovery
(with the users who hit them), and a service that acknowledges before it
persists loses writes on kill -9, which the integrity hypothesis catches.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.conftest import free_port
from tests.e2e.test_cli_run import (
    _read,
    assert_gone,
    experiment,
    kill_9,
    pids_started,
)
from tests.e2e.test_experiments import REPO, SHORT, chaoskit, same_ports


@pytest.mark.slow
@same_ports("watch-history-locks")
@pytest.mark.serial  # shares the shipped run of test_experiments.py, which is serial
def test_a_lock_held_3s_gives_lock_errors_and_a_measured_recovery(shipped_run):
    # The same run as test_experiments' (9 s, the lock from 3 s to 6 s).
    result, reports = shipped_run(REPO / "experiments/watch-history-locks.toml", *SHORT)
    report = json.loads((reports / "report.json").read_text())
    assert result.returncode == 0, (report["hypotheses"], result.stdout[-2000:])
    locks = report["errors"]["body_pattern:lock"]
    assert locks["count"] > 20  # ~30 writes/s for 3 s, each refused after 200 ms
    assert all("lock" in s for s in locks["samples"])
    recovery = next(h for h in report["hypotheses"] if h["kind"] == "recovery")
    assert recovery["observed_value"] is not None
    assert recovery["observed_value"] <= 5
    (fault,) = report["faults"]
    assert (fault["kind"], fault["rolled_back"]) == ("lock", True)
    # The target names the real file, its {run.report.dir} bound.
    assert fault["target"] == f"database {reports.resolve()}/watch.db"
    users = report["top_error_users_by_class"]["body_pattern:lock"]
    assert users
    assert users[0]["errors"] >= users[-1]["errors"] >= 1
    assert (
        "Users with the most body_pattern:lock errors"
        in (reports / "report.html").read_text()
    )


# The kill only has to land on writes acknowledged but not yet flushed (every
# 500 ms, 40 writes/s): a 6 s timeline, the API dead from 2 s to 4 s.
KILL_SHORT = [
    "--set", "experiment.duration=6s", "--set", "experiment.warmup=1s",
    "--set", "faults.0.at=2s", "--set", "faults.0.for=2s",
]  # fmt: skip


@pytest.mark.slow
@same_ports("ack-loss")
def test_acknowledging_before_persisting_loses_writes_and_is_caught(tmp_path):
    reports = tmp_path / "report"
    result = chaoskit(
        "run", str(REPO / "experiments/ack-loss.toml"), "--report-dir",
        str(reports), *KILL_SHORT,
        "--var", "ack_before_persist=1",
    )  # fmt: skip
    report = json.loads((reports / "report.json").read_text())
    assert result.returncode == 1, result.stdout[-2000:]
    verdict = next(h for h in report["hypotheses"] if h["kind"] == "integrity")
    assert not verdict["passed"]
    data = verdict["data"]
    assert data["lost"] > 0
    assert data["lost_ids"]
    assert data["acknowledged"] > data["lost"]
    assert verdict["detail"].startswith(f"{data['lost']} acknowledged write(s) lost")
    assert "Lost writes" in result.stdout
    html = (reports / "report.html").read_text()
    assert "Acknowledged writes" in html
    assert data["lost_ids"][0] in html


def _run(tmp_path, text: str) -> tuple[int, dict[str, object], list[dict[str, object]]]:
    path = tmp_path / "experiment.toml"
    path.write_text(text)
    reports = tmp_path / "report"
    result = chaoskit("run", str(path), "--report-dir", str(reports))
    report = json.loads((reports / "report.json").read_text())
    ledger = json.loads((reports / "ledger.json").read_text())["entries"]
    return result.returncode, report, ledger


PG_DB = """
[[services]]
name = "db"
kind = "postgres"
durable = false
init_sql = ["init.sql"]
"""
LOCK_T = """
[[faults]]
name = "lock t"
kind = "lock"
service = "db"
table = "t"
at = "{at}"
for = "{for_}"
"""


def _pg_lock_experiment(tmp_path, duration: str, at: str, for_: str):
    """The e2e app under load, and a lock on table ``t`` of a PostgreSQL service."""
    (tmp_path / "init.sql").write_text("CREATE TABLE t (id int PRIMARY KEY);\n")
    return experiment(
        tmp_path, hypotheses="", faults=LOCK_T.format(at=at, for_=for_),
        extra=PG_DB, duration=duration,
    )  # fmt: skip


@pytest.mark.slow
def test_a_postgres_table_lock_is_taken_and_rolled_back_by_a_run(tmp_path):
    """The runner binds the service's DSN, takes the lock, and ends it."""
    path = _pg_lock_experiment(tmp_path, "4s", "1s", "2s")
    reports = tmp_path / "report"
    result = chaoskit("run", str(path), "--report-dir", str(reports))
    report = json.loads((reports / "report.json").read_text())
    ledger = json.loads((reports / "ledger.json").read_text())["entries"]
    assert result.returncode == 0, report["reason"]
    (fault,) = report["faults"]
    assert fault["rolled_back"]
    assert fault["settings"] == {"table": "t", "lock": "ACCESS EXCLUSIVE"}
    (entry,) = [e for e in ledger if e["kind"] == "pg_backend"]
    assert entry["state"] == "done"
    assert entry["pid"] > 0


def _sqlite_experiment(
    tmp_path, name: str, duration: str, busy: str, load: str, user: str, rest: str
):
    """The SQLite fixture under a load of watch-history writes, as ``_run`` gives."""
    port = free_port()
    head = f"""
[experiment]
name = "{name}"
duration = "{duration}"

[[services]]
name = "api"
kind = "process"
command = ["python", "-m", "fixtures.streaming", "--sqlite", "{{run.report.dir}}/w.db",
           "--port", "{port}", "--busy-timeout", "{busy}", "--log-level", "warning"]
health = "http://127.0.0.1:{port}/health"

[target]
base_url = "http://127.0.0.1:{port}"

[load]
{load}

[[load.tasks]]
name = "progress"
method = "POST"
path = "/watch-history"
json = {{ user_id = "{{{{ {user} }}}}", content_id = 1, progress = 5 }}
"""
    return _run(tmp_path, head + rest)


@pytest.mark.slow
def test_an_aborted_run_releases_an_sqlite_lock(tmp_path):
    """Writes fail under the lock, the abort condition stops the run (exit 3)
    mid-window, and the lock is released all the same."""
    code, report, ledger = _sqlite_experiment(
        tmp_path, "abort-under-lock", "20s", "50ms", "rate = 20", "user", """
[[faults]]
name = "lock"
kind = "lock"
database = "{run.report.dir}/w.db"
at = "1s"
for = "15s"

[[abort]]
metric = "error_rate"
above = "50%"
for = "2s"
""",
    )  # fmt: skip
    assert code == 3
    assert "abort condition" in report["reason"]
    assert report["errors"]["body_pattern:lock"]["count"] > 0
    assert report["faults"][0]["rolled_back"]
    assert all(e["state"] == "done" for e in ledger)
    db = sqlite3.connect(tmp_path / "report" / "w.db", timeout=0.1)
    try:
        db.execute("INSERT INTO watch_history VALUES ('x', 1, 1, 0)")  # not locked
        db.commit()
    finally:
        db.close()


@pytest.mark.slow
def test_hot_key_writers_contend_into_lock_errors_without_a_fault(tmp_path):
    """No lock fault: 16 users writing hot keys with no busy timeout collide
    on SQLite's write lock, and those collisions are counted as lock errors."""
    code, report, _ = _sqlite_experiment(
        tmp_path, "contention", "3s", "0s",
        'model = "closed"\nusers = 16\nhot_keys = { hot = 3, ratio = 0.9 }',
        "key()", """
[[hypotheses]]
name = "contention shows as lock errors"
phase = "all"
metric = "count"
error_class = "lock"
above = 0
""",
    )  # fmt: skip
    assert code == 0, report["hypotheses"]
    assert report["errors"]["body_pattern:lock"]["count"] > 0
    assert report["top_error_users_by_class"]["body_pattern:lock"]


@pytest.mark.slow
def test_rollback_after_kill_9_of_chaoskit_during_a_postgres_lock(tmp_path):
    """kill -9 of chaoskit while it holds a PostgreSQL lock: `chaoskit rollback`
    settles the lock's ledger entry and stops the server it had started."""
    path = _pg_lock_experiment(tmp_path, "60s", "0s", "50s")
    reports = tmp_path / "report"
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaoskit", "run", str(path), "--report-dir",
         str(reports)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while not any(r.get("kind") == "fault_applied" for r in _read(reports)):
            assert proc.poll() is None, "chaoskit ended before the lock was taken"
            assert time.monotonic() < deadline, "the lock was never taken"
            time.sleep(0.1)
    finally:
        kill_9(proc, reports)
    ledger = json.loads((reports / "ledger.json").read_text())["entries"]
    assert [e["state"] for e in ledger if e["kind"] == "pg_backend"] == ["pending"]
    result = chaoskit("rollback", str(reports))
    assert result.returncode == 0, result.stdout + result.stderr
    ledger = json.loads((reports / "ledger.json").read_text())["entries"]
    assert all(e["state"] == "done" for e in ledger), ledger
    for pid in pids_started(reports):
        assert_gone(pid)
