"""The breakable keyword locations of a schema, and how to break each one.

A seeded validation hole is one keyword a sink forgets to check. Random
mutations find a hole only when they happen to land on its place and to break
its keyword, which in a schema of fifteen ``oneOf`` variants is rare within a
few hundred requests. So before random generation the engine visits every
:class:`Target` in turn: a keyword (``maximum``, ``required`` for one name,
``additionalProperties``...) at one schema object (its key path, reached
from the root through ``properties``, ``items``, ``prefixItems``, ``allOf``,
a branch of ``anyOf``/``oneOf``, ``then``/``else``, ``dependentSchemas`` and
local ``$ref``). :func:`break_value` builds a valid document that reaches the
place (a :data:`~chaoskit.fuzz.generate.Route`) and changes the value there
so that the schema refuses it and the same schema *without that one keyword*
(:meth:`~chaoskit.fuzz.schema.Schema.without`) accepts it: the rule named is
exactly the one broken, and the payload is the minimal example of its hole.

Order: one target per distinct check first (the same ``session_id`` bounds
in fifteen variants are one check in most sinks' code), then the repeats in
the other branches; within each pass, the keywords most often left unchecked
first (required names, bounds, lengths, enums; types last), in the order of
the schema within each.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from chaoskit.fuzz.generate import Force, Route
from chaoskit.fuzz.rules import KEYWORD_RULES, Rule
from chaoskit.fuzz.schema import Schema

__all__ = ["KEYWORD_KINDS", "Target", "break_value", "targets_of"]

#: Keywords a target breaks -> the validator's error kind (its rule).
KEYWORD_KINDS = {
    "type": "Type", "enum": "Enum", "const": "Constant",
    "minimum": "Minimum", "maximum": "Maximum",
    "exclusiveMinimum": "ExclusiveMinimum", "exclusiveMaximum": "ExclusiveMaximum",
    "multipleOf": "MultipleOf", "minLength": "MinLength", "maxLength": "MaxLength",
    "pattern": "Pattern", "required": "Required",
    "additionalProperties": "AdditionalProperties",
    "unevaluatedProperties": "UnevaluatedProperties",
    "minProperties": "MinProperties", "maxProperties": "MaxProperties",
    "propertyNames": "PropertyNames", "dependentRequired": "Required",
    "minItems": "MinItems", "maxItems": "MaxItems", "uniqueItems": "UniqueItems",
    "contains": "Contains", "oneOf": "OneOfNotValid", "anyOf": "AnyOf",
}  # fmt: skip
#: Where a walk goes on to a subschema at the same place in the document.
_SAME_PLACE = ("allOf", "anyOf", "oneOf", "then", "else", "dependentSchemas")
Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Target:
    """One keyword at one schema object, and how a document reaches it.

    Attributes:
        location: key path of the schema object in the root document.
        keyword: the keyword broken.
        item: for ``required``, the one name removed.
        place: where in the payload the keyword applies (property names, item
            indexes).
        route: what the valid document is forced to hold on the way.
    """

    location: Path
    keyword: str
    item: str | None = None
    place: Path = ()
    route: Route = field(default_factory=dict, compare=False, hash=False)

    def __str__(self) -> str:
        path = "/".join(str(p) for p in (*self.location, self.keyword))
        return f"{path}/{self.item}" if self.item is not None else path

    @property
    def rule(self) -> Rule:
        """The rule a payload breaking this keyword carries."""
        return KEYWORD_RULES.get(KEYWORD_KINDS[self.keyword], Rule.FORBIDDEN)

    def fingerprint(self, node: dict[str, Any]) -> str:
        """The check itself, wherever it is: the property it is on, the
        keyword and its value (the same check in many branches is one)."""
        name = next((p for p in reversed(self.place) if isinstance(p, str)), "")
        value = self.item if self.item is not None else node.get(self.keyword)
        return json.dumps([name, self.keyword, value], sort_keys=True, default=str)


def _pointer(root: object, ref: str) -> tuple[Path, object] | None:
    """A local ``#/a/b`` reference's key path and object, or None."""
    if not ref.startswith("#"):
        return None
    node: Any = root
    path: list[str | int] = []
    for raw in ref[1:].split("/")[1:]:
        part = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            path.append(int(part))
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        else:
            return None
    return tuple(path), node


def _with(route: dict[int, Force], node: object, **forced: Any) -> dict[int, Force]:
    """``route`` with more forced at ``node``."""
    old = route.get(id(node), Force())
    new = Force(
        pick=old.pick + tuple(forced.get("pick", ())),
        branch=forced.get("branch", old.branch),
        present=old.present | frozenset(forced.get("present", ())),
        min_items=max(old.min_items, forced.get("min_items", 0)),
    )
    return {**route, id(node): new}


