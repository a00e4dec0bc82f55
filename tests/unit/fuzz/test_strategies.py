"""The payload model, the tagged strategies (checked with jsonschema), seeds, curl."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings

from chaoskit.errors import UsageError
from chaoskit.fuzz.curl import curl_line
from chaoskit.fuzz.generate import translate_pattern
from chaoskit.fuzz.model import load_model, model_from_schema
from chaoskit.fuzz.strategies import Case, Rule, cases

SCHEMA = Path(__file__).resolve().parents[3] / "fixtures" / "eventsink" / "schema.json"
MODEL = load_model(SCHEMA)
RAW = json.loads(SCHEMA.read_text())
ONE = jsonschema.Draft202012Validator(RAW)
MANY = jsonschema.Draft202012Validator({"type": "array", "items": RAW})
FAST = settings(
    max_examples=300,
    database=None,
    deadline=None,
    phases=[Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def draw_many(seed_value: int, n: int = 60) -> list[Case]:
    drawn: list[Case] = []

    @seed(seed_value)
    @settings(FAST, max_examples=n)
    @given(cases(MODEL, batch=True))
    def collect(case: Case) -> None:
        drawn.append(case)

    collect()
    return drawn


def test_model_reads_the_schema_with_its_dialect_and_validator() -> None:
    assert MODEL.schema.dialect == "2020-12"
    assert MODEL.schema.is_valid(
        {"type": "heartbeat", "session_id": "a", "timestamp": 1, "position": 0,
         "progress": 100}
    )  # fmt: skip
    assert not MODEL.schema.is_valid({"type": "heartbeat", "progress": 101})


def test_model_refuses_what_it_cannot_use_naming_it(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        load_model(tmp_path / "missing.json")
    with pytest.raises(UsageError, match=r"http://example\.com/x\.json"):
        model_from_schema({"$ref": "http://example.com/x.json"})
    with pytest.raises(UsageError, match=r"does not exist|points nowhere"):
        model_from_schema({"$ref": "#/$defs/nothing"})
    with pytest.raises(UsageError, match="not a dialect"):
        model_from_schema({"$schema": "http://example.com/draft-99"})


def test_the_whole_vocabulary_loads_and_generates(tmp_path: Path) -> None:
    """Type lists, no type, booleans, escaped and recursive refs, anchors,
    refs to another local file, if/then, dependentRequired, draft-04."""
    (tmp_path / "common.json").write_text(json.dumps(
        {"$defs": {"id": {"type": ["string", "null"], "maxLength": 8}}}
    ))  # fmt: skip
    schema = {
        "$defs": {"a~b": {"minimum": 1}, "a/b": {"type": "integer"},
                  "node": {"$anchor": "node", "type": "object",
                           "properties": {"next": {"$ref": "#node"}}}},
        "properties": {
            "n": {"allOf": [{"$ref": "#/$defs/a~0b"}, {"$ref": "#/$defs/a~1b"}]},
            "id": {"$ref": "common.json#/$defs/id"},
            "tree": {"$ref": "#/$defs/node"},
            "any": True,
            "kind": {"enum": ["a", "b"]},
        },
        "required": ["n", "id", "kind"],
        "allOf": [{"if": {"properties": {"kind": {"const": "a"}}},
                   "then": {"required": ["tree"]}}],
        "dependentRequired": {"any": ["tree"]},
        "unevaluatedProperties": False,
    }  # fmt: skip
    (tmp_path / "s.json").write_text(json.dumps(schema))
    model = load_model(tmp_path / "s.json")
    assert model.probe() > 0
    old = model_from_schema({"$schema": "http://json-schema.org/draft-04/schema#",
                             "type": "object", "properties": {"x": {
                                 "type": "number", "maximum": 3,
                                 "exclusiveMaximum": True}},
                             "required": ["x"]})  # fmt: skip
    assert old.schema.dialect == "4"
    assert old.probe() > 0


def test_ecma_patterns_translate_or_are_named() -> None:
    assert translate_pattern(r"^\d+$") == r"^[0-9]+\Z"
    # ECMA's $ is the end of input, never before a final newline.
    assert re.search(translate_pattern("^a$") or "", "a\n") is None
    # Inside a class, \d and \w are spelled without brackets; \D has no spelling.
    assert translate_pattern(r"^[\d.-]+$") == r"^[0-9.-]+\Z"
    assert translate_pattern(r"[^\w]") == "[^A-Za-z0-9_]"
    assert translate_pattern(r"[\D]") is None
    assert translate_pattern(r"(?<y>\w+)") == "(?P<y>[A-Za-z0-9_]+)"
    assert translate_pattern(r"^\p{L}+$") is None
    model = model_from_schema({"type": "string", "pattern": r"^\p{L}$"})
    model.probe()
    assert any("pattern" in note for note in model.notes)


def _decode(body: bytes) -> object:
    def refuse(name: str) -> object:
        raise ValueError(name)

    return json.loads(body, parse_constant=refuse)


@seed(11)
@settings(FAST)
@given(cases(MODEL, batch=True))
def test_each_case_breaks_exactly_its_rule(case: Case) -> None:
    try:
        value = _decode(case.body)
    except (ValueError, RecursionError):
        assert not case.valid, case  # not JSON: only the body rules make that
        return
    valid = (MANY if case.batch else ONE).is_valid(value)
    if case.rule in (Rule.WRONG_CONTENT_TYPE, Rule.MISSING_CONTENT_TYPE):
        assert valid
        assert case.content_type != "application/json"
        assert case.hardening == "content_type"
    elif case.rule is Rule.OVERSIZED_BODY:
        assert len(case.body) >= 1024 * 1024
        assert case.hardening == "max_body"
    elif case.rule is Rule.NON_UTF8:
        assert case.hardening == "strict_utf8"
    else:
        assert valid == case.valid, (case.rule, case.detail, value)
        assert case.valid or case.keyword, case  # the rejecting keyword is named


def test_same_seed_same_payloads() -> None:
    first = draw_many(7)
    assert first == draw_many(7)
    assert first != draw_many(8)


def test_curl_line_masks_secrets_and_quotes_bytes() -> None:
    """Credentials in headers and the URL are masked; the generated body is not."""
    line = curl_line(
        "POST",
        "http://127.0.0.1:8100/events?api_key=k3y-value",
        {"Authorization": "Bearer s3cr3t-token", "Content-Type": "application/json"},
        b'{"session_id": "abc"}',
    )
    assert "s3cr3t" not in line
    assert "k3y-value" not in line
    assert "Content-Type: application/json" in line
    assert """'{"session_id": "abc"}'""" in line  # reproducible as generated
    assert "$'\\xff{'" in curl_line("POST", "http://127.0.0.1/e", {}, b"\xff{")
    big = curl_line("POST", "http://127.0.0.1/e", {}, b"x" * 5000, body_file="b/1.bin")
    assert "@b/1.bin" in big


def test_curl_line_masks_every_given_header_unless_shown() -> None:
    headers = {"X-Sink-Key": "v", "X-Trace": "t-1", "Authorization": "Bearer abc"}
    masked = curl_line("POST", "http://127.0.0.1/e", headers, None, masked=headers)
    assert "v'" not in masked
    assert "t-1" not in masked
    assert "abc" not in masked
    shown = curl_line(
        "POST", "http://127.0.0.1/e", headers, None,
        masked=["X-Sink-Key"], shown=["x-trace", "authorization"],
    )  # fmt: skip
    assert "'X-Sink-Key: ***'" in shown
    assert "'X-Trace: t-1'" in shown
    assert "'Authorization: Bearer abc'" in shown  # asked for by name
