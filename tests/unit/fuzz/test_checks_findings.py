"""The per-case checks, and findings written, read back and reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaoskit.errors import UsageError
from chaoskit.fuzz.checks import CheckConfig, Outcome, check_response, signature
from chaoskit.fuzz.engine import check_target_url
from chaoskit.fuzz.findings import Finding, load_findings, write_findings
from chaoskit.fuzz.rules import Case, Rule

CONFIG = CheckConfig()
VALID = Case(Rule.VALID, b'{"type": "init"}')
BAD = Case(Rule.OUT_OF_RANGE, b'{"progress": 101}')


def check(case: Case, status: int | None, body: bytes = b"", **kw: object):
    failure = check_response(case, Outcome(status, body, **kw), CONFIG)  # type: ignore[arg-type]
    return None if failure is None else failure.check


def test_valid_needs_2xx_invalid_an_allowed_4xx() -> None:
    assert check(VALID, 202) is None
    assert check(VALID, 422) == "valid-accepted"
    assert check(BAD, 422) is None
    assert check(BAD, 400) is None
    assert check(BAD, 202) == "invalid-refused"
    assert check(BAD, 404) == "invalid-refused"


def test_rule_specific_statuses() -> None:
    assert check(Case(Rule.OVERSIZED_BODY, b"x"), 413) is None
    assert check(Case(Rule.WRONG_CONTENT_TYPE, b"{}", "text/plain"), 415) is None
    assert check(BAD, 413) == "invalid-refused"
    custom = CheckConfig(allowed=frozenset({400}))
    assert check_response(BAD, Outcome(422), custom) is not None


def test_5xx_drops_and_slowness_always_fail() -> None:
    assert check(BAD, 500, b'{"error": "internal error"}') == "no-5xx"
    assert check(VALID, 503) == "no-5xx"
    assert check(VALID, None, error="RemoteProtocolError") == "no-dropped-connection"
    assert check(VALID, None, error="timeout") == "time-budget"
    assert check(VALID, 202, elapsed=5.0) == "time-budget"


def test_signature_blanks_numbers() -> None:
    assert signature(b'{"error": "body over 65536 bytes"}') == "body over N bytes"
    assert signature(b"Traceback\nline 2") == "Traceback"


def test_loopback_only_unless_allowed() -> None:
    check_target_url("http://127.0.0.1:8000", allow_remote=False)
    check_target_url("http://localhost:8000", allow_remote=False)
    check_target_url("http://[::1]:8000", allow_remote=False)
    with pytest.raises(UsageError, match="loopback"):
        check_target_url("http://10.0.0.1:8000", allow_remote=False)
    check_target_url("http://10.0.0.1:8000", allow_remote=True)
    with pytest.raises(UsageError, match="http"):
        check_target_url("ftp://127.0.0.1", allow_remote=False)


def test_findings_round_trip(tmp_path: Path) -> None:
    def finding(body: bytes | None, **kw: object) -> Finding:
        fields = {
            "check": "no-5xx", "rule": "out-of-range", "detail": "d", "status": 500,
            "message": "m", "signature": "s", "method": "POST", "path": "/events",
            "content_type": "application/json", "body": body, "curl": "curl", "seed": 3,
        } | kw  # fmt: skip
        return Finding(**fields)  # type: ignore[arg-type]

    findings = [
        finding(b'{"a": 1}'),
        finding(b"\xff\xfe"),
        finding(b"x" * 10_000),
        finding(None, headers={"Origin": "o", "Authorization": "Bearer t0ken"}),
    ]
    path = write_findings(tmp_path, findings, {"seed": 3})
    assert "t0ken" not in path.read_text()
    meta, back = load_findings(tmp_path)
    assert meta["seed"] == 3
    assert [f.body for f in back] == [f.body for f in findings]
    assert (tmp_path / "bodies" / "3.bin").exists()
    with pytest.raises(UsageError):
        load_findings(tmp_path / "nowhere")
