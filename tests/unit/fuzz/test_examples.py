"""The payload model inferred from examples: types, required fields, enums,
ranges, variants on a discriminator; and the cases drawn from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings

from chaoskit.errors import UsageError
from chaoskit.fuzz.examples import load_examples, model_from_examples
from chaoskit.fuzz.strategies import Case, Rule, cases
from fixtures.eventsink.events import Invalid, validate_event

BEATS = [
    {"type": "heartbeat", "session_id": "a", "timestamp": 10, "position": 1.5,
     "progress": 0, "context": {"device": "web"}},
    {"type": "heartbeat", "session_id": "b", "timestamp": 99, "position": 30,
     "progress": 100, "context": {"device": "web", "app_version": "1.2"}},
    {"type": "heartbeat", "session_id": "c", "timestamp": 50, "position": 0,
     "progress": 40, "context": {"device": "ios"}},
    {"type": "heartbeat", "session_id": "d", "timestamp": 70, "position": 9,
     "progress": 60, "context": {"device": "ios"}},
    {"type": "heartbeat", "session_id": "e", "timestamp": 80, "position": 2,
     "progress": 61},
]  # fmt: skip
STOPS = [
    {"type": "stopped", "session_id": "a", "timestamp": 11, "position": 3.0,
     "reason": "user"},
    {"type": "stopped", "session_id": "b", "timestamp": 12, "position": 4,
     "reason": "ended"},
    {"type": "stopped", "session_id": "c", "timestamp": 13, "position": 5,
     "reason": "user"},
    {"type": "stopped", "session_id": "d", "timestamp": 14, "position": 6,
     "reason": "ended"},
]  # fmt: skip
MODEL = model_from_examples(BEATS + STOPS, "events.json")


def variant(tag: str) -> dict:
    """The inferred schema of one variant (the examples become a JSON Schema)."""
    for branch in MODEL.schema.root["oneOf"]:
        if branch["properties"]["type"] == {"enum": [tag]}:
            return branch
    raise KeyError(tag)


def test_variants_are_keyed_on_the_discriminator() -> None:
    tags = [b["properties"]["type"]["enum"][0] for b in MODEL.schema.root["oneOf"]]
    assert tags == ["heartbeat", "stopped"]
    beat = variant("heartbeat")
    assert beat["additionalProperties"] is False  # the examples are the contract


def test_required_fields_are_those_present_in_every_example() -> None:
    beat = variant("heartbeat")
    # context is missing from one example: optional, as the sink has it.
    assert set(beat["required"]) == {
        "type", "session_id", "timestamp", "position", "progress"
    }  # fmt: skip
    context = beat["properties"]["context"]
    assert context["type"] == "object"
    assert context["required"] == ["device"]  # app_version is in one example only
    assert set(context["properties"]) == {"device", "app_version"}


def test_types_ranges_and_enums() -> None:
    beat, stop = variant("heartbeat"), variant("stopped")
    progress = beat["properties"]["progress"]
    assert progress == {"type": "integer", "minimum": 0, "maximum": 100}
    position = beat["properties"]["position"]  # 1.5 and 30: a number
    assert position == {"type": "number", "minimum": 0, "maximum": 30}
    # Two values, each seen twice: an enum. Four distinct ids: free text.
    assert stop["properties"]["reason"] == {"enum": ["ended", "user"]}
    device = beat["properties"]["context"]["properties"]["device"]
    assert device == {"enum": ["ios", "web"]}
    assert beat["properties"]["session_id"] == {"type": "string", "minLength": 1}


def test_without_a_discriminator_one_variant() -> None:
    model = model_from_examples([{"a": 1, "b": "x"}, {"a": 2}])
    assert "oneOf" not in model.schema.root
    assert model.schema.root["required"] == ["a"]
    assert model.schema.root["properties"]["b"]["type"] == "string"


def test_mixed_types_are_noted() -> None:
    model = model_from_examples([{"a": 1}, {"a": 2}, {"a": "x"}], "mixed.json")
    assert model.schema.root["properties"]["a"]["type"] == "integer"
    assert model.notes == ["a: also seen as string; fuzzed as integer"]


def test_bad_examples_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no example"):
        model_from_examples([])
    with pytest.raises(UsageError, match="example 1 is array, not a JSON object"):
        model_from_examples([{"a": 1}, [1]])
    with pytest.raises(UsageError, match="examples file not found"):
        load_examples(tmp_path / "nope.json")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\n{"a":\n')
    with pytest.raises(UsageError, match=r"bad.jsonl:2: neither a JSON array"):
        load_examples(bad)


def test_json_lines_and_arrays_give_the_same_model(tmp_path: Path) -> None:
    lines, array = tmp_path / "events.jsonl", tmp_path / "events.json"
    lines.write_text("\n".join(json.dumps(e) for e in BEATS + STOPS) + "\n\n")
    array.write_text(json.dumps(BEATS + STOPS))
    assert (
        load_examples(lines).schema.root
        == load_examples(array).schema.root
        == MODEL.schema.root
    )


def test_cases_from_examples_are_tagged_right_by_the_real_validator() -> None:
    """Valid cases pass the event sink's own validation; field-rule cases fail
    it (these examples show every optional field missing somewhere, and stay
    inside the sink's real ranges: what inference needs to be exact)."""
    drawn: list[Case] = []

    @seed(3)
    @settings(
        max_examples=150,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        cases(
            MODEL,
            rules=frozenset({Rule.VALID, Rule.MISSING_REQUIRED, Rule.NOT_IN_ENUM}),
        )
    )
    def collect(case: Case) -> None:
        drawn.append(case)  # fmt: skip

    collect()
    # Labels come from the keyword that rejects the payload: a wrong enum
    # value inside a oneOf is rejected by the oneOf (no variant matches).
    # (wrong-type is left out: an integer the examples show may be any number
    # for the sink, a narrower contract than the sink's own.)
    assert Rule.VALID in {case.rule for case in drawn}
    assert len({case.rule for case in drawn}) >= 2
    assert {case.rule for case in drawn} <= {
        Rule.VALID, Rule.MISSING_REQUIRED, Rule.WRONG_TYPE, Rule.NOT_IN_ENUM,
        Rule.UNKNOWN_VARIANT,
    }  # fmt: skip
    for case in drawn:
        if case.mutation in ("deep", "huge"):
            continue  # raw literals: the validator saw a stand-in
        event = json.loads(case.body)
        if case.valid:
            validate_event(event)
        else:
            with pytest.raises(Invalid):
                validate_event(event)
