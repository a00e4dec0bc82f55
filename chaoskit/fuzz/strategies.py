"""Hypothesis strategies for valid payloads and tagged invalid ones.

:func:`cases` draws a :class:`Case`: the bytes to send, the Content-Type, the
endpoint (single or batch) and the :class:`Rule` the case breaks
(``Rule.VALID`` for one that must be accepted). Invalid cases are made by
mutating a valid payload, so each breaks exactly the rule it is tagged with
and nothing else a validator would trip on first (tests check the tag against
``jsonschema``). Everything is drawn through Hypothesis, so a seed reproduces
the same cases and every failure shrinks: towards the first variant, the
first rule, the first field and the smallest values.
"""

from __future__ import annotations

import copy
import json
import math
import string
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import partial

from hypothesis import strategies as st

from chaoskit.fuzz.model import Node, PayloadModel, Variant

__all__ = ["BODY_RULES", "FIELD_RULES", "Case", "Rule", "cases", "valid_values"]


class Rule(StrEnum):
    """What a case breaks; the tag every finding carries."""

    VALID = "valid"
    MISSING_REQUIRED = "missing-required"
    WRONG_TYPE = "wrong-type"
    OUT_OF_RANGE = "out-of-range"
    NOT_IN_ENUM = "not-in-enum"
    UNKNOWN_VARIANT = "unknown-variant"
    EXTRA_FIELD = "extra-field"
    WRONG_NESTING = "wrong-nesting"
    HUGE_NUMBER = "huge-number"
    DEEP_NESTING = "deep-nesting"
    OVERSIZED_STRING = "oversized-string"
    EMPTY_BODY = "empty-body"
    TRUNCATED = "truncated"
    NON_UTF8 = "non-utf8"
    NON_JSON = "non-json"
    OVERSIZED_BODY = "oversized-body"
    WRONG_CONTENT_TYPE = "wrong-content-type"
    MISSING_CONTENT_TYPE = "missing-content-type"
    BATCH_ONE_BAD = "batch-one-bad"


#: Rules applied to one field of a valid payload.
FIELD_RULES = (
    Rule.MISSING_REQUIRED, Rule.WRONG_TYPE, Rule.OUT_OF_RANGE, Rule.NOT_IN_ENUM,
    Rule.UNKNOWN_VARIANT, Rule.EXTRA_FIELD, Rule.WRONG_NESTING, Rule.HUGE_NUMBER,
    Rule.DEEP_NESTING, Rule.OVERSIZED_STRING,
)  # fmt: skip
#: Rules applied to the body or the request as a whole.
BODY_RULES = (
    Rule.EMPTY_BODY, Rule.TRUNCATED, Rule.NON_UTF8, Rule.NON_JSON,
    Rule.OVERSIZED_BODY, Rule.WRONG_CONTENT_TYPE, Rule.MISSING_CONTENT_TYPE,
)  # fmt: skip

JSON = "application/json"
# Stands for a raw JSON literal (1e400, a deep array) until the text is made.
_SENTINEL = "\ue000chaoskit-raw\ue000"
_GARBAGE = (
    "{'type': 'init'}", "type=init&session_id=1", "<event type='init'/>",
    "NaN", "undefined", "{", "}", "[1,]", '{"a" 1}', "nul", "\x00",
)  # fmt: skip
_CONTENT_TYPES = (
    "text/plain", "application/x-www-form-urlencoded", "application/xml",
    "multipart/form-data; boundary=x", "application/octet-stream", "json",
)  # fmt: skip


@dataclass(frozen=True)
class Case:
    """One request to send, tagged with the rule it breaks.

    Attributes:
        rule: what the case breaks (``Rule.VALID``: nothing, must be accepted).
        body: the exact bytes to send.
        content_type: the Content-Type header, or None to send none.
        batch: send to the batch endpoint (the body is an array).
        variant: the payload's variant (its discriminator value), if any.
        detail: where and how it breaks the rule (``heartbeat.progress = 101``).
    """

    rule: Rule
    body: bytes
    content_type: str | None = JSON
    batch: bool = False
    variant: str | None = None
    detail: str = ""

    @property
    def valid(self) -> bool:
        """Whether the case must be accepted."""
        return self.rule is Rule.VALID


def _dump(value: object, raw: str | None = None) -> bytes:
    text = json.dumps(value, ensure_ascii=False)
    if raw is not None:
        text = text.replace(json.dumps(_SENTINEL, ensure_ascii=False), raw, 1)
    return text.encode("utf-8")


