"""kill -9 of `chaoskit run` at every moment of start-up leaves nothing behind.

Services used to enter the ledger only once healthy: a run killed during a
health wait left the service running (and `chaoskit rollback` said "Nothing to
roll back", the next run failed on the port), and one killed while PostgreSQL
was being created left its cluster directory in /tmp (issue 13, item 3). Each
entry is now written before the start and updated with the PID at once.

kill -9 of the run alone used to leave the embedded proxy and every service
running until someone ran `chaoskit rollback`: the run's guardian (a process
waiting on a pipe the run holds) now undoes the ledger as soon as the run dies.
The `chaoskit rollback` and next-run paths are tested with the guardian killed
too (a kill of everything).
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
from tests.e2e.test_cli_run import REPO, chaoskit, journal, kill_guardian

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
        self.output = self.tmp / "chaoskit.out"

    def pg_dirs(self) -> list[Path]:
        return sorted(self.tmp.glob("chaoskit-pg-*"))

    def env(self) -> dict[str, str]:
        return {**os.environ, "TMPDIR": str(self.tmp), "CHAOSKIT_TEST_MARK": self.mark}


def proxy_spawned(run: Run) -> bool:
    return (run.reports / "proxy.pid").exists()


def pg_dir_made(run: Run) -> bool:
    return bool(run.pg_dirs())


def initdb_writing(run: Run) -> bool:
    return any(any((d / "data").glob("*")) for d in run.pg_dirs())


def server_launched(run: Run) -> bool:
    return any((d / "data" / "postmaster.pid").exists() for d in run.pg_dirs())


def api_spawned(run: Run) -> bool:
    return (run.reports / "api.pid").exists()


MOMENTS: dict[str, Callable[[Run], bool]] = {
    "proxy spawned, waiting for health": proxy_spawned,
    "postgres directory made": pg_dir_made,
    "initdb writing the cluster": initdb_writing,
    "postgres server launched": server_launched,
    "process spawned, waiting for health": api_spawned,
}


def start_and_kill(
    path: Path,
    run: Run,
    moment: Callable[[Run], bool],
    sig: int = signal.SIGKILL,
    *,
    guardian_too: bool = False,
) -> int:
    """Start `chaoskit run`, send ``sig`` at ``moment``; its exit code. Its
    output is kept in ``run.output`` (``guardian_too``: SIGKILL the guardian
    first, so the leftovers wait for `chaoskit rollback` or the next run)."""
    with run.output.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "chaoskit", "run", str(path), "--report-dir",
             str(run.reports)],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=run.env(),
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while not moment(run):
            assert proc.poll() is None, "the run ended before the moment came"
            assert time.monotonic() < deadline, "the moment never came"
            time.sleep(0.002)
        if guardian_too:
            kill_guardian(run.reports)
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
        start_and_kill(path, run, MOMENTS[moment], guardian_too=True)
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


# Every moment meets a signal and every signal several moments, in turn: the
# whole grid (each start-up with initdb) costs minutes and finds nothing more,
# since one handler serves the three signals.
STOP_SIGNALS = (signal.SIGHUP, signal.SIGINT, signal.SIGTERM)


@pytest.mark.parametrize(
    ("moment", "sig"),
    [(m, STOP_SIGNALS[i % len(STOP_SIGNALS)]) for i, m in enumerate(MOMENTS)],
)
def test_a_stop_signal_during_start_up_rolls_back_by_itself(tmp_path, moment, sig):
    port = free_port()
    path = tmp_path / "stuck.toml"
    path.write_text(STUCK.format(port=port))
    run = Run(tmp_path / "report")
    try:
        assert start_and_kill(path, run, MOMENTS[moment], sig) == 3
        assert_stopped_cleanly(run, port, sig)
    finally:
        cleanup(run)


def assert_stopped_cleanly(run: Run, port: int, sig: int) -> None:
    """Exit 3 said, everything undone by the run itself, no traceback, the
    journal complete and the report written."""
    assert_nothing_left(run, port)
    ledger = json.loads((run.reports / "ledger.json").read_text())
    assert ledger["closed"] is True
    assert all(e["state"] == "done" for e in ledger["entries"])
    assert "Nothing to roll back" in chaoskit("rollback", str(run.reports)).stdout
    output = run.output.read_text()
    assert "Traceback" not in output
    assert f"interrupted by {signal.Signals(sig).name}" in output
    # The journal is complete: the run's end is its last record.
    assert journal(run.reports)[-1]["type"] == "run_finished"
    report = json.loads((run.reports / "report.json").read_text())
    assert report["verdict"] == "aborted"


def test_the_next_run_cleans_up_after_a_kill_during_a_health_wait(tmp_path):
    port = free_port()
    path = tmp_path / "stuck.toml"
    path.write_text(STUCK.format(port=port))
    run = Run(tmp_path / "runs" / "killed")
    try:
        start_and_kill(path, run, api_spawned, guardian_too=True)
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


LOADED = """
[experiment]
name = "loaded"
duration = "40s"

