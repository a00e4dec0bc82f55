"""Remote references resolved from local files (nothing is fetched): a
schema's ``$id`` registry over its directory and ``schema_dirs``, URL
prefixes mapped to directories, and a refusal naming the URL otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from chaoskit.fuzz.documents import PayloadSource, load_source
from chaoskit.fuzz.generate import valid_values
from chaoskit.fuzz.model import PayloadModel, load_model, model_from_schema
from chaoskit.fuzz.schema import RefMap, SchemaError

BASE = "https://example.com/schemas/"


def write(path: Path, schema: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(schema))
    return path


def drawn(model: PayloadModel, count: int = 20) -> list[object]:
    found: list[object] = []

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(valid_values(model.schema, model.stats))
    def draw(value: object) -> None:
        found.append(value)

    draw()
    return found


def event_schemas(directory: Path) -> Path:
    """An event whose ``$id``s are absolute URLs, referring to each other."""
    write(
        directory / "defs" / "ids.json",
        {
            "$id": BASE + "defs/ids.json",
            "$defs": {"id": {"type": "string", "pattern": "^ev-[0-9]{3}$"}},
        },
    )
    return write(
        directory / "event.json",
        {
            "$id": BASE + "event.json",
            "type": "object",
            "properties": {
                "id": {"$ref": "defs/ids.json#/$defs/id"},
                "user": {"$ref": BASE + "user.json"},
            },
            "required": ["id", "user"],
            "additionalProperties": False,
        },
    )


def user_schema(directory: Path, declared: bool = True) -> Path:
    schema: dict[str, object] = {
        "type": "object",
        "properties": {"name": {"type": "string", "minLength": 2}},
        "required": ["name"],
    }
    if declared:
        schema["$id"] = BASE + "user.json"
    return write(directory / "user.json", schema)


def test_ids_of_the_schemas_beside_it_resolve(tmp_path: Path) -> None:
    event = event_schemas(tmp_path)
    user_schema(tmp_path / "nested" / "deeper")  # found under the directory
    model = load_model(event)
    for value in drawn(model):
        assert isinstance(value, dict)
        assert str(value["id"]).startswith("ev-")
        assert len(value["user"]["name"]) >= 2
    assert not model.schema.is_valid({"id": "ev-001", "user": {"name": "x"}})
    assert model.schema.is_valid({"id": "ev-001", "user": {"name": "xy"}})


def test_a_schema_dir_elsewhere_answers_for_its_ids(tmp_path: Path) -> None:
    event = event_schemas(tmp_path / "api")
    user_schema(tmp_path / "shared")
    with pytest.raises(SchemaError) as caught:
        load_model(event)
    assert f"$ref to {BASE}user.json is remote" in str(caught.value)
    model = load_source(
        PayloadSource(schema=Path("api/event.json"), schema_dirs=(Path("shared"),)),
        tmp_path,
    )
    assert model.schema.is_valid({"id": "ev-123", "user": {"name": "ab"}})
    assert all(isinstance(v, dict) for v in drawn(model, 10))


def test_a_ref_base_maps_a_url_prefix_to_a_directory(tmp_path: Path) -> None:
    event = event_schemas(tmp_path / "api")
    user_schema(tmp_path / "people", declared=False)  # no $id: found by path
    refs = RefMap(ref_bases=((BASE, tmp_path / "people"),))
    model = load_model(event, refs)
    assert not model.schema.is_valid({"id": "ev-123", "user": {}})
    assert all(len(v["user"]["name"]) >= 2 for v in drawn(model, 10))  # type: ignore[index]


def test_an_unmapped_url_is_refused_naming_it_and_how_to_map_it(
    tmp_path: Path,
) -> None:
    schema = {"$ref": "https://schemas.example.org/unknown/v1.json"}
    with pytest.raises(SchemaError) as caught:
        model_from_schema(schema, "s.json", tmp_path / "s.json")
    text = str(caught.value)
    assert text.startswith(
        "s.json: $ref to https://schemas.example.org/unknown/v1.json"
    )
    assert "nothing is fetched" in text
    assert "--ref-base URL=DIR" in text
    assert "ref_bases" in text
    assert "schema_dir" in text


def test_a_ref_base_never_reaches_outside_its_directory(tmp_path: Path) -> None:
    write(tmp_path / "secret.json", {"type": "integer"})
    (tmp_path / "mapped").mkdir()
    refs = RefMap(ref_bases=((BASE, tmp_path / "mapped"),))
    with pytest.raises(SchemaError, match="remote"):
        model_from_schema({"$ref": BASE + "../secret.json"}, "s", refs=refs)


def test_a_missing_schema_dir_is_named(tmp_path: Path) -> None:
    event = event_schemas(tmp_path)
    source = PayloadSource(schema=event, schema_dirs=(tmp_path / "nope",))
    with pytest.raises(SchemaError, match=r"schema directory not found: .*nope"):
        load_source(source)


def test_relative_ids_nest_from_the_enclosing_base() -> None:
    """``$id: nested/a.json`` then ``$ref: ./b.json`` is ``nested/b.json``."""
    schema = {
        "$id": "https://example.com/root/base.json",
        "$ref": "nested/a.json",
        "$defs": {
            "a": {"$id": "nested/a.json", "$ref": "./b.json"},
            "b": {
                "$id": "nested/b.json",
                "type": "object",
                "properties": {"n": {"type": "integer", "minimum": 5}},
                "required": ["n"],
            },
        },
    }
    model = model_from_schema(schema, "s")
    values = drawn(model)
    assert values
    assert all(v["n"] >= 5 for v in values)
    assert model.stats.refused == 0


def test_a_not_is_satisfied_by_retrying_other_draws() -> None:
    """Only an object with a property other than "a" is valid."""
    schema = {
        "not": {
            "anyOf": [True, {"properties": {"a": True}}],
            "unevaluatedProperties": False,
        }
    }
    model = model_from_schema(schema, "s")
    values = drawn(model, 30)
    assert len(values) == 30
    assert all(isinstance(v, dict) and set(v) - {"a"} for v in values)
    # A retry avoids the types refused and draws more properties: a few
    # draws a value (blind redraws took about 30).
    assert model.stats.tried < 12 * len(values), model.stats


def test_a_shared_map_does_not_carry_one_schema_refusal_to_the_next(
    tmp_path: Path,
) -> None:
    refs = RefMap(ref_bases=((BASE, tmp_path),))
    with pytest.raises(SchemaError, match="remote"):
        model_from_schema({"$ref": "https://elsewhere.example/x.json"}, "a", refs=refs)
    with pytest.raises(SchemaError) as caught:
        model_from_schema({"pattern": "("}, "b", refs=refs)
    assert "remote" not in str(caught.value)
    assert "the validator refuses the schema" in str(caught.value)
