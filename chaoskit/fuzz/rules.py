"""The rules a payload can break, and the case that carries its tag.

A leaf of the fuzz package: the strategies make :class:`Case` values, the
checks judge them, the findings store and replay them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from chaoskit.errors import UsageError
from chaoskit.units import parse_size

__all__ = [
    "BODY_RULES", "FIELD_RULES", "HARDENED", "HARDENING", "JSON", "KEYWORD_RULES",
    "Case", "Policy", "Rule", "policy_from",
]  # fmt: skip


class Rule(StrEnum):
    """What a case breaks; the tag every finding carries."""

    VALID = "valid"
    MISSING_REQUIRED = "missing-required"
    WRONG_TYPE = "wrong-type"
    OUT_OF_RANGE = "out-of-range"
    NOT_IN_ENUM = "not-in-enum"
    UNKNOWN_VARIANT = "unknown-variant"
    EXTRA_FIELD = "extra-field"
    PATTERN_MISMATCH = "pattern-mismatch"
    BAD_FORMAT = "bad-format"
    NOT_UNIQUE = "not-unique"
    FORBIDDEN = "forbidden"
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


#: Rules a mutated payload is labelled with, from the keyword that rejects it.
FIELD_RULES = (
    Rule.MISSING_REQUIRED, Rule.WRONG_TYPE, Rule.OUT_OF_RANGE, Rule.NOT_IN_ENUM,
    Rule.UNKNOWN_VARIANT, Rule.EXTRA_FIELD, Rule.PATTERN_MISMATCH, Rule.BAD_FORMAT,
    Rule.NOT_UNIQUE, Rule.FORBIDDEN, Rule.HUGE_NUMBER, Rule.DEEP_NESTING,
    Rule.OVERSIZED_STRING,
)  # fmt: skip
#: The validator's error kinds (``jsonschema_rs.ValidationErrorKind``) -> rule.
KEYWORD_RULES = {
    "Required": Rule.MISSING_REQUIRED, "Type": Rule.WRONG_TYPE,
    "Minimum": Rule.OUT_OF_RANGE, "Maximum": Rule.OUT_OF_RANGE,
    "ExclusiveMinimum": Rule.OUT_OF_RANGE, "ExclusiveMaximum": Rule.OUT_OF_RANGE,
    "MultipleOf": Rule.OUT_OF_RANGE, "MinLength": Rule.OUT_OF_RANGE,
    "MaxLength": Rule.OUT_OF_RANGE, "MinItems": Rule.OUT_OF_RANGE,
    "MaxItems": Rule.OUT_OF_RANGE, "MinProperties": Rule.OUT_OF_RANGE,
    "MaxProperties": Rule.OUT_OF_RANGE, "Contains": Rule.OUT_OF_RANGE,
    "Enum": Rule.NOT_IN_ENUM, "Constant": Rule.NOT_IN_ENUM,
    "AnyOf": Rule.UNKNOWN_VARIANT, "OneOfNotValid": Rule.UNKNOWN_VARIANT,
    "OneOfMultipleValid": Rule.UNKNOWN_VARIANT,
    "AdditionalProperties": Rule.EXTRA_FIELD, "UnevaluatedProperties": Rule.EXTRA_FIELD,
    "AdditionalItems": Rule.EXTRA_FIELD, "UnevaluatedItems": Rule.EXTRA_FIELD,
    "Pattern": Rule.PATTERN_MISMATCH, "PropertyNames": Rule.PATTERN_MISMATCH,
    "Format": Rule.BAD_FORMAT, "ContentEncoding": Rule.BAD_FORMAT,
    "ContentMediaType": Rule.BAD_FORMAT, "UniqueItems": Rule.NOT_UNIQUE,
}  # fmt: skip
#: Transport and size rules: judged only under a stated policy (hardening).
#: Each maps to the policy that makes it fail.
HARDENING = {
    Rule.OVERSIZED_BODY: "max_body", Rule.DEEP_NESTING: "max_depth",
    Rule.WRONG_CONTENT_TYPE: "content_type", Rule.MISSING_CONTENT_TYPE: "content_type",
    Rule.NON_UTF8: "strict_utf8",
}  # fmt: skip
#: Rules applied to the body or the request as a whole.
BODY_RULES = (
    Rule.EMPTY_BODY, Rule.TRUNCATED, Rule.NON_UTF8, Rule.NON_JSON,
    Rule.OVERSIZED_BODY, Rule.WRONG_CONTENT_TYPE, Rule.MISSING_CONTENT_TYPE,
)  # fmt: skip

JSON = "application/json"


@dataclass(frozen=True)
class Policy:
    """The hardening policies stated (None / False: not stated, so not judged).

    Attributes:
        max_body: bytes a body may have; larger ones must be refused (413).
        max_depth: nesting a body may have; deeper ones must be refused.
        content_type: the only media type accepted; others, and none, refused (415).
        strict_utf8: a body that is not UTF-8 must be refused.
    """

    max_body: int | None = None
    max_depth: int | None = None
    content_type: str | None = None
    strict_utf8: bool = False

    def enforced(self, key: str) -> bool:
        """Whether the policy named ``key`` (a :data:`HARDENING` value) is stated."""
        return bool(getattr(self, key))

    @staticmethod
    def flag(key: str) -> str:
        """The command-line flag that states the policy ``key``."""
        return {"max_body": "--max-body 1MB", "max_depth": "--max-depth 64",
                "content_type": "--content-type application/json",
                "strict_utf8": "--strict-utf8"}[key]  # fmt: skip


#: Every policy at the values ``--hardening`` states.
HARDENED = Policy(1024 * 1024, 64, JSON, True)


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
        keyword: the schema key path of the keyword that rejects the payload
            (``properties/progress/maximum``; the validator's word).
        mutation: how a size case was made (``oversized-body``, ``deep-nesting``,
            ``huge-number``, ``oversized-string``): 413 is an allowed refusal.
        hardening: the policy key that makes this case fail (``max_body``,
            ``max_depth``, ``content_type``, ``strict_utf8``), when the schema
            itself says nothing about it; None for a contract case.
    """

    rule: Rule
    body: bytes
    content_type: str | None = JSON
    batch: bool = False
    variant: str | None = None
    detail: str = ""
    keyword: str = ""
    mutation: str = ""
    hardening: str | None = None

    def __repr__(self) -> str:
        # Short: Hypothesis shows failing examples, and bodies reach megabytes.
        body = self.body[:80] + (b"..." if len(self.body) > 80 else b"")
        return (
            f"Case({self.rule}, {body!r} ({len(self.body)} bytes), "
            f"batch={self.batch}, detail={self.detail[:80]!r})"
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # Hypothesis's pretty printer walks dataclasses field by field.
        printer.text(repr(self))

    @property
    def valid(self) -> bool:
        """Whether the case must be accepted."""
        return self.rule is Rule.VALID


def policy_from(
    *, max_body: str | None, max_depth: int | None, content_type: str | None,
    strict_utf8: bool, hardening: bool, where: str = "--",
) -> Policy:  # fmt: skip
    """The hardening policies stated (``hardening``: every one, at its default).

    Raises:
        UsageError: a size that is not one.
    """
    policy = HARDENED if hardening else Policy()
    size = policy.max_body
    if max_body is not None:
        try:
            size = parse_size(max_body)
        except ValueError as exc:
            raise UsageError(f"{where}max-body: {exc}") from exc
    return Policy(
        max_body=size,
        max_depth=max_depth if max_depth is not None else policy.max_depth,
        content_type=content_type or policy.content_type,
        strict_utf8=strict_utf8 or policy.strict_utf8,
    )
