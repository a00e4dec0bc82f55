"""kill -9 of `chaoskit run` at every moment of start-up leaves nothing behind.

Services used to enter the ledger only once healthy: a run killed during a
health wait left the service running (and `chaoskit rollback` said "Nothing to
roll back", the next run failed on the port), and one killed while PostgreSQL
was being created left its cluster directory in /tmp (issue 13, item 3). Each
entry is now written before the start and updated with the PID at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.e2e.test_cli_run import REPO, chaoskit

Entries = list[dict[str, object]]

STUCK = '''
[experiment]
name = "stuck-start"
duration = "2s"

[[services]]
name = "db"
kind = "postgres"
durable = false

[[services]]
name = "api"
kind = "process"
# Holds its port, and never answers: never healthy within the minute.
command = ["python", "-c", """import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', {port}))
s.listen()
time.sleep(120)"""]
health = "http://127.0.0.1:{port}/health"
health_timeout = "60s"

[[proxy.routes]]
name = "db"
upstream = "{{services.db.address}}"

[target]
base_url = "http://127.0.0.1:{port}"

[load]
rate = 1

[[load.tasks]]
name = "a"
path = "/"
'''


def entries(reports: Path) -> Entries:
    try:
        return json.loads((reports / "ledger.json").read_text())["entries"]
    except (OSError, ValueError, KeyError):
        return []


def alive(pid: object) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in "ZX"


def started_by(mark: str) -> list[int]:
    """Live processes carrying ``mark`` in their environment: everything the
    run started (services, initdb, the server, the embedded proxy) inherits it."""
    needle = f"CHAOSKIT_TEST_MARK={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return [pid for pid in found if alive(pid)]


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Run:
    """One `chaoskit run` of its own: its temp directory, its mark."""

    def __init__(self, reports: Path) -> None:
        # Under /tmp, not pytest's 0700 tree: as root, PostgreSQL runs as its
        # own system user, which must be able to enter the run directory.
        self.tmp = Path(tempfile.mkdtemp(prefix="chaoskit-test-tmp-"))
        self.tmp.chmod(0o755)
        self.reports = reports
        self.mark = str(reports)

    def pg_dirs(self) -> list[Path]:
        return sorted(self.tmp.glob("chaoskit-pg-*"))

    def env(self) -> dict[str, str]:
        return {**os.environ, "TMPDIR": str(self.tmp), "CHAOSKIT_TEST_MARK": self.mark}


def pg_dir_made(run: Run) -> bool:
    return bool(run.pg_dirs())


def initdb_writing(run: Run) -> bool:
    return any(any((d / "data").glob("*")) for d in run.pg_dirs())


def server_launched(run: Run) -> bool:
    return any((d / "data" / "postmaster.pid").exists() for d in run.pg_dirs())


def api_spawned(run: Run) -> bool:
    return (run.reports / "api.pid").exists()


MOMENTS: dict[str, Callable[[Run], bool]] = {
    "postgres directory made": pg_dir_made,
    "initdb writing the cluster": initdb_writing,
    "postgres server launched": server_launched,
    "process spawned, waiting for health": api_spawned,
}


def start_and_kill(
    path: Path, run: Run, moment: Callable[[Run], bool], sig: int = signal.SIGKILL
) -> int:
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaoskit", "run", str(path), "--report-dir",
         str(run.reports)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=run.env(),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while not moment(run):
            assert proc.poll() is None, "the run ended before the moment came"
            assert time.monotonic() < deadline, "the moment never came"
            time.sleep(0.002)
        os.kill(proc.pid, sig)
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def assert_nothing_left(run: Run, port: int) -> None:
    deadline = time.monotonic() + 10
    while started_by(run.mark) or not port_free(port):
        assert time.monotonic() < deadline, (
            f"left running: {started_by(run.mark)}; port {port} free: {port_free(port)}"
        )
        time.sleep(0.1)
    assert run.pg_dirs() == []


def cleanup(run: Run) -> None:
    """Whatever a failed test left: kill it, so the machine stays clean."""
    for pid in started_by(run.mark):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(run.tmp, ignore_errors=True)


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_rollback_after_a_kill_during_start_up_leaves_nothing(tmp_path, moment):
    port = free_port()
    path = tmp_path / "stuck.toml"
    path.write_text(STUCK.format(port=port))
    run = Run(tmp_path / "report")
    try:
        start_and_kill(path, run, MOMENTS[moment])
        assert entries(run.reports), "the ledger lists what was being started"
        result = chaoskit("rollback", str(run.reports))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Nothing to roll back" not in result.stdout
        assert_nothing_left(run, port)
        ledger = json.loads((run.reports / "ledger.json").read_text())
        assert ledger["closed"] is True
        assert all(e["state"] == "done" for e in ledger["entries"])
    finally:
        cleanup(run)


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGINT])
@pytest.mark.parametrize(
    "moment", ["initdb writing the cluster", "process spawned, waiting for health"]
)
def test_a_stop_signal_during_start_up_rolls_back_by_itself(tmp_path, moment, sig):
    port = free_port()
    path = tmp_path / "stuck.toml"
    path.write_text(STUCK.format(port=port))
    run = Run(tmp_path / "report")
    try:
        assert start_and_kill(path, run, MOMENTS[moment], sig) == 3
        assert_nothing_left(run, port)
        ledger = json.loads((run.reports / "ledger.json").read_text())
        assert ledger["closed"] is True
        assert all(e["state"] == "done" for e in ledger["entries"])
        assert "Nothing to roll back" in chaoskit("rollback", str(run.reports)).stdout
    finally:
        cleanup(run)


def test_the_next_run_cleans_up_after_a_kill_during_a_health_wait(tmp_path):
    port = free_port()
    path = tmp_path / "stuck.toml"
    path.write_text(STUCK.format(port=port))
    run = Run(tmp_path / "runs" / "killed")
    try:
        start_and_kill(path, run, api_spawned)
        assert started_by(run.mark), "the services outlived chaoskit"
        # The next run, in the same reports directory, on the same port.
        short = tmp_path / "next.toml"
        short.write_text(NEXT.format(port=port))
        result = subprocess.run(
            [sys.executable, "-m", "chaoskit", "run", str(short), "--report-dir",
             str(tmp_path / "runs" / "next")],
            cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
            env=run.env(),
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert "An earlier run left changes in place" in result.stdout
        assert_nothing_left(run, port)
    finally:
        cleanup(run)


NEXT = """
[experiment]
name = "next"
duration = "1s"

[[services]]
name = "api"
kind = "process"
command = ["python", "-m", "tests.e2e.app", "--port", "{port}"]
health = "http://127.0.0.1:{port}/health"

[target]
base_url = "http://127.0.0.1:{port}"

[load]
rate = 5

[[load.tasks]]
name = "ok"
path = "/ok"
"""