def targets_of(schema: Schema, limit: int = 2000) -> list[Target]:
    """Every breakable keyword location reached from the root, in visiting order
    (one per distinct check first, then the repeats)."""
    found: list[tuple[Target, str]] = []
    seen: set[tuple[Path, str, str | None]] = set()
    queue: list[tuple[object, Path, Path, dict[int, Force]]] = [
        (schema.root, (), (), {})
    ]
    visited: set[Path] = set()
    dialect_refs_alone = schema.dialect in ("4", "6", "7")
    while queue and len(found) < limit:
        node, location, place, route = queue.pop(0)
        if not isinstance(node, dict) or location in visited:
            continue
        visited.add(location)
        ref = node.get("$ref")
        if isinstance(ref, str):
            jump = _pointer(schema.root, ref)
            if jump is not None:
                queue.append((jump[1], jump[0], place, route))
            if dialect_refs_alone:
                continue  # siblings of $ref are ignored before 2019-09
        for keyword in KEYWORD_KINDS:
            if keyword not in node:
                continue
            items: list[str | None] = [None]
            if keyword == "required" and isinstance(node["required"], list):
                items = [n for n in node["required"] if isinstance(n, str)]
            for item in items:
                target = Target(location, keyword, item, place, route)
                key = (location, keyword, item)
                if key not in seen:
                    seen.add(key)
                    found.append((target, target.fingerprint(node)))
        queue.extend(_children(node, location, place, route))
    first: list[Target] = []
    repeats: list[Target] = []
    prints: set[str] = set()
    for target, mark in found:
        (repeats if mark in prints else first).append(target)
        prints.add(mark)
    return sorted(first, key=_priority) + sorted(repeats, key=_priority)


#: Visiting order within a pass, by keyword (stable: the schema's order
#: within each): the checks a sink's own code most often forgets first
#: (required names, bounds, lengths, enums), the ones a parser or framework
#: usually enforces (types, the variant choice) last.
_PRIORITY = {
    "required": 0, "dependentRequired": 0,
    "minimum": 1, "maximum": 1, "exclusiveMinimum": 1, "exclusiveMaximum": 1,
    "multipleOf": 1, "minLength": 2, "maxLength": 2, "pattern": 2,
    "minItems": 2, "maxItems": 2, "minProperties": 2, "maxProperties": 2,
    "enum": 3, "const": 3, "uniqueItems": 3, "contains": 3,
    "additionalProperties": 4, "unevaluatedProperties": 4, "propertyNames": 4,
}  # fmt: skip


def _priority(target: Target) -> int:
    return _PRIORITY.get(target.keyword, 5)


def _children(
    node: dict[str, Any], location: Path, place: Path, route: dict[int, Force]
) -> Iterator[tuple[object, Path, Path, dict[int, Force]]]:
    props = node.get("properties")
    if isinstance(props, dict):
        for name, sub in props.items():
            yield (sub, (*location, "properties", name), (*place, name),
                   _with(route, node, present=[name]))  # fmt: skip
    items = node.get("prefixItems")
    tail = node.get("items")
    if isinstance(tail, list):
        items, tail = tail, None
        key = "items"
    else:
        key = "prefixItems"
    if isinstance(items, list):
        for index, sub in enumerate(items):
            yield (sub, (*location, key, index), (*place, index),
                   _with(route, node, min_items=index + 1))  # fmt: skip
    if isinstance(tail, dict):
        index = len(items) if isinstance(items, list) else 0
        yield (tail, (*location, "items"), (*place, index),
               _with(route, node, min_items=index + 1))  # fmt: skip
    for key in _SAME_PLACE:
        value = node.get(key)
        if key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
            for index, sub in enumerate(value):
                forced = (
                    _with(route, node, pick=[(key, index)]) if key != "allOf" else route
                )
                yield sub, (*location, key, index), place, forced
        elif key in ("then", "else") and "if" in node:
            yield (value, (*location, key), place,
                   _with(route, node, branch=key == "then"))  # fmt: skip
        elif key == "dependentSchemas" and isinstance(value, dict):
            for name, sub in value.items():
                yield (sub, (*location, key, name), place,
                       _with(route, node, present=[name]))  # fmt: skip


# -- breaking one keyword at its place -----------------------------------

_OTHERS: tuple[object, ...] = (None, True, 0, 0.5, "x", [], {})
_NAMES = ("x", "zz", "extra_field", "A B", "")