def _lo_hi(node: Node) -> tuple[float | None, float | None]:
    return node.minimum, node.maximum


def valid_values(node: Node) -> st.SearchStrategy[object]:
    """Values ``node`` accepts (small ones: sizes capped at 24 past the minimum)."""
    if node.enum is not None:
        return st.sampled_from(node.enum)
    lo, hi = _lo_hi(node)
    if node.kind == "integer":
        low = (
            None
            if lo is None
            else math.floor(lo) + 1
            if node.exclusive_minimum
            else math.ceil(lo)
        )
        high = (
            None
            if hi is None
            else math.ceil(hi) - 1
            if node.exclusive_maximum
            else math.floor(hi)
        )
        return st.integers(low, high)
    if node.kind == "number":
        floats = st.floats(
            lo, hi, allow_nan=False, allow_infinity=False,
            exclude_min=node.exclusive_minimum and lo is not None,
            exclude_max=node.exclusive_maximum and hi is not None,
        )  # fmt: skip
        integers = valid_values(replace(node, kind="integer"))
        return st.one_of(integers, floats)
    if node.kind == "string":
        top = node.min_length + 24
        size = top if node.max_length is None else min(node.max_length, top)
        return st.text(min_size=node.min_length, max_size=size)
    if node.kind == "boolean":
        return st.booleans()
    if node.kind == "null":
        return st.none()
    if node.kind == "array":
        items = valid_values(node.items) if node.items else st.integers()
        top = node.min_items + 3
        size = top if node.max_items is None else min(node.max_items, top)
        return st.lists(items, min_size=node.min_items, max_size=size)
    required = {
        k: valid_values(v) for k, v in node.properties.items() if k in node.required
    }
    optional = {
        k: valid_values(v) for k, v in node.properties.items() if k not in node.required
    }
    return st.fixed_dictionaries(required, optional=optional)


# ---------------------------------------------------------------- field sites

Path = tuple[str, ...]


def _sites(node: Node, value: object, path: Path = ()) -> list[tuple[Path, Node, Node]]:
    """(path, node, parent) of every field present in ``value`` or settable in it."""
    found: list[tuple[Path, Node, Node]] = []
    if node.kind != "object" or not isinstance(value, dict):
        return found
    for name, sub in node.properties.items():
        found.append(((*path, name), sub, node))
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
_ORDER = list(Rule)


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


def _field_options(
    model: PayloadModel,
    variant: Variant,
    event: dict[str, object],
    rules: frozenset[Rule],
) -> list[tuple[Rule, Path, Node, Node]]:
    """Every (rule, site) the event can be broken at, in a stable order."""
    options: list[tuple[Rule, Path, Node, Node]] = []
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
def _break_field(
    draw: st.DrawFn,
    event: dict[str, object],
    option: tuple[Rule, Path, Node, Node],
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
            _set(event, path, _SENTINEL) if path else _SENTINEL,
            literal,
            f"{where} = {shown}",
        )
    if rule is Rule.DEEP_NESTING:
        depth = draw(st.integers(600, 20_000))
        literal = "[" * depth + "]" * depth
        value = _set(event, path, _SENTINEL) if path else _SENTINEL
        return value, literal, f"{where} = {depth} nested arrays"
    # OVERSIZED_STRING: far past maxLength, and most likely past a body limit.
    size = draw(st.integers(64 * 1024, 256 * 1024))
    return _set(event, path, "x" * size), None, f"{where} = {size} characters"


@st.composite
def _event(draw: st.DrawFn, model: PayloadModel) -> tuple[Variant, dict[str, object]]:
    variant = draw(st.sampled_from(model.variants))
    value = draw(valid_values(variant.node))
    assert isinstance(value, dict)  # noqa: S101 - variants are objects
    if model.discriminator:
        value = {model.discriminator: variant.tag, **value}
    return variant, value


