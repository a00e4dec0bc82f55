"""Verdicts that cannot lie, end to end on real services (issue 12, items 1-2).

* A 500 whose body says "database is locked" is ``http_5xx`` *and* ``lock``:
  a hypothesis on either class fails, and the report says counts overlap.
* A real SQLite lock makes writes due during it finish after it: they are
  judged in ``during`` (the phase they were due in), not lost to ``after``.
* A phase with no request in it is ``inconclusive``: exit 1, its own word in
  every report, never "passed" and never worded as a failure.
* Requests still in flight when the load is cut off are ``unfinished``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

from tests.e2e.test_cli_run import _read, experiment
from tests.e2e.test_experiments import REPO, chaoskit
from tests.e2e.test_lock_experiments import _sqlite_experiment

NO_FAULT_LOCKED = """
[[load.tasks]]
name = "write"
path = "/locked"
"""


def _report(reports) -> dict:
    return json.loads((reports / "report.json").read_text())


@pytest.mark.slow
def test_a_500_saying_database_is_locked_fails_http_5xx_and_lock_hypotheses(tmp_path):
    path = experiment(
        tmp_path, duration="2s", faults=NO_FAULT_LOCKED, hypotheses="""
[[hypotheses]]
name = "no server errors"
phase = "all"
metric = "error_rate"
error_class = "http_5xx"
below = "1%"

[[hypotheses]]
name = "no lock errors"
phase = "all"
kind = "error_budget"
error_class = "lock"
max = "1%"

[[hypotheses]]
name = "nothing times out"
phase = "all"
metric = "error_rate"
error_class = "timeout"
below = "1%"
""",
    )  # fmt: skip
    reports = tmp_path / "report"
    result = chaoskit("run", str(path), "--report-dir", str(reports))
    report = _report(reports)
    assert result.returncode == 1, result.stdout[-2000:]
    held = {h["name"]: h["passed"] for h in report["hypotheses"]}
    assert held == {
        "no server errors": False,  # passed at 0.00% when classes were exclusive
        "no lock errors": False,
        "nothing times out": True,
    }
    statuses = {h["name"]: h["status"] for h in report["hypotheses"]}
    assert statuses == {
        "no server errors": "failed",
        "no lock errors": "failed",
        "nothing times out": "passed",
    }
    errors = report["errors"]
    writes = report["tasks"]["write"]["count"]
    assert writes > 20
    # Every write carries both facets; counts overlap and the report says so.
    assert errors["http_5xx"]["count"] == writes
    assert errors["body_pattern:lock"]["count"] == writes
    assert report["tasks"]["write"]["errors"] == writes
    assert errors["http_5xx"]["share"] == errors["body_pattern:lock"]["share"] == 1.0
    assert "can carry several classes" in report["errors_note"]
    assert "can carry several classes" in result.stdout
    assert "can carry several classes" in (reports / "report.html").read_text()
    failures = (reports / "failures.csv").read_text()
    assert "http_5xx" in failures
    assert "body_pattern:lock" in failures


@pytest.mark.slow
def test_writes_due_during_a_sqlite_lock_are_judged_in_during(tmp_path):
    """A 1 s exclusive lock; writes wait for it (busy timeout 5 s) and finish
    just after it. They belong to ``during``: the slow p95 is seen there."""
    code, report, _ = _sqlite_experiment(
        tmp_path, "lock-attribution", "4s", "5s", "rate = 40", "user", """
[[faults]]
name = "lock"
kind = "lock"
database = "{run.report.dir}/w.db"
at = "1.5s"
for = "1s"

[[hypotheses]]
name = "writes wait for the lock"
phase = "during"
metric = "p95"
above = "300ms"

[[hypotheses]]
name = "and none fails"
phase = "during"
metric = "error_rate"
below = "1%"
""",
    )  # fmt: skip
    assert code == 0, report["hypotheses"]
    during = report["phase_tasks"]["during:lock"]["progress"]
    assert during["count"] >= 30  # 40/s for 1 s, every one due in the window
    assert during["errors"] == 0
    assert during["p95"] > 300
    after = report["phase_tasks"]["after:lock"]["progress"]
    assert after["p95"] < during["p95"]
    # The one-second series by intended start shows the wait in the window.
    slow = [s for s in report["series"] if s["phase"] == "during:lock"]
    assert slow
    assert max(s["p95"] for s in slow) > 300


@pytest.mark.slow
def test_an_empty_phase_is_inconclusive_exit_1_in_every_report(tmp_path):
    """20 requests in the first 0.4 s, the fault from 1 s: nothing was due
    during it. Too little data is its own verdict, not a pass, not a failure."""
    path = experiment(
        tmp_path, duration="2.5s", faults="""
