"""Checks before the run (exit 2, nothing started) and the sender's settings:
unknown rules and unreadable payload models are reported with key paths;
the run is bounded by rate x window; the replay command fits the fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaoskit import spec
from chaoskit.errors import SpecError
from chaoskit.faults.payloads import (
    MAX_REQUESTS,
    PayloadSender,
    load_payload_model,
    payload_fault_issues,
    payload_rules,
)
from chaoskit.fuzz.rules import Rule
from chaoskit.session import load_and_plan
from chaoskit.spec.model import PayloadFault

REPO = Path(__file__).resolve().parents[3]
EXPERIMENT = """
[experiment]
name = "payloads"
duration = "20s"
seed = 9

[target]
base_url = "http://127.0.0.1:8100"

[load]
rate = 5

[[load.tasks]]
name = "send"
path = "/events"

[[faults]]
name = "garbage"
kind = "invalid-payloads"
at = "5s"
for = "10s"
rate = 30
{shape}
rules = {rules}

[[hypotheses]]
name = "refused"
kind = "fuzz"
"""


def write(tmp_path: Path, shape: str, rules: str = "[]") -> Path:
    path = tmp_path / "payloads.toml"
    path.write_text(EXPERIMENT.format(shape=shape, rules=rules))
    return path


def test_unknown_rules_and_missing_files_are_spec_errors(tmp_path: Path) -> None:
    path = write(tmp_path, 'schema = "nope.json"', '["out-of-rnage", "valid"]')
    with pytest.raises(SpecError) as caught:
        load_and_plan(path, (), None)
    text = str(caught.value)
    assert "faults[0].rules[0]: is not a fuzzing rule (got 'out-of-rnage')" in text
    assert "did you mean 'out-of-range'?" in text
    assert "faults[0].schema: schema file not found:" in text
    bad = tmp_path / "events.jsonl"
    bad.write_text("[1, 2]")
    issues = payload_fault_issues(
        spec.load(write(tmp_path, f'examples = "{bad.name}"')), tmp_path
    )
    assert [str(i).split(":")[0] for i in issues] == ["faults[0].examples"]
    assert "example 0 is integer, not a JSON object" in str(issues[0])


def test_a_valid_fault_plans_and_models_relative_to_the_file(tmp_path: Path) -> None:
    schema = REPO / "fixtures" / "eventsink" / "schema.json"
    (tmp_path / "event.json").write_text(schema.read_text())
    experiment, plan = load_and_plan(
        write(tmp_path, 'schema = "event.json"', '["out-of-range"]'), (), None
    )
    (fault,) = experiment.faults
    assert isinstance(fault, PayloadFault)
    assert len(load_payload_model(fault, tmp_path).schema.root["oneOf"]) == 15
    assert payload_rules(fault) == {Rule.OUT_OF_RANGE, Rule.VALID}
    assert "fuzzed payloads at 30/s to POST the target /events" in plan.describe()
    sender = PayloadSender(
        fault, load_payload_model(fault, tmp_path), base_url="http://127.0.0.1:8100/",
        seed=plan.seed, report_dir=tmp_path / "r", tallies={},
    )  # fmt: skip
    config = sender.config()
    assert config.max_examples == 301 <= MAX_REQUESTS  # 30/s for 10 s, bounded
    assert (config.time_limit, config.rate, config.seed) == (10.0, 30.0, 9)
    assert config.valid_share == pytest.approx(0.1)
    assert sender.tally.url == "http://127.0.0.1:8100/events"
    replay = "chaoskit fuzz --url http://127.0.0.1:8100 --budget 2 --replay"
    assert sender.tally.replay == f"{replay} {tmp_path / 'r'}"


def test_examples_model_the_fault_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "events.jsonl").write_text(
        '{"type": "playing", "session_id": "a", "timestamp": 1, "position": 2}\n'
        '{"type": "paused", "session_id": "b", "timestamp": 3, "position": 4}\n'
    )
    experiment = spec.load(write(tmp_path, 'examples = "events.jsonl"'))
    (fault,) = experiment.faults
    assert isinstance(fault, PayloadFault)
    model = load_payload_model(fault, tmp_path)
    tags = [b["properties"]["type"] for b in model.schema.root["oneOf"]]
    assert tags == [{"enum": ["playing"]}, {"enum": ["paused"]}]
    assert payload_fault_issues(experiment, tmp_path) == []


def test_the_target_headers_go_with_the_payloads_unless_sent_elsewhere(
    tmp_path: Path,
) -> None:
    # Without the target's credentials an authenticated API answers every
    # payload 401, and its validation is never reached.
    schema = REPO / "fixtures" / "eventsink" / "schema.json"
    (tmp_path / "event.json").write_text(schema.read_text())
    experiment, _ = load_and_plan(write(tmp_path, 'schema = "event.json"'), (), None)
    (fault,) = experiment.faults
    assert isinstance(fault, PayloadFault)
    fault = fault.model_copy(update={"headers": {"X-Tenant": "fault"}})
    target = {"Authorization": "Bearer t", "X-Tenant": "target"}
    model = load_payload_model(fault, tmp_path)
    sender = PayloadSender(
        fault, model, base_url="http://127.0.0.1:8100", seed=1,
        report_dir=tmp_path / "r", tallies={}, target_headers=target,
    )  # fmt: skip
    assert sender.config().headers == {"Authorization": "Bearer t", "X-Tenant": "fault"}
    elsewhere = fault.model_copy(update={"url": "http://127.0.0.1:8200"})
    sender = PayloadSender(
        elsewhere, model, base_url="http://127.0.0.1:8100", seed=1,
        report_dir=tmp_path / "r", tallies={}, target_headers=target,
    )  # fmt: skip
    assert sender.config().headers == {"X-Tenant": "fault"}