[[services]]
name = "api"
kind = "process"
command = ["python", "-m", "tests.e2e.app", "--port", "{port}"]
health = "http://127.0.0.1:{port}/health"

[[proxy.routes]]
name = "api"
listen = "127.0.0.1:{listen}"
upstream = "127.0.0.1:{port}"

[target]
base_url = "http://127.0.0.1:{listen}"

[load]
rate = 20

[[load.tasks]]
name = "ok"
path = "/ok"

[[faults]]
name = "slow"
kind = "latency"
route = "api"
at = "3s"
for = "30s"
latency = "200ms"
"""


def journal_says(kind: str) -> Callable[[Run], bool]:
    def moment(run: Run) -> bool:
        try:
            return any(r.get("kind") == kind for r in journal(run.reports))
        except (OSError, ValueError):
            return False

    return moment


# Start-up (the stuck experiment: the proxy, PostgreSQL, a service that never
# gets healthy), then a healthy one under load, and with its fault applied.
KILL_MOMENTS: dict[str, tuple[str, Callable[[Run], bool]]] = {
    **{name: ("stuck", moment) for name, moment in MOMENTS.items()},
    "under load": ("loaded", journal_says("progress")),
    "during a fault": ("loaded", journal_says("fault_applied")),
}


@pytest.mark.parametrize("moment", list(KILL_MOMENTS))
def test_kill_9_of_the_run_alone_leaves_nothing_and_the_next_run_starts_clean(
    tmp_path, moment
):
    """kill -9 of `chaoskit run` (not of its guardian): no `chaoskit rollback`,
    yet no child survives, the ports are free, the ledger is settled, and the
    next run in the same reports directory finds nothing to undo."""
    which, when = KILL_MOMENTS[moment]
    port, listen = free_port(), free_port()
    path = tmp_path / f"{which}.toml"
    template = STUCK if which == "stuck" else LOADED
    path.write_text(template.format(port=port, listen=listen))
    run = Run(tmp_path / "runs" / "killed")
    try:
        assert start_and_kill(path, run, when) == -signal.SIGKILL
        # The guardian stops everything, itself included (it carries the mark).
        assert_nothing_left(run, port)
        assert port_free(listen)
        ledger = json.loads((run.reports / "ledger.json").read_text())
        assert ledger["closed"] is True
        assert ledger["entries"], "the ledger lists what was started"
        assert all(e["state"] == "done" for e in ledger["entries"]), ledger
        assert "undone" in (run.reports / "guardian.log").read_text()
        if moment == "during a fault":
            # The fault's toxic was undone too, before the proxy was stopped.
            assert "toxic" in {e["kind"] for e in ledger["entries"]}
        short = tmp_path / "next.toml"
        short.write_text(NEXT.format(port=port))
        result = subprocess.run(
            [sys.executable, "-m", "chaoskit", "run", str(short), "--report-dir",
             str(tmp_path / "runs" / "next")],
            cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
            env=run.env(),
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert "An earlier run left changes in place" not in result.stdout
        assert_nothing_left(run, port)
    finally:
        cleanup(run)


def api_ready(run: Run) -> bool:
    try:
        records = journal(run.reports)
    except (OSError, ValueError):
        return False
    return any(
        r.get("kind") == "service_ready" and r.get("service") == "api" for r in records
    )


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_as_the_load_is_about_to_start_rolls_back(tmp_path, sig):
    """Every service healthy, the routes made, the timeline not yet going."""
    port, listen = free_port(), free_port()
    path = tmp_path / "loaded.toml"
    path.write_text(LOADED.format(port=port, listen=listen))
    run = Run(tmp_path / "report")
    try:
        assert start_and_kill(path, run, api_ready, sig) == 3
        assert_stopped_cleanly(run, port, sig)
        assert port_free(listen)
    finally:
        cleanup(run)
