"""`chaoskit run` end to end: real processes, the embedded (or a separate) proxy,
real load, real signals. Each experiment lasts a few seconds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]


def experiment(tmp_path: Path, *, hypotheses: str, faults: str = "", extra: str = "",
               duration: str = "6s", app_port: int | None = None) -> Path:  # fmt: skip
    """A short experiment: the tiny app behind a proxy route, load through it."""
    port = app_port or free_port()
    text = f"""
[experiment]
name = "e2e"
duration = "{duration}"
warmup = "0.5s"
seed = 3

[[services]]
name = "app"
kind = "process"
command = ["python", "-m", "tests.e2e.app", "--port", "{port}"]
health = "http://127.0.0.1:{port}/health"

[[proxy.routes]]
name = "app"
upstream = "127.0.0.1:{port}"

[target]
base_url = "http://{{routes.app.listen}}"
timeout = "2s"

[load]
rate = 50

[[load.tasks]]
name = "ok"
path = "/ok"
{faults}
{hypotheses}
{extra}
"""
    path = tmp_path / "experiment.toml"
    path.write_text(text)
    return path


SLOW_APP = """
[[faults]]
name = "slow app"
kind = "latency"
route = "app"
at = "2s"
for = "2s"
latency = "150ms"
"""


def chaoskit(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaoskit", *args],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def journal(report_dir: Path) -> list[dict]:
    lines = (report_dir / "journal.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def pids_started(report_dir: Path) -> list[int]:
    return [
        int(r["pid"]) for r in journal(report_dir)
        if r.get("kind") == "service_ready" and r.get("pid")
    ]  # fmt: skip


def assert_gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists():
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.split(")")[-1].split()[0] == "Z":
            return  # exited; a zombie only waits for its (dead) parent's reaper
        assert time.monotonic() < deadline, f"process {pid} is still running"
        time.sleep(0.1)


@pytest.mark.xdist_group("slow_app_run")  # one worker: the run is shared, not repeated
def test_a_passing_run_exits_0_and_writes_the_report_contract(slow_app_run):
    """The run (shared with test_cli_report: tests/e2e/conftest.py) is the tiny
    app with a 150 ms latency fault from 2 s to 4 s and three hypotheses."""
    (result, reports), path = slow_app_run
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED" in result.stdout
    report = json.loads((reports / "report.json").read_text())
    assert report["verdict"] == "passed"
    assert report["experiment"] == {
        "name": "e2e",
        "title": "",
        "file": str(path),
        "seed": 3,
        "environment": None,  # no --env
    }
    assert {h["name"] for h in report["hypotheses"]} == {
        "slow but within budget", "no errors", "recovers [slow app]"
    }  # fmt: skip
    assert all({"name", "kind", "passed", "observed", "expected", "phase"} <= h.keys()
               for h in report["hypotheses"])  # fmt: skip
    (fault,) = report["faults"]
    assert fault["name"] == "slow app"
    assert fault["rolled_back"] is True
    assert fault["actual_start_s"] == pytest.approx(2.0, abs=0.5)
    assert fault["actual_end_s"] == pytest.approx(4.0, abs=0.5)
    assert fault["settings"]["latency"] == "150ms"
    task = report["tasks"]["ok"]
    assert {"count", "errors", "rps", "p50", "p90", "p95", "p99", "max"} <= task.keys()
    # 50 requests/s for 6.5 s; the slow window still counts every arrival.
    assert 250 <= task["count"] <= 360
    for name in ("journal.jsonl", "report.json", "junit.xml", "ledger.json"):
        assert (reports / name).exists(), name
    ledger = json.loads((reports / "ledger.json").read_text())
    assert ledger["closed"] is True
    assert all(e["state"] == "done" for e in ledger["entries"])
    for pid in pids_started(reports):
        assert_gone(pid)


def impossibly_fast(tmp_path: Path) -> Path:
    """A 2.5 s run whose p95 must stay under 50 ms while a 150 ms latency
    fault is on: it fails. Only the during phase is judged."""
    return experiment(
        tmp_path,
        faults=SLOW_APP.replace('at = "2s"\nfor = "2s"', 'at = "1s"\nfor = "1s"'),
        duration="2.5s",
        hypotheses="""
