"""Field-level mutations: break one field of a valid payload, and only that.

:func:`field_options` lists every (rule, field) a payload can be broken at;
:func:`break_field` draws the broken payload. A raw JSON literal that Python
values cannot express (``1e400``, 20,000 nested arrays) is carried as a
sentinel string and substituted into the text by :func:`dump`.
"""

from __future__ import annotations

import copy
import json
import math
import string
from functools import partial

from hypothesis import strategies as st

from chaoskit.fuzz.model import Node, PayloadModel, Variant
from chaoskit.fuzz.rules import FIELD_RULES, Rule

__all__ = ["SENTINEL", "Option", "break_field", "dump", "field_options"]

# Stands for a raw JSON literal (1e400, a deep array) until the text is made.
SENTINEL = "\ue000chaoskit-raw\ue000"


def dump(value: object, raw: str | None = None) -> bytes:
    text = json.dumps(value, ensure_ascii=False)
    if raw is not None:
        text = text.replace(json.dumps(SENTINEL, ensure_ascii=False), raw, 1)
    return text.encode("utf-8")


Path = tuple[str, ...]
#: A place a payload can be broken at: (rule, field path, its node, its parent).
Option = tuple[Rule, Path, Node, Node]


def _sites(node: Node, value: object, path: Path = ()) -> list[tuple[Path, Node, Node]]:
    """(path, node, parent) of every field present in ``value`` or settable in it.

    Breadth first: a field's index does not depend on whether an optional
    object before it is present, so the shrinker can drop that object and
    still break the same field.
    """
    found: list[tuple[Path, Node, Node]] = []
    if node.kind != "object" or not isinstance(value, dict):
        return found
    for name, sub in node.properties.items():
        found.append(((*path, name), sub, node))
    for name, sub in node.properties.items():
        if name in value:
            found.extend(_sites(sub, value[name], (*path, name)))
    return found


def _get(value: object, path: Path) -> object:
    for key in path:
        assert isinstance(value, dict)  # noqa: S101 - paths come from _sites
        value = value[key]
    return value


def _set(value: dict[str, object], path: Path, new: object) -> dict[str, object]:
    result = copy.deepcopy(value)
    target: object = result
    for key in path[:-1]:
        assert isinstance(target, dict)  # noqa: S101 - paths come from _sites
        target = target[key]
    assert isinstance(target, dict)  # noqa: S101
    if new is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = new
    return result


_DELETE = object()


def _wrong_types(node: Node) -> st.SearchStrategy[object]:
    choices: dict[str, st.SearchStrategy[object]] = {
        "string": st.text(max_size=8),
        "integer": st.integers(-1000, 1000),
        "float": st.floats(-1e6, 1e6).filter(lambda f: not f.is_integer()),
        "boolean": st.booleans(),
        "null": st.none(),
        "array": st.lists(st.integers(0, 9), max_size=2),
        "object": st.dictionaries(st.text(max_size=3), st.integers(0, 9), max_size=2),
    }
    valid = {"number": {"integer", "float"}}.get(node.kind, {node.kind})
    return st.one_of([s for kind, s in choices.items() if kind not in valid])


def _out_of_range(node: Node) -> st.SearchStrategy[object] | None:
    if node.kind == "string":
        options = []
        if node.max_length is not None:
            top = node.max_length
            options.append(st.text(min_size=top + 1, max_size=top + 16))
        if node.min_length > 0:
            options.append(st.text(max_size=node.min_length - 1))
        return st.one_of(options) if options else None
    if node.kind not in ("integer", "number"):
        return None
    offsets: st.SearchStrategy[float] = st.integers(1, 10**6)
    if node.kind == "number":
        offsets = st.one_of(offsets, st.floats(1e-3, 1e6))
    options = []
    if node.maximum is not None:
        base = node.maximum
        edge = st.just(base) if node.exclusive_maximum else st.nothing()
        above = offsets.map(partial(_shift, base, 1, node))
        options.append(st.one_of(edge, above))
    if node.minimum is not None:
        base = node.minimum
        edge = st.just(base) if node.exclusive_minimum else st.nothing()
        below = offsets.map(partial(_shift, base, -1, node))
        options.append(st.one_of(edge, below))
    return st.one_of(options) if options else None


def _shift(base: float, sign: int, node: Node, offset: float) -> object:
    value = base + sign * offset
    # An integer field keeps integer values, so the case breaks only the range.
    return math.floor(value) if node.kind == "integer" else value


def _name(path: Path) -> str:
    return ".".join(path) or "(body)"