[[faults]]
name = "slow app"
kind = "latency"
route = "app"
at = "1s"
for = "1s"
latency = "50ms"
""",
        hypotheses="""
[[hypotheses]]
name = "fast during the fault"
metric = "p95"
below = "1s"

[[hypotheses]]
name = "no errors before"
phase = "before"
metric = "error_rate"
below = "1%"
""",
        extra="",
    )  # fmt: skip
    text = path.read_text().replace('warmup = "0.5s"', 'warmup = "0s"')
    path.write_text(text.replace("rate = 50", "rate = 50\nmax_requests = 20"))
    reports = tmp_path / "report"
    result = chaoskit("run", str(path), "--report-dir", str(reports))
    report = _report(reports)
    assert result.returncode == 1, result.stdout[-2000:]
    assert report["verdict"] == "inconclusive"
    empty, held = report["hypotheses"]
    assert (empty["status"], empty["passed"], empty["observed"]) == (
        "inconclusive", False, "no data",
    )  # fmt: skip
    assert held["status"] == "passed"
    assert report["summary"]["inconclusive"] == 1
    assert report["summary"]["failed"] == 0
    assert "INCONCLUSIVE" in result.stdout
    assert "could not be judged" in result.stdout
    assert "FAIL" not in result.stdout
    html = (reports / "report.html").read_text()
    assert "INCONCLUSIVE" in html
    junit = ET.fromstring((reports / "junit.xml").read_text())  # noqa: S314 - ours
    suite = junit.find("testsuite")
    assert suite is not None
    assert (suite.get("failures"), suite.get("errors")) == ("0", "1")
    (error,) = suite.iter("error")
    assert error.get("type") == "inconclusive"
    assert "nothing to judge" in (error.get("message") or "")


@pytest.mark.slow
def test_requests_in_flight_when_the_run_is_cut_off_are_unfinished(tmp_path):
    """A service that never answers, a 30 s timeout, the run interrupted twice
    (stop, then force): every request sent is in the report, as unfinished."""
    path = experiment(
        tmp_path, duration="20s", hypotheses="", faults="""
[[load.tasks]]
name = "hang"
path = "/hang"
weight = 3
""",
    )  # fmt: skip
    path.write_text(path.read_text().replace('timeout = "2s"', 'timeout = "30s"'))
    reports = tmp_path / "report"
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaoskit", "run", str(path), "--report-dir",
         str(reports)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not any(
            r.get("kind") == "progress" and r.get("elapsed_s", 0) >= 2
            for r in _read(reports)
        ):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never got going"
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGINT)  # stop: in-flight requests are awaited
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGINT)  # force: they are cut off
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3, out[-2000:]
    report = _report(reports)
    hang = report["tasks"]["hang"]
    assert hang["count"] > 0
    assert report["errors"]["unfinished"]["count"] == hang["errors"] == hang["count"]
    assert report["tasks"]["ok"]["errors"] == 0


# Started in the chaoskit process (sitecustomize): a library that warns in the
# middle of the run, from the event loop and from a worker thread, as Hypothesis
# does about a large repr during an invalid-payloads fault.
_WARNING_LIBRARY = """
import threading
import warnings


def _patch():
    from hypothesis.errors import HypothesisWarning
    from chaoskit.runner import timeline

    original = timeline.Timeline.run

    async def run(self):
        warnings.warn("repr of a 1 MB payload: " + "x" * 5000, HypothesisWarning)
        worker = threading.Thread(
            target=lambda: warnings.warn("from a worker", HypothesisWarning)
        )
        worker.start()
        worker.join()
        await original(self)

    timeline.Timeline.run = run


_patch()
"""


@pytest.mark.slow
def test_library_warnings_go_to_the_journal_and_log_never_the_console(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(_WARNING_LIBRARY)
    path = experiment(
        tmp_path, duration="1.5s", faults="", hypotheses="""
[[hypotheses]]
name = "no errors"
phase = "all"
metric = "error_rate"
below = "1%"
""",
    )  # fmt: skip
    reports = tmp_path / "report"
    result = subprocess.run(
        [sys.executable, "-m", "chaoskit", "run", str(path), "--report-dir",
         str(reports)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Warning" not in result.stdout + result.stderr
    assert "xxxxx" not in result.stdout + result.stderr
    kinds = [r for r in _read(reports) if r.get("kind") == "library_warning"]
    assert [r["category"] for r in kinds] == ["HypothesisWarning"] * 2
    assert "from a worker" in kinds[1]["message"]
    log = (reports / "chaoskit.log").read_text()
    assert log.count('"event": "library_warning"') == 2
