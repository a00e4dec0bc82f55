"""The valid shape of a payload, read from a JSON Schema file.

Only the keywords that decide validity of event-like payloads are modelled:
``type``, ``enum``, ``const``, ``minimum``/``maximum`` (and their exclusive
forms), ``minLength``/``maxLength``, ``properties``, ``required``,
``additionalProperties`` (a boolean), ``items``/``minItems``/``maxItems``,
local ``$ref`` (``#/$defs/...``, ``#/definitions/...``) and a top-level
``oneOf`` whose variants each fix a discriminator property with ``const``
(``{"type": {"const": "heartbeat"}}``). Keywords the model does not know are
listed in :attr:`PayloadModel.ignored`, so a user sees what is not fuzzed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from chaoskit.errors import UsageError

__all__ = [
    "Node",
    "PayloadModel",
    "Variant",
    "json_kind",
    "load_model",
    "model_from_schema",
]

_KINDS = frozenset(
    {"string", "integer", "number", "boolean", "object", "array", "null"}
)
_KNOWN = frozenset(
    {
        "type", "enum", "const", "minimum", "maximum", "exclusiveMinimum",
        "exclusiveMaximum", "minLength", "maxLength", "properties", "required",
        "additionalProperties", "items", "minItems", "maxItems", "oneOf", "$ref",
        "$schema", "$id", "$defs", "definitions", "title", "description",
        "examples", "default", "$comment", "format",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Node:
    """One value's schema: its kind and the constraints that make it valid."""

    kind: str
    enum: tuple[object, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    min_length: int = 0
    max_length: int | None = None
    properties: Mapping[str, Node] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    additional: bool = True
    items: Node | None = None
    min_items: int = 0
    max_items: int | None = None

    @property
    def bounded(self) -> bool:
        """Whether a number, a length or an item count has a limit to break."""
        if self.kind in ("integer", "number"):
            return self.minimum is not None or self.maximum is not None
        if self.kind == "string":
            return self.min_length > 0 or self.max_length is not None
        return False


@dataclass(frozen=True)
class Variant:
    """One branch of the ``oneOf``: its discriminator value and its object."""

    tag: str
    node: Node


@dataclass(frozen=True)
class PayloadModel:
    """The payload's shape: variants keyed on ``discriminator``, or one node.

    A schema without a ``oneOf`` becomes a single variant whose tag is ``""``.
    """

    variants: tuple[Variant, ...]
    discriminator: str | None = None
    source: str = "<schema>"
    ignored: tuple[str, ...] = ()

    @property
    def tags(self) -> tuple[str, ...]:
        """The discriminator values, in schema order."""
        return tuple(variant.tag for variant in self.variants)


class _Reader:
    """Turns schema dicts into :class:`Node` trees, resolving local refs."""

    def __init__(self, root: Mapping[str, object], source: str) -> None:
        self.root = root
        self.source = source
        self.ignored: set[str] = set()

    def fail(self, where: str, message: str) -> UsageError:
        return UsageError(f"{self.source}: {where or '(root)'}: {message}")

    def resolve(self, schema: Mapping[str, object], where: str) -> Mapping[str, object]:
        seen: set[str] = set()
        while "$ref" in schema:
            ref = schema["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/") or ref in seen:
                raise self.fail(
                    where, f"only local, acyclic $ref are supported: {ref!r}"
                )
            seen.add(ref)
            target: object = self.root
            for part in ref[2:].split("/"):
                if not isinstance(target, Mapping) or part not in target:
                    raise self.fail(where, f"$ref {ref!r} points nowhere")
                target = target[part]
            if not isinstance(target, Mapping):
                raise self.fail(where, f"$ref {ref!r} is not a schema")
            schema = target
        return schema

    def node(self, raw: object, where: str) -> Node:
        if not isinstance(raw, Mapping):
            raise self.fail(where, "a schema must be an object")
        schema = self.resolve(raw, where)
        self.ignored.update(
            f"{where or '(root)'}: {key}" for key in schema if key not in _KNOWN
        )
        if "const" in schema:
            const = schema["const"]
            return Node(json_kind(const), enum=(const,))
        kind = schema.get("type")
        enum = schema.get("enum")
        if kind is None and isinstance(enum, list) and enum:
            kind = json_kind(enum[0])
        if kind is None and "properties" in schema:
            kind = "object"
        if not isinstance(kind, str) or kind not in _KINDS:
            raise self.fail(
                where, f"'type' must be one of {sorted(_KINDS)}, got {kind!r}"
            )
        minimum, exclusive_min = _bound(schema, "minimum", "exclusiveMinimum")
        maximum, exclusive_max = _bound(schema, "maximum", "exclusiveMaximum")
        props = schema.get("properties", {})
        if not isinstance(props, Mapping):
            raise self.fail(where, "'properties' must be an object")
        items = schema.get("items")
        return Node(
            kind=kind,
            enum=tuple(enum) if isinstance(enum, list) else None,
            minimum=minimum,
            maximum=maximum,
            exclusive_minimum=exclusive_min,
            exclusive_maximum=exclusive_max,
            min_length=_int(schema.get("minLength"), 0),
            max_length=_opt_int(schema.get("maxLength")),
            properties={
                name: self.node(sub, f"{where}.{name}".lstrip("."))
                for name, sub in props.items()
            },
            required=frozenset(str(name) for name in _list(schema.get("required"))),
            additional=schema.get("additionalProperties", True) is not False,
            items=self.node(items, f"{where}[]") if items is not None else None,
            min_items=_int(schema.get("minItems"), 0),
            max_items=_opt_int(schema.get("maxItems")),
        )


def json_kind(value: object) -> str:
    """The JSON Schema type of a decoded JSON value (booleans are not integers)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else "string"


def _bound(
    schema: Mapping[str, object], plain: str, exclusive: str
) -> tuple[float | None, bool]:
    value = schema.get(exclusive)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value, True  # draft 6+: the exclusive bound is a number
    value = schema.get(plain)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value, False
    return None, False


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []


def model_from_schema(
    schema: Mapping[str, object], source: str = "<schema>"
) -> PayloadModel:
    """The :class:`PayloadModel` of a parsed JSON Schema.

    Raises:
        UsageError: the schema uses a shape the fuzzer cannot model (the
            message names the place and what is supported).
    """
    reader = _Reader(schema, source)
    root = reader.resolve(schema, "")
    branches = root.get("oneOf")
    if branches is None:
        variants: tuple[Variant, ...] = (Variant("", reader.node(root, "")),)
        return PayloadModel(variants, None, source, tuple(sorted(reader.ignored)))
    if not isinstance(branches, list) or not branches:
        raise reader.fail("oneOf", "must be a non-empty array of schemas")
    nodes = [reader.node(branch, f"oneOf[{i}]") for i, branch in enumerate(branches)]
    discriminator = _discriminator(nodes)
    if discriminator is None:
        raise reader.fail(
            "oneOf",
            "every variant must be an object with a required property fixed by "
            '\'const\' (e.g. {"type": {"const": "heartbeat"}})',
        )
    variants = tuple(
        Variant(str(node.properties[discriminator].enum[0]), node)  # type: ignore[index]
        for node in nodes
    )
    return PayloadModel(variants, discriminator, source, tuple(sorted(reader.ignored)))


def _discriminator(nodes: list[Node]) -> str | None:
    """The property every variant requires and fixes to one distinct string."""
    if not all(node.kind == "object" for node in nodes):
        return None
    for name in nodes[0].properties:
        tags = []
        for node in nodes:
            prop = node.properties.get(name)
            if prop is None or name not in node.required or prop.enum is None:
                break
            if len(prop.enum) != 1 or not isinstance(prop.enum[0], str):
                break
            tags.append(prop.enum[0])
        else:
            if len(set(tags)) == len(tags):
                return name
    return None


def load_model(path: str | Path) -> PayloadModel:
    """Read a JSON Schema file into a :class:`PayloadModel`.

    Raises:
        UsageError: the file is missing, is not JSON, or cannot be modelled.
    """
    path = Path(path)
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UsageError(f"schema file not found: {path}") from exc
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read schema {path}: {exc}") from exc
    if not isinstance(schema, dict):
        raise UsageError(f"{path}: a JSON Schema must be an object")
    return model_from_schema(schema, str(path))
