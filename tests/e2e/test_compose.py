"""compose/ for users: the compose file is valid for the compose tool, and the
experiment that drives it is valid for chaoskit and points at what compose
publishes. The stack itself is not run here: its images (Toxiproxy,
PostgreSQL 16, python:3.11-slim) cannot be pulled on this machine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib

import pytest

from tests.docker_support import REPO

COMPOSE_FILE = REPO / "compose" / "docker-compose.yml"
EXPERIMENT = REPO / "experiments" / "compose-db-latency.toml"


def compose_command() -> list[str]:
    """`docker compose` (the plugin) or Debian's `docker-compose`; skip without
    either, except under CI=true (.ci/run installs docker-compose)."""
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run(
            [docker, "compose", "version"], capture_output=True, check=False, timeout=30
        ).returncode
        == 0
    ):
        return [docker, "compose"]
    if found := shutil.which("docker-compose"):
        return [found]
    reason = "no compose tool: install the compose plugin or docker-compose"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: compose/ must be checked)", pytrace=False)
    pytest.skip(reason)


def compose(*args: str) -> str:
    result = subprocess.run(
        [*compose_command(), "-f", str(COMPOSE_FILE), *args],
        capture_output=True, text=True, check=False, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_compose_file_is_valid_and_runs_the_real_images():
    assert set(compose("config", "--services").split()) == {
        "toxiproxy",
        "postgres",
        "api",
    }
    config = compose("config")
    assert "image: ghcr.io/shopify/toxiproxy:" in config
    assert "image: postgres:16" in config
    assert "dockerfile: compose/streaming/Dockerfile" in config
    assert (REPO / "compose" / "streaming" / "Dockerfile").is_file()


def test_the_experiment_drives_what_compose_publishes():
    """proxy.url is Toxiproxy's published API, the target is the API's published
    port, and the route is the proxy the API's --db goes through."""
    config = compose("config")
    experiment = tomllib.loads(EXPERIMENT.read_text())
    api_port = experiment["target"]["base_url"].rsplit(":", 1)[1]
    toxiproxy_port = experiment["proxy"]["url"].rsplit(":", 1)[1]
    assert f"127.0.0.1:{toxiproxy_port}:8474" in config
    assert f"127.0.0.1:{api_port}:8000" in config
    (route,) = experiment["proxy"]["routes"]
    proxies = json.loads((REPO / "compose" / "toxiproxy.json").read_text())
    assert [(p["name"], p["listen"], p["upstream"]) for p in proxies] == [
        (route["name"], route["listen"], route["upstream"])
    ]
    assert f"toxiproxy:{route['listen'].rsplit(':', 1)[1]}" in config
    assert "chaoskit.role: api" in config
    assert experiment["services"][0]["labels"] == {"chaoskit.role": "api"}


def test_chaoskit_validates_the_compose_experiment():
    result = subprocess.run(
        [sys.executable, "-m", "chaoskit", "validate", str(EXPERIMENT)],
        capture_output=True, text=True, check=False, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "on Toxiproxy at http://127.0.0.1:18363" in result.stdout
    assert result.stdout.rstrip().endswith("valid")
