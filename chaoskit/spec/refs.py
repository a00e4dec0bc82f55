"""``{services.db.address}`` references: parse them, check them, bind them.

Some values are only known once the run has started things: the address an
embedded PostgreSQL got, the port a proxy route listens on. The experiment
file names them with placeholders that stay text in the model; validation
checks that each names something declared (:func:`check`), and the runner
substitutes real values once services are up (:func:`bind`).

The forms are::

    {services.NAME.address}   host:port of a service
    {services.NAME.host}      its host alone
    {services.NAME.port}      its port alone
    {routes.NAME.listen}      host:port a proxy route listens on
    {routes.NAME.host}        its host alone
    {routes.NAME.port}        its port alone
    {run.report.dir}          the run's report directory (a fresh place for files)

Variables are references too, but resolved before validation, on the raw
table (:mod:`chaoskit.spec.variables`; :func:`find_early` parses them)::

    {vars.NAME}               a variable: [vars] default, environment, --var
    {env.NAME}                the process environment (``{env.NAME:-default}``)
    {secret.NAME}             the process environment, masked in everything written

Only single braces around a dotted word count; the load engine's ``{{ ... }}``
templates and JSON-looking text such as ``{"a": 1}`` are left alone.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

__all__ = [
    "ATTRIBUTES",
    "EARLY_NAMESPACES",
    "EarlyRef",
    "Ref",
    "RefProblem",
    "bind",
    "check",
    "find",
    "find_early",
    "malformed_early",
    "placeholders",
]

ATTRIBUTES: Mapping[str, tuple[str, ...]] = {
    "services": ("address", "host", "port"),
    "routes": ("listen", "host", "port"),
    "run": ("dir",),
}
"""Namespace -> the attributes a reference may ask for."""

# A dotted word in single braces. The name part may hold dots (the last
# segment is the attribute), never braces or spaces; `(?<!\{)` and `(?!\})`
# keep `{{ user }}`-style templates out.
_REF = re.compile(r"(?<!\{)\{(?P<body>[A-Za-z_][\w-]*(?:\.[^{}\s.]+)+)\}(?!\})")


EARLY_NAMESPACES = ("vars", "env", "secret")
"""Namespaces resolved before validation (variables), not by the runner."""

_EARLY = re.compile(
    r"(?<!\{)\{(?P<ns>vars|env|secret)\.(?P<name>[A-Za-z_][\w-]*)"
    r"(?::-(?P<default>[^{}]*))?\}(?!\})"
)


@dataclass(frozen=True, slots=True)
class EarlyRef:
    """``{vars.NAME}``, ``{env.NAME}``, ``{env.NAME:-default}``, ``{secret.NAME}``."""

    text: str
    namespace: str
    name: str
    default: str | None


def find_early(text: str) -> list[EarlyRef]:
    """Every variable reference in ``text``, in order."""
    return [
        EarlyRef(m[0], m["ns"], m["name"], m["default"]) for m in _EARLY.finditer(text)
    ]


def malformed_early(text: str) -> list[str]:
    """Variable-looking references that are not well formed (``{vars.a.b}``)."""
    return [
        ref.text
        for ref in find(text)
        if ref.namespace in EARLY_NAMESPACES and not _EARLY.fullmatch(ref.text)
    ]


@dataclass(frozen=True, slots=True)
class Ref:
    """One placeholder as written: ``{namespace.name.attribute}``."""

    text: str
    """The placeholder with its braces, as it appears in the value."""
    namespace: str
    name: str
    attribute: str

    @property
    def key(self) -> str:
        """``services.db.address``: the key of its value in :func:`bind`."""
        return f"{self.namespace}.{self.name}.{self.attribute}"


@dataclass(frozen=True, slots=True)
class RefProblem:
    """A placeholder that does not name something declared."""

    ref: str
    """The placeholder as written, braces included."""
    message: str
    allowed: str | None = None
    suggestion: str | None = None


def find(text: str) -> list[Ref]:
    """Every placeholder in ``text``, in order (well-formed or not).

    A placeholder with fewer than three parts gets an empty ``name`` or
    ``attribute``; :func:`check` reports it.
    """
    refs = []
    for match in _REF.finditer(text):
        parts = match["body"].split(".")
        namespace, attribute = parts[0], parts[-1] if len(parts) > 2 else ""
        name = ".".join(parts[1:-1]) if len(parts) > 2 else parts[1]
        refs.append(Ref(match[0], namespace, name, attribute))
    return refs


def check(
    text: str, *, services: Collection[str], routes: Collection[str]
) -> list[RefProblem]:
    """Problems with the placeholders in ``text``; empty when all name declared things.

    Args:
        text: a value that may hold placeholders.
        services: names of the declared services.
        routes: names of the declared proxy routes.
    """
    declared = {"services": services, "routes": routes, "run": ("report",)}
    problems = []
    for ref in find(text):
        if ref.namespace in EARLY_NAMESPACES:
            continue  # a variable left unresolved is reported where it is used
        if ref.namespace not in ATTRIBUTES:
            problems.append(
                RefProblem(
                    ref.text,
                    f"{ref.text} is not a reference",
                    allowed="{services.NAME.address|host|port}, "
                    "{routes.NAME.listen|host|port}, {run.report.dir}, "
                    "{vars.NAME}, {env.NAME}, {secret.NAME}",
                    suggestion=_close(ref.namespace, [*ATTRIBUTES, *EARLY_NAMESPACES]),
                )
            )
            continue
        attributes = ATTRIBUTES[ref.namespace]
        if ref.attribute not in attributes:
            problems.append(
                RefProblem(
                    ref.text,
                    f"{ref.text}: {ref.namespace} have no attribute "
                    f"{ref.attribute or '(none given)'!r}",
                    allowed=", ".join(attributes),
                    suggestion=_close(ref.attribute, attributes),
                )
            )
        names = declared[ref.namespace]
        if ref.name not in names:
            noun = {"services": "service", "routes": "proxy route"}.get(
                ref.namespace, "run attribute"
            )
            problems.append(
                RefProblem(
                    ref.text,
                    f"{ref.text}: there is no {noun} {ref.name!r}",
                    allowed=", ".join(names) or f"(no {noun} is declared)",
                    suggestion=_close(ref.name, names),
                )
            )
    return problems


def bind(text: str, values: Mapping[str, str]) -> str:
    """``text`` with every placeholder replaced by its value.

    Args:
        text: a value from the experiment (a command argument, a URL, ...).
        values: ``"services.db.address"`` -> ``"127.0.0.1:5432"`` and so on.

    Raises:
        KeyError: a placeholder has no value (validation guarantees every
            placeholder names something declared, so the runner must know it).
    """

    def value(match: re.Match[str]) -> str:
        ref = find(match[0])[0]
        try:
            return values[ref.key]
        except KeyError:
            raise KeyError(f"no value bound for {ref.text}") from None

    return _REF.sub(value, text)


def placeholders(text: str) -> dict[str, str]:
    """Loopback stand-ins for every placeholder in ``text`` (for dry checks).

    ``chaoskit validate`` binds these to check values that only exist at run
    time (a base URL on a service's address) without starting anything.
    """
    stand_in = {"port": "1", "host": "127.0.0.1"}
    return {ref.key: stand_in.get(ref.attribute, "127.0.0.1:1") for ref in find(text)}


def _close(word: str, choices: Collection[str]) -> str | None:
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None
