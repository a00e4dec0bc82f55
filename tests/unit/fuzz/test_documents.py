"""Payload schemas from an OpenAPI operation and an AsyncAPI message, in place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaoskit.errors import UsageError
from chaoskit.fuzz.documents import PayloadSource, load_source

EVENT = {
    "type": "object",
    "properties": {
        "kind": {"$ref": "#/components/schemas/Kind"},
        "n": {"type": "integer"},
    },
    "required": ["kind", "n"],
    "additionalProperties": False,
}
COMPONENTS = {"schemas": {"Event": EVENT, "Kind": {"enum": ["a", "b"]}}}


def write(tmp_path: Path, name: str, document: dict[str, object]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def test_openapi_request_body_with_refs_into_components(tmp_path: Path) -> None:
    body = {
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Event"}}
        }
    }
    path = write(tmp_path, "api.json", {
        "openapi": "3.1.0",
        "paths": {"/events": {"post": {"requestBody": body}}},
        "components": COMPONENTS,
    })  # fmt: skip
    model = load_source(PayloadSource(openapi=path, operation="POST /events"))
    assert model.schema.is_valid({"kind": "a", "n": 1})
    assert not model.schema.is_valid({"kind": "c", "n": 1})
    assert model.probe() > 0
    with pytest.raises(UsageError, match=r"no path '/event'.*did you mean '/events'"):
        load_source(PayloadSource(openapi=path, operation="POST /event"))
    with pytest.raises(UsageError, match="has no GET operation"):
        load_source(PayloadSource(openapi=path, operation="GET /events"))


@pytest.mark.parametrize("version", ["2.6.0", "3.0.0"])
def test_asyncapi_message_payload(tmp_path: Path, version: str) -> None:
    message = {"payload": {"$ref": "#/components/schemas/Event"}}
    if version.startswith("2"):
        channels = {"events": {"publish": {"message": {"name": "Created", **message}}}}
        components: dict[str, object] = COMPONENTS
    else:
        channels = {
            "events": {
                "messages": {"Created": {"$ref": "#/components/messages/Created"}}
            }
        }
        components = {**COMPONENTS, "messages": {"Created": message}}
    path = write(
        tmp_path,
        "events.json",
        {"asyncapi": version, "channels": channels, "components": components},
    )
    model = load_source(PayloadSource(asyncapi=path, message="Created"))
    assert model.schema.is_valid({"kind": "b", "n": 2})
    assert not model.schema.is_valid({"kind": "b"})
    with pytest.raises(UsageError, match="no message 'Create'"):
        load_source(PayloadSource(asyncapi=path, message="Create"))


def test_exactly_one_source() -> None:
    with pytest.raises(UsageError, match="exactly one"):
        load_source(PayloadSource(schema=Path("a.json"), examples=Path("b.json")))
    with pytest.raises(UsageError, match="needs an operation"):
        load_source(PayloadSource(openapi=Path("a.json")))
