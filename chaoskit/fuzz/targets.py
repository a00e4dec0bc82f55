"""The breakable keyword locations of a schema, and how to break each one.

A seeded validation hole is one keyword a sink forgets to check. Random
mutations find a hole only when they happen to land on its place and to break
its keyword, which in a schema of fifteen ``oneOf`` variants is rare within a
few hundred requests. So before random generation the engine visits every
:class:`Target` in turn: a keyword (``maximum``, ``required`` for one name,
``additionalProperties``...) at one schema object (its key path, reached
from the root through ``properties``, ``patternProperties`` (a name the
pattern matches, drawn from the ECMA-262 regex as ``pattern`` strings are),
``additionalProperties`` and ``unevaluatedProperties`` (a name nothing else
matches), ``items``, ``prefixItems``, ``additionalItems``,
``unevaluatedItems``, ``contains`` (the item that satisfies it),
``propertyNames`` (the names themselves), ``allOf``, a branch of
``anyOf``/``oneOf``, ``then``/``else``, ``dependentSchemas``/``dependencies``
and local ``$ref``). :func:`break_value` builds a valid document that reaches
the place (a :data:`~chaoskit.fuzz.generate.Route`) and changes the value
there so that the schema refuses it and the same schema *without that one
keyword* (:meth:`~chaoskit.fuzz.schema.Schema.without`) accepts it: the
payload is the minimal example of its hole. The rule named is the one of the
keyword that rejects the payload: the keyword itself, or the applicator above
it whose own error it is (a ``contains`` no item satisfies any more, a bad
property name, an unevaluated item or property): :attr:`Target.via`.

``not`` is broken whole: the document is drawn valid for the schema without
it, with the place made to match the ``not``'s subschema (what it forbids).
Keywords *inside* a ``not`` or an ``if`` are not targets: a sink that forgets
one refuses more, not less.

Order: one target per distinct check first (the same ``session_id`` bounds
in fifteen variants are one check in most sinks' code), then the repeats in
the other branches; within each pass, the keywords most often left unchecked
first (required names, bounds, lengths, enums; types last), in the order of
the schema within each.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException

from chaoskit.fuzz.generate import Force, Route, translate_pattern
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
    "not": "Not", "minContains": "Contains", "maxContains": "Contains",
    "dependencies": "Required", "items": "FalseSchema",
    "additionalItems": "AdditionalItems", "unevaluatedItems": "UnevaluatedItems",
}  # fmt: skip
#: Keywords broken whole only when they are ``false`` (a subschema's own
#: keywords are the targets otherwise, and its errors are theirs).
_WHOLE_IF_FALSE = ("items", "additionalItems", "additionalProperties")
#: Keywords whose targets are one name each (a key of the keyword's object).
_BY_NAME = ("dependentRequired", "dependencies")
#: Where a walk goes on to a subschema at the same place in the document.
_SAME_PLACE = (
    "allOf", "anyOf", "oneOf", "then", "else", "dependentSchemas", "dependencies",
)  # fmt: skip
Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Target:
    """One keyword at one schema object, and how a document reaches it.

    Attributes:
        location: key path of the schema object in the root document.
        keyword: the keyword broken.
        item: for ``required``, the one name removed; for
            ``dependentRequired``/``dependencies``, the one name whose
            dependency is broken.
        place: where in the payload the keyword applies (property names, item
            indexes).
        route: what the valid document is forced to hold on the way.
        via: the applicator whose own error rejects a break here
            (``contains``, ``propertyNames``, ``unevaluatedItems``,
            ``unevaluatedProperties``), None when it is the keyword's.
        anchor: the place that applicator applies to (the array, the object).
    """

    location: Path
    keyword: str
    item: str | None = None
    place: Path = ()
    route: Route = field(default_factory=dict, compare=False, hash=False)
    via: str | None = None
    anchor: Path = ()

    def __str__(self) -> str:
        path = "/".join(str(p) for p in (*self.location, self.keyword))
        return f"{path}/{self.item}" if self.item is not None else path

    @property
    def rule(self) -> Rule:
        """The rule a payload breaking this keyword carries (the rejecting
        keyword's: :attr:`via` when there is one)."""
        return KEYWORD_RULES.get(
            KEYWORD_KINDS[self.via or self.keyword], Rule.FORBIDDEN
        )

    @property
    def drawn_broken(self) -> bool:
        """Whether the document is drawn valid for the schema without the
        keyword, already broken (``not``: the place matches what it forbids)."""
        return self.keyword == "not"

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
        apply=old.apply + tuple(forced.get("apply", ())),
    )
    return {**route, id(node): new}


