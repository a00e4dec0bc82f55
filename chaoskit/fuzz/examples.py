"""The valid shape of a payload, inferred from examples of valid payloads.

For a sink without a JSON Schema: a JSON array (or JSON-lines file) of
payloads it accepts becomes the same :class:`~chaoskit.fuzz.model.PayloadModel`
a schema gives, so generation, mutation and checks are the schema path's.

What is inferred, per variant (the examples sharing a discriminator value):

* variants - keyed on the first of :data:`DISCRIMINATORS` that every example
  has as a string (``type``, ``kind``, ...), when it takes two values or more;
* types - each field's JSON type (the most common one; the others are listed
  in :attr:`PayloadModel.ignored`); objects and arrays recursively;
* required - the fields present in every example of the variant; no other
  field is allowed (the examples are the contract);
* enums - strings with few distinct values, each seen at least twice;
* ranges - numbers between the least and the greatest value seen; strings
  non-empty when no example has an empty one.

Ranges are what the examples show, not what the sink allows: a sink that
takes a wider range answers ``out-of-range`` cases with a 2xx, which is
reported. Give more examples (or a schema) when that is not a bug.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Sequence
from pathlib import Path

from chaoskit.errors import UsageError
from chaoskit.fuzz.model import (
    Node,
    PayloadModel,
    json_kind,
    model_from_schema,
    node_schema,
)

__all__ = ["DISCRIMINATORS", "load_examples", "model_from_examples"]

#: Field names tried, in order, as the discriminator of variants.
DISCRIMINATORS = ("type", "kind", "event", "event_type", "eventType", "action")
#: At most this many distinct strings make an enum...
MAX_ENUM = 12


class _Inferrer:
    def __init__(self) -> None:
        self.notes: set[str] = set()

    def node(self, values: Sequence[object], where: str) -> Node:
        kinds = collections.Counter(json_kind(v) for v in values)
        if {"integer", "number"} <= kinds.keys():  # 1 and 1.5: a number
            kinds["number"] += kinds.pop("integer")
        kind = kinds.most_common(1)[0][0]
        if len(kinds) > 1:
            others = ", ".join(sorted(k for k in kinds if k != kind))
            self.notes.add(
                f"{where or '(root)'}: also seen as {others}; fuzzed as {kind}"
            )
        values = [v for v in values if json_kind(v) == kind or kind == "number"]
        if kind == "object":
            return self.object(values, where)  # type: ignore[arg-type]
        if kind == "array":
            items = [item for value in values for item in value]  # type: ignore[attr-defined]
            return Node(
                "array", items=self.node(items, f"{where}[]") if items else None
            )
        if kind in ("integer", "number"):
            numbers = [v for v in values if isinstance(v, int | float)]
            return Node(kind, minimum=min(numbers), maximum=max(numbers))
        if kind == "string":
            texts = [str(v) for v in values]
            distinct = sorted(set(texts))
            enum = len(distinct) <= min(MAX_ENUM, len(texts) // 2)
            return Node(
                "string",
                enum=tuple(distinct) if enum else None,
                min_length=1 if all(texts) else 0,
            )
        return Node(kind)

    def object(self, values: Sequence[dict[str, object]], where: str) -> Node:
        names = list(dict.fromkeys(name for value in values for name in value))
        return Node(
            "object",
            properties={
                name: self.node(
                    [v[name] for v in values if name in v],
                    f"{where}.{name}".lstrip("."),
                )
                for name in names
            },
            required=frozenset(n for n in names if all(n in v for v in values)),
            additional=False,
        )


def _discriminator(values: Sequence[dict[str, object]]) -> str | None:
    for name in DISCRIMINATORS:
        tags = [value.get(name) for value in values]
        if all(isinstance(tag, str) for tag in tags) and len(set(tags)) > 1:
            return name
    return None


def model_from_examples(
    values: Sequence[object], source: str = "<examples>"
) -> PayloadModel:
    """The :class:`PayloadModel` the valid payloads ``values`` show.

    Raises:
        UsageError: no example, or one that is not a JSON object.
    """
    if not values:
        raise UsageError(f"{source}: no example payload")
    for index, value in enumerate(values):
        if not isinstance(value, dict):
            raise UsageError(
                f"{source}: example {index} is {json_kind(value)}, not a JSON object"
            )
    objects: list[dict[str, object]] = list(values)  # type: ignore[arg-type]
    inferrer = _Inferrer()
    discriminator = _discriminator(objects)
    if discriminator is None:
        node = inferrer.object(objects, "")
        return _model(node_schema(node), source, inferrer.notes)
    groups: dict[str, list[dict[str, object]]] = {}
    for value in objects:
        groups.setdefault(str(value[discriminator]), []).append(value)
    variants = []
    for tag, members in groups.items():
        node = inferrer.object(members, tag)
        # The discriminator is the variant's constant, as a schema's `const`.
        properties = {**node.properties, discriminator: Node("string", enum=(tag,))}
        variants.append(node_schema(Node(
            "object", properties=properties,
            required=node.required | {discriminator}, additional=False,
        )))  # fmt: skip
    return _model({"oneOf": variants}, source, inferrer.notes)


def _model(schema: dict[str, object], source: str, notes: set[str]) -> PayloadModel:
    model = model_from_schema(schema, source)
    for note in sorted(notes):
        model.schema.note(note)
    return model


def load_examples(path: str | Path) -> PayloadModel:
    """Read a JSON array or JSON-lines file of valid payloads into a model.

    Raises:
        UsageError: the file is missing, is neither form, or holds a
            non-object (the message names the line).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UsageError(f"examples file not found: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read examples {path}: {exc}") from exc
    try:
        document = json.loads(text)
    except ValueError:
        document = None
        values: list[object] = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                values.append(json.loads(line))
            except ValueError as exc:
                raise UsageError(
                    f"{path}:{number}: neither a JSON array nor JSON lines: {exc}"
                ) from exc
    else:
        values = document if isinstance(document, list) else [document]
    return model_from_examples(values, str(path))