def field_options(
    model: PayloadModel,
    variant: Variant,
    event: dict[str, object],
    rules: frozenset[Rule],
) -> list[Option]:
    """Every (rule, site) the event can be broken at, in a stable order."""
    options: list[Option] = []
    disc = model.discriminator
    sites = [((), variant.node, variant.node), *_sites(variant.node, event)]
    for rule in FIELD_RULES:
        if rule not in rules:
            continue
        for path, node, parent in sites:
            present = not path or path[-1] in _as_dict(_get(event, path[:-1]))
            is_disc = path == (disc,) if disc else False
            fits = {
                Rule.MISSING_REQUIRED: bool(path)
                and present
                and path[-1] in parent.required,
                Rule.WRONG_TYPE: bool(path),
                Rule.OUT_OF_RANGE: node.bounded and node.enum is None,
                Rule.NOT_IN_ENUM: node.enum is not None
                and not is_disc
                and node.kind == "string",
                Rule.UNKNOWN_VARIANT: is_disc,
                Rule.EXTRA_FIELD: node.kind == "object"
                and not node.additional
                and present,
                Rule.WRONG_NESTING: node.kind in ("object", "array") and present,
                Rule.HUGE_NUMBER: node.kind in ("integer", "number") and node.bounded,
                Rule.DEEP_NESTING: node.kind != "array",
                Rule.OVERSIZED_STRING: node.kind == "string"
                and node.max_length is not None
                and node.enum is None,
            }[rule]
            if fits:
                options.append((rule, path, node, parent))
    return options


def _as_dict(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


@st.composite
def break_field(
    draw: st.DrawFn,
    event: dict[str, object],
    option: Option,
    model: PayloadModel,
) -> tuple[object, str | None, str]:
    """The event broken as ``option`` says: (value, raw literal or None, detail)."""
    rule, path, node, _parent = option
    where = _name(path)
    if rule is Rule.MISSING_REQUIRED:
        return _set(event, path, _DELETE), None, f"{where} removed"
    if rule is Rule.WRONG_TYPE:
        bad = draw(_wrong_types(node))
        return _set(event, path, bad), None, f"{where} = {bad!r}"
    if rule is Rule.OUT_OF_RANGE:
        strategy = _out_of_range(node)
        assert strategy is not None  # noqa: S101 - node.bounded
        bad = draw(strategy)
        shown = f"{len(bad)} characters" if isinstance(bad, str) else repr(bad)
        return _set(event, path, bad), None, f"{where} = {shown}"
    if rule is Rule.NOT_IN_ENUM:
        enum = node.enum or ()
        bad = draw(st.text(max_size=10).filter(lambda s: s not in enum))
        return _set(event, path, bad), None, f"{where} = {bad!r}"
    if rule is Rule.UNKNOWN_VARIANT:
        bad = draw(st.text(max_size=12).filter(lambda s: s not in model.tags))
        return _set(event, path, bad), None, f"{where} = {bad!r}"
    if rule is Rule.EXTRA_FIELD:
        key = draw(
            st.text(string.ascii_lowercase + "_", min_size=1, max_size=10).filter(
                lambda k: k not in node.properties
            )
        )
        extra = draw(st.one_of(st.integers(0, 9), st.text(max_size=4), st.booleans()))
        target = _as_dict(_get(event, path))
        new = {**target, key: extra}
        value: object = _set(event, path, new) if path else new
        return value, None, f"{where} + {key!r}"
    if rule is Rule.WRONG_NESTING:
        current = _get(event, path)
        nested: object = [current] if node.kind == "object" else {"0": current}
        value = _set(event, path, nested) if path else nested
        kind = "array" if node.kind == "object" else "object"
        return value, None, f"{where} wrapped in an {kind}"
    if rule is Rule.HUGE_NUMBER:
        digits = draw(st.integers(20, 4000))
        literal = draw(
            st.sampled_from(
                (["1e400", "9" * digits] if node.maximum is not None else [])
                + (["-1e400", "-" + "9" * digits] if node.minimum is not None else [])
            )
        )
        shown = (
            literal if len(literal) < 12 else f"{literal[:4]}... ({len(literal)} chars)"
        )
        return (
            _set(event, path, SENTINEL) if path else SENTINEL,
            literal,
            f"{where} = {shown}",
        )
    if rule is Rule.DEEP_NESTING:
        depth = draw(st.integers(600, 20_000))
        literal = "[" * depth + "]" * depth
        value = _set(event, path, SENTINEL) if path else SENTINEL
        return value, literal, f"{where} = {depth} nested arrays"
    # OVERSIZED_STRING: far past maxLength, and most likely past a body limit.
    size = draw(st.integers(64 * 1024, 256 * 1024))
    return _set(event, path, "x" * size), None, f"{where} = {size} characters"
