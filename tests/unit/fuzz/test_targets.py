"""Breakable keyword locations: listed, reached, broken alone; their coverage."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from chaoskit.fuzz.coverage import Coverage, describe_locations
from chaoskit.fuzz.model import load_model, model_from_schema
from chaoskit.fuzz.rules import KEYWORD_RULES, Case, Rule
from chaoskit.fuzz.strategies import targeted
from chaoskit.fuzz.targets import targets_of
from fixtures.eventsink.events import SCHEMA_PATH

ONCE = settings(
    max_examples=1, database=None, deadline=None, phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)  # fmt: skip


def first(strategy: st.SearchStrategy[Case | None]) -> Case | None:
    found: list[Case | None] = []

    @ONCE
    @given(strategy)
    def draw(case: Case | None) -> None:
        found.append(case)

    draw()
    return found[0]


def test_locations_are_reached_through_refs_branches_and_items() -> None:
    model = model_from_schema({
        "$defs": {"n": {"type": "integer", "maximum": 5}},
        "type": "object",
        "properties": {
            "list": {"type": "array", "items": {"$ref": "#/$defs/n"}},
            "kind": {"enum": ["a", "b"]},
        },
        "required": ["kind"],
        "if": {"properties": {"kind": {"const": "a"}}},
        "then": {"required": ["list"]},
        "additionalProperties": False,
    })  # fmt: skip
    names = [str(t) for t in targets_of(model.schema)]
    assert "$defs/n/maximum" in names  # through items and $ref
    assert "then/required/list" in names
    assert "required/kind" in names
    assert "additionalProperties" in names
    for target in targets_of(model.schema):
        case = first(targeted(model, target))
        assert case is not None, target
        assert case.keyword == str(target)
        assert case.rule is target.rule
    maximum = next(t for t in targets_of(model.schema) if t.keyword == "maximum")
    case = first(targeted(model, maximum))
    assert case is not None
    assert b'"list": [6]' in case.body  # the simplest document that reaches it


def test_a_broken_case_is_refused_and_accepted_without_its_keyword() -> None:
    model = load_model(SCHEMA_PATH)
    targets = {str(t): t for t in targets_of(model.schema)}
    target = targets["oneOf/2/properties/progress/maximum"]
    case = first(targeted(model, target))
    assert case is not None
    assert case.rule is Rule.OUT_OF_RANGE
    assert case.detail.startswith("progress = 101")
    payload = json.loads(case.body)
    assert set(payload) == {"type", "session_id", "timestamp", "position", "progress"}
    assert not model.schema.is_valid(payload)
    holed = model.schema.without(target.location, target.keyword, target.item)
    assert holed.is_valid(payload)
    # One name of required, not the keyword: the other names still hold.
    name = targets["oneOf/2/required/session_id"]
    holed = model.schema.without(name.location, name.keyword, name.item)
    assert not holed.is_valid({"type": "heartbeat", "timestamp": 0, "progress": 0})


def test_distinct_checks_come_before_their_repeats() -> None:
    names = [str(t) for t in targets_of(load_model(SCHEMA_PATH).schema)]
    # timestamp's bounds are the same check in every variant: the first
    # variant's come in the first pass, the others after every distinct check.
    progress = names.index("oneOf/2/properties/progress/maximum")
    assert names.index("oneOf/0/properties/timestamp/maximum") < progress
    assert names.index("oneOf/5/properties/timestamp/maximum") > progress
    # Within a pass: required names and bounds before types.
    assert progress < names.index("oneOf/0/properties/session_id/type") < 100


def test_a_redundant_keyword_is_unreachable() -> None:
    model = model_from_schema({"type": "string", "enum": ["a", "b"]})
    (kind,) = [t for t in targets_of(model.schema) if t.keyword == "type"]
    assert first(targeted(model, kind)) is None


def test_coverage_counts_and_warns() -> None:
    coverage = Coverage(["a/maximum", "b/type", "c/required/x"])
    coverage.sent("a/maximum")
    coverage.sent("elsewhere")  # not a location: ignored
    coverage.unreached("b/type")
    assert coverage.not_visited() == ["c/required/x"]
    assert coverage.warning(2) is not None
    assert coverage.warning(3) is None
    text = describe_locations(coverage.to_json())
    assert text == (
        "keyword locations: 1 of 3 exercised, 1 redundant (no payload breaks one "
        "alone), 1 not visited (budget)"
    )
    assert coverage.summary() == text


def test_min_properties_is_filled_from_declared_properties() -> None:
    """A closed object needing more properties than it requires gets its
    optional ones (no other name is allowed)."""
    model = model_from_schema({
        "type": "object", "additionalProperties": False, "minProperties": 3,
        "properties": {"a": {"type": "integer"}, "b": {}, "c": {}},
    })  # fmt: skip
    assert model.probe(10) == 10
    assert model.stats.refused == 0


#: One schema per kind of place the walk reaches under an applicator, the
#: target it must list there and the error kind that rejects its break.
APPLICATORS = [
    pytest.param(
        {"type": "object", "properties": {"a": {"type": "integer"}},
         "patternProperties": {"^x-": {"type": "string", "maxLength": 3}}},
        None, "patternProperties/^x-/maxLength", "MaxLength", id="patternProperties",
    ),
    pytest.param(
        {"type": "object", "properties": {"a": {}},
         "patternProperties": {"^x": {}},
         "additionalProperties": {"type": "integer", "maximum": 10}},
        None, "additionalProperties/maximum", "Maximum", id="additionalProperties",
    ),
    pytest.param(
        {"type": "object", "properties": {"a": {}},
         "unevaluatedProperties": {"type": "integer", "maximum": 3}},
        None, "unevaluatedProperties/maximum", "UnevaluatedProperties",
        id="unevaluatedProperties",
    ),
    pytest.param(
        {"type": "array", "items": {"type": "integer"},
         "contains": {"type": "integer", "minimum": 5}},
        None, "contains/minimum", "Contains", id="contains",
    ),
    pytest.param(
        {"type": "array", "contains": {"const": 1}, "maxContains": 2},
        None, "maxContains", "Contains", id="maxContains",
    ),
    pytest.param(
        {"type": "object", "properties": {"kind": {"enum": ["a", "b"]}},
         "not": {"required": ["debug"]}},
        None, "not", "Not", id="not",
    ),
    pytest.param(
        {"type": "object", "propertyNames": {"maxLength": 4}},
        None, "propertyNames/maxLength", "PropertyNames", id="propertyNames",
    ),
    pytest.param(
        {"type": "object", "properties": {"a": {}, "b": {}},
         "dependencies": {"a": ["b"]}},
        "7", "dependencies/a", "Required", id="dependencies-names",
    ),
    pytest.param(
        {"type": "object",
         "dependencies": {"c": {"properties": {"d": {"minimum": 2}}}}},
        "7", "dependencies/c/properties/d/minimum", "Minimum",
        id="dependencies-schema",
    ),
    pytest.param(
        {"type": "object", "dependentRequired": {"a": ["b"]}},
        None, "dependentRequired/a", "Required", id="dependentRequired",
    ),
    pytest.param(
        {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "4", "items/minimum", "Minimum", id="items-draft4",
    ),
    pytest.param(
        {"type": "array", "items": [{"type": "string"}],
         "additionalItems": {"type": "integer", "maximum": 3}},
        "7", "additionalItems/maximum", "Maximum", id="additionalItems",
    ),
    pytest.param(
        {"type": "array", "items": [{"type": "string"}], "additionalItems": False},
        "7", "additionalItems", "AdditionalItems", id="additionalItems-false",
    ),
    pytest.param(
        {"type": "array", "prefixItems": [{"type": "string"}],
         "unevaluatedItems": {"type": "integer", "maximum": 3}},
        None, "unevaluatedItems/maximum", "UnevaluatedItems", id="unevaluatedItems",
    ),
    pytest.param(  # no type: the route draws the array it needs
        {"unevaluatedItems": {"type": "string"}},
        None, "unevaluatedItems/type", "UnevaluatedItems", id="untyped-array",
    ),
    pytest.param(
        {"patternProperties": {"^[a-z]+_[0-9]{3}$": {"maximum": 3}}},
        None, "patternProperties/^[a-z]+_[0-9]{3}$/maximum", "Maximum",
        id="untyped-object-regex-name",
    ),
    pytest.param(
        {"type": "array", "prefixItems": [{"type": "string"}], "items": False},
        None, "items", "FalseSchema", id="items-false",
    ),
    pytest.param(
        {"type": "object", "properties": {"t": {"enum": ["a", "b"]}},
         "required": ["t"], "if": {"properties": {"t": {"const": "a"}}},
         "then": {"properties": {"n": {"maximum": 3}}, "required": ["n"]}},
        None, "then/properties/n/maximum", "Maximum", id="if-then",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("schema", "dialect", "name", "kind"), APPLICATORS)
def test_a_keyword_under_an_applicator_is_a_target_broken_alone(
    schema: dict[str, object], dialect: str | None, name: str, kind: str
) -> None:
    """The walk reaches it; its case is refused by the schema, with the error
    of the keyword that rejects it (the applicator's own, for contains,
    propertyNames, unevaluated*), and accepted by the schema without it."""
    model = model_from_schema(schema, dialect=dialect)
    targets = {str(t): t for t in targets_of(model.schema)}
    assert name in targets, sorted(targets)
    target = targets[name]
    case = first(targeted(model, target))
    assert case is not None, name
    assert case.keyword == name
    payload = json.loads(case.body)
    errors = model.schema.errors(payload)
    assert [type(e.kind).__name__ for e in errors] == [kind]
    assert case.rule is target.rule is KEYWORD_RULES.get(kind, Rule.FORBIDDEN)
    holed = model.schema.without(target.location, target.keyword, target.item)
    assert holed.is_valid(payload)


def test_keywords_under_not_and_if_are_not_targets() -> None:
    """A sink that forgets a keyword inside a not (or an if) refuses more,
    never less: no payload breaks one alone."""
    model = model_from_schema({
        "type": "object",
        "not": {"properties": {"a": {"maximum": 3}}, "required": ["a"]},
        "if": {"properties": {"b": {"minimum": 1}}}, "then": {"required": ["c"]},
    })  # fmt: skip
    names = {str(t) for t in targets_of(model.schema)}
    assert "not" in names
    assert not any(n.startswith(("not/", "if/")) for n in names), names


def test_a_pattern_name_matches_its_pattern_and_no_other() -> None:
    model = model_from_schema({
        "type": "object", "properties": {"x-a": {}},
        "patternProperties": {"^x-": {"maxLength": 2}, "^x-b": {}},
    })  # fmt: skip
    (target,) = [t for t in targets_of(model.schema) if t.keyword == "maxLength"]
    name = target.place[-1]
    assert isinstance(name, str)
    assert name.startswith("x-")
    assert name != "x-a"
    assert not name.startswith("x-b")
    # The same schema, the same targets (the name is found deterministically).
    again = model_from_schema(model.schema.root)
    assert [t.place for t in targets_of(again.schema)] == [
        t.place for t in targets_of(model.schema)
    ]
