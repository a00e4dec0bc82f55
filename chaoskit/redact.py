"""Secrets never leave the process: masking for everything a sink writes.

A leaf module (it imports nothing from chaoskit), so every sink, the journal,
the reports, the console and curl rendering can share one definition of what a
secret looks like:

* in mappings, the value of any key that names a credential (``authorization``,
  ``password``, ``token``, ``secret``, ``api_key``, ``cookie``...), whatever
  the value's type;
* in text, ``Bearer xxx`` / ``Basic xxx`` credentials, ``Authorization: xxx``
  header lines, ``password=xxx``-style pairs (query strings, form bodies, logs)
  and the password of ``scheme://user:pass@host`` URLs;
* in text, the value of credential-shaped command-line flags (``--jwt-secret X``,
  ``--db-password=X``) and environment assignments (``DB_PASSWORD=X``,
  ``API_KEY=X``, any ``DB_*``);
* any literal value registered as a secret (a token learned at login, a
  ``{secret.NAME}``, a ``secret = true`` variable), wherever it appears.

Only credentials are masked: ids (``session_id``, ``user_id``) are data a user
needs to reproduce a failure, and are left alone (issue 12.7).

Masking is idempotent: redacting redacted data changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Final

__all__ = [
    "MASK",
    "Redactor",
    "Secret",
    "argv_secrets",
    "is_credential_name",
    "is_secret_key",
    "is_secret_name",
    "redact",
    "redact_text",
    "url_passwords",
]

MASK: Final = "***"
"""What a secret is replaced by."""

# Substrings of a normalised key (lower case, ``-`` and spaces as ``_``) that mark
# its value as a credential. Substrings rather than exact names because real
# configurations say ``x_api_key``, ``refresh_token``, ``db_password``...
_SECRET_KEY_PARTS: Final = (
    "authorization",
    "password",
    "passwd",
    "token",
    "secret",
    "api_key",
    "apikey",
    "cookie",
    "credential",
    "private_key",
)
_KEY_WORDS: Final = (
    r"authorization|proxy[-_]authorization|password|passwd|pwd|"
    r"[\w-]*token|[\w-]*secret|api[-_]?key|x[-_]api[-_]key|cookie|set[-_]cookie"
)
# `Bearer xxx` and `Basic xxx` credentials anywhere in text (an error message
# quoting a header, a curl line). Over-masking a word of prose is harmless.
_SCHEME_CREDENTIAL: Final = re.compile(
    r"(?i)\b(bearer|basic)(\s+)(?!\*\*\*)[A-Za-z0-9._~+/=-]+"
)
# `Authorization: xxx`, `password=xxx`, `"token": "xxx"`, `api_key=xxx&...`:
# the separator (and an opening quote) is kept, the value up to a delimiter masked.
_KEY_VALUE: Final = re.compile(
    rf"(?i)(?<![\w-])((?:{_KEY_WORDS})[\"']?\s*[:=]\s*[\"']?)"
    r"(?!\*\*\*)(?:(?:bearer|basic|token|digest)\s+)?[^\s\"'&,;}]+"
)
# `scheme://user:pass@host`: keep the user (useful when debugging), mask the password.
_URL_PASSWORD: Final = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*:)([^\s@/]+)@")
# Environment and flag names whose value is a credential: `DB_PASSWORD`,
# `JWT_SECRET`, `API_KEY`, `--jwt-secret`, and (issue 13.6) every `DB_*`.
_CREDENTIAL_NAME: Final = re.compile(
    r"(?i)passw(?:or)?d|pwd|secret|token|key|credential|auth|cookie"
)
_DB_NAME: Final = re.compile(r"(?i)^-*db[_-]")
# `DB_PASSWORD=x` (an upper-case environment name), `--jwt-secret x`,
# `--db-password=x`: the name and separator kept, the value masked.
_ENV_ASSIGNMENT: Final = re.compile(
    r"(?<![\w-])((?:[A-Z0-9_]*(?:PASSWORD|PASSWD|PWD|SECRET|TOKEN|KEY|CREDENTIAL)"
    r"[A-Z0-9_]*|DB_[A-Z0-9_]+)=)(?!\*\*\*)[^\s\"'&,;]+"
)
_SECRET_FLAG: Final = re.compile(
    r"(?i)(?<![\w-])(--?[\w-]*(?:passw(?:or)?d|pwd|secret|token|key|credential)"
    r"[\w-]*(?:=|\s+))(?!\*\*\*)(?!-)[^\s\"'&,;]+"
)


def is_secret_key(key: object) -> bool:
    """Whether a mapping key names a credential, so its value must be masked."""
    if not isinstance(key, str):
        return False
    normal = key.lower().replace("-", "_").replace(" ", "_")
    return any(part in normal for part in _SECRET_KEY_PARTS)


def _masked_key(key: object) -> bool:
    """A credential key, or an environment-style one (``DB_HOST``, ``API_KEY``)."""
    if is_secret_key(key):
        return True
    return isinstance(key, str) and key.isupper() and is_secret_name(key)


def is_credential_name(name: str) -> bool:
    """Whether a variable, flag or header name names a credential (PASSWORD,
    SECRET, TOKEN, KEY, AUTH, CREDENTIAL, COOKIE in it, any case)."""
    return _CREDENTIAL_NAME.search(name) is not None


def is_secret_name(name: str) -> bool:
    """Whether an environment variable or command-line flag names a credential.

    Broader than :func:`is_secret_key` (which judges keys of data): any name
    with PASSWORD, SECRET, TOKEN, KEY, AUTH, CREDENTIAL, COOKIE, or ``DB_*``.
    """
    name = name.strip()
    return bool(_CREDENTIAL_NAME.search(name) or _DB_NAME.search(name))


def argv_secrets(argv: Iterable[str]) -> list[str]:
    """Values of credential-shaped flags in a command: ``--jwt-secret X``,
    ``--password=X`` (X in both cases)."""
    found = []
    previous: str | None = None
    for arg in argv:
        if previous is not None and not arg.startswith("-"):
            found.append(arg)
        previous = None
        if arg.startswith("-"):
            name, sep, value = arg.partition("=")
            # Not `DB_*` here: `--db-url postgresql://...` is an address (its
            # password, if any, is masked as a URL's).
            if is_credential_name(name):
                if sep:
                    found.append(value)
                else:
                    previous = name
    return [value for value in found if value]


def url_passwords(text: str) -> list[str]:
    """The passwords of ``scheme://user:pass@host`` URLs in ``text``."""
    return [match[2] for match in _URL_PASSWORD.finditer(text)] if "://" in text else []


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every credential it carries masked.

    Args:
        text: any text: a log line, a URL, a curl command, an error message.
        secrets: literal values to mask wherever they appear (empty ones ignored).

    Returns:
        The text with credentials replaced by :data:`MASK`.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    if "://" in text:
        text = _URL_PASSWORD.sub(rf"\g<1>{MASK}@", text)
    text = _KEY_VALUE.sub(rf"\g<1>{MASK}", text)
    text = _ENV_ASSIGNMENT.sub(rf"\g<1>{MASK}", text)
    text = _SECRET_FLAG.sub(rf"\g<1>{MASK}", text)
    return _SCHEME_CREDENTIAL.sub(rf"\g<1>\g<2>{MASK}", text)


