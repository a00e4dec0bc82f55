"""`chaoskit run` with container services and container faults, on a real Docker
engine: each fault kind with measured recovery, Ctrl-C during a stop, a kill -9
of chaoskit undone by `chaoskit rollback`, and a missing engine (exit 3)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from chaoskit.containers import LABEL_RUN
from chaoskit.services.health import free_port
from tests.docker_support import REPO, python_volumes
from tests.e2e.test_cli_run import kill_9

# In this order in one run: a restart's outage happens while it is applied,
# before its own phase begins, so it must not come first (it would land in the
# `before` phase, the baseline every recovery is judged against).
FAULTS = {
    "pause": 'kind = "pause"',
    "stop": 'kind = "stop"\ntimeout = "0s"',
    "kill": 'kind = "kill"',
    "restart": 'kind = "restart"\ntimeout = "0s"',
}


def experiment(tmp_path: Path, image: str, port: int, fault: str, *,
               duration: str = "11s", service: str = "") -> Path:  # fmt: skip
    """An httpd container under 40 requests/s, and ``fault`` (faults) on it."""
    service = (
        service
        or f"""
image = "{image}"
command = ["httpd", "-f", "-v", "-p", "127.0.0.1:{port}", "-h", "/www"]"""
    )
    path = tmp_path / "containers.toml"
    path.write_text(f"""
[experiment]
name = "e2e-containers"
duration = "{duration}"
warmup = "0.3s"
seed = 4

[[services]]
name = "web"
kind = "container"
{service}
health = "http://127.0.0.1:{port}/health"
health_timeout = "10s"

[target]
base_url = "http://127.0.0.1:{port}"
timeout = "2s"

[load]
rate = 40

[[load.tasks]]
name = "index"
path = "/index.html"

{fault}