[[hypotheses]]
name = "impossibly fast"
metric = "p95"
below = "50ms"
""",
    )


def test_a_failing_hypothesis_exits_1_and_says_by_how_much(tmp_path):
    path = impossibly_fast(tmp_path)
    reports = tmp_path / "report"
    result = chaoskit("run", str(path), "--report-dir", str(reports))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL" in result.stdout
    assert "impossibly fast" in result.stdout
    (verdict,) = json.loads((reports / "report.json").read_text())["hypotheses"]
    assert verdict["passed"] is False
    assert verdict["expected"] == "p95 below 50ms"
    assert verdict["observed_value"] >= 0.150
    assert "missed the bound by" in verdict["detail"]


def test_proxy_busy_poll_reaches_the_embedded_proxy_and_toxics_still_apply(tmp_path):
    """``[proxy] busy_poll`` starts the embedded proxy busy-polling, and the
    latency fault still slows every request it should."""
    path = impossibly_fast(tmp_path)
    reports = tmp_path / "report"
    result = chaoskit(
        "run", str(path), "--report-dir", str(reports),
        "--set", 'proxy.busy_poll="100us"',
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    ready = (reports / "proxy.stdout.log").read_text()
    assert "busy-polling 100 µs after traffic" in ready
    (verdict,) = json.loads((reports / "report.json").read_text())["hypotheses"]
    assert verdict["observed_value"] >= 0.150


def test_an_invalid_file_exits_2_and_starts_nothing(tmp_path):
    path = experiment(
        tmp_path,
        faults=SLOW_APP.replace('latency = "150ms"', 'latncy = "150ms"'),
        hypotheses='[[hypotheses]]\nname = "x"\nmetric = "p96"\nbelow = "1s"\n',
    )
    reports = tmp_path / "report"
    result = chaoskit("run", str(path), "--report-dir", str(reports))
    assert result.returncode == 2
    assert f"{path}: 2 problems" in result.stderr
    assert "faults[0].latncy: unknown key" in result.stderr
    assert "did you mean 'latency'?" in result.stderr
    assert "hypotheses[0].metric" in result.stderr
    assert "Traceback" not in result.stderr
    assert not reports.exists()


def test_a_service_that_never_gets_healthy_aborts_with_exit_3(tmp_path):
    port = free_port()
    path = tmp_path / "never.toml"
    path.write_text(f"""
[experiment]
name = "never-healthy"
duration = "5s"

[[services]]
name = "stuck"
kind = "process"
command = ["python", "-c", "import time; time.sleep(60)"]
health = "http://127.0.0.1:{port}/health"
health_timeout = "2s"

[target]
base_url = "http://127.0.0.1:{port}"

[load]
rate = 10