def _prefix(node: dict[str, Any]) -> list[Any]:
    """The item schemas by position (``prefixItems``, or ``items`` as a list)."""
    items = node.get("items")
    prefix = items if isinstance(items, list) else node.get("prefixItems")
    return prefix if isinstance(prefix, list) else []


_FIND = settings(
    database=None, derandomize=True, max_examples=50, deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.generate, Phase.shrink],  # (explaining takes a second)
)  # fmt: skip
_NAME_CACHE: dict[tuple[object, ...], str | None] = {}
_NAME_ALPHABET = string.ascii_letters + string.digits + "_-.$@/:"
#: Names tried for a property no name or pattern of the object matches.
_FREE_NAMES = ("x", "extra", "zz", *(f"x{i}" for i in range(10)))


def _name_for(node: dict[str, Any], pattern: str | None) -> str | None:
    """A property name of ``node`` that no ``properties`` name and no other
    pattern of ``patternProperties`` matches, and ``pattern`` does (None: a
    name no pattern matches); None when there is none or the pattern has no
    Python ``re`` spelling. Drawn deterministically (the least Hypothesis
    finds), so the same schema has the same targets."""
    declared = node.get("properties")
    props: dict[str, Any] = declared if isinstance(declared, dict) else {}
    others = [
        translate_pattern(p)
        for p in node.get("patternProperties") or {}
        if p != pattern and isinstance(p, str)
    ]
    key = (pattern, tuple(props), tuple(others))
    if key in _NAME_CACHE:
        return _NAME_CACHE[key]

    def fits(name: str) -> bool:
        return name not in props and not any(
            p is None or re.search(p, name) for p in others
        )

    name: str | None = None
    if pattern is None:
        name = next((n for n in _FREE_NAMES if fits(n)), None)
    elif (translated := translate_pattern(pattern)) is not None:
        # The pattern's own text when it is a literal (``^x-``): the least
        # match, without a search.
        literal = pattern.removeprefix("^").removesuffix("$")
        plain = re.fullmatch(r"[\w-]*", literal) is not None
        if plain and re.search(translated, literal) and fits(literal):
            _NAME_CACHE[key] = literal
            return literal
        # Readable names first (and shrinking them is quick: over the whole
        # of Unicode it takes seconds); another pattern matching too is
        # better than no target at all.
        tries = [(alphabet, test) for alphabet in (_NAME_ALPHABET, None)
                 for test in (fits, lambda n: n not in props)]  # fmt: skip
        for alphabet, test in tries:
            names = st.from_regex(translated, alphabet=alphabet)
            try:
                name = str(find(names, test, settings=_FIND))
                break
            except HypothesisException:
                continue
    if len(_NAME_CACHE) > 4096:  # a long-lived process fuzzing many schemas
        _NAME_CACHE.clear()
    _NAME_CACHE[key] = name
    return name


