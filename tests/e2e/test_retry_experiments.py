"""The retry experiments fail the way they should when the service misbehaves.

Their passing runs are in ``test_experiments`` (every shipped experiment);
here a bad retry policy and a missing fallback, set with ``--set`` on the
streaming service's command, each fail with a verdict naming the broken rule.
Shortened to a 7 s timeline.
"""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_experiments import REPO, chaoskit

SHORTER = [
    "--set", "experiment.duration=7s", "--set", "experiment.warmup=500ms",
    "--set", "faults.0.at=2s", "--set", "faults.0.for=3s",
]  # fmt: skip


def run(tmp_path, name: str, *overrides: str) -> dict:
    reports = tmp_path / "report"
    path = REPO / "experiments" / f"{name}.toml"
    result = chaoskit(
        "run", str(path), "--report-dir", str(reports), *SHORTER, *overrides
    )
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((reports / "report.json").read_text())
    assert all(f["rolled_back"] for f in report["faults"])
    return {h["kind"]: h for h in report["hypotheses"]}


@pytest.mark.slow
def test_immediate_retries_fail_the_backoff_hypothesis(tmp_path):
    verdicts = run(
        tmp_path, "retry-backoff", "--set", "services.2.command.17=immediate"
    )
    backoff = verdicts["backoff"]
    assert not backoff["passed"]
    assert backoff["detail"].startswith("min_growth: ")
    assert "min_growth" in backoff["figures"]["broken"]
    assert backoff["figures"]["sequences"]


@pytest.mark.slow
def test_a_service_without_fallback_fails_the_fallback_hypothesis(tmp_path):
    verdicts = run(tmp_path, "fallback", "--set", "services.2.command.20=off")
    fallback = verdicts["fallback"]
    assert not fallback["passed"]
    assert fallback["detail"].startswith("min_share: 0 of ")
