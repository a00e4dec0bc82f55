"""The docker tests' gate (tests/docker_support.require_engine, which the
``docker_client`` fixture calls first): without an engine they skip with the
reason, but under CI=true the same missing engine fails them (CI must run them)."""

from __future__ import annotations

import pytest

from tests.docker_support import require_engine

DEAD = "unix:///nonexistent/docker.sock"


@pytest.mark.parametrize("ci", [None, "false"])
def test_without_an_engine_docker_tests_skip_with_the_reason(monkeypatch, ci):
    monkeypatch.setenv("DOCKER_HOST", DEAD)
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match=f"no Docker engine at {DEAD}"):
        require_engine()


def test_under_ci_a_missing_engine_fails_the_docker_tests(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", DEAD)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(
        pytest.fail.Exception, match="CI=true: the docker tests must run"
    ):
        require_engine()
