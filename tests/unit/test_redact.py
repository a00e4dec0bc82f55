"""Secrets never leave the process: what redact masks, and what it leaves alone."""

from __future__ import annotations

import pytest

from chaoskit.redact import (
    MASK,
    Redactor,
    Secret,
    argv_secrets,
    is_secret_key,
    is_secret_name,
    redact,
    redact_text,
    url_passwords,
)

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Authorization: Bearer {JWT}", "Authorization: ***"),
        (f"sent Bearer {JWT} to /me", "sent Bearer *** to /me"),
        ("Basic dXNlcjpwYXNz", "Basic ***"),
        (
            "postgresql://app:hunter2@127.0.0.1:5432/db",
            "postgresql://app:***@127.0.0.1:5432/db",
        ),
        ("http://u:p@h/x?api_key=k1&page=2", "http://u:***@h/x?api_key=***&page=2"),
        ("GET /me?access_token=abc123", "GET /me?access_token=***"),
        (
            '{"password": "hunter2", "user": "bob"}',
            '{"password": "***", "user": "bob"}',
        ),
        ("password=hunter2 user=bob", "password=*** user=bob"),
        ("Cookie: session=abc; theme=dark", "Cookie: ***; theme=dark"),
        ("x-api-key: k-123", "x-api-key: ***"),
        ("client_secret=zzz", "client_secret=***"),
    ],
)
def test_credentials_in_text_are_masked(text, expected):
    """Headers, bearer and basic credentials, URL passwords, key=value pairs."""
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "p95 412ms below 800ms",
        "max_tokens=5",
        "http://127.0.0.1:8000/movies?page=3",
        "postgresql://127.0.0.1:5432/db",
        "database is locked",
        "user 3 hit 10 lock errors",
    ],
)
def test_ordinary_text_is_left_alone(text):
    """Report text without credentials passes through unchanged."""
    assert redact_text(text) == text


def test_masking_is_idempotent():
    """Redacting redacted text changes nothing."""
    text = f"curl -H 'Authorization: Bearer {JWT}' http://u:pw@h/?token=t"
    once = redact_text(text)
    assert redact_text(once) == once
    assert JWT not in once
    assert "pw@" not in once


def test_mappings_mask_values_of_credential_keys_whatever_the_type():
    """Headers dicts, nested lists, and non-string values under secret keys."""
    data = {
        "headers": {"Authorization": "Bearer x", "X-Api-Key": "k", "Accept": "json"},
        "auth": [{"password": 1234}, {"refresh_token": {"value": "t"}}],
        "Set-Cookie": "a=b",
        "token": None,  # nothing to hide: left as it is
        "url": "http://u:p@h/",
        "count": 3,
    }
    assert redact(data) == {
        "headers": {"Authorization": MASK, "X-Api-Key": MASK, "Accept": "json"},
        "auth": [{"password": MASK}, {"refresh_token": MASK}],
        "Set-Cookie": MASK,
        "token": None,
        "url": "http://u:***@h/",
        "count": 3,
    }


def test_keys_false_keeps_user_named_keys_and_still_scrubs_strings():
    """Task names like refresh_token keep their data; strings are still cleaned."""
    data = {"refresh_token": {"count": 3, "detail": "password=x"}}
    assert redact(data, keys=False) == {
        "refresh_token": {"count": 3, "detail": "password=***"}
    }


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("Authorization", True),
        ("proxy-authorization", True),
        ("DB_PASSWORD", True),
        ("access_token", True),
        ("client-secret", True),
        ("api_key", True),
        ("ApiKey", True),
        ("Cookie", True),
        ("credentials", True),
        ("name", False),
        ("latency", False),
        ("count", False),
        (3, False),
    ],
)
def test_is_secret_key(key, secret):
    """Credential-like key names, in any case and with - or _."""
    assert is_secret_key(key) is secret


def test_literal_secrets_are_masked_anywhere_longest_first():
    """Values learned at run time (a login token) are masked wherever they appear."""
    redactor = Redactor(["abcd", "abcdefgh"])
    redactor.add(Secret("zz-token-zz"))
    redactor.add("x")  # too short to be a credential; would mask innocent text
    assert redactor.text("got abcdefgh and zz-token-zz, x") == "got *** and ***, x"
    assert redactor({"note": "abcd"}) == {"note": MASK}
    assert redact("key abcd", ["abcd"]) == "key ***"


def test_secret_never_shows_its_value():
    """repr and str are masked; reveal gives the value; Secrets in data are masked."""
    secret = Secret("hunter2")
    assert repr(secret) == "Secret('***')"
    assert str(secret) == f"{secret}" == MASK
    assert secret.reveal() == "hunter2"
    assert secret == Secret("hunter2")
    assert secret != Secret("other")
    assert hash(secret) == hash(Secret("hunter2"))
    assert bool(secret)
    assert not Secret("")
    assert redact({"anything": secret, "list": [secret]}) == {
        "anything": MASK,
        "list": [MASK],
    }


# --- issue 13.6 / 12.7: command lines, environment names, and ids left alone ----


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("app --jwt-secret s3cret --port 80", "app --jwt-secret *** --port 80"),
        ("app --db-password=pw12 --db x.db", "app --db-password=*** --db x.db"),
        (
            "--set services.0.env.DB_PASSWORD=hunter22",
            "--set services.0.env.DB_PASSWORD=***",
        ),
        ("DB_USER=app API_KEY=k123 PORT=80", "DB_USER=*** API_KEY=*** PORT=80"),
        ("postgresql://app:pa55@127.0.0.1/db", "postgresql://app:***@127.0.0.1/db"),
    ],
)
def test_command_lines_and_environment_assignments_are_masked(text, expected):
    assert redact_text(text) == expected


def test_ids_are_data_not_secrets():
    """A fuzz payload's session_id must survive, or the printed payload is not
    the one that failed (issue 12.7)."""
    payload = {"session_id": "s-42", "user_id": 7, "password": "pw"}
    assert redact(payload) == {"session_id": "s-42", "user_id": 7, "password": "***"}
    assert redact_text('{"session_id": "s-42"}') == '{"session_id": "s-42"}'


def test_argv_secrets_are_the_values_of_credential_flags():
    argv = ["app", "--jwt-secret", "j1", "--token=t1", "--db-url", "u", "--port", "1"]
    assert argv_secrets(argv) == ["j1", "t1"]


@pytest.mark.parametrize(
    ("name", "secret"),
    [("DB_PASSWORD", True), ("DB_HOST", True), ("X-Sink-Key", True),
     ("JWT_SECRET", True), ("PORT", False), ("LOG_LEVEL", False)],
)  # fmt: skip
def test_is_secret_name(name, secret):
    assert is_secret_name(name) is secret


def test_url_passwords():
    assert url_passwords("a postgresql://u:p4ss@h/db and http://x/y") == ["p4ss"]


def test_environment_style_keys_are_masked_in_data():
    env = {"DB_HOST": "10.0.0.1", "API_KEY": "k", "LOG_LEVEL": "debug", "key": "v"}
    assert redact(env) == {
        "DB_HOST": "***", "API_KEY": "***", "LOG_LEVEL": "debug", "key": "v"
    }  # fmt: skip
