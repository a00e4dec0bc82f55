"""The experiment file: model (``model``), loading and validation.

``model`` owns the vocabulary (fault kinds, hypothesis kinds, metrics, phases).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from chaoskit.errors import SpecError, SpecIssue
from chaoskit.redact import Redactor

if TYPE_CHECKING:
    from chaoskit.spec.model import Experiment
    from chaoskit.spec.validate import format_issue

__all__ = ["Experiment", "format_issue", "load"]


def __getattr__(name: str) -> object:
    # The model (pydantic) loads on first use, not with the package: the load
    # engine uses ``spec.classes`` only, and its processes start without it.
    if name == "Experiment":
        from chaoskit.spec.model import Experiment

        return Experiment
    if name == "format_issue":
        from chaoskit.spec.validate import format_issue

        return format_issue
    raise AttributeError(f"module 'chaoskit.spec' has no attribute {name!r}")


def load(
    path: str | Path,
    overrides: Iterable[str] = (),
    seed: int | None = None,
    *,
    variables: Iterable[str] = (),
    environment: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Experiment:
    """Read, override and validate an experiment file.

    The order: the chosen environment is merged over the file, variables
    are resolved (``{vars.X}``, ``{env.X}``, ``{secret.X}``), ``--set`` is
    applied, then everything is validated.

    Args:
        path: the TOML file.
        overrides: ``key.path=value`` texts (``--set``), applied before
            validation; integer parts index arrays (``faults.0.latency=2s``).
        seed: replaces ``experiment.seed`` (``--seed``).
        variables: ``NAME=value`` texts (``--var``).
        environment: an ``[environments.NAME]`` table to merge (``--env``);
            default ``CHAOSKIT_ENV``.
        environ: the process environment (default ``os.environ``).

    Returns:
        The validated, frozen experiment.

    Raises:
        SpecError: the file cannot be read or parsed, or has issues; every
            issue is listed, with its key path.
    """
    from chaoskit.spec.secrets import find_secrets
    from chaoskit.spec.toml import apply_overrides, read_table
    from chaoskit.spec.validate import validate
    from chaoskit.spec.variables import resolve

    file = str(path)
    try:
        table = read_table(path)
        resolution, issues = resolve(table, list(variables), environment, environ)
        issues += apply_overrides(table, overrides)
        info = table.get("experiment")
        if seed is not None and isinstance(info, dict):
            info["seed"] = seed
        try:
            experiment = validate(table, file, issues)
        except SpecError as error:
            if not resolution.secrets:
                raise
            # A secret can be quoted back ("got ..."): never on the console.
            clean = Redactor(resolution.secrets)
            masked = [
                replace(
                    issue, message=clean.text(issue.message), value=clean(issue.value)
                )
                for issue in error.issues
            ]
            raise SpecError(file, masked) from None
        return experiment.with_context(
            resolution.environment, find_secrets(experiment, resolution.secrets)
        )
    except RecursionError:
        # Arrays or tables nested thousands deep: the parser or the
        # validator runs out of stack before it can say where.
        issue = SpecIssue("(file)", "values nested too deeply to read")
        raise SpecError(file, [issue]) from None
