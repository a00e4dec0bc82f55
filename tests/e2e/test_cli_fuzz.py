"""``chaoskit fuzz`` exit codes: 0 clean, 1 failures, 2 bad input, 3 unreachable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.integration.fuzz.eventsink import REPO, SCHEMA, eventsink


def chaoskit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaoskit", "fuzz", *args],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_clean_run_then_broken_run_then_replay(tmp_path: Path) -> None:
    with eventsink(log=tmp_path / "a.log") as url:
        done = chaoskit("--schema", str(SCHEMA), "--url", url, "--max-examples", "60")
        assert done.returncode == 0, done.stdout + done.stderr
    report = tmp_path / "report"
    with eventsink("--break", "missing-field", log=tmp_path / "b.log") as url:
        done = chaoskit(
            "--schema", str(SCHEMA), "--url", url, "--max-examples", "150",
            "--rule", "missing-required", "--report-dir", str(report), "--seed", "3",
        )  # fmt: skip
        assert done.returncode == 1, done.stdout + done.stderr
        assert "invalid-refused" in done.stdout
        assert "curl" in done.stdout
        again = chaoskit("--url", url, "--replay", str(report))
        assert again.returncode == 1
        assert "failing" in again.stdout
    with eventsink(log=tmp_path / "c.log") as url:
        fixed = chaoskit("--url", url, "--replay", str(report))
        assert fixed.returncode == 0, fixed.stdout + fixed.stderr


def test_bad_input_and_unreachable_target(tmp_path: Path) -> None:
    missing = chaoskit(
        "--schema", str(tmp_path / "no.json"), "--url", "http://127.0.0.1:1"
    )
    assert missing.returncode == 2
    assert "not found" in missing.stderr
    remote = chaoskit("--schema", str(SCHEMA), "--url", "http://192.0.2.1:80")
    assert remote.returncode == 2
    assert "loopback" in remote.stderr
    down = chaoskit("--schema", str(SCHEMA), "--url", f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 3, down.stderr


def test_examples_instead_of_a_schema(tmp_path: Path) -> None:
    """A JSON-lines file of valid events stands in for the schema."""
    examples = tmp_path / "events.jsonl"
    stops = [{"reason": "user"}, {"reason": "ended"}] * 2
    kinds = [("playing", {}), ("paused", {})] * 2 + [("stopped", s) for s in stops]
    examples.write_text(
        "\n".join(
            json.dumps(
                {
                    "type": kind,
                    "session_id": f"s{i}",
                    "timestamp": 1000 + i,
                    "position": i,
                    **extra,
                }
            )
            for i, (kind, extra) in enumerate(kinds)
        )
    )
    with eventsink("--break", "missing-field", log=tmp_path / "b.log") as url:
        done = chaoskit(
            "--examples", str(examples), "--url", url, "--max-examples", "150",
            "--rule", "missing-required", "--seed", "3",
        )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"from {examples} (JSON Schema 2020-12)" in done.stdout
    assert "invalid-refused" in done.stdout  # session_id missing, accepted
    both = chaoskit("--schema", str(SCHEMA), "--examples", str(examples), "--url", url)
    assert both.returncode == 2
    assert "give exactly one of schema, examples" in both.stderr
    neither = chaoskit("--url", url)
    assert neither.returncode == 2
    assert "--schema, --examples, --openapi or --asyncapi is required" in neither.stderr


@pytest.mark.slow
@pytest.mark.parametrize("seed", ["1", "2", "3"])
@pytest.mark.parametrize(
    ("broken", "check", "rule"),
    [
        ("progress-range", "no-5xx", "out-of-range"),
        ("missing-field", "invalid-refused", "missing-required"),
    ],
)
def test_each_broken_rule_is_found_with_every_rule_and_its_minimal_payload(
    tmp_path: Path, broken: str, check: str, rule: str, seed: str
) -> None:
    """Every rule, an ordinary budget: the targeted pass reaches the broken
    keyword whatever the seed, and the payload breaks only that keyword."""
    report = tmp_path / "report"
    with eventsink("--break", broken, log=tmp_path / "sink.log") as url:
        done = chaoskit(
            "--schema", str(SCHEMA), "--url", url, "--max-examples", "450",
            "--seed", seed, "--report-dir", str(report),
        )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "keyword locations:" in done.stdout
    findings = json.loads((report / "findings.json").read_text())["findings"]
    failing = [f for f in findings if not f.get("hardening")]
    assert {(f["check"], f["rule"]) for f in failing} == {(check, rule)}, failing
    payload = json.loads(failing[0]["body"])
    if broken == "progress-range":
        assert payload["type"] == "heartbeat"
        assert not 0 <= payload["progress"] <= 100
        assert set(payload) == {"type", "session_id", "timestamp", "position",
                                "progress"}  # fmt: skip
    else:
        assert "session_id" not in payload
        assert failing[0]["keyword"].endswith("/required/session_id")
