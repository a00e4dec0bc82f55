"""Valid instances of a JSON Schema, drawn through Hypothesis.

hypothesis-jsonschema was measured first and not taken: with the Hypothesis
this project pins it fails on 95 of draft 2020-12's 147 object groups
(``AttributeError: 'many' object has no attribute 'more'``: it reaches into
Hypothesis internals that have moved) and it resolves ``$ref`` with the
deprecated ``jsonschema.RefResolver``; see ``benchmarks/results/fuzz.md``.

How a value is drawn: the schemas that apply at one place are gathered into a
*conjunction* (``$ref`` targets with their own resolver, ``allOf``, one branch
of ``anyOf``/``oneOf``, ``then`` or ``else``, ``dependentSchemas`` of the
properties present); the types they all allow are intersected; a value of one
of them is drawn from every bound, pattern, format, property and item rule
they state together. ``not``, ``uniqueItems`` across items and the rest are
left to the validator: :func:`valid_values` keeps a draw only if the
validator accepts it, and tries again a few times before giving up on an
example. Everything is drawn, so the same seed gives the same values and
Hypothesis shrinks them (optional properties towards absent, numbers towards
the least bound).
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from hypothesis import strategies as st

from chaoskit.fuzz.schema import Schema, SchemaError, lookup

__all__ = [
    "Force",
    "GenerationStats",
    "Route",
    "draw_valid",
    "translate_pattern",
    "valid_values",
]

_TYPES = ("object", "string", "integer", "number", "boolean", "null", "array")
#: Nested schemas deeper than this draw their least value (recursive schemas end).
_MAX_DEPTH = 6
#: Draws tried per example before it is dropped (the validator refused them all).
_TRIES = 8
#: Values one draw makes before it draws only what is required (wide schemas).
_MAX_VALUES = 120
#: Optional properties an object gets at most.
_MAX_OPTIONAL = 6

Part = tuple[object, Any]  # (schema, its resolver)


class _Reject(Exception):
    """This draw cannot satisfy the schema (a false schema, empty enum, ...)."""


@dataclass(frozen=True)
class Force:
    """What a route forces at one schema object (see :data:`Route`).

    Attributes:
        pick: ``anyOf``/``oneOf`` -> the branch taken.
        branch: ``if``: True takes ``then``, False ``else``; None draws it.
        present: properties the object gets (optional ones included).
        min_items: items the array gets at least.
        apply: more subschemas the value satisfies (a ``not``'s: the value
            it forbids, for a document valid only without the ``not``).
    """

    pick: tuple[tuple[str, int], ...] = ()
    branch: bool | None = None
    present: frozenset[str] = field(default_factory=frozenset)
    min_items: int = 0
    apply: tuple[object, ...] = ()


#: id(schema object) -> what is forced there, so that a valid document reaches
#: one place of the schema (:mod:`chaoskit.fuzz.targets` builds them). Each
#: force applies at the first value drawn from its object (recursion ends).
Route = Mapping[int, Force]


@dataclass
class GenerationStats:
    """Draws the validator refused (so never sent as valid)."""

    tried: int = 0
    refused: int = 0


_ESCAPES = {"d": "[0-9]", "D": "[^0-9]", "w": "[A-Za-z0-9_]", "W": "[^A-Za-z0-9_]"}


def translate_pattern(pattern: str) -> str | None:
    """An ECMA-262 regex as a Python ``re`` one, or None where ``re`` cannot say it.

    ECMA's ``\\d`` and ``\\w`` are ASCII-only (Python's are Unicode); named groups
    are spelled ``(?<n>`` there; ``\\p{..}`` classes, ``\\cX`` and ``\\u{..}`` have
    no ``re`` equivalent.
    """
    if re.search(r"\\[pPc]|\\u\{", pattern):
        return None
    out = []
    i = 0
    in_class = False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if in_class:
                # Inside [...] a class is spelled without its own brackets;
                # a negated one has no spelling there.
                if nxt in "DW":
                    return None
                out.append({"d": "0-9", "w": "A-Za-z0-9_"}.get(nxt, char + nxt))
            else:
                out.append(_ESCAPES.get(nxt, char + nxt))
            i += 2
            continue
        if in_class:
            in_class = char != "]" or out[-1] in ("[", "[^")
            out.append(char)
        elif char == "[":
            in_class = True
            if pattern.startswith("[^", i):
                out.append("[^")
                i += 2
                continue
            out.append(char)
        elif char == "$":
            # ECMA's $ is the end of input; Python's also matches before a
            # final newline ("a\n" would pass ^a$).
            out.append(r"\Z")
        elif pattern.startswith("(?<", i) and pattern[i + 3 : i + 4] not in ("=", "!"):
            out.append("(?P<")
            i += 3
            continue
        else:
            out.append(char)
        i += 1
    text = "".join(out)
    try:
        re.compile(text)
    except re.error:
        return None
    return text


_FORMATS: dict[str, st.SearchStrategy[str]] = {
    "date-time": st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")),
    "date": st.dates().map(lambda d: d.isoformat()),
    "time": st.times().map(lambda t: t.strftime("%H:%M:%SZ")),
    "email": st.from_regex(r"\A[a-z]{1,8}@[a-z]{1,8}\.(com|org)\Z"),
    "idn-email": st.from_regex(r"\A[a-z]{1,8}@[a-z]{1,8}\.(com|org)\Z"),
    "uuid": st.uuids().map(str),
    "uri": st.from_regex(r"\Ahttps://[a-z]{1,10}\.example/[a-z0-9]{0,8}\Z"),
    "uri-reference": st.from_regex(r"\A/[a-z0-9]{0,8}\Z"),
    "iri": st.from_regex(r"\Ahttps://[a-z]{1,10}\.example/[a-z0-9]{0,8}\Z"),
    "hostname": st.from_regex(r"\A[a-z]{1,10}(\.[a-z]{1,10}){0,2}\Z"),
    "ipv4": st.ip_addresses(v=4).map(str),
    "ipv6": st.ip_addresses(v=6).map(str),
    "duration": st.from_regex(r"\AP[1-9]D(T[1-9]H)?\Z"),
    "regex": st.sampled_from(["^a+$", "[0-9]{2}", ".*"]),
    "json-pointer": st.from_regex(r"\A(/[a-z]{1,5}){0,3}\Z"),
}


def _as_number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


class _Drawer:
    def __init__(
        self,
        schema: Schema,
        draw: st.DrawFn,
        attempt: int = 0,
        avoid: frozenset[str] = frozenset(),
        route: Route | None = None,
    ) -> None:
        self.schema = schema
        self.route = route or {}
        self.used: set[tuple[int, str]] = set()
        self.draw = draw
        self.count = 0  # values drawn: past _MAX_VALUES, only what is required
        # A retry (the validator refused the last draw) tries a top-level type
        # not refused yet and gives objects more properties: what `not`,
        # `minProperties` through `$ref` and the like leave to the validator.
        self.attempt = attempt
        self.avoid = avoid
        self.root_kind: str | None = None

    def forced(self, node: object, what: str) -> Force | None:
        """The route's force at ``node`` for ``what``, the first time only."""
        force = self.route.get(id(node))
        if force is None or (id(node), what) in self.used:
            return None
        self.used.add((id(node), what))
        return force

    def lean(self, depth: int) -> bool:
        return depth > _MAX_DEPTH or self.count > _MAX_VALUES

    # -- gathering the schemas that apply at one place --------------------

    def gather(self, parts: list[Part], depth: int) -> list[tuple[dict[str, Any], Any]]:
        """Expand refs, allOf and one branch of each choice into plain objects."""
        out: list[tuple[dict[str, Any], Any]] = []
        # (schema, resolver, whether the resolver is already in the schema's
        # own $id): a $ref's target comes back from the lookup with its base
        # set, and a relative $id applied twice would nest ("a/a/b.json").
        queue: list[tuple[object, Any, bool]] = [(n, r, False) for n, r in parts]
        seen = 0
        while queue:
            seen += 1
            if seen > 200:
                break  # a ref cycle through allOf: the validator has the last word
            node, resolver, scoped = queue.pop(0)
            if node is True:
                continue
            if node is False or not isinstance(node, dict):
                raise _Reject
            if not scoped:
                resolver = self.scope(node, resolver)
            out.append((node, resolver))
            for key in ("$ref", "$dynamicRef", "$recursiveRef"):
                ref = node.get(key)
                if isinstance(ref, str):
                    resolved = lookup(resolver, ref, self.schema.source, key)
                    queue.append((resolved.contents, resolved.resolver, True))
            for sub in (
                node.get("allOf", []) if isinstance(node.get("allOf"), list) else []
            ):
                queue.append((sub, resolver, False))
            applied = self.forced(node, "apply")
            for sub in applied.apply if applied is not None else ():
                queue.append((sub, resolver, False))
            for key in ("anyOf", "oneOf"):
                branches = node.get(key)
                if isinstance(branches, list) and branches:
                    force = self.forced(node, key)
                    chosen = dict(force.pick).get(key) if force else None
                    if chosen is not None and chosen < len(branches):
                        pick = chosen
                    else:
                        pick = self.draw(st.integers(0, len(branches) - 1))
                    queue.append((branches[pick], resolver, False))
            if "if" in node:
                cond = node["if"]
                # if: true / false decide the branch; otherwise draw it.
                force = self.forced(node, "if")
                if force is not None and force.branch is not None:
                    then = force.branch
                else:
                    then = cond is True or (
                        cond is not False and self.draw(st.booleans())
                    )
                if then:
                    queue.append((node["if"], resolver, False))
                    if "then" in node:
                        queue.append((node["then"], resolver, False))
                elif "else" in node:
                    queue.append((node["else"], resolver, False))
        return out

    def scope(self, node: dict[str, Any], resolver: Any) -> Any:
        if isinstance(node.get("$id"), str) or isinstance(node.get("id"), str):
            import referencing

            from chaoskit.fuzz.schema import _SPECS

            resource = referencing.Resource.from_contents(
                node, default_specification=_SPECS[self.schema.dialect]
            )
            return resolver.in_subresource(resource)
        return resolver

    # -- one value -------------------------------------------------------

    def value(self, parts: list[Part], depth: int) -> object:
        self.count += 1
        nodes = self.gather(parts, depth)
        consts = [n["const"] for n, _ in nodes if "const" in n]
        if consts:
            return consts[0]
        enums = [n["enum"] for n, _ in nodes if isinstance(n.get("enum"), list)]
        if enums:
            pool = [v for v in enums[0] if all(v in e for e in enums[1:])]
            if not pool:
                raise _Reject
            return self.draw(st.sampled_from(pool))
        kinds = self.kinds(nodes)
        if depth == 0:
            kinds = [k for k in kinds if k not in self.avoid] or kinds
        needed = self.needed_kind(nodes)
        if needed in kinds:
            kinds = [needed]
        kind = self.draw(st.sampled_from(kinds))
        if depth == 0:
            self.root_kind = kind
        if kind == "null":
            return None
        if kind == "boolean":
            return self.draw(st.booleans())
        if kind in ("integer", "number"):
            return self.number(nodes, kind)
        if kind == "string":
            return self.string(nodes)
        if kind == "array":
            return self.array(nodes, depth)
        return self.an_object(nodes, depth)

    def needed_kind(self, nodes: list[tuple[dict[str, Any], Any]]) -> str | None:
        """The kind a route needs here, not yet drawn: an array where it
        forces items, an object where it forces properties (a schema without
        ``type`` would draw any)."""
        for node, _ in nodes:
            force = self.route.get(id(node))
            if force is None:
                continue
            if force.min_items and (id(node), "items") not in self.used:
                return "array"
            if force.present and (id(node), "properties") not in self.used:
                return "object"
        return None

    def kinds(self, nodes: list[tuple[dict[str, Any], Any]]) -> list[str]:
        allowed = set(_TYPES)
        for node, _ in nodes:
            kind = node.get("type")
            if isinstance(kind, str):
                kind = [kind]
            if isinstance(kind, list):
                named = set(kind)
                if "number" in named:
                    named.add("integer")
                allowed &= named
        if not allowed:
            raise _Reject
        hinted = []
        keys = {key for node, _ in nodes for key in node}
        if keys & {
            "properties",
            "required",
            "additionalProperties",
            "patternProperties",
            "minProperties",
            "propertyNames",
            "dependentRequired",
        }:
            hinted.append("object")
        if keys & {"items", "prefixItems", "minItems", "contains", "maxItems"}:
            hinted.append("array")
        if keys & {"minLength", "maxLength", "pattern", "format"}:
            hinted.append("string")
        if keys & {
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "multipleOf",
        }:
            hinted.append("number" if "number" in allowed else "integer")
        order = [k for k in hinted if k in allowed]
        order += [k for k in _TYPES if k in allowed and k not in order]
        return order

    def number(self, nodes: list[tuple[dict[str, Any], Any]], kind: str) -> object:
        low, high = -1e9, 1e9
        low_open = high_open = False
        steps: list[float] = []
        for node, _ in nodes:
            for key, excl_key, sign in (
                ("minimum", "exclusiveMinimum", 1),
                ("maximum", "exclusiveMaximum", -1),
            ):
                bound = _as_number(node.get(key))
                exclusive = node.get(excl_key)
                if exclusive is True:  # draft 4: a flag on the plain bound
                    bound_open = True
                elif _as_number(exclusive) is not None:
                    bound, bound_open = _as_number(exclusive), True
                else:
                    bound_open = False
                if bound is None:
                    continue
                if sign == 1 and (bound > low or (bound == low and bound_open)):
                    low, low_open = bound, bound_open
                if sign == -1 and (bound < high or (bound == high and bound_open)):
                    high, high_open = bound, bound_open
            step = _as_number(node.get("multipleOf"))
            if step:
                steps.append(step)
        if steps and kind == "integer" and steps[0] < 1:
            # The integer multiples of a/b (lowest terms) are those of a:
            # 0.5 allows every integer, 0.123456789 only 123456789's multiples.
            steps = [Fraction(repr(steps[0])).numerator]
        if steps:
            step = steps[0]
            first = math.ceil(low / step) + (
                1 if low_open and (low / step).is_integer() else 0
            )
            last = math.floor(high / step) - (
                1 if high_open and (high / step).is_integer() else 0
            )
            if first > last:
                raise _Reject
            k = self.draw(st.integers(first, min(last, first + 10**6)))
            value = k * step
            if kind == "integer" or (
                isinstance(step, int) and float(value).is_integer()
            ):
                return int(value) if float(value).is_integer() else value
            return value
        ilow = math.floor(low) + 1 if low_open or low != math.floor(low) else int(low)
        ihigh = (
            math.ceil(high) - 1 if high_open or high != math.ceil(high) else int(high)
        )
        if kind == "integer" or self.draw(st.booleans()):
            if ilow > ihigh:
                if kind == "integer":
                    raise _Reject
            else:
                return self.draw(st.integers(ilow, ihigh))
        return self.draw(
            st.floats(
                low,
                high,
                exclude_min=low_open,
                exclude_max=high_open,
                allow_nan=False,
                allow_infinity=False,
            )
        )

    def string(self, nodes: list[tuple[dict[str, Any], Any]]) -> str:
        low, high = 0, None
        patterns = []
        formats = []
        for node, _ in nodes:
            low = max(
                low,
                node.get("minLength", 0)
                if isinstance(node.get("minLength"), int)
                else 0,
            )
            if isinstance(node.get("maxLength"), int):
                high = (
                    node["maxLength"] if high is None else min(high, node["maxLength"])
                )
            if isinstance(node.get("pattern"), str):
                patterns.append(node["pattern"])
            if isinstance(node.get("format"), str):
                formats.append(node["format"])
        if high is not None and high < low:
            raise _Reject
        for pattern in patterns[:1]:
            translated = translate_pattern(pattern)
            if translated is None:
                self.schema.note(
                    f"pattern {pattern!r}: ECMA-262 features Python's re lacks; "
                    "strings are drawn without it and kept only if the validator agrees"
                )
                break
            text = self.draw(st.from_regex(translated))
            if len(text) < low:
                text = text + "a" * 0
            return str(text)
        for name in formats[:1]:
            if name in _FORMATS:
                return self.draw(_FORMATS[name])
        cap = low + 12 if high is None else min(high, low + 12)
        return self.draw(
            st.text(
                string.ascii_letters + string.digits + " -_.é",
                min_size=low,
                max_size=cap,
            )
        )

    def array(
        self, nodes: list[tuple[dict[str, Any], Any]], depth: int
    ) -> list[object]:
        low, high = 0, None
        prefix: list[list[Part]] = []
        rest: list[Part] = []
        contains: list[Part] = []
        unevaluated: list[Part] = []
        unique = False
        for node, resolver in nodes:
            if isinstance(node.get("minItems"), int):
                low = max(low, node["minItems"])
            if isinstance(node.get("maxItems"), int):
                high = node["maxItems"] if high is None else min(high, node["maxItems"])
            unique = unique or node.get("uniqueItems") is True
            items = node.get("prefixItems")
            tail = node.get("items")
            if isinstance(tail, list):  # draft 4-2019: items as a list is the prefix
                items, tail = tail, node.get("additionalItems")
            for index, sub in enumerate(items if isinstance(items, list) else []):
                while len(prefix) <= index:
                    prefix.append([])
                prefix[index].append((sub, resolver))
            if tail is not None:
                rest.append((tail, resolver))
            elif isinstance(node.get("unevaluatedItems"), dict):
                # (false is left to the validator: a nested applicator may
                # evaluate the item all the same)
                unevaluated.append((node["unevaluatedItems"], resolver))
            if "contains" in node:
                contains.append((node["contains"], resolver))
                floor = node.get("minContains", 1)
                low = max(low, floor if isinstance(floor, int) else 1)
        if high is not None and high < low:
            raise _Reject
        # Items past every prefix that no items schema evaluates (and no
        # contains: the items it matches are evaluated too).
        rest = rest or ([] if contains else unevaluated)
        for node, _ in nodes:
            force = self.forced(node, "items")
            if force is not None:
                low = max(low, force.min_items)
        if self.lean(depth):
            size = low
        else:
            size = self.draw(
                st.integers(
                    low, max(low, min(high if high is not None else low + 3, low + 3))
                )
            )
        result: list[object] = []
        for index in range(size):
            parts = prefix[index] if index < len(prefix) else list(rest)
            if contains and index < max(1, low) and index >= len(prefix):
                parts = [*parts, contains[0]]
            result.append(self.value(parts or [(True, None)], depth + 1))
        if unique:
            seen: list[object] = []
            for item in result:
                if not any(_same(item, other) for other in seen):
                    seen.append(item)
            result = seen
        return result

    def an_object(
        self, nodes: list[tuple[dict[str, Any], Any]], depth: int
    ) -> dict[str, object]:
        props: dict[str, list[Part]] = {}
        required: list[str] = []
        low = 0
        high: int | None = None
        names: list[Part] = []
        for node, resolver in nodes:
            for name, sub in (node.get("properties") or {}).items():
                props.setdefault(name, []).append((sub, resolver))
            for name in (
                node.get("required", [])
                if isinstance(node.get("required"), list)
                else []
            ):
                if name not in required:
                    required.append(name)
            if isinstance(node.get("minProperties"), int):
                low = max(low, node["minProperties"])
            if isinstance(node.get("maxProperties"), int):
                high = (
                    node["maxProperties"]
                    if high is None
                    else min(high, node["maxProperties"])
                )
            if "propertyNames" in node:
                names.append((node["propertyNames"], resolver))
        chosen = list(required)
        if not self.lean(depth):
            optional = [name for name in props if name not in chosen]
            for name in optional[: _MAX_OPTIONAL * 2]:
                if len(chosen) - len(required) < _MAX_OPTIONAL and self.draw(
                    st.booleans()
                ):
                    chosen.append(name)
        for node, _ in nodes:
            force = self.forced(node, "properties")
            if force is not None:
                chosen += sorted(n for n in force.present if n not in chosen)
        # dependentRequired / dependencies (arrays) pull in more names.
        for _ in range(3):
            for node, _resolver in nodes:
                for key in ("dependentRequired", "dependencies"):
                    table = node.get(key)
                    if not isinstance(table, dict):
                        continue
                    for name, needs in table.items():
                        if name in chosen and isinstance(needs, list):
                            chosen += [n for n in needs if n not in chosen]
        # minProperties: the declared properties first (an object closed by
        # additionalProperties: false can have no others), then new names.
        for name in props:
            if len(chosen) >= low:
                break
            if name not in chosen:
                chosen.append(name)
        extra_needed = max(0, low - len(chosen))
        result: dict[str, object] = {}
        for name in chosen:
            result[name] = self.value(self.applying(nodes, name, props), depth + 1)
        for index in range(
            extra_needed
            + (
                self.draw(st.integers(min(self.attempt, 1), 1 + min(self.attempt, 2)))
                if depth <= 1 and not high and not self.lean(depth)
                else 0
            )
        ):
            name = self.new_name(nodes, names, result, index)
            if name is None:
                break
            result[name] = self.value(self.applying(nodes, name, props), depth + 1)
        if high is not None:
            for name in list(result)[high:]:
                if name not in required:
                    del result[name]
        # dependentSchemas / dependencies (schemas) of the names present.
        more: list[Part] = []
        for node, resolver in nodes:
            for key in ("dependentSchemas", "dependencies"):
                table = node.get(key)
                if isinstance(table, dict):
                    more += [
                        (sub, resolver)
                        for name, sub in table.items()
                        if name in result and not isinstance(sub, list)
                    ]
        if more and not self.lean(depth):
            extra = self.value(more, depth + 1)
            if isinstance(extra, dict):
                for name, sub in extra.items():
                    result.setdefault(name, sub)
        return result

    def applying(
        self,
        nodes: list[tuple[dict[str, Any], Any]],
        name: str,
        props: dict[str, list[Part]],
    ) -> list[Part]:
        """The schemas a property named ``name`` must satisfy, in every node
        (``unevaluatedProperties`` where none of them evaluates the name)."""
        parts = list(props.get(name, []))
        evaluated = False
        for node, resolver in nodes:
            matched = name in (node.get("properties") or {})
            for pattern, sub in (node.get("patternProperties") or {}).items():
                translated = translate_pattern(pattern)
                if translated is not None and re.search(translated, name):
                    parts.append((sub, resolver))
                    matched = True
            if not matched and "additionalProperties" in node:
                parts.append((node["additionalProperties"], resolver))
                matched = True
            evaluated = evaluated or matched
        if not evaluated:
            parts += [
                (node["unevaluatedProperties"], resolver)
                for node, resolver in nodes
                if isinstance(node.get("unevaluatedProperties"), dict)
            ]
        return parts or [(True, None)]

    def new_name(
        self,
        nodes: list[tuple[dict[str, Any], Any]],
        names: list[Part],
        taken: Mapping[str, object],
        index: int,
    ) -> str | None:
        for node, _ in nodes:
            for pattern in node.get("patternProperties") or {}:
                translated = translate_pattern(pattern)
                if translated is not None:
                    name = self.draw(
                        st.from_regex(translated).filter(lambda n: n not in taken)
                    )
                    return str(name)
        closed = ("additionalProperties", "unevaluatedProperties")
        if any(node.get(key) is False for node, _ in nodes for key in closed):
            return None
        if names:
            value = self.value(names, _MAX_DEPTH)
            return value if isinstance(value, str) and value not in taken else None
        return self.draw(
            st.text(string.ascii_lowercase, min_size=1, max_size=6).filter(
                lambda n: n not in taken
            )
        )


def _same(a: object, b: object) -> bool:
    """JSON equality (1 == 1.0, but True != 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def valid_values(
    schema: Schema, stats: GenerationStats | None = None, route: Route | None = None
) -> st.SearchStrategy[object]:
    """Values the validator accepts (examples where none could be drawn are
    dropped); with a ``route``, values that reach the place it leads to."""
    stats = stats if stats is not None else GenerationStats()
    seeds = (
        () if route else tuple(e for e in _examples(schema.root) if schema.is_valid(e))
    )
    return _valid(schema, stats, route, seeds)


def draw_valid(
    draw: st.DrawFn,
    schema: Schema,
    stats: GenerationStats,
    route: Route | None = None,
    seeds: tuple[object, ...] = (),
) -> object:
    """One value the validator accepts, drawn with ``draw`` (inside another
    composite strategy: building a strategy per value costs more than the value).

    Raises:
        hypothesis.errors.UnsatisfiedAssumption: no draw was valid (the
            example is dropped).
    """
    if seeds and draw(st.integers(0, 9)) == 9:
        return draw(st.sampled_from(seeds))
    refused_kinds: set[str] = set()
    for attempt in range(_TRIES):
        stats.tried += 1
        drawer = _Drawer(schema, draw, attempt, frozenset(refused_kinds), route)
        try:
            value = drawer.value([(schema.root, schema.resolver())], 0)
        except _Reject:
            value = _Reject
        except (SchemaError, RecursionError):
            value = _Reject
        if value is not _Reject and schema.is_valid(value):
            return value
        stats.refused += 1
        if drawer.root_kind is not None:
            refused_kinds.add(drawer.root_kind)
    if seeds:
        return draw(st.sampled_from(seeds))
    from hypothesis import reject

    reject()
    raise AssertionError  # unreachable: reject() raises


@st.composite
def _valid(
    draw: st.DrawFn,
    schema: Schema,
    stats: GenerationStats,
    route: Route | None,
    seeds: tuple[object, ...],
) -> object:
    return draw_valid(draw, schema, stats, route, seeds)


def _examples(root: object) -> list[object]:
    if not isinstance(root, dict):
        return []
    found = (
        list(root.get("examples", [])) if isinstance(root.get("examples"), list) else []
    )
    if "default" in root:
        found.append(root["default"])
    return found
