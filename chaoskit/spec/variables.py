"""``[vars]``, ``[environments.NAME]``, ``--var`` and ``--env``: resolved on the raw
table, before validation, so a value from a variable is checked exactly like
one written in place.

The order: the chosen environment's table (``--env``, else ``CHAOSKIT_ENV``) is
merged over the file (several, ``--env short,locust``: each in turn, the later
over the earlier); variables take their ``[vars]`` default, then the
environment's ``vars``, then ``--var``; finally every ``{vars.NAME}``,
``{env.NAME}``, ``{env.NAME:-default}`` and ``{secret.NAME}`` in a string is
replaced (:mod:`chaoskit.spec.refs` parses them). A string that is one reference
and nothing else takes the variable's type (``rate = "{vars.rate}"`` with
``rate = 50`` is the number 50).

A variable is declared as a value (its default) or as a table::

    [vars]
    retry = "exponential"
    db_password = { secret = true }              # required: --var or an environment
    token = { default = "dev", secret = true }

The values of secret variables and of ``{secret.NAME}`` (read from the process
environment) are returned as :attr:`Resolution.secrets`, for every writer to mask.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chaoskit.errors import SpecIssue
from chaoskit.spec import refs
from chaoskit.spec.locate import takes_text_only, toml_path, type_at
from chaoskit.spec.rules import close
from chaoskit.spec.toml import parse_override

__all__ = ["ENV_VARIABLE", "Resolution", "resolve"]

ENV_VARIABLE = "CHAOSKIT_ENV"
"""The process environment variable that chooses an environment (``--env`` wins)."""

_DECLARATION_KEYS = ("default", "secret", "description")


@dataclass(frozen=True)
class Resolution:
    """What resolving variables decided, besides the table itself."""

    environment: str | None = None
    """The environment chosen (``--env`` or ``CHAOSKIT_ENV``), if any."""
    secrets: tuple[str, ...] = ()
    """Values that must never be written (secret variables, ``{secret.NAME}``)."""
    variables: Mapping[str, object] = field(default_factory=dict)
    """Every variable's final value (secret ones included: do not print them)."""