[[hypotheses]]
name = "recovers"
kind = "recovery"
within = "1.5s"
stable_for = "0.4s"
""")
    return path


def chaoskit(*args: str, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", "chaoskit", *args], cwd=REPO, capture_output=True,
        text=True, timeout=120, check=False, env={**os.environ, **(env or {})},
    )  # fmt: skip


def ledger_entries(reports: Path) -> list[dict[str, Any]]:
    return json.loads((reports / "ledger.json").read_text())["entries"]


def fault_table(kind: str, at: float, target: str = 'service = "web"',
                length: float = 0.7) -> str:  # fmt: skip
    return (
        f'[[faults]]\nname = "{kind} web"\n{FAULTS[kind]}\n{target}\n'
        f'at = "{at}s"\nfor = "{length}s"\n'
    )


@pytest.fixture(scope="module")
def every_kind(tmp_path_factory, busybox_image, docker_client) -> Path:
    """One run with each fault kind in turn (one run, not four: vfs and the
    start-up of chaoskit cost seconds each); its report directory."""
    tmp_path = tmp_path_factory.mktemp("every-kind")
    # 1.8 s between one window's end and the next fault: room for `within`
    # (1.5 s) even when the machine is busy with other test runs.
    faults = "".join(fault_table(kind, 1.5 + 2.5 * i) for i, kind in enumerate(FAULTS))
    path = experiment(tmp_path, busybox_image, free_port(), faults)
    reports = tmp_path / "report"
    result = chaoskit("run", str(path), "--report-dir", str(reports))
    assert result.returncode == 0, result.stdout + result.stderr
    return reports


@pytest.mark.docker
@pytest.mark.parametrize("kind", list(FAULTS))
def test_each_container_fault_is_rolled_back_and_recovery_is_measured(every_kind, kind):
    report = json.loads((every_kind / "report.json").read_text())
    name = f"{kind} web"
    (fault,) = [f for f in report["faults"] if f["name"] == name]
    assert (fault["kind"], fault["target"], fault["rolled_back"]) == (
        kind,
        "service web",
        True,
    )
    (recovery,) = [h for h in report["hypotheses"] if h["name"] == f"recovers [{name}]"]
    assert recovery["passed"], recovery
    assert recovery["observed"].startswith("recovered in")
    assert 0 <= recovery["observed_value"] <= 1.5
    during = report["phase_tasks"][f"during:{name}"]["index"]
    if kind in ("stop", "kill"):
        assert during["errors"] > 0  # the container was really down
    if kind == "pause":
        assert during["max"] >= 300  # ms: frozen, answered once unpaused


@pytest.mark.docker
def test_the_container_chaoskit_ran_is_removed_and_its_logs_kept(
    every_kind, docker_client
):
    (removal,) = [
        e for e in ledger_entries(every_kind) if e["kind"] == "container_remove"
    ]
    assert removal["state"] == "done"
    assert not docker_client.containers.list(
        all=True, filters={"label": f"{LABEL_RUN}={removal['run']}"}
    )
    assert all(e["state"] == "done" for e in ledger_entries(every_kind))
    assert "response:200" in (every_kind / "web.container.log").read_text()


def run_until_fault_applied(path: Path, reports: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaoskit", "run", str(path), "--report-dir",
         str(reports)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    journal = reports / "journal.jsonl"
    while not (journal.exists() and '"fault_applied"' in journal.read_text()):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise AssertionError(f"the fault was never applied: {proc.communicate()}")
        time.sleep(0.05)
    return proc


def attached(tmp_path, image, docker_client, port: int) -> tuple[Path, Any]:
    """An httpd container chaoskit did not start, and a long stop fault on it."""
    web = docker_client.containers.run(
        image,
        ["httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", "/www"],
        name=f"chaoskit-e2e-{port}",
        labels={"chaoskit.test": "e2e"},
        network_mode="host",
        detach=True,
    )
    fault = fault_table("stop", 1.0, f'container = "{web.name}"', length=50)
    path = experiment(
        tmp_path, image, port, fault, duration="60s",
        service=f'container = "{web.name}"',
    )  # fmt: skip
    return path, web


@pytest.mark.docker
def test_sigint_during_a_stop_fault_leaves_the_container_running(
    tmp_path, busybox_image, docker_client
):
    path, web = attached(tmp_path, busybox_image, docker_client, free_port())
    try:
        proc = run_until_fault_applied(path, tmp_path / "report")
        web.reload()
        assert web.status == "exited"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 3, out + err
        assert "interrupted by SIGINT" in out
        web.reload()
        assert web.status == "running"  # started again, and not removed: not ours
        assert [e["state"] for e in ledger_entries(tmp_path / "report")] == ["done"]
    finally:
        web.remove(force=True)


@pytest.mark.docker
def test_rollback_starts_the_container_a_killed_run_left_stopped(
    tmp_path, busybox_image, docker_client
):
    path, web = attached(tmp_path, busybox_image, docker_client, free_port())
    reports = tmp_path / "report"
    try:
        proc = run_until_fault_applied(path, reports)
        kill_9(proc, reports)  # a crash of chaoskit and its guardian
        web.reload()
        assert web.status == "exited"
        result = chaoskit("rollback", str(reports))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "undone" in result.stdout
        web.reload()
        assert web.status == "running"
        assert "Nothing to roll back" in chaoskit("rollback", str(reports)).stdout
    finally:
        web.remove(force=True)


def test_a_missing_engine_exits_3_naming_what_to_install_or_start(tmp_path):
    path = experiment(tmp_path, "any:image", free_port(), fault_table("stop", 1.0))
    reports = tmp_path / "report"
    result = chaoskit(
        "run", str(path), "--report-dir", str(reports),
        env={"DOCKER_HOST": f"unix://{tmp_path}/dead.sock"},
    )  # fmt: skip
    assert result.returncode == 3, result.stdout + result.stderr
    text = " ".join((result.stdout + result.stderr).split())  # rich wraps lines
    assert f"no Docker engine answers at unix://{tmp_path}/dead.sock" in text
    assert "apt-get install docker.io" in text
    assert "DOCKER_HOST" in text
    assert "Traceback" not in result.stdout + result.stderr
    report = json.loads((reports / "report.json").read_text())
    assert report["verdict"] == "aborted"


@pytest.mark.docker
@pytest.mark.slow
def test_the_container_restart_experiment_recovers(tmp_path, busybox_image):
    """experiments/container-restart.toml, shortened, with the session's image in
    place of chaoskit/streaming:dev (no registry here to build that one from):
    the same command, the host's Python and the project mounted read-only."""
    port = free_port()
    volumes = json.dumps(python_volumes())
    reports = tmp_path / "report"
    result = chaoskit(
        "run", str(REPO / "experiments" / "container-restart.toml"),
        "--report-dir", str(reports),
        "--set", "experiment.duration=9s", "--set", "experiment.warmup=1s",
        "--set", "faults.0.at=3s", "--set", 'faults.0.timeout="2s"',
        "--set", "hypotheses.1.within=5s", "--set", "hypotheses.1.stable_for=1s",
        "--var", f"image={busybox_image}", "--var", f"port={port}",
        "--set", f"services.1.volumes={volumes}",
        "--set", f'services.1.workdir="{REPO}"',
        "--set", f'services.1.command.0="{sys.executable}"',
    )  # fmt: skip
    report = json.loads((reports / "report.json").read_text())
    assert result.returncode == 0, (report["hypotheses"], result.stdout[-3000:])
    (fault,) = report["faults"]
    assert (fault["kind"], fault["rolled_back"]) == ("restart", True)
    assert fault["actual_duration_s"] > 0  # the restart itself, measured
    recovery = next(h for h in report["hypotheses"] if h["kind"] == "recovery")
    assert recovery["passed"]
    assert recovery["observed"].startswith("recovered in")
    integrity = next(h for h in report["hypotheses"] if h["kind"] == "integrity")
    assert integrity["passed"], integrity
    assert integrity["data"]["acknowledged"] > 0
