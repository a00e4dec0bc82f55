"""`chaoskit capacity` against a service of known capacity (issue 18).

fixtures/capacity: 4 workers, each request holds one for 20 ms, so the service
answers at most 200 requests/s; 10 ms more on its database route hold each
worker 30 ms: 133 requests/s. The search finds both within 10 % (its
resolution is 5 %; the rest is room for a loaded machine's latency near the
boundary, which the p95 hypothesis judges).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import free_port
from tests.e2e.test_cli_run import REPO, _read, assert_gone, chaoskit, pids_started
from tests.e2e.test_cli_signals import assert_all_undone

EXPERIMENT = "experiments/capacity.toml"

# The searches measure a capacity, which other tests on the CPUs would lower:
# `make test` runs these alone, after the parallel part.
pytestmark = pytest.mark.serial


def free_ports() -> list[str]:
    """capacity.toml's fixed ports moved to free ones (a run of the file
    elsewhere on the machine must not collide)."""
    db, route, api = free_port(), free_port(), free_port()
    base = f"http://127.0.0.1:{api}"
    return [
        "--set", f'services.0.command.5="{db}"',
        "--set", f'proxy.routes.0.upstream="127.0.0.1:{db}"',
        "--set", f'proxy.routes.0.listen="127.0.0.1:{route}"',
        "--set", f'services.1.command.4="{api}"',
        "--set", f'services.1.health="{base}/health"',
        "--set", f'target.base_url="{base}"',
    ]  # fmt: skip


def within(value: float, expected: float, share: float = 0.10) -> bool:
    return abs(value - expected) <= share * expected


def test_capacity_is_found_with_and_without_a_fault_as_predicted(tmp_path):
    reports = tmp_path / "capacity"
    result = chaoskit(
        "capacity", EXPERIMENT, "--fault", "slow db", "--report-dir", str(reports),
        *free_ports(), timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((reports / "report.json").read_text())
    assert report["verdict"] == "passed"
    baseline, fault = report["baseline"], report["capacity"]
    assert baseline["unit"] == fault["unit"] == "requests/s"
    # The held level and the broken one bracket the capacity.
    assert within(baseline["value"], 200), baseline
    assert baseline["high"] is None or baseline["high"] > baseline["value"]
    assert within(fault["value"], 4 / 0.030), fault
    assert 0.2 < report["margin"] < 0.45  # 1 - 133/200 = 0.33
    assert report["broke_first"]["hypothesis"] == "fast"
    assert report["broke_first"]["how"] == "latency"
    assert report["knee"] is not None
    assert {row["search"] for row in report["curve"]} == {"baseline", "fault"}
    csv = (reports / "capacity.csv").read_text().splitlines()
    assert csv[0].startswith("search,level,offered,achieved,p50_ms,p95_ms,p99_ms")
    assert len(csv) == len(report["curve"]) + 1
    assert (reports / "capacity.svg").read_text().startswith("<svg")
    assert 'id="capacity"' in (reports / "report.html").read_text()
    ledger = json.loads((reports / "ledger.json").read_text())
    assert ledger["closed"] is True
    assert [e for e in ledger["entries"] if e["state"] == "pending"] == []
    for pid in pids_started(reports):
        assert_gone(pid)
    # `chaoskit report DIR` renders the capacity files again from the journal.
    (reports / "capacity.csv").unlink()
    (reports / "report.html").unlink()
    again = chaoskit("report", str(reports))
    assert again.returncode == 0, again.stdout + again.stderr
    assert (reports / "capacity.csv").read_text().splitlines() == csv
    assert 'id="capacity"' in (reports / "report.html").read_text()


def test_vary_finds_the_worst_latency_tolerated_at_a_fixed_load(tmp_path):
    """At 100 requests/s the 4 workers keep up while 20 ms + L <= 40 ms."""
    reports = tmp_path / "vary"
    result = chaoskit(
        "capacity", EXPERIMENT, "--report-dir", str(reports),
        "--set", "capacity.vary=faults.0.latency", "--set", "capacity.resolution=10%",
        "--set", "capacity.trials=1", *free_ports(),
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((reports / "report.json").read_text())
    assert report["capacity"]["unit"] == "ms"
    assert report["vary"]["setting"] == "faults.0.latency"
    # Capacity 4 / (20 ms + L) >= 100/s: L <= 20 ms; within 10 ms either side
    # (a 10 % resolution, and p95 near the boundary).
    assert 10 <= report["capacity"]["value"] <= 30, report["capacity"]
    assert report["baseline"]["passed"] is True


def test_required_capacity_not_met_exits_1(tmp_path):
    reports = tmp_path / "required"
    result = chaoskit(
        "capacity", EXPERIMENT, "--report-dir", str(reports),
        "--set", "capacity.required=1000", "--set", "capacity.max=100",
        "--set", "capacity.min=50", *free_ports(),
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads((reports / "report.json").read_text())
    assert report["verdict"] == "failed"
    assert report["capacity"]["value"] == 100  # nothing broke up to max
    assert report["capacity"]["high"] is None


def test_bad_capacity_input_exits_2_naming_what_is_allowed(tmp_path):
    result = chaoskit("capacity", EXPERIMENT, "--fault", "no such fault")
    assert result.returncode == 2
    assert "'slow db'" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    result = chaoskit("capacity", EXPERIMENT, "--slo", "nope")
    assert result.returncode == 2
    assert "'fast'" in result.stdout + result.stderr
    result = chaoskit("capacity", EXPERIMENT, "--set", "capacity.vary=faults.3.latency")
    assert result.returncode == 2
    assert "capacity.vary" in result.stdout + result.stderr


def test_ctrl_c_during_a_search_rolls_back(tmp_path, separate_proxy):
    """SIGINT while a fault is held in a vary step: exit 3, every route, toxic
    and process gone, the ledger closed."""
    reports = tmp_path / "interrupted"
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaoskit", "capacity", EXPERIMENT,
         "--report-dir", str(reports), "--set", f"proxy.url={separate_proxy}",
         "--set", "capacity.vary=faults.0.latency", *free_ports()],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not any(r.get("kind") == "fault_applied" for r in _read(reports)):
            assert time.monotonic() < deadline, "no fault was ever held"
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        toxics = httpx.get(f"{separate_proxy}/proxies/db/toxics").json()
        assert [t["type"] for t in toxics] == ["latency"]
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 3, out + err
    assert "Traceback" not in out + err
    assert_all_undone(reports, separate_proxy)
