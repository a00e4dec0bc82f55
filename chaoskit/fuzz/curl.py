"""A curl command line that re-sends a request, with its secrets masked.

The URL and headers go through :mod:`chaoskit.redact` (credential headers,
tokens in query strings, literal secrets). The body is the generated payload
and is shown as it is: masking a generated ``session_id`` or ``token`` field
would make the line reproduce something else.

Bodies are shown inline when they are short: quoted for a POSIX shell, or in
bash's ``$'...'`` form when they are not UTF-8 text; a long body is referred
to by file (``--data-binary @path``), which the caller writes next to it.
"""

from __future__ import annotations

import shlex
from collections.abc import Collection, Iterable, Mapping

from chaoskit.redact import MASK, Redactor, is_secret_key

__all__ = ["INLINE_LIMIT", "curl_line"]

#: Bodies up to this many bytes go inline in the command.
INLINE_LIMIT = 2048


def _ansi_c(data: bytes) -> str:
    out = []
    for byte in data:
        char = chr(byte)
        if char in "\\'":
            out.append("\\" + char)
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\x{byte:02x}")
    return "$'" + "".join(out) + "'"


def _body_arg(body: bytes) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return _ansi_c(body)
    if text.isprintable():
        return shlex.quote(text)
    return _ansi_c(body)


def curl_line(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    *,
    body_file: str | None = None,
    secrets: Iterable[str] = (),
    masked: Collection[str] = (),
    shown: Collection[str] = (),
) -> str:
    """The ``curl`` command that sends this request again.

    Args:
        method: the HTTP method.
        url: the full URL.
        headers: the request headers that matter (Content-Type, credentials);
            the value of any credential header is masked.
        body: the body (None: no body).
        body_file: where the body was written, used instead of inlining it
            when it is over :data:`INLINE_LIMIT` bytes.
        secrets: literal values to mask wherever they appear.
        masked: header names (any case) whose values are masked whatever
            the name: every header the user gave, unless shown on purpose.
        shown: header names (any case) whose values are shown even when the
            name is a credential's (``--show-header Authorization``).

    Returns:
        One line, safe to paste into a POSIX shell (bash for ``$'...'``).
    """
    redactor = Redactor(secrets)
    parts = ["curl", "-sS", "-i", "-X", method, shlex.quote(redactor.text(url))]
    hidden = {name.lower() for name in masked}
    visible = {name.lower() for name in shown}
    for name, value in headers.items():
        lower = name.lower()
        secret = lower in hidden or (is_secret_key(name) and lower not in visible)
        shown_value = MASK if secret else value
        line = f"{name}: {shown_value}"
        parts += ["-H", shlex.quote(line if lower in visible else redactor.text(line))]
    if body is not None:
        if len(body) > INLINE_LIMIT and body_file is not None:
            parts += ["--data-binary", shlex.quote("@" + body_file)]
        elif len(body) > INLINE_LIMIT:
            parts += ["--data-binary", f"'<{len(body)} bytes, not shown>'"]
        else:
            parts += ["--data-binary", _body_arg(body)]
    return " ".join(parts)
