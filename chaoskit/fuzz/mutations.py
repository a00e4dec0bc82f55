"""Invalid payloads: one change to a valid payload, labelled by the validator.

:func:`mutate` draws a place in a valid payload (breadth first, so shrinking
towards the first place keeps the same one when an optional field is dropped)
and one change there: remove it, give it another JSON type, push a number or
a length past what is usual, add a property, wrap it, duplicate an item, put a
huge number or a deep array there. :func:`label` then asks the validator: a
change the schema still allows is dropped (counted, never sent as invalid);
otherwise the :class:`~chaoskit.fuzz.rules.Rule` is the one of the keyword
that rejects the payload at (or above) the changed place, and the case says
that keyword's schema path. A raw JSON literal that Python values cannot
carry (``1e400``, 20,000 nested arrays) is a sentinel substituted into the
text by :func:`dump`; the validator sees a stand-in with the same verdict
(the greatest float, 64 nested arrays).
"""

from __future__ import annotations

import copy
import json
import string
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from chaoskit.fuzz.rules import KEYWORD_RULES, Rule
from chaoskit.fuzz.schema import Schema

__all__ = [
    "KINDS_FOR",
    "SENTINEL",
    "Boxed",
    "Edges",
    "Mutation",
    "dump",
    "label",
    "mutate",
    "place_name",
]

# Stands for a raw JSON literal (1e400, a deep array) until the text is made.
SENTINEL = "\ue000chaoskit-raw\ue000"
#: Depth of the stand-in the validator sees for a deeply nested array.
STAND_IN_DEPTH = 64


def dump(value: object, raw: str | None = None) -> bytes:
    text = json.dumps(value, ensure_ascii=False)
    if raw is not None:
        text = text.replace(json.dumps(SENTINEL, ensure_ascii=False), raw, 1)
    return text.encode("utf-8")


Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Mutation:
    """One change: the new payload, its raw literal, what and where."""

    value: object
    raw: str | None
    kind: str
    path: Path
    detail: str
    stand_in: object = None

    def __repr__(self) -> str:
        # Short: Hypothesis shows draws in its reports; values reach 256 KB.
        return f"Mutation({self.kind}, {self.detail[:80]!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # Hypothesis's pretty printer walks dataclasses field by field.
        printer.text(repr(self))


def _places(value: object) -> list[Path]:
    """Every place in ``value``, breadth first (the root first)."""
    found: list[Path] = [()]
    queue: list[tuple[Path, object]] = [((), value)]
    while queue and len(found) < 200:
        path, node = queue.pop(0)
        children: list[tuple[str | int, object]] = []
        if isinstance(node, dict):
            children = list(node.items())
        elif isinstance(node, list):
            children = list(enumerate(node))
        for key, child in children:
            found.append((*path, key))
            queue.append(((*path, key), child))
    return found


def _get(value: object, path: Path) -> object:
    for key in path:
        value = value[key]  # type: ignore[index]
    return value


_DELETE = object()


def _set(value: object, path: Path, new: object) -> object:
    if not path:
        return new
    result = copy.deepcopy(value)
    target: Any = result
    for key in path[:-1]:
        target = target[key]
    if new is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = new
    return result


def place_name(path: Path) -> str:
    """A payload place as users read it (``heartbeat.progress``, ``(body)``)."""
    return (
        "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path).lstrip(".")
        or "(body)"
    )


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "object"
    return "array" if isinstance(value, list) else "string"


