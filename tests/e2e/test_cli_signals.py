"""Every way a run can be told to stop, with real signals to a real `chaoskit run`.

SIGHUP (a closed terminal, a dropped SSH session) and SIGQUIT used to kill
chaoskit with its faults, services and proxy left in place (issue 13, item 1);
they now roll back like SIGINT and SIGTERM. A run under ``nohup`` keeps going.
`chaoskit rollback` leaves the ledger of a live run alone (item 5).
"""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_cli_run import (
    REPO,
    SLOW_APP,
    _read,
    assert_gone,
    chaoskit,
    experiment,
    journal,
    long_fault_experiment,
    pids_started,
    run_until_fault_applied,
)


def wait_fault_applied(proc: subprocess.Popen[bytes], reports: Path) -> None:
    deadline = time.monotonic() + 60
    while not any(r.get("kind") == "fault_applied" for r in _read(reports)):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise AssertionError(f"the fault was never applied ({proc.returncode})")
        time.sleep(0.1)


def assert_all_undone(reports: Path, proxy_url: str) -> None:
    """No route or toxic on the proxy, no process started, a closed ledger."""
    assert httpx.get(f"{proxy_url}/proxies").json() == {}
    for pid in pids_started(reports):
        assert_gone(pid)
    ledger = json.loads((reports / "ledger.json").read_text())
    assert ledger["closed"] is True
    assert [e for e in ledger["entries"] if e["state"] == "pending"] == []
    assert journal(reports)[-1]["type"] == "run_finished"
    assert json.loads((reports / "report.json").read_text())["verdict"] == "aborted"


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGQUIT, signal.SIGTERM])
def test_a_stop_signal_rolls_back_and_exits_3(tmp_path, separate_proxy, sig):
    reports = tmp_path / "report"
    proc = run_until_fault_applied(
        long_fault_experiment(tmp_path), reports, separate_proxy, capture=True
    )
    try:
        os.kill(proc.pid, sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, out + err
    assert f"interrupted by {sig.name}" in out
    assert "Traceback" not in out + err
    assert_all_undone(reports, separate_proxy)


def test_a_closed_terminal_rolls_back_although_the_console_is_gone(
    tmp_path, separate_proxy
):
    """The terminal goes away (its master side closed, then SIGHUP, as the
    kernel does): every write to the console fails with EIO from then on, and
    the rollback must not die of it."""
    reports = tmp_path / "report"
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaoskit", "run", str(long_fault_experiment(tmp_path)),
         "--report-dir", str(reports), "--set", f"proxy.url={separate_proxy}"],
        cwd=REPO, stdin=slave, stdout=slave, stderr=slave,
    )  # fmt: skip
    os.close(slave)
    try:
        # Drain the terminal while the run starts, so it never blocks on it.
        deadline = time.monotonic() + 60
        while not any(r.get("kind") == "fault_applied" for r in _read(reports)):
            assert time.monotonic() < deadline
            assert proc.poll() is None
            try:
                os.read(master, 65536)
            except OSError:
                break
        os.close(master)
        os.kill(proc.pid, signal.SIGHUP)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3
    assert_all_undone(reports, separate_proxy)


def test_a_reader_gone_from_the_pipe_does_not_stop_the_rollback(
    tmp_path, separate_proxy
):
    """`chaoskit run ... | head`: the reader leaves, every write gets EPIPE."""
    reports = tmp_path / "report"
    proc = run_until_fault_applied(
        long_fault_experiment(tmp_path), reports, separate_proxy, capture=True
    )
    try:
        assert proc.stdout is not None
        proc.stdout.close()
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3, err
    assert "Traceback" not in err
    assert_all_undone(reports, separate_proxy)


def test_a_second_signal_during_the_rollback_does_not_stop_it(tmp_path, separate_proxy):
    """SIGHUP, then at once SIGTERM (what a closing session manager may send):
    the second only shortens each undo's deadline; everything is undone."""
    reports = tmp_path / "report"
    proc = run_until_fault_applied(
        long_fault_experiment(tmp_path), reports, separate_proxy, capture=True
    )
    try:
        os.kill(proc.pid, signal.SIGHUP)
        while not any(r.get("kind") == "interrupted" for r in _read(reports)):
            assert proc.poll() is None
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, out + err
    forced = [r for r in journal(reports) if r.get("kind") == "interrupted"]
    assert [r.get("forced", False) for r in forced] == [False, True]
    assert_all_undone(reports, separate_proxy)


