"""The values of an experiment that must never be written.

Declared ones (``{secret.NAME}``, ``secret = true`` variables) come from
:mod:`chaoskit.spec.variables`; this module finds the credential-shaped ones the
file holds: values of credential keys and header values, environment values
whose names are credential-shaped (``DB_PASSWORD``, ``JWT_SECRET``, ``API_KEY``),
values of credential flags in commands (``--jwt-secret X``) and the passwords of
``scheme://user:pass@host`` URLs. The writers mask them as literals through
:class:`chaoskit.redact.Redactor`, wherever they appear (replay lines, plans,
log banners, journals, reports, the console).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from chaoskit.redact import (
    argv_secrets,
    is_credential_name,
    is_secret_key,
    url_passwords,
)
from chaoskit.spec.model import Experiment

__all__ = ["find_secrets"]

# Header values that are never credentials, and would mask ordinary text
# ("application/json") everywhere if they were taken as secrets.
_PLAIN_HEADERS = frozenset(
    {"accept", "accept-encoding", "accept-language", "cache-control", "connection",
     "content-type", "user-agent",
     # A CORS preflight's: "POST" masked as a literal hid every method.
     "origin", "access-control-request-method", "access-control-request-headers"}
)  # fmt: skip


def find_secrets(
    experiment: Experiment, declared: Iterable[str] = ()
) -> tuple[str, ...]:
    """``declared`` and every credential-shaped value of ``experiment``, once each."""
    found = [value for value in declared if value]
    _walk(experiment.model_dump(by_alias=True), None, found)
    return tuple(dict.fromkeys(found))


# A header value this short is no credential, and masking it as a literal
# would mask every "1" or "on" of every file ("runs a ***s warm-up").
_MIN_HEADER_SECRET = 4


def _walk(node: object, key: str | None, found: list[str]) -> None:
    if isinstance(node, Mapping):
        # An HTTP fault's `headers` are what the proxy answers (`Retry-After`),
        # not what a client sends: no credential there.
        answers = str(node.get("kind", "")).startswith("http_")
        for name, value in node.items():
            name = str(name)
            credential = is_secret_key(name) or (
                # Environment variables and headers: credential-shaped names
                # (`X-Sink-Key`, `DB_PASSWORD`)...
                key in ("env", "headers") and is_credential_name(name)
            )
            # ...and any header but the ones that describe the content: a
            # tenant id or a custom key is a credential as often as not.
            header = (
                key == "headers"
                and name.lower() not in _PLAIN_HEADERS
                and isinstance(value, str)
                and len(value) >= _MIN_HEADER_SECRET
            )
            if isinstance(value, str) and (credential or header):
                found.append(value)
            if not (answers and name == "headers"):
                _walk(value, name, found)
    elif isinstance(node, list | tuple):
        strings = [item for item in node if isinstance(item, str)]
        found.extend(argv_secrets(strings))
        for item in node:
            _walk(item, key, found)
    elif isinstance(node, str):
        found.extend(url_passwords(node))