_OTHER_TYPES: dict[str, st.SearchStrategy[object]] = {
    "string": st.text(max_size=6),
    "number": st.one_of(
        st.integers(-1000, 1000), st.floats(-1e6, 1e6, allow_nan=False)
    ),
    "boolean": st.booleans(),
    "null": st.none(),
    "array": st.lists(st.integers(0, 9), max_size=2),
    "object": st.dictionaries(
        st.text(string.ascii_lowercase, max_size=3), st.integers(0, 9), max_size=2
    ),
}
#: The changes likely to break a rule (for a run limited to some rules).
KINDS_FOR = {
    Rule.MISSING_REQUIRED: ("remove",), Rule.WRONG_TYPE: ("retype", "wrap"),
    Rule.OUT_OF_RANGE: ("bound",), Rule.HUGE_NUMBER: ("huge",),
    Rule.NOT_IN_ENUM: ("constant", "retype"),
    Rule.UNKNOWN_VARIANT: ("constant", "remove"),
    Rule.EXTRA_FIELD: ("extra",), Rule.PATTERN_MISMATCH: ("bound", "retype"),
    Rule.BAD_FORMAT: ("bound",), Rule.NOT_UNIQUE: ("duplicate",),
    Rule.FORBIDDEN: ("retype", "constant"), Rule.DEEP_NESTING: ("deep",),
    Rule.OVERSIZED_STRING: ("oversize",),
}  # fmt: skip
# Weighted by repetition: the changes that most often find a hole come first
# and most (shrinking goes towards the first).
_KINDS = (
    "bound",
    "remove",
    "retype",
    "constant",
    "bound",
    "extra",
    "remove",
    "retype",
    "wrap",
    "duplicate",
    "huge",
    "deep",
    "oversize",
)


@dataclass(frozen=True)
class Boxed:
    """A payload passed to a strategy: Hypothesis shows strategies' arguments
    in its reports, and payloads reach megabytes."""

    value: object

    def __repr__(self) -> str:
        return "<payload>"


@dataclass(frozen=True, repr=False)
class Edges:
    """Values at and past the schema's own limits, gathered once per schema:
    numbers next to every bound, lengths next to every length limit, and the
    constants (``const``, ``enum``) found anywhere (another variant's tag)."""

    numbers: tuple[float, ...] = ()
    lengths: tuple[int, ...] = ()
    constants: tuple[object, ...] = ()

    @classmethod
    def of(cls, root: object) -> Edges:
        numbers: set[float] = set()
        lengths: set[int] = set()
        constants: list[object] = []
        stack = [root]
        while stack and len(numbers) + len(constants) < 400:
            node = stack.pop()
            if isinstance(node, list):
                stack.extend(node)
                continue
            if not isinstance(node, dict):
                continue
            for key, sub in node.items():
                if key in (
                    "minimum",
                    "maximum",
                    "exclusiveMinimum",
                    "exclusiveMaximum",
                ):
                    if isinstance(sub, int | float) and not isinstance(sub, bool):
                        numbers.update({sub - 1, sub, sub + 1, sub + 0.5, sub - 0.5})
                elif key in ("minLength", "maxLength", "minItems", "maxItems"):
                    if isinstance(sub, int) and not isinstance(sub, bool):
                        lengths.update({max(0, sub - 1), sub + 1})
                elif key == "const":
                    constants.append(sub)
                elif key == "enum" and isinstance(sub, list):
                    constants.extend(sub[:20])
                elif key not in ("examples", "default"):
                    stack.append(sub)
        return cls(
            tuple(sorted(numbers)), tuple(sorted(lengths)), tuple(constants[:100])
        )

    def __repr__(self) -> str:
        return f"<edges: {len(self.numbers)} numbers, {len(self.constants)} constants>"


