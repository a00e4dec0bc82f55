"""Fixtures for the embedded proxy: the server in a thread, and real upstreams."""

from __future__ import annotations

import asyncio
import socket
import socketserver
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import httpx
import pytest

from chaoskit.proxy.server import ProxyServer, ProxyServerConfig, new_event_loop
from chaoskit.proxy.state import ProxyCollection

T = TypeVar("T")


class ProxyThread:
    """A ProxyServer on its own uvloop loop in a thread, for sync clients."""

    def __init__(self, config: ProxyServerConfig) -> None:
        self.server = ProxyServer(config)
        self.loop = new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ProxyThread:
        self._thread.start()
        self.run(self.server.start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.run(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.address[1]


def round_trip(port: int, payload: bytes = b"ping") -> bytes:
    """Send ``payload`` through the proxy on ``port`` and read the echo back."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
        return got


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        try:
            while data := sock.recv(65536):
                sock.sendall(data)
        except OSError:
            return
        # The client half-closed: say goodbye (also tests half-close), then close.
        try:
            sock.sendall(b"")
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            return


class TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


# One server and one echo upstream per test module, emptied after each test:
# starting and stopping them costs about 0.2 s a test.


@pytest.fixture(scope="module")
def shared_proxy_server() -> Iterator[ProxyThread]:
    with ProxyThread(ProxyServerConfig(port=0, seed=1234, log_capacity=1000)) as server:
        yield server


async def _delete_every_proxy(collection: ProxyCollection) -> None:
    async with collection.lock:
        for proxy in list(collection.proxies.values()):
            await collection.delete(proxy)


@pytest.fixture
def proxy_server(shared_proxy_server: ProxyThread) -> Iterator[ProxyThread]:
    """The module's embedded proxy server (seed 1234), with no proxies before and
    after the test (a proxy's connections count from 1 again)."""
    yield shared_proxy_server
    shared_proxy_server.run(_delete_every_proxy(shared_proxy_server.server.proxies))


@pytest.fixture(scope="module")
def shared_api(shared_proxy_server: ProxyThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared_proxy_server.url, timeout=10) as client:
        yield client


@pytest.fixture
def api(shared_api: httpx.Client, proxy_server: ProxyThread) -> httpx.Client:
    """An httpx client on the module's proxy server."""
    return shared_api


@pytest.fixture(scope="module")
def echo_server() -> Iterator[tuple[str, int]]:
    """A threaded TCP echo server on loopback, shared by the module."""
    server = TcpServer(("127.0.0.1", 0), EchoHandler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield server.server_address[0], server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def echo_upstream(echo_server: tuple[str, int]) -> str:
    host, port = echo_server
    return f"{host}:{port}"
