"""The lock and integrity experiments, end to end on the SQLite fixture.

``test_experiments.py`` runs both shortened and checks they pass; these check
what they measure: a lock held 3 s gives lock errors and a measured recovery
(with the users who hit them), and a service that acknowledges before it
persists loses writes on kill -9, which the integrity hypothesis catches.
"""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_experiments import REPO, chaoskit

SHORT = [
    "--set", "experiment.duration=9s", "--set", "experiment.warmup=1s",
    "--set", "faults.0.at=3s", "--set", "faults.0.for=3s",
]  # fmt: skip


@pytest.mark.slow
def test_a_lock_held_3s_gives_lock_errors_and_a_measured_recovery(tmp_path):
    reports = tmp_path / "report"
    result = chaoskit(
        "run", str(REPO / "experiments/watch-history-locks.toml"),
        "--report-dir", str(reports), *SHORT,
    )  # fmt: skip
    report = json.loads((reports / "report.json").read_text())
    assert result.returncode == 0, (report["hypotheses"], result.stdout[-2000:])
    locks = report["errors"]["body_pattern:lock"]
    assert locks["count"] > 20  # ~30 writes/s for 3 s, each refused after 200 ms
    assert all("lock" in s for s in locks["samples"])
    recovery = next(h for h in report["hypotheses"] if h["kind"] == "recovery")
    assert recovery["observed_value"] is not None
    assert recovery["observed_value"] <= 5
    (fault,) = report["faults"]
    assert (fault["kind"], fault["rolled_back"]) == ("lock", True)
    users = report["top_error_users_by_class"]["body_pattern:lock"]
    assert users
    assert users[0]["errors"] >= users[-1]["errors"] >= 1
    assert (
        "Users with the most body_pattern:lock errors"
        in (reports / "report.html").read_text()
    )


@pytest.mark.slow
def test_acknowledging_before_persisting_loses_writes_and_is_caught(tmp_path):
    reports = tmp_path / "report"
    result = chaoskit(
        "run", str(REPO / "experiments/ack-loss.toml"), "--report-dir",
        str(reports), *SHORT,
        "--set", 'services.0.env.STREAMING_ACK_BEFORE_PERSIST="1"',
    )  # fmt: skip
    report = json.loads((reports / "report.json").read_text())
    assert result.returncode == 1, result.stdout[-2000:]
    verdict = next(h for h in report["hypotheses"] if h["kind"] == "integrity")
    assert not verdict["passed"]
    data = verdict["data"]
    assert data["lost"] > 0
    assert data["lost_ids"]
    assert data["acknowledged"] > data["lost"]
    assert verdict["detail"].startswith(f"{data['lost']} acknowledged write(s) lost")
    assert "Lost writes" in result.stdout
    html = (reports / "report.html").read_text()
    assert "Acknowledged writes" in html
    assert data["lost_ids"][0] in html
