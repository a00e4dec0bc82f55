"""Hypothesis strategies for valid payloads and tagged invalid ones.

:func:`cases` draws a :class:`Case`: the bytes to send, the Content-Type, the
endpoint (single or batch) and the :class:`Rule` the case breaks
(``Rule.VALID`` for one that must be accepted). Invalid cases are one change
to a valid payload; the validator decides whether it is invalid and by which
keyword (its rule), so a label is never a guess. Transport and size cases carry
the hardening policy that judges them. Everything is drawn through
Hypothesis, so a seed reproduces the same cases and every failure shrinks:
towards the first rule, the first place and the smallest values.
"""

from __future__ import annotations

import json
from dataclasses import replace

from hypothesis import strategies as st

from chaoskit.fuzz.generate import draw_valid, valid_values
from chaoskit.fuzz.model import PayloadModel
from chaoskit.fuzz.mutations import (
    KINDS_FOR,
    SENTINEL,
    Boxed,
    Mutation,
    dump,
    label,
    mutate,
    place_name,
)
from chaoskit.fuzz.mutations import Path as Place
from chaoskit.fuzz.rules import (
    BODY_RULES,
    FIELD_RULES,
    HARDENED,
    HARDENING,
    Case,
    Policy,
    Rule,
)
from chaoskit.fuzz.targets import Target, break_value

__all__ = [
    "BODY_RULES", "FIELD_RULES", "HARDENED", "Case", "Policy", "Rule", "cases",
    "draw_targeted", "targeted",
]  # fmt: skip

#: Valid documents drawn for a target before it is given up as unreached.
_TARGET_TRIES = 3


_GARBAGE = (
    "{'type': 'init'}", "type=init&session_id=1", "<event type='init'/>",
    "NaN", "undefined", "{", "}", "[1,]", '{"a" 1}', "nul", "\x00",
)  # fmt: skip
_CONTENT_TYPES = (
    "text/plain", "application/x-www-form-urlencoded", "application/xml",
    "multipart/form-data; boundary=x", "application/octet-stream", "json",
)  # fmt: skip


def _pick_rule(draw: st.DrawFn, choices: list[Rule], valid: float | None) -> Rule:
    if valid is not None:
        # Drawn as a number that shrinks to 999 (invalid): a shrunk failure
        # keeps the invalid rule it was found with.
        invalid = [r for r in choices if r is not Rule.VALID]
        pick = 999 - draw(st.integers(0, 999))
        if pick < valid * 1000 or not invalid:
            return Rule.VALID
        return draw(st.sampled_from(invalid))
    return draw(st.sampled_from(choices or [Rule.VALID]))


@st.composite
def _invalid(
    draw: st.DrawFn, model: PayloadModel, boxed: Boxed, rules: frozenset[Rule],
    deep: tuple[int, int],
) -> tuple[Mutation, Rule, str] | None:  # fmt: skip
    """A mutation of ``value`` the validator refuses, with its rule; None when
    the draws tried were all still valid (each counted as dropped)."""
    edges = model.edges()
    kinds: tuple[str, ...] = ()
    if not all(rule in rules for rule in FIELD_RULES):
        kinds = tuple(
            k for r in FIELD_RULES if r in rules for k in KINDS_FOR.get(r, ())
        )
    for _ in range(8 if kinds else 4):
        mutation = draw(mutate(boxed, deep, edges, kinds))
        found = label(model.schema, mutation)
        if found is None:
            model.drop(mutation.kind)
            continue
        rule, keyword = found
        if rule in rules:
            return mutation, rule, keyword
    return None


