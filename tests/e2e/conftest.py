"""Runs shared by several e2e tests: one `chaoskit run` each, asserted on apart.

A run is the slow part of an e2e test (services, a timeline, a report); tests
that only read a finished run's report, journal or ledger share it instead of
starting the same run again. Nothing here changes a finished run's files.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

Run = tuple[subprocess.CompletedProcess[str], Path]


@pytest.fixture(scope="session")
def shipped_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Run]:
    """``shipped_run(path, *args)``: `chaoskit run path --report-dir D *args`,
    once per session for the same arguments; the process and D."""
    from tests.e2e.test_experiments import chaoskit

    runs: dict[tuple[str, ...], Run] = {}

    def run(path: Path, *args: str) -> Run:
        key = (str(path), *args)
        if key not in runs:
            reports = tmp_path_factory.mktemp(Path(path).stem) / "report"
            result = chaoskit("run", str(path), "--report-dir", str(reports), *args)
            runs[key] = (result, reports)
        return runs[key]

    return run


@pytest.fixture(scope="session")
def slow_app_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Path]:
    """The tiny app with a latency fault, three passing hypotheses: the run,
    and its experiment file (test_cli_run's contract, test_cli_report's re-render).
    """
    from tests.e2e.test_cli_run import SLOW_APP, chaoskit, experiment

    tmp_path = tmp_path_factory.mktemp("slow-app")
    path = experiment(
        tmp_path,
        faults=SLOW_APP,
        hypotheses="""
[[hypotheses]]
name = "slow but within budget"
metric = "p95"
below = "600ms"

[[hypotheses]]
name = "no errors"
phase = "all"
metric = "error_rate"
below = "1%"

[[hypotheses]]
name = "recovers"
kind = "recovery"
within = "2s"
stable_for = "1s"
""",
    )
    reports = tmp_path / "report"
    result = chaoskit("run", str(path), "--report-dir", str(reports))
    return (result, reports), path


@pytest.fixture
def separate_proxy():
    """A `chaoskit proxy` of our own, so we can look at it after the run."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaoskit", "proxy", "--port", "0"],
        cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    url = proc.stdout.readline().split("API on ")[1].split()[0]
    yield url
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=15)
    proc.stdout.close()
