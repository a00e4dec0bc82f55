"""``[capacity]`` against the rest of the file: the search's bounds, and the
fault setting ``vary`` names (issue 18)."""

from __future__ import annotations

from chaoskit.errors import SpecIssue
from chaoskit.spec.model import CapacitySection, Experiment, Fault
from chaoskit.units import parse_duration

__all__ = ["check_capacity", "intensity", "is_duration", "varied"]


def varied(capacity: CapacitySection) -> tuple[int, str] | None:
    """``vary = "faults.N.key"`` as (N, key); None without ``vary``."""
    if capacity.vary is None:
        return None
    _, index, key = capacity.vary.split(".")
    return int(index), key


def is_duration(fault: Fault, key: str) -> bool:
    """Whether a fault's setting is a duration (``latency``) or a number."""
    field = type(fault).model_fields.get(key)
    metadata = field.metadata if field is not None else []
    return any(getattr(m, "func", None) is parse_duration for m in metadata)


def intensity(fault: Fault, key: str, raw: str | float) -> float:
    """One end of ``range`` in the setting's unit (seconds for a duration).

    Raises:
        ValueError: not a value of that setting.
    """
    if is_duration(fault, key):
        return parse_duration(raw)
    if isinstance(raw, str):
        raise ValueError(f"{raw!r} is not a number ({key} is a number)")  # noqa: TRY004
    return float(raw)


def check_capacity(experiment: Experiment) -> list[SpecIssue]:
    """Every issue of ``[capacity]`` that needs the rest of the experiment."""
    capacity = experiment.capacity
    if capacity is None:
        return []
    issues: list[SpecIssue] = []
    if (
        capacity.min is not None
        and capacity.max is not None
        and capacity.min >= capacity.max
    ):
        issues.append(
            SpecIssue(
                "capacity.min", "must be below capacity.max", capacity.min,
                allowed=f"a level below {capacity.max:g}",
            )
        )  # fmt: skip
    where = varied(capacity)
    if where is None:
        return issues  # `range` and `at` wait for a `--set capacity.vary=...`
    index, key = where
    if index >= len(experiment.faults):
        issues.append(
            SpecIssue(
                "capacity.vary", "names a fault the file does not declare",
                capacity.vary,
                allowed=f"faults.0 .. faults.{len(experiment.faults) - 1}"
                if experiment.faults else "declare a [[faults]] first",
            )
        )  # fmt: skip
        return issues
    fault = experiment.faults[index]
    value = getattr(fault, key, None)
    if isinstance(value, bool) or not isinstance(value, int | float):
        numeric = sorted(
            name
            for name, field in type(fault).model_fields.items()
            if field.annotation in (float, int)
            and name not in ("at", "for_", "every", "period", "shift")
        )
        issues.append(
            SpecIssue(
                "capacity.vary", f"is not a numeric setting of a {fault.kind} fault",
                capacity.vary,
                allowed=", ".join(f"faults.{index}.{n}" for n in numeric),
            )
        )  # fmt: skip
        return issues
    if capacity.range is None:
        issues.append(SpecIssue("capacity.range", "is required with capacity.vary"))
    else:
        ends: list[float] = []
        for i, raw in enumerate(capacity.range):
            try:
                ends.append(intensity(fault, key, raw))
            except ValueError as exc:
                issues.append(SpecIssue(f"capacity.range[{i}]", str(exc), raw))
        if len(ends) == 2 and not 0 <= ends[0] < ends[1]:
            issues.append(
                SpecIssue(
                    "capacity.range", "must be [low, high] with 0 <= low < high",
                    list(capacity.range),
                )
            )  # fmt: skip
    if capacity.at is None:
        issues.append(
            SpecIssue(
                "capacity.at", "is required with capacity.vary",
                allowed="the fixed load: requests/s (open) or users (closed)",
            )
        )  # fmt: skip
    return issues
