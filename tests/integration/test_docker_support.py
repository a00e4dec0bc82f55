"""The docker tests' gate: without an engine they skip with the reason, but
under CI=true the same missing engine fails the test (CI must run them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docker_support import REPO

_PROBE = """
def test_needs_docker(docker_client):
    pass
"""


def run_probe(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    probe = tmp_path / "test_probe.py"
    probe.write_text(_PROBE)
    environ = {k: v for k, v in os.environ.items() if k != "CI"}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.docker_support", "-q",
         "-rs", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(probe)],
        cwd=REPO, env=environ, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("ci", ["false"])
def test_without_an_engine_docker_tests_skip_with_the_reason(tmp_path, ci):
    result = run_probe(tmp_path, DOCKER_HOST="unix:///nonexistent/docker.sock", CI=ci)
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout
    assert "no Docker engine at unix:///nonexistent/docker.sock" in result.stdout


def test_under_ci_a_missing_engine_fails_the_docker_tests(tmp_path):
    result = run_probe(
        tmp_path, DOCKER_HOST="unix:///nonexistent/docker.sock", CI="true"
    )
    assert result.returncode == 1, result.stdout
    assert "1 error" in result.stdout  # the fixture fails: an error, not a skip
    assert "CI=true: the docker tests must run" in result.stdout
