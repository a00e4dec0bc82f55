"""Real servers on loopback for the load engine: the starlette app in its own
process, and raw TCP servers that misbehave (refuse, reset, never answer)."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    """A TCP port nobody listens on (at the moment of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, deadline_s: float = 15.0) -> None:
    """Return once something accepts on ``port``; fail after ``deadline_s``."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), 0.2),
        ):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {deadline_s}s")


class App:
    """The test app's base URL, and helpers to read its state."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"

    def get_json(self, path: str) -> object:
        with urllib.request.urlopen(self.url + path, timeout=5) as response:  # noqa: S310
            return json.loads(response.read())


@pytest.fixture(scope="session")
def app() -> Iterator[App]:
    """The starlette app (tests/integration/load/app.py) under uvicorn."""
    port = free_port()
    script = Path(__file__).with_name("app.py")
    process = subprocess.Popen([sys.executable, str(script), str(port)])
    try:
        wait_for_port(port)
        yield App(port)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def refused_url() -> str:
    """A loopback URL where the connection is refused."""
    return f"http://127.0.0.1:{free_port()}"


class _RawServer:
    """A TCP server in a thread that answers every request the same bad way."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            if self.mode == "reset":
                # Read the request, then abort with RST (SO_LINGER 0).
                with contextlib.suppress(OSError):
                    conn.recv(65536)
                conn.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                conn.close()
            elif self.mode == "garbage":
                with contextlib.suppress(OSError):
                    conn.recv(65536)
                    conn.sendall(b"NOT HTTP AT ALL\r\n\r\n")
                conn.close()
            else:  # "silent": accept, read, never answer
                self._held.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self._held:
            conn.close()
        self.sock.close()


@pytest.fixture
def raw_server() -> Iterator[Callable[[str], _RawServer]]:
    """Make misbehaving servers: ``raw_server("reset" | "garbage" | "silent")``."""
    made: list[_RawServer] = []

    def make(mode: str) -> _RawServer:
        server = _RawServer(mode)
        made.append(server)
        return server

    yield make
    for server in made:
        server.close()
