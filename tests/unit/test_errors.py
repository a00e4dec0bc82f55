"""The error tree and the exit-code table."""

from __future__ import annotations

from chaoskit.errors import (
    EXIT_ABORTED,
    EXIT_USAGE,
    DriverError,
    SpecError,
    SpecIssue,
    ToxiproxyError,
    UsageError,
    exit_code_for,
)


def test_user_mistakes_exit_2_and_are_value_errors():
    error = SpecError(
        "exp.toml", [SpecIssue("faults[0].latency", "not a duration", "3 s")]
    )
    assert isinstance(error, UsageError)
    assert isinstance(error, ValueError)
    assert exit_code_for(error) == EXIT_USAGE


def test_infrastructure_failures_exit_3():
    assert exit_code_for(DriverError("boom")) == EXIT_ABORTED


def test_spec_error_lists_every_issue_with_its_path():
    error = SpecError(
        "exp.toml",
        [
            SpecIssue("faults[0].latency", "not a duration", "3 s", '"250ms", "2s"'),
            SpecIssue("load.modle", "unknown key", suggestion="model"),
        ],
    )
    text = str(error)
    assert text.startswith("exp.toml: 2 problems\n  faults[0].latency: ")
    assert "faults[0].latency: not a duration (got '3 s'); allowed:" in text
    assert "did you mean 'model'?" in text


def test_toxiproxy_error_names_what_and_where():
    error = ToxiproxyError(
        "add toxic", "toxic already exists", status=409, proxy="db", toxic="slow"
    )
    expected = "toxiproxy: add toxic proxy 'db' toxic 'slow': HTTP 409: "
    assert str(error) == expected + "toxic already exists"