[[load.tasks]]
name = "ok"
path = "/ok"
""")
    reports = tmp_path / "report"
    result = chaoskit("run", str(path), "--report-dir", str(reports))
    assert result.returncode == 3, result.stdout + result.stderr
    assert "stuck" in result.stdout
    assert "ABORTED" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    report = json.loads((reports / "report.json").read_text())
    assert report["verdict"] == "aborted"
    assert "health" in report["reason"]
    stuck = [r for r in journal(reports) if r.get("kind") == "service_starting"]
    assert stuck
    # Nothing it started is left: the ledger's process entry was undone.
    ledger = json.loads((reports / "ledger.json").read_text())
    assert all(e["state"] == "done" for e in ledger["entries"])


def _read(reports: Path) -> list[dict]:
    try:
        return journal(reports)
    except (OSError, ValueError):
        return []


def long_fault_experiment(tmp_path: Path) -> Path:
    """120 s with a 115 s latency fault from 1 s: something to interrupt. Every
    test interrupts it, so the length costs nothing; it only has to outlast what
    a test does beside it (another run, a rollback) on a loaded machine."""
    return experiment(
        tmp_path,
        duration="120s",
        faults=SLOW_APP.replace('for = "2s"', 'for = "115s"').replace(
            '"2s"', '"1s"', 1
        ),
        hypotheses='[[hypotheses]]\nname = "x"\nmetric = "p95"\nbelow = "1s"\n',
    )


def run_until_fault_applied(
    path: Path, reports: Path, proxy_url: str, *, capture: bool = False
) -> subprocess.Popen[str]:
    """`chaoskit run` against our own proxy, returned once its fault is applied."""
    return run_until(
        path, reports, "fault_applied", "--set", f"proxy.url={proxy_url}",
        capture=capture,
    )  # fmt: skip


def run_until(
    path: Path, reports: Path, kind: str, *args: str, capture: bool = False
) -> subprocess.Popen[str]:
    """`chaoskit run` in the background, returned once its journal has an
    event of ``kind``."""
    out = subprocess.PIPE if capture else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaoskit", "run", str(path), "--report-dir",
         str(reports), *args],
        cwd=REPO, stdout=out, stderr=out, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not any(r.get("kind") == kind for r in _read(reports)):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise AssertionError(f"no {kind} event: {proc.communicate()}")
        time.sleep(0.1)
    return proc


def kill_guardian(reports: Path) -> None:
    """SIGKILL the run's guardian (named in its ledger by PID and start time),
    and wait until it is gone (a zombie until the run reaps it counts)."""
    guardian = json.loads((reports / "ledger.json").read_text())["run"]["guardian"]
    pid = int(guardian["pid"])
    stat = Path(f"/proc/{pid}/stat")
    if int(stat.read_text().rsplit(")", 1)[1].split()[19]) != guardian["start_time"]:
        raise AssertionError(f"pid {pid} is no longer the guardian")
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while True:
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] in "ZX":
                return
        except OSError:
            return
        assert time.monotonic() < deadline, "the guardian survived SIGKILL"
        time.sleep(0.01)


def kill_9(proc: subprocess.Popen[str], reports: Path) -> None:
    """What a kill of everything looks like (the OOM killer taking chaoskit and
    its guardian, a container stopped): the guardian goes first, so what the
    run left stays for `chaoskit rollback` or the next run to undo. A kill -9
    of the run alone is undone by the guardian (test_cli_startup_kills.py)."""
    kill_guardian(reports)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    for pipe in (proc.stdout, proc.stderr):  # unread: what a kill -9 left there
        if pipe is not None:
            pipe.close()


def test_sigint_during_a_fault_rolls_back_and_exits_3(tmp_path, separate_proxy):
    reports = tmp_path / "report"
    proc = run_until_fault_applied(
        long_fault_experiment(tmp_path), reports, separate_proxy, capture=True
    )
    try:
        toxics = httpx.get(f"{separate_proxy}/proxies/app/toxics").json()
        assert [t["type"] for t in toxics] == ["latency"]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, out + err
    assert "interrupted by SIGINT" in out
    # No toxic, and no route, is left on the proxy; no process is left running.
    assert httpx.get(f"{separate_proxy}/proxies").json() == {}
    for pid in pids_started(reports):
        assert_gone(pid)
    records = journal(reports)
    kinds = [r.get("kind") for r in records]
    assert kinds.index("fault_applied") < kinds.index("interrupted")
    assert "fault_rolled_back" in kinds[kinds.index("interrupted") :]
    assert records[-1]["type"] == "run_finished"
    assert json.loads((reports / "report.json").read_text())["verdict"] == "aborted"


def test_rollback_undoes_what_a_killed_run_left(tmp_path, separate_proxy):
    """kill -9 of chaoskit itself: `chaoskit rollback` removes the toxic and
    stops the service it had started, from the ledger."""
    reports = tmp_path / "report"
    kill_9(
        run_until_fault_applied(
            long_fault_experiment(tmp_path), reports, separate_proxy
        ),
        reports,
    )
    assert httpx.get(f"{separate_proxy}/proxies/app/toxics").json() != []
    result = chaoskit("rollback", str(reports))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "undone" in result.stdout
    assert httpx.get(f"{separate_proxy}/proxies").json() == {}
    for pid in pids_started(reports):
        assert_gone(pid)
    assert "Nothing to roll back" in chaoskit("rollback", str(reports)).stdout


def test_dry_run_prints_the_plan_and_starts_nothing(tmp_path):
    path = experiment(tmp_path, faults=SLOW_APP, hypotheses="")
    reports = tmp_path / "report"
    result = chaoskit("run", str(path), "--dry-run", "--report-dir", str(reports))
    assert result.returncode == 0, result.stderr
    assert "fault 'slow app': latency on route app" in result.stdout
    assert "dry run: nothing was started" in result.stdout
    assert not reports.exists()


def test_an_abort_condition_stops_the_run_early_with_exit_3(tmp_path):
    path = experiment(
        tmp_path,
        duration="300s",
        faults="""