def targets_of(schema: Schema, limit: int = 2000) -> list[Target]:
    """Every breakable keyword location reached from the root, in visiting order
    (one per distinct check first, then the repeats)."""
    found: list[tuple[Target, str]] = []
    seen: set[tuple[Path, str, str | None]] = set()
    # (schema object, location, place, route, via, anchor): see Target.
    queue: list[tuple[object, Path, Path, dict[int, Force], str | None, Path]] = [
        (schema.root, (), (), {}, None, ())
    ]
    visited: set[Path] = set()
    dialect_refs_alone = schema.dialect in ("4", "6", "7")
    while queue and len(found) < limit:
        node, location, place, route, via, anchor = queue.pop(0)
        if not isinstance(node, dict) or location in visited:
            continue
        visited.add(location)
        ref = node.get("$ref")
        if isinstance(ref, str):
            jump = _pointer(schema.root, ref)
            if jump is not None:
                queue.append((jump[1], jump[0], place, route, via, anchor))
            if dialect_refs_alone:
                continue  # siblings of $ref are ignored before 2019-09
        for keyword in KEYWORD_KINDS:
            if keyword not in node:
                continue
            if keyword in _WHOLE_IF_FALSE and node[keyword] is not False:
                continue
            items: list[str | None] = [None]
            if keyword == "required" and isinstance(node["required"], list):
                items = [n for n in node["required"] if isinstance(n, str)]
            if keyword in _BY_NAME and isinstance(node[keyword], dict):
                items = [k for k, v in node[keyword].items() if isinstance(v, list)]
            for item in items:
                forced = _target_route(node, keyword, item, route)
                target = Target(location, keyword, item, place, forced, via, anchor)
                key = (location, keyword, item)
                if key not in seen:
                    seen.add(key)
                    found.append((target, target.fingerprint(node)))
        for sub, where, at, forced, inner in _children(node, location, place, route):
            if via == "propertyNames" and at != place:
                continue  # under propertyNames the value is a name: no children
            if via is None and inner is not None:
                queue.append((sub, where, at, forced, inner, place))
            else:
                queue.append((sub, where, at, forced, via, anchor))
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
    "required": 0, "dependentRequired": 0, "dependencies": 0,
    "minimum": 1, "maximum": 1, "exclusiveMinimum": 1, "exclusiveMaximum": 1,
    "multipleOf": 1, "minLength": 2, "maxLength": 2, "pattern": 2,
    "minItems": 2, "maxItems": 2, "minProperties": 2, "maxProperties": 2,
    "minContains": 2, "maxContains": 2,
    "enum": 3, "const": 3, "uniqueItems": 3, "contains": 3, "not": 3,
    "additionalProperties": 4, "unevaluatedProperties": 4, "propertyNames": 4,
    "items": 4, "additionalItems": 4, "unevaluatedItems": 4,
}  # fmt: skip


def _priority(target: Target) -> int:
    return _PRIORITY.get(target.keyword, 5)


def _target_route(
    node: dict[str, Any], keyword: str, item: str | None, route: dict[int, Force]
) -> dict[int, Force]:
    """The route to a keyword's place, with what breaking it needs there."""
    if keyword == "not":
        return _with(route, node, apply=[node["not"]])
    if keyword in _BY_NAME and item is not None:
        return _with(route, node, present=[item])  # the name that needs others
    if keyword in ("items", "additionalItems", "unevaluatedItems"):
        return _with(route, node, min_items=len(_prefix(node)))
    return route


Child = tuple[object, Path, Path, dict[int, Force], str | None]


def _children(
    node: dict[str, Any], location: Path, place: Path, route: dict[int, Force]
) -> Iterator[Child]:
    """The subschemas of ``node`` a walk goes on to: (subschema, location,
    place, route, the applicator whose error a break below it is)."""
    yield from _property_children(node, location, place, route)
    yield from _item_children(node, location, place, route)
    for key in _SAME_PLACE:
        value = node.get(key)
        if key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
            for index, sub in enumerate(value):
                forced = (
                    _with(route, node, pick=[(key, index)]) if key != "allOf" else route
                )
                yield sub, (*location, key, index), place, forced, None
        elif key in ("then", "else") and "if" in node:
            yield (value, (*location, key), place,
                   _with(route, node, branch=key == "then"), None)  # fmt: skip
        elif key in ("dependentSchemas", "dependencies") and isinstance(value, dict):
            for name, sub in value.items():
                if isinstance(sub, dict):  # dependencies: a list is a target
                    yield (sub, (*location, key, name), place,
                           _with(route, node, present=[name]), None)  # fmt: skip
    if isinstance(node.get("propertyNames"), dict):
        yield (node["propertyNames"], (*location, "propertyNames"), place, route,
               "propertyNames")  # fmt: skip


