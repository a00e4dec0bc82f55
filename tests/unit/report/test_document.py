"""The report document: the report.json contract every renderer reads."""

from __future__ import annotations

import json

from chaoskit.report import SCHEMA_VERSION, build_document
from tests.unit.report.conftest import COMMAND, PASSWORD, TOKEN

CONTRACT = [
    "experiment",
    "verdict",
    "reason",
    "command",
    "started_at",
    "ended_at",
    "duration_s",
    "hypotheses",
    "faults",
    "phases",
    "tasks",
    "total",
    "phase_tasks",
    "series",
    "errors",
    "top_error_users",
    "services",
    "environment",
    "plan",
]
STATS = [
    "count",
    "errors",
    "dropped",
    "error_rate",
    "rps",
    "p50",
    "p90",
    "p95",
    "p99",
    "p999",
    "max",
    "mean",
    "service_p50",
    "service_p95",
    "service_p99",
    "lag_p50",
    "lag_p99",
]


def _decimals(value: float) -> int:
    text = repr(value)
    return len(text.split(".")[1]) if "." in text else 0


def test_document_has_every_contract_field_in_a_stable_order(outcome):
    """Every key DESIGN.md and the brief promise, experiment and verdict first."""
    doc = build_document(outcome)
    assert all(key in doc for key in CONTRACT)
    assert list(doc)[:4] == ["schema", "partial", "experiment", "verdict"]
    assert list(doc) == list(build_document(outcome))
    assert doc["schema"] == SCHEMA_VERSION
    assert doc["partial"] is False
    assert doc["experiment"] == {
        "name": "db-latency",
        "title": "Watch history survives 300 ms of PostgreSQL latency",
        "file": "experiments/db-latency.toml",
        "seed": 7,
        "environment": None,
    }
    assert doc["verdict"] == "failed"
    assert doc["exit_code"] == 1
    assert doc["reason"] is None
    assert doc["duration_s"] == 32.5
    assert doc["summary"] == {
        "hypotheses": 3,
        "passed": 2,
        "failed": 1,
        "inconclusive": 0,
        "faults": 2,
        "rolled_back": 1,
    }
    json.dumps(doc, allow_nan=False)  # JSON-ready as it is


def test_hypotheses_are_the_verdicts_json(outcome):
    """One entry per verdict with name, kind, passed, observed, expected, phase."""
    hypotheses = build_document(outcome)["hypotheses"]
    assert [h["name"] for h in hypotheses] == [
        "browse stays fast",
        "few lock errors",
        "recovers",
    ]
    failed = hypotheses[0]
    assert failed == {**outcome.verdicts[0].to_json()}
    assert failed["passed"] is False
    assert (failed["observed"], failed["expected"]) == ("p95 309.5ms", "below 250ms")
    assert failed["phase"] == "during"


def test_faults_show_planned_and_actual_windows_and_rollback(outcome):
    """Planned against actual, rolled back or not, errors kept (redacted)."""
    slow, kill = build_document(outcome)["faults"]
    assert slow["name"] == "slow db"
    assert slow["target"] == "route db"
    assert slow["settings"] == {"latency": "300ms", "jitter": "50ms"}
    assert (slow["planned_start_s"], slow["planned_end_s"]) == (10.0, 20.0)
    assert (slow["actual_start_s"], slow["actual_end_s"]) == (10.012, 20.004)
    assert slow["actual_duration_s"] == 9.992
    assert slow["started_at"].startswith("2026-11-22T10:00:12")
    assert slow["rolled_back"] is True
    assert slow["error"] is None
    assert kill["rolled_back"] is False
    assert kill["actual_end_s"] is None
    assert kill["actual_duration_s"] is None
    assert kill["settings"]["password"] == "***"  # noqa: S105 - the mask itself
    assert kill["error"] == "restart failed: http://admin:***@127.0.0.1:8000"