@st.composite
def mutate(
    draw: st.DrawFn,
    boxed: Boxed,
    deep_depth: tuple[int, int],
    edges: Edges = Edges(),
    kinds: tuple[str, ...] = (),
) -> Mutation:
    """One change to the payload (not yet known to be invalid: see :func:`label`)."""
    value = boxed.value
    places = _places(value)
    kind = draw(st.sampled_from(kinds or _KINDS))
    # Only the places the change fits (a bound on a number, a string or an
    # array; removing a property; adding to an object): a run limited to one
    # rule reaches the field that breaks far sooner.
    fits = [p for p in places if _fits(kind, value, p)]
    path = draw(st.sampled_from(fits or places))
    current = _get(value, path)
    where = place_name(path)
    if kind == "remove" and path and isinstance(_get(value, path[:-1]), dict):
        return Mutation(
            _set(value, path, _DELETE), None, kind, path, f"{where} removed"
        )
    if kind == "constant" and edges.constants:
        new = draw(st.sampled_from(edges.constants))
        return Mutation(_set(value, path, new), None, kind, path, f"{where} = {new!r}")
    if kind == "bound" and isinstance(current, str):
        size = draw(st.sampled_from([*edges.lengths, 0, len(current) * 4 + 40]))
        text = "" if size == 0 else (current + "x" * size)[:size]
        return Mutation(
            _set(value, path, text),
            None,
            kind,
            path,
            f"{where} = {len(text)} characters",
        )
    if kind == "bound" and _kind(current) == "number":
        number: float
        use_edge: bool = draw(st.booleans()) if edges.numbers else False
        if use_edge:
            number = draw(st.sampled_from(edges.numbers))
        else:
            offset: float = draw(st.sampled_from([1, -1, 0.5, 10**6, -(10**6)]))
            number = current + offset  # type: ignore[operator]
        return Mutation(
            _set(value, path, number), None, kind, path, f"{where} = {number!r}"
        )
    if kind == "bound" and isinstance(current, list):
        shrink = bool(current) and draw(st.booleans())
        items: list[object] = [] if shrink else [*current, *current, 0]
        return Mutation(
            _set(value, path, items),
            None,
            kind,
            path,
            f"{where} with {len(items)} items",
        )
    if kind == "extra" and isinstance(current, dict):
        key = draw(
            st.text(string.ascii_lowercase + "_", min_size=1, max_size=8).filter(
                lambda k: k not in current
            )
        )
        extra = draw(st.one_of(st.integers(0, 9), st.text(max_size=4), st.booleans()))
        return Mutation(
            _set(value, path, {**current, key: extra}),
            None,
            kind,
            path,
            f"{where} + {key!r}",
        )
    if kind == "wrap":
        nested = [current] if not isinstance(current, list) else {"0": current}
        shown = "an array" if isinstance(nested, list) else "an object"
        return Mutation(
            _set(value, path, nested), None, kind, path, f"{where} wrapped in {shown}"
        )
    if kind == "duplicate" and isinstance(current, list) and current:
        return Mutation(
            _set(value, path, [*current, current[0]]),
            None,
            kind,
            path,
            f"{where}: item 0 repeated",
        )
    if kind == "huge":
        sign = draw(st.sampled_from([1, -1]))
        digits = draw(st.integers(20, 4000))
        literal = draw(st.sampled_from(["1e400", "9" * digits]))
        literal = literal if sign > 0 else "-" + literal
        shown = (
            literal if len(literal) < 12 else f"{literal[:4]}... ({len(literal)} chars)"
        )
        # The validator sees what a JSON parser makes of it (inf, a big int).
        parsed = json.loads(literal)
        return Mutation(
            _set(value, path, SENTINEL),
            literal,
            kind,
            path,
            f"{where} = {shown}",
            _set(value, path, parsed),
        )
    if kind == "deep":
        low, high = deep_depth
        depth = draw(st.integers(low, high))
        stand_in: object = []
        for _ in range(min(depth, STAND_IN_DEPTH) - 1):
            stand_in = [stand_in]
        literal = "[" * depth + "]" * depth
        return Mutation(
            _set(value, path, SENTINEL),
            literal,
            kind,
            path,
            f"{where} = {depth} nested arrays",
            _set(value, path, stand_in),
        )
    if kind == "oversize" and isinstance(current, str):
        size = draw(st.integers(64 * 1024, 256 * 1024))
        return Mutation(
            _set(value, path, "x" * size),
            None,
            kind,
            path,
            f"{where} = {size} characters",
        )
    # retype, or a change that does not fit this place: another JSON type.
    other = [k for k in _OTHER_TYPES if k != _kind(current)]
    new = draw(st.one_of([_OTHER_TYPES[k] for k in other]))
    return Mutation(_set(value, path, new), None, "retype", path, f"{where} = {new!r}")