def _numbers(node: dict[str, Any], keyword: str, current: object) -> list[object]:
    bound = node[keyword]
    if isinstance(bound, bool):  # draft 4: exclusiveM* is a flag on the bound
        other = "minimum" if keyword == "exclusiveMinimum" else "maximum"
        bound = node.get(other)
        if not isinstance(bound, int | float):
            return []
        return [bound]
    if not isinstance(bound, int | float):
        return []
    if keyword == "minimum":
        return [bound - 1, bound - 0.5]
    if keyword == "maximum":
        return [bound + 1, bound + 0.5]
    if keyword == "exclusiveMinimum":
        return [bound, bound - 1]
    if keyword == "exclusiveMaximum":
        return [bound, bound + 1]
    # multipleOf
    base = current if isinstance(current, int | float) else 0
    return [base + bound / 2, base + 1, bound / 2, 1, 0.5]


def _candidates(target: Target, node: dict[str, Any], current: object) -> list[object]:
    """Values for the place that may break the keyword (the validator decides)."""
    keyword = target.keyword
    value = node.get(keyword)
    if keyword == "type":
        return [v for v in _OTHERS if _json_type(v) != _json_type(current)]
    if keyword in ("enum", "const"):
        pool = value if isinstance(value, list) else [value]
        near: list[object] = []
        if isinstance(current, str):
            near = [current + "x", "x", ""]
        elif isinstance(current, int | float) and not isinstance(current, bool):
            near = [current + 1, current - 1]
        return [*near, *[v for v in _OTHERS if v not in pool]]
    if keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                   "multipleOf"):  # fmt: skip
        return _numbers(node, keyword, current)
    if keyword == "minLength" and isinstance(value, int) and value > 0:
        text = current if isinstance(current, str) else ""
        return [text[: value - 1], "a" * (value - 1)]
    if keyword == "maxLength" and isinstance(value, int):
        text = current if isinstance(current, str) else ""
        pad = text[-1:] or "a"
        return [text + pad * (value + 1 - len(text)), "a" * (value + 1),
                "0" * (value + 1)]  # fmt: skip
    if keyword == "pattern":
        text = current if isinstance(current, str) else ""
        return ["", "!", text + "!", "!" + text, " ", "a", "0", text * 2]
    if keyword in ("required", "dependentRequired", "minProperties") and isinstance(
        current, dict
    ):
        names = [target.item] if target.item is not None else list(current)
        return [{k: v for k, v in current.items() if k != n} for n in names]
    if keyword in ("additionalProperties", "unevaluatedProperties", "maxProperties",
                   "propertyNames") and isinstance(current, dict):  # fmt: skip
        extra: list[object] = []
        for name in _NAMES:
            if name in current:
                continue
            for item in _OTHERS:
                extra.append({**current, name: item})
        if keyword == "maxProperties" and isinstance(value, int):
            more = {f"x{i}": 0 for i in range(value + 1)}
            extra.insert(0, {**current, **more})
        return extra
    if isinstance(current, list):
        if keyword == "minItems" and isinstance(value, int) and value > 0:
            return [current[: value - 1]]
        if keyword == "maxItems" and isinstance(value, int):
            fill = current[0] if current else 0
            return [[*current, *[fill] * (value + 1 - len(current))]]
        if keyword == "uniqueItems" and current:
            return [[*current, current[0]]]
        if keyword == "contains":
            return [[], [None], [0], ["x"]]
    if keyword in ("oneOf", "anyOf"):
        return list(_OTHERS)
    return []


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _get(value: object, place: Path) -> tuple[bool, object]:
    for key in place:
        inside = (isinstance(value, dict) and key in value) or (
            isinstance(value, list) and isinstance(key, int) and key < len(value)
        )
        if not inside:
            return False, None
        value = value[key]  # type: ignore[index]
    return True, value


def _put(value: object, place: Path, new: object) -> object:
    if not place:
        return new
    import copy

    result = copy.deepcopy(value)
    node: Any = result
    for key in place[:-1]:
        node = node[key]
    node[place[-1]] = new
    return result


def _node(schema: Schema, location: Path) -> dict[str, Any] | None:
    node: Any = schema.root
    for key in location:
        node = node[key]
    return node if isinstance(node, dict) else None


def break_value(
    schema: Schema, target: Target, document: object
) -> tuple[object] | None:
    """``document`` (valid) changed at the target's place so that the schema
    refuses it and the schema without the target's keyword accepts it (in a
    1-tuple: the change may be ``null``), or None when no change tried does
    (the place is not in ``document``, or the keyword is redundant there)."""
    node = _node(schema, target.location)
    holed = schema.without(target.location, target.keyword, target.item)
    if node is None or holed is None:
        return None
    present, current = _get(document, target.place)
    if not present:
        return None
    for candidate in _candidates(target, node, current):
        changed = _put(document, target.place, candidate)
        try:
            if not schema.is_valid(changed) and holed.is_valid(changed):
                return (changed,)
        except (ValueError, OverflowError):
            continue
    return None
