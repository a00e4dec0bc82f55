"""The payload model: a schema to generate from, and the shapes examples show.

:class:`PayloadModel` wraps a :class:`~chaoskit.fuzz.schema.Schema` (the whole
JSON Schema vocabulary, validated by jsonschema-rs) with the counts of what
generation dropped. :class:`Node` is the shape ``chaoskit.fuzz.examples``
infers from valid payloads; :func:`node_schema` turns it into a JSON Schema,
so examples are fuzzed by the same path as a schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaoskit.fuzz.generate import GenerationStats
from chaoskit.fuzz.mutations import Edges
from chaoskit.fuzz.schema import RefMap, Schema, load_json_file, schema_from

__all__ = [
    "Node",
    "PayloadModel",
    "json_kind",
    "load_model",
    "model_from_schema",
    "node_schema",
]


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


@dataclass
class PayloadModel:
    """What the fuzzer generates from: a :class:`~chaoskit.fuzz.schema.Schema`
    (a schema file, an OpenAPI or AsyncAPI document's payload, or examples'
    inferred schema) and what generating from it has cost.

    Attributes:
        schema: the schema, its references and its validator.
        stats: valid draws tried and refused by the validator.
        dropped: mutations dropped because the schema still allows them, by kind.
    """

    schema: Schema
    stats: GenerationStats = field(default_factory=GenerationStats)
    dropped: dict[str, int] = field(default_factory=dict)
    _edges: Edges | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        # Short: Hypothesis shows strategies' arguments in its reports.
        return f"PayloadModel({self.source!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # Hypothesis's pretty printer walks dataclasses field by field.
        printer.text(repr(self))

    @property
    def source(self) -> str:
        """Where the schema came from."""
        return self.schema.source

    @property
    def notes(self) -> list[str]:
        """What could not be generated for, by key path, each said once."""
        return self.schema.notes

    def edges(self) -> Edges:
        """The schema's limits and constants (gathered once)."""
        if self._edges is None:
            self._edges = Edges.of(self.schema.root)
        return self._edges

    def probe(self, examples: int = 25) -> int:
        """Draw a few valid payloads (so what cannot be generated is noted
        before a run); how many were valid."""
        from hypothesis import HealthCheck, Phase, given, settings

        from chaoskit.fuzz.generate import valid_values

        found = [0]

        @settings(
            max_examples=examples,
            database=None,
            deadline=None,
            phases=(Phase.generate,),
            suppress_health_check=list(HealthCheck),
        )
        @given(valid_values(self.schema, self.stats))
        def draw(value: object) -> None:
            found[0] += 1

        try:
            draw()
        except Exception:  # noqa: BLE001 - Unsatisfiable: nothing valid was drawn
            found[0] = 0
        if not found[0]:
            self.schema.note("no valid payload could be generated")
        return found[0]

    def drop(self, kind: str) -> None:
        """Count one mutation the validator found still valid."""
        self.dropped[kind] = self.dropped.get(kind, 0) + 1


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


def node_schema(node: Node) -> dict[str, object]:
    """A :class:`Node` (inferred from examples) as a JSON Schema object."""
    if node.enum is not None:
        return {"enum": list(node.enum)}
    schema: dict[str, object] = {"type": node.kind}
    if node.minimum is not None:
        schema["exclusiveMinimum" if node.exclusive_minimum else "minimum"] = (
            node.minimum
        )
    if node.maximum is not None:
        schema["exclusiveMaximum" if node.exclusive_maximum else "maximum"] = (
            node.maximum
        )
    if node.kind == "string" and node.min_length:
        schema["minLength"] = node.min_length
    if node.max_length is not None:
        schema["maxLength"] = node.max_length
    if node.kind == "object":
        schema["properties"] = {k: node_schema(v) for k, v in node.properties.items()}
        schema["required"] = sorted(node.required)
        if not node.additional:
            schema["additionalProperties"] = False
    if node.items is not None:
        schema["items"] = node_schema(node.items)
    return schema


def model_from_schema(
    schema: object,
    source: str = "<schema>",
    base: Path | None = None,
    dialect: str | None = None,
    refs: RefMap | None = None,
) -> PayloadModel:
    """The :class:`PayloadModel` of a parsed JSON Schema (references relative
    to the file ``base``; ``http(s)`` ones to local files through ``refs``).

    Raises:
        SchemaError: the schema cannot be used (the message names the place).
    """
    return PayloadModel(schema_from(schema, source, base, dialect, refs))


def load_model(path: str | Path, refs: RefMap | None = None) -> PayloadModel:
    """Read a JSON Schema file into a :class:`PayloadModel`.

    Raises:
        SchemaError: the file is missing, is not JSON, or cannot be used.
    """
    path = Path(path)
    return model_from_schema(load_json_file(path), str(path), path, refs=refs)
