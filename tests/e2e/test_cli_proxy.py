"""`chaoskit proxy` as a user runs it: a real process, real signals."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

READY = re.compile(r"API on (http://\S+) \(seed (\d+)\)")


class ProxyProcess:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chaoskit", "proxy", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        match = READY.search(line)
        if match is None:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
            raise AssertionError(f"no ready line: {line!r}; stderr: {err}")
        self.url, self.seed = match[1], int(match[2])

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        self.proc.send_signal(sig)
        _, err = self.proc.communicate(timeout=15)
        return self.proc.returncode, err


def run_proxy(*args: str) -> subprocess.CompletedProcess[str]:
    """``chaoskit proxy ARGS`` expected to exit by itself (bad input)."""
    return subprocess.run(
        [sys.executable, "-m", "chaoskit", "proxy", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.fixture
def proxy_process() -> Iterator[ProxyProcess]:
    process = ProxyProcess("--port", "0", "--seed", "7")
    yield process
    if process.proc.poll() is None:
        process.proc.kill()
        process.proc.communicate(timeout=10)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_closes_every_listener_and_connection(proxy_process, sig):
    """On SIGTERM or Ctrl-C the server exits 0, and its proxies stop listening."""
    assert proxy_process.seed == 7
    with socket.socket() as upstream:
        upstream.bind(("127.0.0.1", 0))
        upstream.listen()
        up_port = upstream.getsockname()[1]
        reply = httpx.post(
            f"{proxy_process.url}/proxies",
            json={"name": "p", "upstream": f"127.0.0.1:{up_port}"},
        )
        host, port = reply.json()["listen"].rsplit(":", 1)
        client = socket.create_connection((host, int(port)), timeout=5)
        accepted, _ = upstream.accept()
        with client, accepted:
            code, err = proxy_process.stop(sig)
            assert code == 0, err
            assert "stopped" in err
            assert "Traceback" not in err
            # The live connection was closed by the proxy...
            accepted.settimeout(5)
            assert accepted.recv(10) == b""
        # ...and the listener is gone.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, int(port)), timeout=5)


def test_busy_port_is_a_clear_usage_error():
    """A port in use: exit 2, one line naming the address and the fix, no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_proxy("--port", str(port))
    assert result.returncode == 2
    assert f"127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_file_creates_proxies_at_start(tmp_path: Path):
    """--config takes a JSON array of proxies, as /populate does."""
    listen_port = free_port()
    config = tmp_path / "proxies.json"
    config.write_text(
        json.dumps(
            [
                {
                    "name": "db",
                    "listen": f"127.0.0.1:{listen_port}",
                    "upstream": "127.0.0.1:5432",
                }
            ]
        )
    )
    process = ProxyProcess("--port", "0", "--config", str(config))
    try:
        proxies = httpx.get(f"{process.url}/proxies").json()
        assert proxies["db"]["listen"] == f"127.0.0.1:{listen_port}"
    finally:
        assert process.stop()[0] == 0


def test_bad_config_file_exits_2(tmp_path: Path):
    config = tmp_path / "proxies.json"
    config.write_text('{"name": "not an array"}')
    result = run_proxy("--port", "0", "--config", str(config))
    assert result.returncode == 2
    assert "expected a JSON array" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("value", ["-1", "10001", "fast"])
def test_bad_busy_poll_exits_2(value: str):
    """--busy-poll-us takes 0 to 10000: anything else is exit 2, nothing started."""
    result = run_proxy("--port", "0", "--busy-poll-us", value)
    assert result.returncode == 2
    assert "--busy-poll-us" in result.stderr
    assert "API on" not in result.stdout
    assert "Traceback" not in result.stderr


def test_busy_poll_forwards_both_ways_and_toxics_still_apply():
    """A proxy run with --busy-poll-us passes bytes intact both ways, and a
    toxic added to it acts (limit_data cuts the stream at its byte count)."""
    with socket.socket() as upstream:
        upstream.bind(("127.0.0.1", 0))
        upstream.listen()
        up_port = upstream.getsockname()[1]
        process = ProxyProcess("--port", "0", "--busy-poll-us", "100")
        try:
            reply = httpx.post(
                f"{process.url}/proxies",
                json={"name": "p", "upstream": f"127.0.0.1:{up_port}"},
            )
            host, port = reply.json()["listen"].rsplit(":", 1)
            payload = bytes(range(256)) * 4096  # 1 MiB
            with socket.create_connection((host, int(port)), timeout=10) as client:
                accepted, _ = upstream.accept()
                with accepted:
                    accepted.settimeout(10)
                    for _ in range(20):  # round trips, each wakes the spin
                        client.sendall(b"ping")
                        assert _recv_exactly(accepted, 4) == b"ping"
                        accepted.sendall(b"pong")
                        assert _recv_exactly(client, 4) == b"pong"
                    accepted.sendall(payload)
                    assert _recv_exactly(client, len(payload)) == payload
            httpx.post(
                f"{process.url}/proxies/p/toxics",
                json={"type": "limit_data", "attributes": {"bytes": 1000}},
            ).raise_for_status()
            with socket.create_connection((host, int(port)), timeout=10) as client:
                accepted, _ = upstream.accept()
                with accepted:
                    accepted.sendall(payload[:5000])
                    got = b""
                    while chunk := client.recv(65536):
                        got += chunk
                    assert got == payload[:1000]
        finally:
            assert process.stop()[0] == 0


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    got = b""
    while len(got) < size:
        chunk = sock.recv(size - len(got))
        assert chunk, "closed early"
        got += chunk
    return got
