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

import json
import math
from dataclasses import replace

from hypothesis import strategies as st

from chaoskit.fuzz.model import Node, PayloadModel, Variant
from chaoskit.fuzz.mutations import SENTINEL, break_field, dump, field_options
from chaoskit.fuzz.rules import BODY_RULES, FIELD_RULES, Case, Rule

__all__ = ["BODY_RULES", "FIELD_RULES", "Case", "Rule", "cases", "valid_values"]


_GARBAGE = (
    "{'type': 'init'}", "type=init&session_id=1", "<event type='init'/>",
    "NaN", "undefined", "{", "}", "[1,]", '{"a" 1}', "nul", "\x00",
)  # fmt: skip
_ORDER = list(Rule)
_CONTENT_TYPES = (
    "text/plain", "application/x-www-form-urlencoded", "application/xml",
    "multipart/form-data; boundary=x", "application/octet-stream", "json",
)  # fmt: skip


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
    valid: float | None = None,
) -> Case:
    """A :class:`Case`: valid, or invalid by one of ``rules``.

    Args:
        model: the payload's valid shape.
        rules: the rules to draw from (``Rule.VALID`` for valid cases).
        batch: also draw cases for the batch endpoint (valid batches and
            ``batch-one-bad``).
        oversize: the least size of an ``oversized-body`` body, in bytes.
        valid: the share of valid cases (None: ``Rule.VALID`` is one choice
            among the rules).
    """
    # The rule is drawn first, from a list that does not depend on the
    # payload: shrinking the payload (an earlier variant, an optional field
    # dropped) then keeps the rule, and the failure, whenever it can.
    choices = [
        r for r in _ORDER if r in rules and (batch or r is not Rule.BATCH_ONE_BAD)
    ]
    if valid is not None:
        # Drawn as a number that shrinks to 999 (invalid): a shrunk failure
        # keeps the invalid rule it was found with.
        invalid: list[Rule] = [r for r in choices if r is not Rule.VALID]
        pick = 999 - draw(st.integers(0, 999))
        choices = [Rule.VALID] if pick < valid * 1000 or not invalid else invalid
    rule: Rule = draw(st.sampled_from(choices or [Rule.VALID]))
    variant, event = draw(_event(model))
    wanted = rules if rule is Rule.BATCH_ONE_BAD else frozenset({rule})
    options = field_options(model, variant, event, wanted)
    if (rule in FIELD_RULES or rule is Rule.BATCH_ONE_BAD) and not options:
        rule = Rule.VALID  # nothing to break this way in this payload
    body = dump(event)
    tag = variant.tag or None
    if rule is Rule.VALID:
        if batch and draw(st.booleans()):
            more = draw(st.lists(_event(model).map(lambda pair: pair[1]), max_size=3))
            return Case(Rule.VALID, dump([event, *more]), batch=True, variant=tag)
        return Case(Rule.VALID, body, variant=tag)
    if rule in FIELD_RULES or rule is Rule.BATCH_ONE_BAD:
        option = draw(st.sampled_from(options))
        value, raw, detail = draw(break_field(event, option, model))
        detail = f"{tag}: {detail}" if tag else detail
        if rule is Rule.BATCH_ONE_BAD:
            others = draw(st.lists(_event(model).map(lambda pair: pair[1]), max_size=3))
            index = draw(st.integers(0, len(others)))
            items = [*others[:index], SENTINEL if raw else value, *others[index:]]
            if raw:
                raw = dump(value, raw).decode("utf-8")
            detail = f"item {index} ({option[0]}) {detail}"
            return Case(rule, dump(items, raw), batch=True, variant=tag, detail=detail)
        return Case(rule, dump(value, raw), variant=tag, detail=f"{detail}")
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
        padded = dump({**event, "padding": "x" * size})
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
