"""Start ``python -m fixtures.eventsink`` on a free port; stop it by PID."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[3]
SCHEMA = REPO / "fixtures" / "eventsink" / "schema.json"


@contextlib.contextmanager
def eventsink(*flags: str, log: Path) -> Iterator[str]:
    """A running event sink with ``flags``; yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "fixtures.eventsink", "--port", str(port), *flags]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=REPO, stdout=sink, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"eventsink did not start:\n{log.read_text()}")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
