"""The retry experiments fail the way they should when the service misbehaves.

Their passing runs are in ``test_experiments`` (every shipped experiment);
here a bad retry policy and a missing fallback, set with ``--var`` (the
variables the experiment's command uses), each fail with a verdict naming the
broken rule, in one run shortened to a 7 s timeline (``fallback.toml``'s own
failure, with the fallback off, is the same evaluator:
tests/unit/checks/test_fallback.py).
"""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_experiments import REPO, chaoskit, same_ports

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
@same_ports("retry-backoff")
def test_immediate_retries_without_fallback_fail_both_hypotheses(tmp_path):
    """One run, two broken services: retries in a storm, and no fallback."""
    verdicts = run(
        tmp_path,
        "retry-backoff",
        "--var", "retry=immediate",
        "--var", "fallback=off",
    )  # fmt: skip
    backoff = verdicts["backoff"]
    assert not backoff["passed"]
    assert backoff["detail"].startswith("min_growth: ")
    assert "min_growth" in backoff["data"]["broken"]
    assert backoff["data"]["sequences"]
    fallback = verdicts["fallback"]
    assert not fallback["passed"]
    # 503s, not answers: whatever a retry got live after the fault is all
    # that is good (fresh_within), far below the share.
    assert fallback["detail"].startswith("min_share: ")
    assert ": 0 marked," in fallback["detail"]