def _fits(kind: str, value: object, path: Path) -> bool:
    current = _get(value, path)
    if kind == "bound":
        return isinstance(current, str | list) or _kind(current) == "number"
    if kind == "remove":
        return bool(path) and isinstance(_get(value, path[:-1]), dict)
    if kind == "extra":
        return isinstance(current, dict)
    if kind == "duplicate":
        return isinstance(current, list) and bool(current)
    if kind == "oversize":
        return isinstance(current, str)
    if kind == "huge":
        return _kind(current) == "number"
    return True


def _related(error_path: list[Any], path: Path) -> int:
    """How well an error's instance path fits the changed place (higher: better)."""
    error = tuple(error_path)
    if path[: len(error)] == error:
        return len(error) * 2  # the change's place or a parent of it
    if error[: len(path)] == path:
        return len(path) * 2 - 1  # inside the changed value
    return -1


def label(schema: Schema, mutation: Mutation) -> tuple[Rule, str] | None:
    """The rule the mutated payload breaks and the keyword's schema path, or
    None when the schema still allows it (the validator's word)."""
    instance = mutation.stand_in if mutation.raw is not None else mutation.value
    try:
        errors = schema.errors(instance)
    except (ValueError, OverflowError):
        return None
    if not errors:
        return None
    best = max(
        errors,
        key=lambda e: (
            _related(list(e.instance_path), mutation.path),
            len(e.schema_path),
        ),
    )
    kind = type(best.kind).__name__
    keyword = "/".join(str(p) for p in best.schema_path) or "(root)"
    if kind in ("OneOfNotValid", "AnyOf"):
        # The validator stops at the choice; the branch the payload is
        # closest to (fewest errors) says which of its keywords rejects it.
        inner = _closest_branch(schema, list(best.schema_path), instance, mutation.path)
        if inner is not None:
            kind, keyword = inner
    rule = KEYWORD_RULES.get(kind, Rule.FORBIDDEN)
    if mutation.kind == "huge" and rule is Rule.OUT_OF_RANGE:
        rule = Rule.HUGE_NUMBER
    if mutation.kind == "oversize" and kind == "MaxLength":
        rule = Rule.OVERSIZED_STRING
    return rule, keyword


def _closest_branch(
    schema: Schema, path: list[Any], instance: object, changed: Path
) -> tuple[str, str] | None:
    """(error kind, schema path) of the closest branch's best error, or None
    when the choice is not plainly in the root document (behind a $ref)."""
    node: Any = schema.root
    for key in path[:-1]:
        if (isinstance(node, dict) and key in node) or (
            isinstance(node, list) and isinstance(key, int) and key < len(node)
        ):
            node = node[key]
        else:
            return None
    branches = node.get(path[-1]) if isinstance(node, dict) else None
    if not isinstance(branches, list):
        return None
    best: tuple[int, str, str] | None = None
    for index in range(len(branches)):
        validator = schema.branch_validator(tuple(path), index)
        if validator is None:
            return None
        errors = list(validator.iter_errors(instance))
        if not errors:
            continue
        # Fewest errors, and among those the one at the changed place.
        error = max(
            errors,
            key=lambda e: (
                _related(list(e.instance_path), changed),
                len(e.schema_path),
            ),
        )
        inner = [str(p) for p in error.schema_path]
        # The narrowed root has the branch as the last allOf item: name it
        # by its place in the choice instead.
        cut = next(
            (
                i
                for i in range(len(inner) - 1)
                if inner[i] == "allOf" and inner[:i] == [str(p) for p in path[:-1]]
            ),
            None,
        )
        tail = inner[cut + 2 :] if cut is not None else inner
        where = "/".join([*map(str, path), str(index), *tail])
        score = len(errors)
        if best is None or score < best[0]:
            best = (score, type(error.kind).__name__, where)
    return None if best is None else (best[1], best[2])