@st.composite
def cases(
    draw: st.DrawFn,
    model: PayloadModel,
    *,
    rules: frozenset[Rule] = frozenset(Rule),
    batch: bool = False,
    policy: Policy = Policy(),  # noqa: B008 - frozen, never mutated
    valid: float | None = None,
) -> Case:
    """A :class:`Case`: valid, or invalid by one rule, or a hardening case.

    Args:
        model: the payload's schema.
        rules: the rules to draw from (``Rule.VALID`` for valid cases).
        batch: also draw cases for the batch endpoint (valid batches and
            ``batch-one-bad``).
        policy: the hardening policies stated (sizes follow them).
        valid: the share of valid cases (None: ``Rule.VALID`` is one choice
            among the rules).

    Every payload is checked by the validator before it is returned: a valid
    case validates, a rule-tagged one does not, and its rule is the one of the
    keyword that rejects it.
    """
    # The rule group is drawn first, from a list that does not depend on the
    # payload: shrinking the payload then keeps the kind of case.
    body_rules = [r for r in BODY_RULES if r in rules]
    mutated = any(r in rules for r in FIELD_RULES)
    choices = [Rule.VALID] if Rule.VALID in rules else []
    if mutated:
        # Stands for "a mutation" (labelled below), as many times as there are
        # field rules: most cases break the schema, as users mean to test.
        choices += [Rule.WRONG_TYPE] * 10
    if batch and Rule.BATCH_ONE_BAD in rules:
        choices.append(Rule.BATCH_ONE_BAD)
    choices += body_rules
    rule = _pick_rule(draw, choices, valid)
    event = draw(valid_values(model.schema, model.stats))
    body = dump(event)
    if rule is Rule.VALID:
        if batch and draw(st.booleans()):
            more = draw(st.lists(valid_values(model.schema, model.stats), max_size=3))
            return Case(Rule.VALID, dump([event, *more]), batch=True)
        return Case(Rule.VALID, body)
    deep = (
        (policy.max_depth + 1, max(4 * policy.max_depth, policy.max_depth + 2))
        if policy.max_depth
        else (600, 20_000)
    )
    if rule in (Rule.WRONG_TYPE, Rule.BATCH_ONE_BAD):
        found = draw(_invalid(model, Boxed(event), rules | {Rule.DEEP_NESTING}, deep))
        if found is None:
            return Case(Rule.VALID, body)  # nothing the schema refuses near here
        mutation, label_rule, keyword = found
        hardening = None
        if mutation.kind == "deep" and label(model.schema, mutation) is None:
            label_rule, hardening = Rule.DEEP_NESTING, "max_depth"
        detail = f"{mutation.detail} (rejected by {keyword})"
        if rule is Rule.BATCH_ONE_BAD:
            others = draw(st.lists(valid_values(model.schema, model.stats), max_size=3))
            index = draw(st.integers(0, len(others)))
            raw = mutation.raw
            items = [
                *others[:index],
                SENTINEL if raw else mutation.value,
                *others[index:],
            ]
            if raw:
                raw = dump(mutation.value, raw).decode("utf-8")
            return Case(Rule.BATCH_ONE_BAD, dump(items, raw), batch=True,
                        detail=f"item {index} ({label_rule}) {detail}", keyword=keyword,
                        mutation=mutation.kind)  # fmt: skip
        return Case(
            label_rule,
            dump(mutation.value, mutation.raw),
            detail=detail,
            keyword=keyword,
            mutation=mutation.kind,
            hardening=hardening,
        )
    return _body_case(draw, rule, body, policy, event)


@st.composite
def targeted(draw: st.DrawFn, model: PayloadModel, target: Target) -> Case | None:
    """A valid document that reaches ``target``, with exactly its keyword
    broken (the schema refuses it, the schema without that keyword accepts
    it); None when no document drawn could be (the keyword is redundant
    there, or the place was not reached)."""
    return draw_targeted(draw, model, target)


def draw_targeted(draw: st.DrawFn, model: PayloadModel, target: Target) -> Case | None:
    """:func:`targeted`, drawn with ``draw`` inside another composite strategy."""
    source = model.schema
    if target.drawn_broken:  # valid without the keyword, broken as drawn
        relaxed = source.relaxed(target.location, target.keyword, target.item)
        if relaxed is None:
            return None
        source = relaxed
    for _ in range(_TARGET_TRIES):
        document = draw_valid(draw, source, model.stats, target.route)
        found = break_value(model.schema, target, document)
        if found is None:
            continue
        (broken,) = found
        if target.keyword == "required" and target.item is not None:
            change = f"{place_name((*target.place, target.item))} removed"
        else:
            shown = json.dumps(_at(broken, target.place), ensure_ascii=False)
            shown = shown if len(shown) <= 40 else f"{shown[:37]}..."
            change = f"{place_name(target.place)} = {shown}"
        return Case(
            target.rule,
            dump(broken),
            detail=f"{change} (breaks {target})",
            keyword=str(target),
            mutation="target",
        )
    return None


def _at(value: object, place: Place) -> object:
    for key in place:
        value = value[key]  # type: ignore[index]
    return value


def _body_case(
    draw: st.DrawFn, rule: Rule, body: bytes, policy: Policy, event: object
) -> Case:
    tag = None
    hardening = HARDENING.get(rule)
    case = _body_bytes(draw, rule, body, policy, event)
    if rule is Rule.TRUNCATED and _parses(case.body):
        return Case(Rule.VALID, body)  # the cut left JSON: not a broken body
    return replace(case, variant=tag, hardening=hardening)


def _parses(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def _body_bytes(
    draw: st.DrawFn, rule: Rule, body: bytes, policy: Policy, event: object
) -> Case:
    tag = None
    if rule is Rule.EMPTY_BODY:
        blank = draw(st.sampled_from([b"", b" ", b"\n", b"\r\n\t "]))
        return Case(
            Rule.EMPTY_BODY, blank, variant=tag, detail=f"{len(blank)} blank bytes"
        )
    if rule is Rule.TRUNCATED:
        cut = draw(st.integers(1, max(1, len(body) - 1)))
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
        oversize = (policy.max_body or 1024 * 1024) + 1
        size = draw(st.integers(oversize, 2 * oversize))
        padding = "x" * size
        padded = dump(
            {**event, "padding": padding}
            if isinstance(event, dict)
            else [event, padding]
        )
        return Case(
            Rule.OVERSIZED_BODY, padded, variant=tag, detail=f"{len(padded)} bytes"
        )
    if rule is Rule.WRONG_CONTENT_TYPE:
        content_type = draw(
            st.sampled_from(_CONTENT_TYPES).filter(lambda c: c != policy.content_type)
        )
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
