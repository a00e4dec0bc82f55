"""The experiment file: model (``model``), loading and validation.

``model`` owns the vocabulary (fault kinds, hypothesis kinds, metrics, phases).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from chaoskit.errors import SpecError
from chaoskit.redact import Redactor
from chaoskit.spec.model import Experiment
from chaoskit.spec.secrets import find_secrets
from chaoskit.spec.toml import apply_overrides, read_table
from chaoskit.spec.validate import format_issue, validate
from chaoskit.spec.variables import resolve

__all__ = ["Experiment", "format_issue", "load"]


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
    file = str(path)
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
            replace(issue, message=clean.text(issue.message), value=clean(issue.value))
            for issue in error.issues
        ]
        raise SpecError(file, masked) from None
    return experiment.with_context(
        resolution.environment, find_secrets(experiment, resolution.secrets)
    )
