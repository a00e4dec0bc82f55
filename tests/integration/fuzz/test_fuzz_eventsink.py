"""The fuzzer against the real event sink: the correct one passes, each broken
rule is caught, shrunk to a minimal payload, and replayed from the report."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from chaoskit.fuzz.checks import CheckConfig
from chaoskit.fuzz.engine import FuzzConfig, fuzz
from chaoskit.fuzz.findings import load_findings, replay, write_findings
from chaoskit.fuzz.model import load_model
from chaoskit.fuzz.strategies import Rule
from tests.integration.fuzz.eventsink import SCHEMA, eventsink

MODEL = load_model(SCHEMA)
CORS = CheckConfig(cors_origin="http://localhost:3000")


def config(url: str, **kwargs) -> FuzzConfig:
    return FuzzConfig(
        url=url,
        batch_path="/events/batch",
        seed=5,
        time_limit=120,  # a safety net: the runs end at their example budget
        checks=CORS,
        **kwargs,
    )


def test_correct_sink_passes_and_stays_on_loopback(tmp_path: Path) -> None:
    with eventsink(log=tmp_path / "log") as url:
        result = fuzz(MODEL, config(url, max_examples=400))
    assert result.findings == []
    assert result.requests == 400
    assert set(result.hosts) == {"127.0.0.1"}  # no request left loopback
    assert len(result.by_rule) >= 12  # most rules were exercised


def test_progress_range_is_caught_shrunk_and_replayed(tmp_path: Path) -> None:
    rules = frozenset({Rule.OUT_OF_RANGE})
    with eventsink("--break", "progress-range", log=tmp_path / "log") as url:
        result = fuzz(MODEL, config(url, max_examples=800, rules=rules))
        crashes = [f for f in result.findings if f.check == "no-5xx"]
        assert crashes, result.findings
        finding = crashes[0]
        payload = json.loads(finding.body or b"")
        assert finding.rule == "out-of-range"
        assert finding.status == 500
        # Shrunk: the heartbeat's required fields only, at their smallest.
        assert payload["type"] == "heartbeat"
        assert set(payload) == {
            "type",
            "session_id",
            "timestamp",
            "position",
            "progress",
        }
        # Outside 0..100: at a bound the schema states, or far past one.
        assert not 0 <= payload["progress"] <= 100
        assert finding.keyword.endswith("properties/progress/maximum") or (
            finding.keyword.endswith("properties/progress/minimum")
        )
        assert payload["timestamp"] == 0
        assert payload["position"] == 0
        assert "curl" in finding.curl
        assert "/events" in finding.curl
        write_findings(tmp_path / "report", result.findings, {"seed": 5})
        _, stored = load_findings(tmp_path / "report")
        with httpx.Client(base_url=url) as client:
            verdicts = replay(client, stored, CORS)
        assert {v for _, v, _ in verdicts} == {"failing"}
    # The same findings against the correct sink: fixed.
    with eventsink(log=tmp_path / "log2") as url, httpx.Client(base_url=url) as client:
        assert {v for _, v, _ in replay(client, stored, CORS)} == {"fixed"}


def test_missing_field_is_caught(tmp_path: Path) -> None:
    rules = frozenset({Rule.MISSING_REQUIRED})
    with eventsink("--break", "missing-field", log=tmp_path / "log") as url:
        result = fuzz(MODEL, config(url, max_examples=200, rules=rules))
    accepted = [f for f in result.findings if f.check == "invalid-refused"]
    assert accepted, result.findings
    payload = json.loads(accepted[0].body or b"")
    assert accepted[0].status == 202
    assert "session_id" not in payload
    # The keyword that rejects it: a variant's required, for session_id.
    assert accepted[0].keyword.endswith("/required/session_id")


def test_the_time_limit_bounds_the_run(tmp_path: Path) -> None:
    """A huge example budget still stops at the time limit (plus one request)."""
    with eventsink(log=tmp_path / "log") as url:
        limited = FuzzConfig(url=url, seed=1, max_examples=1_000_000, time_limit=3.0)
        result = fuzz(MODEL, limited)
    assert result.timed_out
    # 3 s and the health checks; far from what a million examples would take.
    # (1 s once sent nothing on a loaded machine.)
    assert result.elapsed < 15.0
    assert 0 < result.requests < 1_000_000
