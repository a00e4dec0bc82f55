"""The experiment file: model (``model``), loading and validation.

``model`` owns the vocabulary (fault kinds, hypothesis kinds, metrics, phases).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from chaoskit.errors import SpecError, SpecIssue
from chaoskit.spec.model import Experiment
from chaoskit.spec.toml import apply_overrides, read_table
from chaoskit.spec.validate import format_issue, validate

__all__ = ["Experiment", "format_issue", "load"]


def load(
    path: str | Path, overrides: Iterable[str] = (), seed: int | None = None
) -> Experiment:
    """Read, override and validate an experiment file.

    Args:
        path: the TOML file.
        overrides: ``key.path=value`` texts (``--set``), applied before
            validation; integer parts index arrays (``faults.0.latency=2s``).
        seed: replaces ``experiment.seed`` (``--seed``).

    Returns:
        The validated, frozen experiment.

    Raises:
        SpecError: the file cannot be read or parsed, or has issues; every
            issue is listed, with its key path.
    """
    file = str(path)
    try:
        table = read_table(path)
        issues = apply_overrides(table, overrides)
        info = table.get("experiment")
        if seed is not None and isinstance(info, dict):
            info["seed"] = seed
        return validate(table, file, issues)
    except RecursionError:
        # Arrays or tables nested thousands deep: the parser or the
        # validator runs out of stack before it can say where.
        issue = SpecIssue("(file)", "values nested too deeply to read")
        raise SpecError(file, [issue]) from None