@st.composite
def cases(
    draw: st.DrawFn,
    model: PayloadModel,
    *,
    rules: frozenset[Rule] = frozenset(Rule),
    batch: bool = False,
    oversize: int = 1024 * 1024,
) -> Case:
    """A :class:`Case`: valid, or invalid by one of ``rules``.

    Args:
        model: the payload's valid shape.
        rules: the rules to draw from (``Rule.VALID`` for valid cases).
        batch: also draw cases for the batch endpoint (valid batches and
            ``batch-one-bad``).
        oversize: the least size of an ``oversized-body`` body, in bytes.
    """
    variant, event = draw(_event(model))
    options = _field_options(model, variant, event, rules)
    choices: list[Rule] = [Rule.VALID] if Rule.VALID in rules else []
    choices += sorted({rule for rule, *_ in options}, key=_ORDER.index)
    choices += [rule for rule in BODY_RULES if rule in rules]
    if batch and Rule.BATCH_ONE_BAD in rules and options:
        choices.append(Rule.BATCH_ONE_BAD)
    if not choices:
        choices = [Rule.VALID]
    rule: Rule = draw(st.sampled_from(choices))
    body = _dump(event)
    tag = variant.tag or None
    if rule is Rule.VALID:
        if batch and draw(st.booleans()):
            more = draw(st.lists(_event(model).map(lambda pair: pair[1]), max_size=3))
            return Case(Rule.VALID, _dump([event, *more]), batch=True, variant=tag)
        return Case(Rule.VALID, body, variant=tag)
    if rule in FIELD_RULES or rule is Rule.BATCH_ONE_BAD:
        option = draw(
            st.sampled_from(
                [o for o in options if rule is Rule.BATCH_ONE_BAD or o[0] is rule]
            )
        )
        value, raw, detail = draw(_break_field(event, option, model))
        detail = f"{tag}: {detail}" if tag else detail
        if rule is Rule.BATCH_ONE_BAD:
            others = draw(st.lists(_event(model).map(lambda pair: pair[1]), max_size=3))
            index = draw(st.integers(0, len(others)))
            items = [*others[:index], _SENTINEL if raw else value, *others[index:]]
            if raw:
                raw = _dump(value, raw).decode("utf-8")
            detail = f"item {index} ({option[0]}) {detail}"
            return Case(rule, _dump(items, raw), batch=True, variant=tag, detail=detail)
        return Case(rule, _dump(value, raw), variant=tag, detail=f"{detail}")
    return _body_case(draw, rule, body, tag, oversize, event)


def _body_case(
    draw: st.DrawFn,
    rule: Rule,
    body: bytes,
    tag: str | None,
    oversize: int,
    event: dict[str, object],
) -> Case:
    if rule is Rule.EMPTY_BODY:
        blank = draw(st.sampled_from([b"", b" ", b"\n", b"\r\n\t "]))
        return Case(
            Rule.EMPTY_BODY, blank, variant=tag, detail=f"{len(blank)} blank bytes"
        )
    if rule is Rule.TRUNCATED:
        cut = draw(st.integers(1, len(body) - 1))
        return Case(
            Rule.TRUNCATED,
            body[:cut],
            variant=tag,
            detail=f"cut at byte {cut} of {len(body)}",
        )
    if rule is Rule.NON_UTF8:
        at = draw(st.integers(0, len(body)))
        bad = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80"]))
        return Case(
            Rule.NON_UTF8,
            body[:at] + bad + body[at:],
            variant=tag,
            detail=f"{bad!r} at byte {at}",
        )
    if rule is Rule.NON_JSON:
        text = draw(
            st.one_of(
                st.sampled_from(_GARBAGE),
                st.text(min_size=1, max_size=20).filter(_not_json),
            )
        )
        return Case(Rule.NON_JSON, text.encode("utf-8"), detail=repr(text[:40]))
    if rule is Rule.OVERSIZED_BODY:
        size = draw(st.integers(oversize, 2 * oversize))
        padded = _dump({**event, "padding": "x" * size})
        return Case(
            Rule.OVERSIZED_BODY, padded, variant=tag, detail=f"{len(padded)} bytes"
        )
    if rule is Rule.WRONG_CONTENT_TYPE:
        content_type = draw(st.sampled_from(_CONTENT_TYPES))
        return Case(
            Rule.WRONG_CONTENT_TYPE,
            body,
            content_type,
            variant=tag,
            detail=content_type,
        )
    return Case(
        Rule.MISSING_CONTENT_TYPE, body, None, variant=tag, detail="no Content-Type"
    )


def _not_json(text: str) -> bool:
    try:
        json.loads(text, parse_constant=_refuse)
    except (ValueError, RecursionError):
        return True
    return False


def _refuse(name: str) -> object:
    raise ValueError(name)
