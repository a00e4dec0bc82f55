"""The payload model, the tagged strategies (checked with jsonschema), seeds, curl."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings

from chaoskit.errors import UsageError
from chaoskit.fuzz.curl import curl_line
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


def test_model_reads_variants_and_constraints() -> None:
    assert MODEL.discriminator == "type"
    assert len(MODEL.tags) == 15
    assert MODEL.tags[0] == "init"
    heartbeat = dict(zip(MODEL.tags, MODEL.variants, strict=True))["heartbeat"].node
    progress = heartbeat.properties["progress"]
    assert (progress.kind, progress.minimum, progress.maximum) == ("number", 0, 100)
    assert "progress" in heartbeat.required
    assert not heartbeat.additional
    assert heartbeat.properties["context"].properties["device"].enum == (
        "web", "ios", "android", "tv",
    )  # fmt: skip


def test_model_refuses_what_it_cannot_model(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        load_model(tmp_path / "missing.json")
    with pytest.raises(UsageError, match="const"):
        model_from_schema({"oneOf": [{"type": "string"}]})
    assert model_from_schema({"type": "object", "pattern": "x"}).ignored


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
    elif case.rule is Rule.OVERSIZED_BODY:
        assert len(case.body) >= 1024 * 1024
    else:
        assert valid == case.valid, (case.rule, case.detail, value)


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