def resolve(
    table: dict[str, Any],
    variables: Sequence[str] = (),
    environment: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[Resolution, list[SpecIssue]]:
    """Resolve ``table`` in place; what was chosen, and the problems found.

    Args:
        table: the raw TOML table (``[vars]`` and ``[environments]`` are removed).
        variables: ``NAME=value`` texts (``--var``); values read as TOML values
            when they are one, like ``--set``.
        environment: ``--env``; default ``CHAOSKIT_ENV`` from ``environ``.
        environ: the process environment (default ``os.environ``).
    """
    environ = os.environ if environ is None else environ
    issues: list[SpecIssue] = []
    declared = table.pop("vars", {})
    environments = table.pop("environments", {})
    if not isinstance(declared, dict):
        issues.append(SpecIssue("vars", "is not a table", None, "[vars] NAME = value"))
        declared = {}
    if not isinstance(environments, dict) or not all(
        isinstance(overlay, dict) for overlay in environments.values()
    ):
        issues.append(
            SpecIssue("environments", "is not a table of tables", None,
                      "[environments.NAME] with the keys it changes")
        )  # fmt: skip
        environments = {}
    chosen = environment or None
    if chosen is None and environments:
        # CHAOSKIT_ENV set for a whole shell does not break a file without
        # environments; --env always means this file.
        chosen = environ.get(ENV_VARIABLE) or None
    # "short,locust": each merged in turn, the later over the earlier.
    names = [n.strip() for n in chosen.split(",")] if chosen is not None else []
    where = "--env" if environment else ENV_VARIABLE
    for name in names:
        if name not in environments:
            known = list(environments)
            issues.append(
                SpecIssue(
                    where,
                    "is not an environment of this file",
                    name,
                    ", ".join(known) or "(no [environments.NAME] table is declared)",
                    close(name, known),
                )
            )
            continue
        overlay = dict(environments[name])
        env_vars = overlay.pop("vars", {})
        merge(table, overlay)
        if isinstance(env_vars, dict):
            declared = {**declared, **{k: _as_default(declared.get(k), v)
                                       for k, v in env_vars.items()}}  # fmt: skip
    values, secret_names, required = _declarations(declared, issues)
    for text in variables:
        name_part = text.partition("=")[0].strip()
        try:
            parts, value = parse_override(text)
        except ValueError as error:
            issues.append(
                SpecIssue(f"--var {name_part}", str(error), None, "NAME=value")
            )
            continue
        name = parts[0]
        if len(parts) != 1 or name not in declared:
            issues.append(
                SpecIssue(
                    f"--var {name_part}",
                    "is not a variable declared in [vars]",
                    None,
                    ", ".join(declared) or "(no [vars] table is declared)",
                    close(name, list(declared)),
                )
            )
            continue
        values[name] = value
        required.discard(name)
    secrets = [str(values[n]) for n in secret_names if n in values]
    resolver = _Resolver(values, required, environ, table)
    resolved = resolver.walk(table, [])
    table.clear()
    table.update(resolved)
    issues += resolver.issues
    secrets += resolver.secrets
    resolution = Resolution(
        environment=(
            ",".join(names) if names and set(names) <= set(environments) else None
        ),
        secrets=tuple(dict.fromkeys(s for s in secrets if s)),
        variables=values,
    )
    return resolution, issues


def merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> None:
    """Merge ``overlay`` into ``base`` in place (an environment over the file).

    Tables merge key by key; an array of tables merges item by item, matched
    by ``name`` when the overlay's items have one (else by position, extra
    items appended); an item that gives another ``kind`` replaces the one it
    matches (a ``process`` service becoming ``external`` keeps none of its
    keys); any other value replaces the one in ``base``.
    """
    for key, value in overlay.items():
        current = base.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merge(current, value)
        elif isinstance(current, list) and _tables(current) and _tables(value):
            _merge_items(current, value)
        else:
            base[key] = value


def _tables(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def _merge_items(base: list[dict[str, Any]], overlay: list[dict[str, Any]]) -> None:
    by_name = {item.get("name"): item for item in base if "name" in item}
    for position, item in enumerate(overlay):
        target = by_name.get(item.get("name")) if "name" in item else None
        if target is None and "name" not in item and position < len(base):
            target = base[position]
        if target is None:
            base.append(item)
        elif "kind" in item and item["kind"] != target.get("kind"):
            target.clear()  # another kind: none of the old keys would fit it
            target.update(item)
        else:
            merge(target, item)


def _as_default(declaration: object, value: object) -> object:
    """An environment's value for a variable, keeping its declaration (secret)."""
    if isinstance(declaration, dict) and set(declaration) <= set(_DECLARATION_KEYS):
        return {**declaration, "default": value}
    return value


def _declarations(
    declared: Mapping[str, Any], issues: list[SpecIssue]
) -> tuple[dict[str, object], list[str], set[str]]:
    """(defaults, secret variable names, variables without a default)."""
    values: dict[str, object] = {}
    secret: list[str] = []
    required: set[str] = set()
    for name, value in declared.items():
        if isinstance(value, dict) and set(value) <= set(_DECLARATION_KEYS):
            flag = value.get("secret", False)
            if not isinstance(flag, bool):
                issues.append(
                    SpecIssue(f"vars.{name}.secret", "is not true or false", flag)
                )
            elif flag:
                secret.append(name)
            if "default" in value:
                values[name] = value["default"]
            else:
                required.add(name)
        else:
            values[name] = value
    return values, secret, required


class _Resolver:
    """Replaces the early references in every string of a table."""

    def __init__(
        self,
        values: Mapping[str, object],
        required: set[str],
        environ: Mapping[str, str],
        table: Mapping[str, Any],
    ) -> None:
        self.table = table
        self.values = values
        self.required = required
        self.environ = environ
        self.issues: list[SpecIssue] = []
        self.secrets: list[str] = []

    def walk(self, node: Any, path: list[str | int]) -> Any:
        if isinstance(node, dict):
            return {k: self.walk(v, [*path, k]) for k, v in node.items()}
        if isinstance(node, list):
            return [self.walk(v, [*path, i]) for i, v in enumerate(node)]
        if isinstance(node, str):
            return self.text(node, path)
        return node

    def text(self, text: str, path: list[str | int]) -> object:
        for wrong in refs.malformed_early(text):
            self.issues.append(
                SpecIssue(toml_path(path), f"{wrong} is not a variable reference",
                          None, "{vars.NAME}, {env.NAME}, {env.NAME:-default}, "
                          "{secret.NAME}")
            )  # fmt: skip
        found = refs.find_early(text)
        if not found:
            return text
        whole = len(found) == 1 and found[0].text == text
        parts: dict[str, object] = {}
        for ref in found:
            value = self.value(ref, toml_path(path))
            if value is None:
                return text  # reported; the text stays as written
            parts[ref.text] = value
        if whole:
            value = parts[text]
            # `rate = "{vars.rate}"` keeps the number; a command argument or
            # an environment value takes its text.
            if not isinstance(value, str) and takes_text_only(
                type_at(self.table, path)
            ):
                return _as_text(value)
            return value
        for ref_text, value in parts.items():
            text = text.replace(ref_text, _as_text(value))
        return text

    def value(self, ref: refs.EarlyRef, where: str) -> object:
        if ref.namespace == "vars":
            if ref.name in self.values:
                return self.values[ref.name]
            if ref.default is not None:
                return ref.default
            if ref.name in self.required:
                self.issues.append(
                    SpecIssue(where, f"uses {ref.text}: the variable {ref.name!r} "
                              "has no value", None,
                              f"--var {ref.name}=..., a default in [vars], or "
                              "the chosen environment's vars")
                )  # fmt: skip
                return None
            known = [*self.values, *self.required]
            self.issues.append(
                SpecIssue(where, f"uses {ref.text}: there is no variable "
                          f"{ref.name!r}", None,
                          ", ".join(known) or "(no [vars] table is declared)",
                          close(ref.name, known))
            )  # fmt: skip
            return None
        value = self.environ.get(ref.name)
        if value is None:
            value = ref.default
        if value is None:
            what = "secret" if ref.namespace == "secret" else "environment variable"
            self.issues.append(
                SpecIssue(where, f"uses {ref.text}: the {what} {ref.name} is not "
                          "set in the environment", None,
                          f"export {ref.name}=..., or {{{ref.namespace}."
                          f"{ref.name}:-default}}")
            )  # fmt: skip
            return None
        if ref.namespace == "secret":
            self.secrets.append(value)
        return value


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
