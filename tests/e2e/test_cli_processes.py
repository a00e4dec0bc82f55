"""`chaoskit run` with ``[load] processes``: judged as one process would be; a
process killed mid-run is reported and the run goes on; Ctrl-C leaves no
generator process behind."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from chaoskit.metrics import read_samples
from tests.e2e.test_cli_run import (
    assert_gone,
    chaoskit,
    experiment,
    journal,
    run_until,
)

HYPOTHESES = """
[[hypotheses]]
name = "fast"
phase = "all"
metric = "p95"
below = "1s"

[[hypotheses]]
name = "no errors"
phase = "all"
metric = "error_rate"
below = "1%"
"""


def load_pids(reports: Path) -> list[int]:
    (started,) = [
        r for r in journal(reports)
        if r.get("kind") == "load_engine" and r.get("processes")
    ]  # fmt: skip
    return [int(pid) for pid in started["pids"]]


def test_two_processes_are_judged_like_one(tmp_path):
    path = experiment(tmp_path, hypotheses=HYPOTHESES, duration="2s")
    reports = {}
    for count in (1, 2):
        reports[count] = tmp_path / f"report-{count}"
        result = chaoskit(
            "run", str(path), "--report-dir", str(reports[count]),
            "--set", f"load.processes={count}",
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
    one, two = (json.loads((reports[n] / "report.json").read_text()) for n in (1, 2))
    assert one["verdict"] == two["verdict"] == "passed"
    assert [(h["name"], h["status"]) for h in one["hypotheses"]] == [
        (h["name"], h["status"]) for h in two["hypotheses"]
    ]
    # The open model's schedule is exact: the same requests, due at the same
    # offsets, in both runs (50/s over the 0.5 s warm-up and the 2 s timeline).
    samples = {n: list(read_samples(reports[n] / "samples.tsv")) for n in (1, 2)}
    assert len(samples[1]) == len(samples[2]) == 125

    def offsets(found):
        first = min(s.intended_ns for s in found)
        return sorted(round((s.intended_ns - first) / 1e6, 1) for s in found)

    assert offsets(samples[1]) == offsets(samples[2])
    # Both processes' samples are there: their users are even and odd.
    assert {s.user % 2 for s in samples[2]} == {0, 1}
    for pid in load_pids(reports[2]):
        assert_gone(pid)
    ledger = json.loads((reports[2] / "ledger.json").read_text())
    stops = [e for e in ledger["entries"] if "load process" in e["description"]]
    assert len(stops) == 2
    assert all(e["state"] == "done" for e in stops)


def test_a_killed_process_is_reported_and_the_run_goes_on(tmp_path):
    path = experiment(tmp_path, hypotheses=HYPOTHESES, duration="4s")
    reports = tmp_path / "report"
    proc = run_until(path, reports, "phase", "--set", "load.processes=2", capture=True)
    try:
        killed = load_pids(reports)[1]
        os.kill(killed, signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, out + err  # a verdict failed: the load fell short
    assert "Traceback" not in out + err
    (lost,) = [r for r in journal(reports) if r.get("kind") == "load_process_lost"]
    assert lost["pid"] == killed
    assert lost["how"] == "killed by SIGKILL"
    assert lost["share"] == "1/2 of the arrivals (25 requests/s)"
    report = json.loads((reports / "report.json").read_text())
    held = {h["name"]: h for h in report["hypotheses"]}[
        "load held: every generator process ran to the end"
    ]
    assert held["status"] == "failed"
    assert "the load fell short" in held["detail"]
    # The other process went on to the end of the schedule (0.5 s of warm-up
    # and 4 s: its last arrival is due 4.48 s after the first, 50/s in all).
    samples = list(read_samples(reports / "samples.tsv"))
    first = min(s.intended_ns for s in samples)
    last = max(s.intended_ns for s in samples if s.user % 2 == 0)
    assert (last - first) / 1e9 > 4.4


def test_ctrl_c_stops_every_process(tmp_path):
    path = experiment(tmp_path, hypotheses=HYPOTHESES, duration="60s")
    reports = tmp_path / "report"
    proc = run_until(path, reports, "phase", "--set", "load.processes=2", capture=True)
    try:
        pids = load_pids(reports)
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, out + err
    assert len(pids) == 2
    for pid in pids:
        assert_gone(pid)
    ledger = json.loads((reports / "ledger.json").read_text())
    assert [e for e in ledger["entries"] if e["state"] == "pending"] == []


def test_no_process_outlives_a_killed_chaoskit(tmp_path):
    """kill -9 of chaoskit: its generator processes die with it (and its
    guardian, which undoes the ledger, finds them gone)."""
    path = experiment(tmp_path, hypotheses=HYPOTHESES, duration="60s")
    reports = tmp_path / "report"
    proc = run_until(path, reports, "phase", "--set", "load.processes=2", capture=True)
    try:
        pids = load_pids(reports)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(pids) == 2
    for pid in pids:
        assert_gone(pid)
    # The guardian settles the ledger (the app, the proxy, the load processes).
    ledger = reports / "ledger.json"
    for _ in range(600):  # bounded: 60 s
        if json.loads(ledger.read_text())["closed"]:
            break
        time.sleep(0.1)
    entries = json.loads(ledger.read_text())["entries"]
    assert all(e["state"] == "done" for e in entries), entries