def _property_children(
    node: dict[str, Any], location: Path, place: Path, route: dict[int, Force]
) -> Iterator[Child]:
    props = node.get("properties")
    if isinstance(props, dict):
        for name, sub in props.items():
            yield (sub, (*location, "properties", name), (*place, name),
                   _with(route, node, present=[name]), None)  # fmt: skip
    patterns = node.get("patternProperties")
    for pattern, sub in (patterns if isinstance(patterns, dict) else {}).items():
        name = _name_for(node, pattern)
        if name is not None:
            yield (sub, (*location, "patternProperties", pattern), (*place, name),
                   _with(route, node, present=[name]), None)  # fmt: skip
    for key in ("additionalProperties", "unevaluatedProperties"):
        name = _name_for(node, None) if isinstance(node.get(key), dict) else None
        if name is not None:
            via = key if key == "unevaluatedProperties" else None
            yield (node[key], (*location, key), (*place, name),
                   _with(route, node, present=[name]), via)  # fmt: skip


def _item_children(
    node: dict[str, Any], location: Path, place: Path, route: dict[int, Force]
) -> Iterator[Child]:
    prefix = _prefix(node)
    key = "items" if isinstance(node.get("items"), list) else "prefixItems"
    for index, sub in enumerate(prefix):
        yield (sub, (*location, key, index), (*place, index),
               _with(route, node, min_items=index + 1), None)  # fmt: skip
    # The items past the prefix: one schema says what they are.
    index = len(prefix)
    tail = "additionalItems" if key == "items" else "items"
    if not isinstance(node.get(tail), dict) and not isinstance(node.get("items"), dict):
        tail = "unevaluatedItems"
    if isinstance(node.get(tail), dict):
        via = tail if tail == "unevaluatedItems" else None
        yield (node[tail], (*location, tail), (*place, index),
               _with(route, node, min_items=index + 1), via)  # fmt: skip
    if isinstance(node.get("contains"), dict):
        # Generation puts the item that satisfies contains right after the prefix.
        yield (node["contains"], (*location, "contains"), (*place, index),
               _with(route, node, min_items=index + 1), "contains")  # fmt: skip


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
    if keyword in ("required", "minProperties", *_BY_NAME) and isinstance(
        current, dict
    ):
        names: list[object] = list(current)
        if keyword == "required" and target.item is not None:
            names = [target.item]
        elif keyword in _BY_NAME and isinstance(value, dict):
            needs = value.get(target.item)  # the names the item's presence needs
            names = needs if isinstance(needs, list) else []
        return [{k: v for k, v in current.items() if k != n} for n in names]
    if keyword == "not":
        return [current]  # drawn matching what the not forbids (drawn_broken)
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
        fewer: list[object] = [
            current[:i] + current[i + 1 :] for i in range(len(current))
        ]
        if keyword == "contains":
            return [[], [None], [0], ["x"], *fewer]
        if keyword == "minContains":
            return fewer  # one matching item fewer (the validator says which)
        if keyword == "maxContains" and isinstance(value, int):
            return [[*current, *[item] * (value + 1)] for item in current]
        if keyword in ("items", "additionalItems", "unevaluatedItems"):
            return [[*current, item] for item in _OTHERS]
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
    for changed in _changes(target, node, document, current):
        try:
            if not schema.is_valid(changed) and holed.is_valid(changed):
                return (changed,)
        except (ValueError, OverflowError):
            continue
    return None


def _changes(
    target: Target, node: dict[str, Any], document: object, current: object
) -> Iterator[object]:
    """``document`` changed at the target's place, each way that may break it."""
    if target.via == "propertyNames":
        # The keyword applies to the names: one renamed, or one added.
        if not isinstance(current, dict):
            return
        for name in [*list(current)[:3], ""]:
            for new in _candidates(target, node, name):
                if not isinstance(new, str) or new in current:
                    continue
                if name in current:
                    renamed = {new if k == name else k: v for k, v in current.items()}
                    yield _put(document, target.place, renamed)
                for value in (None, 0, "x"):
                    yield _put(document, target.place, {**current, new: value})
        return
    for candidate in _candidates(target, node, current):
        changed = _put(document, target.place, candidate)
        yield changed
        if target.via == "contains":
            # Other items may satisfy contains too: the broken one alone.
            index = target.place[len(target.anchor)]
            _, array = _get(changed, target.anchor)
            if isinstance(array, list) and isinstance(index, int):
                yield _put(changed, target.anchor, array[: index + 1])