[[faults]]
name = "app gone"
kind = "down"
route = "app"
at = "1s"
for = "295s"
""",
        hypotheses="",
        extra="""
[[abort]]
metric = "error_rate"
above = "50%"
for = "2s"
""",
    )
    reports = tmp_path / "report"
    started = time.monotonic()
    result = chaoskit("run", str(path), "--report-dir", str(reports))
    assert result.returncode == 3, result.stdout + result.stderr
    # Far from both: start-up and rollback on a loaded machine, and the 300 s
    # timeline that a run without the abort would go through.
    assert time.monotonic() - started < 90, "it should stop long before 300 s"
    report = json.loads((reports / "report.json").read_text())
    assert report["verdict"] == "aborted"
    assert "abort condition: error_rate above 50%" in report["reason"]
    (fault,) = report["faults"]
    assert fault["rolled_back"] is True


def test_the_next_run_undoes_what_a_killed_run_left(tmp_path, separate_proxy):
    """No `chaoskit rollback` needed: a new run in the same reports directory
    finds the open ledger and undoes it before it starts anything."""
    path = long_fault_experiment(tmp_path)
    reports = tmp_path / "runs" / "killed"
    kill_9(run_until_fault_applied(path, reports, separate_proxy), reports)
    following = str(tmp_path / "runs" / "next")
    result = chaoskit("run", str(path), "--dry-run", "--report-dir", following)
    assert result.returncode == 0
    # A dry run starts nothing, so it touches nothing either; a real run does.
    assert httpx.get(f"{separate_proxy}/proxies").json() != {}
    short = experiment(tmp_path, hypotheses="", duration="2s")
    result = chaoskit("run", str(short), "--report-dir", following)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "An earlier run left changes in place" in result.stdout
    assert httpx.get(f"{separate_proxy}/proxies").json() == {}
    for pid in pids_started(reports):
        assert_gone(pid)


def test_a_new_run_leaves_the_changes_of_a_live_run_beside_it_alone(
    tmp_path, separate_proxy
):
    """Two runs sharing a reports directory: the second must not take the
    first's open ledger for a killed run's and undo its fault mid-window."""
    live = run_until_fault_applied(
        long_fault_experiment(tmp_path), tmp_path / "runs" / "live", separate_proxy
    )
    try:
        short = experiment(tmp_path, hypotheses="", duration="2s")
        result = chaoskit(
            "run", str(short), "--report-dir", str(tmp_path / "runs" / "next")
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "An earlier run left changes in place" not in result.stdout
        toxics = httpx.get(f"{separate_proxy}/proxies/app/toxics").json()
        assert [t["type"] for t in toxics] == ["latency"]
    finally:
        live.send_signal(signal.SIGINT)
        live.wait(timeout=60)
    assert live.returncode == 3
    assert httpx.get(f"{separate_proxy}/proxies").json() == {}


def test_a_second_ctrl_c_forces_a_quick_exit_that_still_rolls_back(
    tmp_path, separate_proxy
):
    """A service that takes 90 s per request: after a first SIGINT, teardown
    waits for requests in flight (up to their 120 s timeout); a second SIGINT
    stops waiting. The fault is rolled back and the service stopped all the same."""
    text = long_fault_experiment(tmp_path).read_text()
    text = text.replace('path = "/ok"', 'path = "/slow?ms=90000"')
    text = text.replace('timeout = "2s"', 'timeout = "120s"').replace(
        "rate = 50", "rate = 5"
    )
    path = tmp_path / "stuck.toml"
    path.write_text(text)
    reports = tmp_path / "report"
    proc = run_until_fault_applied(path, reports, separate_proxy, capture=True)
    try:
        time.sleep(0.5)  # requests are in flight, each for 90 s
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, out + err
    # Far from both: without the second signal this takes over 89 s; a quick
    # exit took 29 s on a 2-core machine at load average 15.
    assert took < 60, f"took {took:.1f}s"
    assert httpx.get(f"{separate_proxy}/proxies").json() == {}
    for pid in pids_started(reports):
        assert_gone(pid)