def redact(value: object, secrets: Iterable[str] = (), *, keys: bool = True) -> object:
    """A copy of JSON-like data with every credential masked.

    Mappings become dicts (the value of a credential key is replaced whole),
    lists and tuples become lists, strings go through :func:`redact_text`;
    anything else is returned as it is.

    Args:
        value: the data to clean (an event, a record, a report document).
        secrets: literal values to mask wherever they appear.
        keys: mask values by their key's name. Turn it off for data whose keys
            are names the user chose (a task called ``refresh_token`` is not a
            credential, and its statistics must survive); strings are still
            scrubbed.
    """
    return Redactor(secrets)(value, keys=keys)


class Redactor:
    """Masks credentials, remembering literal secrets learned during a run.

    Args:
        secrets: literal values to mask wherever they appear.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | Secret) -> None:
        """Mask ``secret`` from now on (a token obtained at login, a password)."""
        plain = secret.reveal() if isinstance(secret, Secret) else secret
        # Very short values would mask innocent text ("a", "1"); they are not
        # credentials anyone should rely on, so they are not registered.
        if len(plain) >= 4 and plain not in self._secrets:
            self._secrets.append(plain)
            # Longest first, so a secret containing another is masked whole.
            self._secrets.sort(key=len, reverse=True)

    def text(self, text: str) -> str:
        """``text`` with every credential masked (see :func:`redact_text`)."""
        return redact_text(text, self._secrets)

    def __call__(self, value: object, *, keys: bool = True) -> object:
        """A copy of ``value`` with every credential masked (see :func:`redact`)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Secret):
            return MASK
        if isinstance(value, Mapping):
            return {
                key: MASK
                if keys and _masked_key(key) and value[key] not in (None, "")
                else self(value[key], keys=keys)
                for key in value
            }
        if isinstance(value, list | tuple):
            return [self(item, keys=keys) for item in value]
        return value


class Secret:
    """A credential whose ``repr`` and ``str`` are masked.

    Hold tokens and passwords in a ``Secret`` so that a log line, an exception
    message or a debugger never shows them; :meth:`reveal` where the value is
    really needed (an HTTP header about to be sent).

    Args:
        value: the credential.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The credential itself."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)
