"""Reading a report document's loose JSON: every renderer (console summary,
JUnit, HTML, the rebuild from a journal) takes values that may be missing or of
another type (a partial report from a crashed run) through these, never raising."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["mapping", "mappings", "number", "rollback", "status", "user_label"]

_RESULTS = ("passed", "failed", "inconclusive")


def status(hypothesis: Mapping[str, Any]) -> str | None:
    """A hypothesis's ``passed``/``failed``/``inconclusive``; None: not judged.

    Documents written before ``status`` existed have ``passed`` only.
    """
    value = hypothesis.get("status")
    if value in _RESULTS:
        return str(value)
    passed = hypothesis.get("passed")
    return None if passed is None else ("passed" if passed else "failed")


def rollback(fault: Mapping[str, Any]) -> str:
    """``yes``, ``NO`` (a fault that may still be in place), or ``not applied``:
    a run stopped before the fault's time never touched anything, and a red NO
    there would send a user looking for a fault that does not exist."""
    if fault.get("rolled_back"):
        return "yes"
    if fault.get("actual_start_s") is None and not fault.get("error"):
        return "not applied"
    return "NO"


def number(value: object) -> float | None:
    """A value as a float, or None when it is missing or not a number."""
    return float(value) if isinstance(value, int | float) else None


def mapping(value: object) -> Mapping[str, Any]:
    """A JSON object, or an empty one."""
    return value if isinstance(value, Mapping) else {}


def mappings(value: object) -> list[Mapping[str, Any]]:
    """The objects of a JSON array (other items skipped), or an empty list."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def user_label(entry: Mapping[str, Any]) -> str:
    """A user of ``top_error_users``: ``#3``, or ``#3 Household`` with its class."""
    known = entry.get("user_class")
    return f"#{entry.get('user')}" + (f" {known}" if known else "")