def test_a_run_under_nohup_ignores_sighup_and_finishes(tmp_path, separate_proxy):
    """nohup ignores SIGHUP before it starts chaoskit: that choice is kept."""
    path = experiment(tmp_path, faults=SLOW_APP, hypotheses="", duration="4s")
    reports = tmp_path / "report"
    proc = subprocess.Popen(
        ["nohup", sys.executable, "-m", "chaoskit", "run", str(path),
         "--report-dir", str(reports), "--set", f"proxy.url={separate_proxy}"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_fault_applied(proc, reports)
        os.kill(proc.pid, signal.SIGHUP)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, (out + err).decode()
    assert not [r for r in journal(reports) if r.get("kind") == "interrupted"]
    report = json.loads((reports / "report.json").read_text())
    assert report["verdict"] == "passed"
    assert report["faults"][0]["rolled_back"] is True
    assert httpx.get(f"{separate_proxy}/proxies").json() == {}


def test_rollback_leaves_a_live_run_alone_unless_forced(tmp_path, separate_proxy):
    runs = tmp_path / "runs"
    live = run_until_fault_applied(
        long_fault_experiment(tmp_path), runs / "live", separate_proxy, capture=True
    )
    try:
        for where in (runs, runs / "live"):
            result = chaoskit("rollback", str(where))
            assert result.returncode == 2, result.stdout + result.stderr
            assert "still going" in result.stdout
            assert f"pid {live.pid}" in result.stdout
            assert "--force" in result.stdout
            toxics = httpx.get(f"{separate_proxy}/proxies/app/toxics").json()
            assert [t["type"] for t in toxics] == ["latency"]
        assert live.poll() is None
        result = chaoskit("rollback", "--force", str(runs))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "undone" in result.stdout
        assert httpx.get(f"{separate_proxy}/proxies").json() == {}
    finally:
        live.send_signal(signal.SIGINT)
        out, err = live.communicate(timeout=60)
    # The live run then rolls back what is left (nothing) and ends as usual.
    assert live.returncode == 3, out + err
    assert "Traceback" not in out + err
    for pid in pids_started(runs / "live"):
        assert_gone(pid)


def test_a_huge_rate_keeps_the_run_responsive_to_signals(tmp_path):
    """rate = 10 million/s on a 2-core machine: the timeline keeps reporting
    progress, SIGTERM stops the run, and the report says what was achieved
    (issue 13, item 2: the run used to spin for minutes, deaf to signals)."""
    path = experiment(tmp_path, hypotheses="", duration="120s")
    path.write_text(path.read_text().replace("rate = 50", "rate = 10_000_000"))
    reports = tmp_path / "report"
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaoskit", "run", str(path), "--report-dir",
         str(reports)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        # Two progress events: the timeline ticks while the load runs flat out.
        while len([r for r in _read(reports) if r.get("kind") == "progress"]) < 2:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no progress from the timeline"
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3, out + err
    assert "interrupted by SIGTERM" in out
    assert "could not keep up" in out
    load = json.loads((reports / "report.json").read_text())["load"]
    assert load["late"] > 0
    assert load["achieved_rps"] < load["scheduled_rps"]
    assert "could not keep up" in load["warning"]
    for pid in pids_started(reports):
        assert_gone(pid)


def test_a_stop_signal_while_leftovers_are_undone_waits_for_the_undo(tmp_path):
    """The next run undoes a killed run's leftovers first; SIGHUP meanwhile
    lets that undo finish (a process deaf to SIGTERM: 10 s, then SIGKILL),
    then ends the run before it starts anything (exit 3)."""
    deaf = subprocess.Popen(
        [sys.executable, "-c", "import signal, time; "
         "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"],
        start_new_session=True,
    )  # fmt: skip
    try:
        started = int(Path(f"/proc/{deaf.pid}/stat").read_text().rsplit(")", 1)[1]
                      .split()[19])  # fmt: skip
        killed = tmp_path / "runs" / "killed"
        killed.mkdir(parents=True)
        (killed / "ledger.json").write_text(json.dumps({
            "run": {"pid": 2**22 + 1, "pid_started": 1},
            "closed": False,
            "entries": [{"id": 1, "state": "pending", "kind": "process",
                         "description": "stop deaf", "pid": deaf.pid,
                         "start_time": started, "name": "deaf"}],
        }))  # fmt: skip
        following = tmp_path / "runs" / "next"
        proc = subprocess.Popen(
            [sys.executable, "-m", "chaoskit", "run",
             str(experiment(tmp_path, hypotheses="", duration="2s")),
             "--report-dir", str(following)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        try:
            # The undo has begun once it says so (unbuffered output).
            assert proc.stdout is not None
            seen = ""
            while "An earlier run left changes in place" not in seen:
                line = proc.stdout.readline()
                assert line, f"the run ended first: {seen}"
                seen += line
            time.sleep(0.5)  # the leftover undo is waiting out its 10 s
            os.kill(proc.pid, signal.SIGHUP)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 3, seen + out + err
        assert "interrupted by SIGHUP before the run started" in out
        assert deaf.wait(timeout=10) == -signal.SIGKILL
        ledger = json.loads((killed / "ledger.json").read_text())
        assert ledger["entries"][0]["state"] == "done"
        assert not (following / "journal.jsonl").exists()
    finally:
        if deaf.poll() is None:
            deaf.kill()
            deaf.wait()
