"""The rules a payload can break, and the case that carries its tag.

A leaf of the fuzz package: the strategies make :class:`Case` values, the
checks judge them, the findings store and replay them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["BODY_RULES", "FIELD_RULES", "JSON", "Case", "Rule"]


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
