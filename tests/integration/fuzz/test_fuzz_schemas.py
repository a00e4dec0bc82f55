"""The fuzzer on a schema in the common 2020-12 style (allOf of if/then,
unevaluatedProperties): a correct sink passes, a seeded hole is caught and
shrunk, and hardening is reported apart from the contract."""

from __future__ import annotations

import json

from chaoskit.fuzz.checks import CheckConfig
from chaoskit.fuzz.engine import FuzzConfig, fuzz
from chaoskit.fuzz.model import model_from_schema
from chaoskit.fuzz.rules import HARDENED, Rule
from fixtures.eventsink.strict import strict_sink

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "type": {"enum": ["order", "refund"]},
        "amount": {"type": "number", "minimum": 0, "maximum": 1000},
        "order_id": {"type": "string", "pattern": "^o-\\d{3}$"},
        "note": {"type": ["string", "null"], "maxLength": 20},
    },
    "required": ["type"],
    "allOf": [
        {
            "if": {"properties": {"type": {"const": "order"}}},
            "then": {"required": ["order_id", "amount"]},
        }
    ],
    "unevaluatedProperties": False,
}


def config(url: str, **kwargs: object) -> FuzzConfig:
    return FuzzConfig(url=url, seed=4, time_limit=30, **kwargs)  # type: ignore[arg-type]


def test_a_correct_sink_passes() -> None:
    model = model_from_schema(SCHEMA)
    with strict_sink(model.schema.validator) as url:
        result = fuzz(model, config(url, max_examples=300))
    assert result.failing == []
    assert result.by_rule[Rule.VALID] > 0
    assert len(result.by_rule) >= 8


def test_a_seeded_hole_is_caught_with_a_minimal_example() -> None:
    model = model_from_schema(SCHEMA)

    def hole(item: object) -> bool:
        amount = item.get("amount") if isinstance(item, dict) else None
        return isinstance(amount, int | float) and amount > 1000

    with strict_sink(model.schema.validator, hole) as url:
        result = fuzz(model, config(url, max_examples=1500))
    crashes = [f for f in result.failing if f.check == "no-5xx"]
    assert crashes, result.findings
    finding = crashes[0]
    # Labelled by the validator: past the maximum, or 1e400 (not a finite number).
    assert finding.rule in ("out-of-range", "huge-number", "wrong-type")
    assert finding.keyword.startswith("properties/amount/")
    payload = json.loads(finding.body or b"", parse_constant=float)
    # Shrunk: no optional field but the one that breaks.
    assert set(payload) <= {"type", "amount", "order_id"}


def test_hardening_is_reported_apart_unless_a_policy_is_stated() -> None:
    model = model_from_schema(SCHEMA)
    rules = frozenset({Rule.VALID, Rule.WRONG_CONTENT_TYPE, Rule.MISSING_CONTENT_TYPE})
    with strict_sink(model.schema.validator, hardened=False) as url:
        lenient = fuzz(model, config(url, max_examples=60, rules=rules))
        strict = fuzz(
            model,
            config(
                url, max_examples=60, rules=rules, checks=CheckConfig(policy=HARDENED)
            ),
        )
    assert lenient.failing == []
    hardening = [f for f in lenient.findings if f.hardening]
    assert hardening
    assert hardening[0].hardening == "--content-type application/json"
    assert "would make this fail" in hardening[0].message
    assert [f.check for f in strict.failing] == ["invalid-refused"] * len(
        strict.failing
    )
    assert strict.failing
