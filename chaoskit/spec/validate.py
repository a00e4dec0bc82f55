"""Raw TOML table -> :class:`~chaoskit.spec.model.Experiment`, with every issue at once.

pydantic finds the field errors; this module rewrites each into a
:class:`~chaoskit.errors.SpecIssue` a person can act on: the key path in TOML's
own notation (``faults[0].latency``, not pydantic's ``faults.0.toxic.latency``),
the value given, what is allowed, and a did-you-mean. It walks the model's types
along pydantic's ``loc`` to know which parts are union tags (dropped), which
keys are aliases (``for``, ``json``) and what the field accepts. Then the
cross-field checks of :mod:`chaoskit.spec.consistency` run on whatever parts
are valid, so one pass reports everything.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any, get_args

from pydantic import ValidationError

from chaoskit.errors import SpecError, SpecIssue
from chaoskit.spec import consistency
from chaoskit.spec.capacity import check_capacity
from chaoskit.spec.locate import (
    Where,
    describe,
    is_model,
    raw_at,
    toml_keys,
    toml_path,
    unit_of,
    walk,
)
from chaoskit.spec.model import (
    FAULT_KINDS,
    GROUP_BY_PATTERN,
    HYPOTHESIS_KINDS,
    SERVICE_KINDS,
    ContainerFault,
    Experiment,
    HttpFault,
    LockFault,
    PayloadFault,
    ProcessFault,
    ToxicFault,
)
from chaoskit.spec.parts import items
from chaoskit.spec.secrets import find_secrets

__all__ = ["format_issue", "translate", "validate"]

DURATION_ALLOWED = 'a number with a unit: "500us", "250ms", "15s", "2m"'
RATIO_ALLOWED = 'a fraction from 0 to 1 or a percentage: 0.01, "1%"'
_PATTERNS = {
    r"^[A-Za-z0-9_.-]+$": "letters, digits, '_', '.' and '-' (no spaces)",
    GROUP_BY_PATTERN: 'client, route, or "header:<Name>" (e.g. "header:X-Request-Id")',
}
_SECTIONS = list(Experiment.model_fields)
_KINDS = {"services": SERVICE_KINDS, "hypotheses": HYPOTHESIS_KINDS}
_ALLOWED = {
    "think": 'a duration, or a range: "1s", "0.5s..2s"',
    "at": 'a duration, or a range drawn from the seed: "15s", "10s..14s"',
}
"""What a field with its own validator accepts (for its messages)."""
_FAULT_KEYS = {
    info.alias or name
    for model in (
        ToxicFault,
        ProcessFault,
        ContainerFault,
        LockFault,
        PayloadFault,
        HttpFault,
    )
    for name, info in model.model_fields.items()
}


def validate(
    table: Mapping[str, Any], file: str, issues: Sequence[SpecIssue] = ()
) -> Experiment:
    """Validate a raw table into an :class:`Experiment`.

    Args:
        table: the TOML table (overrides already applied).
        file: the file's name, for the error.
        issues: problems found before validation (``--set``), reported too.

    Raises:
        SpecError: every issue: ``issues``, field errors and cross-field ones.
    """
    found = list(issues)
    experiment: Experiment | None = None
    try:
        experiment = Experiment.model_validate(table)
    except ValidationError as error:
        found += translate(error, table)
    found += consistency.check(table, experiment)
    if experiment is not None:
        found += check_capacity(experiment)
    if found or experiment is None:
        raise SpecError(file, _in_file_order(found))
    # Its credential-shaped values, for every writer to mask (spec.load adds
    # the declared secrets and the environment chosen).
    return experiment.with_context(None, find_secrets(experiment))


def format_issue(issue: SpecIssue) -> str:
    """One line: ``path: message (got value); allowed: ...; did you mean 'x'?``."""
    return str(issue)


def translate(
    error: ValidationError, table: Mapping[str, Any] | None = None
) -> list[SpecIssue]:
    """pydantic's errors as SpecIssues; the members of one union merged into one.

    Args:
        error: what ``Experiment.model_validate`` raised.
        table: the raw table, to name an item's kind in messages.
    """
    issues: dict[str, SpecIssue] = {}
    for detail in error.errors(include_url=False):
        where = walk(detail["loc"])
        issue = _issue(detail, where, table or {})
        if issue is None:
            continue
        # A value that fits no member of `str | float` gives one error per
        # member at the same path; one issue says it all.
        issues.setdefault(issue.path, issue)
    # `users = [{...}]` with a bad class: the union's other member (an
    # integer) refuses the array too; the class's own issues say what is wrong.
    for path, issue in list(issues.items()):
        nested = any(p.startswith((f"{path}[", f"{path}.")) for p in issues)
        if nested and issue.message.startswith("is not an integer or"):
            del issues[path]
    # `duraton = "45s"` makes `duration` missing too; the did-you-mean says it.
    for issue in list(issues.values()):
        if issue.message == "unknown key" and issue.suggestion:
            parent = issue.path.rpartition(".")[0]
            missing = f"{parent}.{issue.suggestion}" if parent else issue.suggestion
            if getattr(issues.get(missing), "message", "") == "is required":
                del issues[missing]
    return _misspelt_kinds(list(issues.values()), table or {})


_KIND_SECTIONS = {
    "services": ("service", SERVICE_KINDS),
    "faults": ("fault", FAULT_KINDS),
    "hypotheses": ("hypothesis", HYPOTHESIS_KINDS),
}


def _misspelt_kinds(
    issues: list[SpecIssue], table: Mapping[str, Any]
) -> list[SpecIssue]:
    """``knd = "process"``: one issue with the did-you-mean, not the errors of
    an item validated as the wrong kind (or as no kind at all)."""
    for section, (noun, kinds) in _KIND_SECTIONS.items():
        for index, item in items(table, section):
            if not isinstance(item, dict) or "kind" in item:
                continue
            typo = next(
                (k for k in item if k == "type" or _close(str(k), ["kind"], 0.6)), None
            )
            if typo is None:
                continue
            prefix = f"{section}[{index}]"
            issues = [
                issue
                for issue in issues
                if not issue.path.startswith((f"{prefix}.", f"{prefix}["))
                and issue.path != prefix
            ]
            value = item[typo]
            issues.append(
                SpecIssue(
                    toml_path([section, index, typo]),
                    f"unknown key: the {noun} kind is set with kind",
                    value if _scalar(value) else None,
                    ", ".join(kinds),
                    "kind",
                )
            )
    return issues


# --- what the error says ------------------------------------------------------------


def _issue(detail: Any, where: Where, table: Mapping[str, Any]) -> SpecIssue | None:
    kind: str = detail["type"]
    value = detail.get("input")
    ctx = detail.get("ctx") or {}
    path = where.path
    expected = describe(where.annotation, where.metadata)
    if kind == "extra_forbidden":
        keys = toml_keys(where.owner) if where.owner else []
        key = str(where.parts[-1])
        noun = "table" if len(where.parts) == 1 else "key"
        fault_kind = raw_at(table, where.parts[:-1]).get("kind")
        if (
            where.parts[0] == "faults"
            and key in _FAULT_KEYS
            and isinstance(fault_kind, str)
        ):
            # A key of another fault kind: say so instead of a poor did-you-mean.
            message = f"is not a setting of a {fault_kind} fault"
            return SpecIssue(path, message, None, ", ".join(keys))
        return SpecIssue(
            path, f"unknown {noun}", None, ", ".join(keys), _close(key, keys, 0.7)
        )
    if kind == "missing":
        if where.parts[-1:] == ["kind"] and where.parts[0] == "faults":
            expected = ", ".join(FAULT_KINDS)
        elif is_model(where.annotation):
            required = [
                info.alias or name
                for name, info in where.annotation.model_fields.items()
                if info.is_required()
            ]
            expected = "a table with " + ", ".join(required)
        expected = _ALLOWED.get(str(where.parts[-1]), expected)
        return SpecIssue(path, "is required", None, expected)
    if kind in ("union_tag_invalid", "union_tag_not_found", "literal_error"):
        return _choice_issue(kind, where, value, ctx)
    if kind == "value_error":
        return _value_issue(where, value, ctx)
    if kind in _BOUNDS:
        return SpecIssue(path, "is out of range", value, _range(where))
    sized = isinstance(value, list | tuple | str)
    if kind == "too_short" and sized and len(value) >= ctx.get("min_length", 0):
        return None  # its items failed; they are reported one by one
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return SpecIssue(path, "must not be empty", value)
    if kind in ("too_short", "too_long"):
        many = "item" if ctx.get("field_type") != "String" else "character"
        limit = ctx.get("min_length", ctx.get("max_length"))
        side = "at least" if kind == "too_short" else "at most"
        plural = "" if limit == 1 else "s"
        return SpecIssue(path, f"needs {side} {limit} {many}{plural}", value)
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        allowed = _PATTERNS.get(pattern, f"text matching {pattern}")
        return SpecIssue(path, "is not a valid name", value, allowed)
    if kind.endswith(("_type", "_parsing")) or kind == "int_from_float":
        if len(repr(value)) <= 60:
            return SpecIssue(path, f"is not {expected}", value, None)
        got = describe(type(value)) if not isinstance(value, list) else "an array"
        return SpecIssue(path, f"is not {expected} (got {got})", None, None)
    return SpecIssue(
        path, str(detail["msg"]).lower(), value if _scalar(value) else None
    )


_BOUNDS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def _choice_issue(kind: str, where: Where, value: object, ctx: Any) -> SpecIssue:
    parts = list(where.parts)
    if kind.startswith("union_tag"):
        parts.append("kind")
        given = ctx.get("tag")
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected_tags", "")))
    else:
        given = value
        choices = [str(a) for a in get_args(where.annotation)]
    section = str(parts[0]) if parts else ""
    noun = {
        "faults": "fault",
        "hypotheses": "hypothesis",
        "services": "service",
        "probes": "probe",
    }
    path = toml_path(parts)
    if parts and parts[-1] == "kind" and section in noun:
        if section == "faults":
            choices = list(FAULT_KINDS)  # unknown kinds fall to the toxic member
        if kind == "union_tag_not_found":
            choices = list(_KINDS.get(section, choices))
            return SpecIssue(path, "is required", None, ", ".join(choices))
        message = f"unknown {noun[section]} kind"
    else:
        message = "is not one of the allowed values"
    suggestion = _close(str(given), choices) if isinstance(given, str) else None
    return SpecIssue(path, message, given, ", ".join(choices), suggestion)


def _value_issue(where: Where, value: object, ctx: Any) -> SpecIssue:
    path = where.path
    unit = unit_of(where.metadata)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if unit == "duration":
        if number:
            return SpecIssue(path, "must be a duration >= 0", value, DURATION_ALLOWED)
        return SpecIssue(path, "not a duration", value, DURATION_ALLOWED)
    if unit == "ratio":
        if number or _looks_numeric(value):
            message = "must be between 0 and 1 (0% to 100%)"
            return SpecIssue(path, message, value, RATIO_ALLOWED)
        return SpecIssue(path, "not a ratio", value, RATIO_ALLOWED)
    reason = str(ctx.get("error", "")) or "is not valid"
    given = None
    if reason.startswith(f"{value!r} "):
        reason, given = reason[len(repr(value)) + 1 :], value
    return SpecIssue(path, reason, given, _ALLOWED.get(str(where.parts[-1])))


def _range(where: Where) -> str:
    """``0..65535``, ``> 0``, ``>= 1`` from the field's constraints."""
    low = high = None
    for item in where.metadata:
        for attr, sign in (("gt", ">"), ("ge", ">=")):
            if getattr(item, attr, None) is not None:
                low = (sign, getattr(item, attr))
        for attr, sign in (("lt", "<"), ("le", "<=")):
            if getattr(item, attr, None) is not None:
                high = (sign, getattr(item, attr))
    show = _duration_text if unit_of(where.metadata) == "duration" else _number_text
    if low and high and low[0] == ">=" and high[0] == "<=":
        return f"{show(low[1])}..{show(high[1])}"
    sides = [side for side in (low, high) if side is not None]
    return " and ".join(f"{sign} {show(bound)}" for sign, bound in sides)


def _number_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _duration_text(value: object) -> str:
    return f"{_number_text(value)}s"


def _close(word: str, choices: Sequence[str], cutoff: float = 0.6) -> str | None:
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return matches[0] if matches else None


def _scalar(value: object) -> bool:
    return isinstance(value, str | int | float | bool)


def _looks_numeric(value: object) -> bool:
    return (
        isinstance(value, str)
        and re.fullmatch(r"\s*-?[\d.]+\s*%?\s*", value, re.ASCII) is not None
    )


def _in_file_order(issues: list[SpecIssue]) -> list[SpecIssue]:
    """Issues by section (as the model orders them), then by array item; stable."""

    def key(issue: SpecIssue) -> tuple[int, int]:
        if issue.path.startswith("--set"):
            return (-1, 0)
        head = re.match(r"([A-Za-z_]+)(?:\.([A-Za-z_]+))?\[(\d+)\]", issue.path)
        section = issue.path.split(".")[0].split("[")[0]
        rank = _SECTIONS.index(section) if section in _SECTIONS else -1
        return (rank, int(head[3]) if head else -1)

    return sorted(issues, key=key)