def test_task_stats_are_per_task_total_and_per_phase_in_rounded_ms(outcome):
    """Counts are exact; latencies are milliseconds with at most 3 decimals."""
    doc = build_document(outcome)
    tasks = doc["tasks"]
    assert list(tasks) == ["browse", "progress", "refresh_token"]
    assert all(key in tasks["browse"] for key in STATS)
    assert (tasks["browse"]["count"], tasks["browse"]["errors"]) == (300, 10)
    assert tasks["browse"]["errors_by_class"] == {"http_5xx": 10}
    assert tasks["progress"]["errors_by_class"] == {"body_pattern:database_locked": 15}
    # A task named like a credential keeps its numbers (names are not secrets).
    assert tasks["refresh_token"]["count"] == 30
    assert doc["total"]["count"] == 450
    assert doc["total"]["errors"] == 25
    assert doc["total"]["error_rate"] == round(25 / 450, 6)
    for stats in [*tasks.values(), doc["total"]]:
        for key in STATS:
            if isinstance(stats[key], float):
                assert _decimals(stats[key]) <= 6
        assert _decimals(stats["p95"]) <= 3
    during = doc["phase_tasks"]["during:slow db"]["browse"]
    before = doc["phase_tasks"]["before"]["browse"]
    assert set(doc["phase_tasks"]) == {"before", "during:slow db", "after:slow db"}
    assert during["count"] == before["count"] == 100
    assert 300 <= during["p50"] <= 310  # the 300 ms fault, within the 1% histogram
    assert before["p95"] < 20


def test_series_has_one_entry_per_second_labelled_with_its_phase(outcome):
    """Charts read per-second windows: t, counts, errors, percentiles, per task."""
    series = build_document(outcome)["series"]
    assert [w["t"] for w in series] == [float(t) for t in range(30)]
    assert {w["phase"] for w in series[:10]} == {"before"}
    assert {w["phase"] for w in series[11:20]} == {"during:slow db"}
    assert series[25]["phase"] == "after:slow db"
    window = series[5]
    assert window["count"] == 15
    assert window["errors"] == 0
    assert window["tasks"] == {
        "browse": {"count": 10, "errors": 0},
        "progress": {"count": 4, "errors": 0},
        "refresh_token": {"count": 1, "errors": 0},
    }
    assert all(
        key in window
        for key in ("t", "count", "errors", "error_rate", "p50", "p95", "p99")
    )
    assert series[15]["p95"] > 290
    assert series[15]["errors"] > 0


def test_errors_have_counts_shares_and_redacted_samples(outcome):
    """Most frequent first; samples quote the detail with credentials masked."""
    errors = build_document(outcome)["errors"]
    assert list(errors) == ["body_pattern:database_locked", "http_5xx"]
    assert errors["body_pattern:database_locked"]["count"] == 15
    assert errors["body_pattern:database_locked"]["share"] == 0.6
    sample = errors["http_5xx"]["samples"][0]
    assert sample == "browse: 500 from upstream; Authorization: ***"


def test_top_error_users_shows_who_hit_the_lock_errors(outcome):
    """Users ranked by errors, with their counts by class; at most ten."""
    users = build_document(outcome)["top_error_users"]
    assert len(users) <= 10
    assert [u["errors"] for u in users] == sorted(
        (u["errors"] for u in users), reverse=True
    )
    by_user = {u["user"]: u for u in users}
    assert by_user[3]["by_class"] == {"body_pattern:database_locked": 10}
    assert by_user[1]["errors"] == 5
    assert 2 not in by_user  # user 2 never failed


def test_top_error_users_by_class_ranks_each_class_on_its_own(outcome):
    """Per error class, the users with the most of it: who hit the lock errors."""
    by_class = build_document(outcome)["top_error_users_by_class"]
    locked = by_class["body_pattern:database_locked"]
    assert locked[0] == {"user": 3, "errors": 10}
    for users in by_class.values():
        counts = [u["errors"] for u in users]
        assert counts == sorted(counts, reverse=True)
        assert len(users) <= 10
    assert all(2 not in {u["user"] for u in users} for users in by_class.values())


def test_services_environment_and_plan(outcome):
    """Services with addresses (redacted), where it ran, and the plan text."""
    doc = build_document(outcome)
    db, api = doc["services"]
    assert db == {
        "name": "db",
        "kind": "postgres",
        "address": "127.0.0.1:25432",
        "pid": 4242,
        "ready_after_s": 1.25,
        "logs": ["db.log"],
    }
    assert api["address"] == "http://app:***@127.0.0.1:8000"
    env = doc["environment"]
    for key in ("python", "platform", "chaoskit", "hostname", "cpu_count"):
        assert key in env
    assert env["ci"] == "true"  # the outcome's own entries are kept
    assert doc["plan"].startswith("0s-10s before")
    assert doc["phases"][1] == {
        "name": "during:slow db",
        "start_s": 10.0,
        "end_s": 20.0,
    }


def test_no_secret_survives_in_the_document(outcome):
    """The token, the password and the URL credentials never reach the document."""
    doc = build_document(outcome, secrets=["extra-literal-secret"])
    text = json.dumps(doc)
    assert TOKEN not in text
    assert "SECRET-TOKEN" not in text
    assert PASSWORD not in text
    assert doc["command"] == COMMAND.replace(f"Bearer {TOKEN}", "***")
