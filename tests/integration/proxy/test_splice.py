"""The zero-copy pass-through (chaoskit/proxy/splice.py) on real loopback sockets.

A link with no toxic moves to splice(2) after its first large read. These tests
drive links into that mode (and check they got there), then compare every
byte, hand over to a toxic and back, half-close, reset, and count fds.
"""

from __future__ import annotations

import hashlib
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chaoskit.proxy.splice import SPLICE_AVAILABLE
from tests.integration.proxy.conftest import ProxyThread, TcpServer

pytestmark = pytest.mark.skipif(not SPLICE_AVAILABLE, reason="splice(2) is Linux only")

MiB = 1024 * 1024


def _block(seed: int, size: int = MiB) -> bytes:
    """Deterministic bytes that differ from one block to the next (order shows)."""
    return hashlib.sha256(str(seed).encode()).digest() * (size // 32)


class BulkEcho(socketserver.BaseRequestHandler):
    """Echo in large reads, so the proxy's reads of the echo are large too."""

    def handle(self) -> None:
        sock: socket.socket = self.request
        try:
            while data := sock.recv(MiB):
                sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            return


class HashThenSend(socketserver.BaseRequestHandler):
    """Read to EOF, answer with the SHA-256 of what came, then 8 MiB, then close."""

    def handle(self) -> None:
        sock: socket.socket = self.request
        digest = hashlib.sha256()
        try:
            while data := sock.recv(MiB):
                digest.update(data)
            sock.sendall(digest.digest())
            for i in range(8):
                sock.sendall(_block(i))
        except OSError:
            return


def _serve(handler: type[socketserver.BaseRequestHandler]) -> Iterator[str]:
    server = TcpServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def bulk_echo() -> Iterator[str]:
    yield from _serve(BulkEcho)


@pytest.fixture(scope="module")
def hash_then_send() -> Iterator[str]:
    yield from _serve(HashThenSend)


def make_proxy(api: httpx.Client, upstream: str) -> tuple[str, int]:
    reply = api.post("/proxies", json={"name": "p", "upstream": upstream})
    assert reply.status_code == 201, reply.text
    host, port = reply.json()["listen"].rsplit(":", 1)
    return host, int(port)


def splicing(server: ProxyThread) -> list[tuple[bool, bool]]:
    """For each live connection of proxy ``p``: (upstream, downstream) splicing."""

    async def look() -> list[tuple[bool, bool]]:
        proxy = server.server.proxies.proxies["p"]
        return [
            (c.up.splice is not None, c.down.splice is not None)
            for c in proxy.connections.values()
        ]

    return server.run(look())


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    parts = []
    while n > 0:
        chunk = sock.recv(min(n, MiB))
        assert chunk, "connection closed early"
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def echo_until_spliced(server: ProxyThread, sock: socket.socket) -> int:
    """Echo 1 MiB blocks until both links splice; the number of blocks sent."""
    for i in range(64):  # bounded: the first large read each way switches
        sock.sendall(_block(i))
        assert recv_exactly(sock, MiB) == _block(i)
        if splicing(server) == [(True, True)]:
            return i + 1
    pytest.fail(f"the links never moved to splice: {splicing(server)}")


class Sender(threading.Thread):
    """Sends blocks ``first..first+count-1``; what it sent is hashed."""

    def __init__(self, sock: socket.socket, first: int, count: int) -> None:
        super().__init__(daemon=True)
        self.sock, self.first, self.count = sock, first, count
        self.digest = hashlib.sha256()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for i in range(self.first, self.first + self.count):
                block = _block(i)
                self.sock.sendall(block)
                self.digest.update(block)
        except BaseException as exc:  # reported by the test
            self.error = exc


def receive_hashed(sock: socket.socket, n: int) -> str:
    digest = hashlib.sha256()
    while n > 0:
        chunk = sock.recv(min(n, MiB))
        assert chunk, f"connection closed with {n} bytes missing"
        digest.update(chunk)
        n -= len(chunk)
    return digest.hexdigest()


def records(api: httpx.Client) -> list[dict[str, object]]:
    reply = api.get("/chaoskit/proxies/p/connections")
    conns: list[dict[str, object]] = reply.json()["connections"]
    return conns


def wait_for(predicate: object, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_bulk_both_ways_arrives_intact(proxy_server, api, bulk_echo):
    """64 MiB echoed through two splicing links: same bytes, same order, counted."""
    addr = make_proxy(api, bulk_echo)
    with socket.create_connection(addr, timeout=20) as sock:
        warm = echo_until_spliced(proxy_server, sock)
        sender = Sender(sock, 100, 64)
        sender.start()
        got = receive_hashed(sock, 64 * MiB)
        sender.join(timeout=30)
        assert sender.error is None
        assert got == sender.digest.hexdigest()
        assert splicing(proxy_server) == [(True, True)]
    wait_for(lambda: records(api)[-1]["end"] is not None, "the connection to close")
    record = records(api)[-1]
    assert record["bytes_up"] == record["bytes_down"] == (warm + 64) * MiB
    assert record["first_byte_up_ns"] is not None
    assert record["first_byte_down_ns"] is not None


def test_a_toxic_added_mid_transfer_takes_over_and_hands_back(
    proxy_server, api, bulk_echo
):
    """Latency added while bytes stream through splicing links applies at once
    (a round trip pays it), no byte is lost or reordered across the hand-overs,
    and once the toxic is gone the link splices again."""
    addr = make_proxy(api, bulk_echo)
    with socket.create_connection(addr, timeout=20) as sock:
        echo_until_spliced(proxy_server, sock)
        sender = Sender(sock, 200, 48)
        sender.start()
        digest = hashlib.sha256()
        for phase in range(3):
            chunk = recv_exactly(sock, 16 * MiB)  # the stream is flowing meanwhile
            digest.update(chunk)
            if phase == 0:
                reply = api.post(
                    "/proxies/p/toxics",
                    json={
                        "name": "slow",
                        "type": "latency",
                        "stream": "downstream",
                        "attributes": {"latency": 100},
                    },
                )
                assert reply.status_code == 200, reply.text
                assert splicing(proxy_server) == [(True, False)]
            elif phase == 1:
                assert api.delete("/proxies/p/toxics/slow").status_code == 204
        sender.join(timeout=30)
        assert sender.error is None
        assert digest.hexdigest() == sender.digest.hexdigest()
        # The latency toxic was on for the middle third: a round trip paid it.
        api.post(
            "/proxies/p/toxics",
            json={
                "name": "slow",
                "type": "latency",
                "stream": "downstream",
                "attributes": {"latency": 100},
            },
        )
        started = time.monotonic()
        sock.sendall(b"ping")
        assert recv_exactly(sock, 4) == b"ping"
        assert time.monotonic() - started >= 0.100
        assert api.delete("/proxies/p/toxics/slow").status_code == 204
        # Without a toxic, the next large read moves the link back to splice.
        echo_until_spliced(proxy_server, sock)


def pipe_held(server: ProxyThread) -> int:
    """Bytes in the downstream pipe of proxy ``p``'s only connection."""

    async def look() -> int:
        (conn,) = server.server.proxies.proxies["p"].connections.values()
        return conn.down.splice.held if conn.down.splice is not None else -1

    return server.run(look())


def test_bytes_in_the_pipe_go_through_a_toxic_added_then(proxy_server, api):
    """A slow reader leaves bytes in the pipe; a toxic added then takes them
    over, in order, and the bytes read after it pay its latency."""
    ready = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    blob = b"".join(_block(i) for i in range(16))

    def upstream() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(blob)
            ready.wait(20)
            conn.sendall(b"!")
            conn.recv(1)

    thread = threading.Thread(target=upstream, daemon=True)
    thread.start()
    try:
        addr = make_proxy(api, f"127.0.0.1:{port}")
        with socket.create_connection(addr, timeout=20) as sock:
            # Not reading yet: the proxy's writes block with bytes in its pipe.
            wait_for(lambda: pipe_held(proxy_server) > 0, "bytes held in the pipe")
            reply = api.post(
                "/proxies/p/toxics",
                json={"type": "latency", "attributes": {"latency": 100}},
            )
            assert reply.status_code == 200
            added = time.monotonic()
            assert splicing(proxy_server) == [(False, False)]
            assert recv_exactly(sock, len(blob)) == blob
            ready.set()
            assert recv_exactly(sock, 1) == b"!"
            # The last byte was read after the toxic came: it waited 100 ms.
            assert time.monotonic() - added >= 0.100
    finally:
        ready.set()
        thread.join(timeout=10)
        listener.close()


def test_half_close_and_eof_pass_through_splicing_links(
    proxy_server, api, hash_then_send
):
    """The client's EOF reaches the upstream behind its 24 MiB, the upstream's
    reply and EOF come back whole: half-close works in splice mode both ways."""
    addr = make_proxy(api, hash_then_send)
    with socket.create_connection(addr, timeout=20) as sock:
        sender = Sender(sock, 0, 24)
        sender.run()  # in this thread: the upstream answers only after EOF
        assert sender.error is None
        assert splicing(proxy_server) == [(True, False)]
        sock.shutdown(socket.SHUT_WR)
        assert recv_exactly(sock, 32) == sender.digest.digest()
        rest = b"".join(iter(lambda: sock.recv(MiB), b""))
        assert rest == b"".join(_block(i) for i in range(8))
    wait_for(lambda: records(api)[-1]["end"] is not None, "the connection to close")
    assert records(api)[-1]["end"] == "client_close"


def test_client_reset_mid_transfer_is_recorded_as_a_reset(proxy_server, api, bulk_echo):
    addr = make_proxy(api, bulk_echo)
    sock = socket.create_connection(addr, timeout=20)
    echo_until_spliced(proxy_server, sock)
    sock.sendall(_block(7, 4 * MiB))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # RST
    wait_for(lambda: records(api)[-1]["end"] is not None, "the connection to close")
    assert records(api)[-1]["end"] == "reset"


def test_many_connections_at_once_keep_their_bytes(proxy_server, api, bulk_echo):
    """16 connections each echo 8 MiB side by side; each gets its own bytes."""
    addr = make_proxy(api, bulk_echo)
    results: dict[int, bool] = {}

    def one(n: int) -> None:
        with socket.create_connection(addr, timeout=30) as sock:
            sender = Sender(sock, 1000 * n, 8)
            sender.start()
            got = receive_hashed(sock, 8 * MiB)
            sender.join(timeout=30)
            results[n] = sender.error is None and got == sender.digest.hexdigest()

    threads = [threading.Thread(target=one, args=(n,), daemon=True) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == dict.fromkeys(range(16), True)


def _open_fds() -> int:
    """Pipes and epoll sets open in this process (the proxy runs in a thread
    here): what a splicing link opens. Sockets are left out, as the API
    client's keep-alive connections come and go."""
    kinds = ("pipe:", "anon_inode:[eventpoll]")
    count = 0
    for fd in Path("/proc/self/fd").iterdir():
        try:
            count += str(fd.readlink()).startswith(kinds)
        except OSError:  # closed meanwhile (the listing's own fd, for one)
            continue
    return count


def test_no_fd_is_left_behind(proxy_server, api, bulk_echo):
    """Pipes and epoll sets of splicing links are closed with their connection,
    whether it ends by EOF, by a reset or by a toxic's hand-over."""
    addr = make_proxy(api, bulk_echo)
    wait_for(lambda: not splicing(proxy_server), "no connection")
    before = _open_fds()
    for how in ("eof", "reset", "toxic"):
        sock = socket.create_connection(addr, timeout=20)
        echo_until_spliced(proxy_server, sock)
        if how == "eof":
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(MiB):
                pass
        elif how == "reset":
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
        else:
            api.post("/proxies/p/toxics", json={"type": "noop", "stream": "upstream"})
            assert splicing(proxy_server) == [(False, True)]
            api.delete("/proxies/p/toxics/noop_upstream")
        sock.close()
    wait_for(lambda: not splicing(proxy_server), "the connections to close")
    # The echo server's threads close their sockets a moment later.
    wait_for(lambda: _open_fds() <= before, f"fds back to {before}")
    assert _open_fds() == before


@pytest.fixture(scope="module")
def busy_poll_server() -> Iterator[ProxyThread]:
    from chaoskit.proxy.server import ProxyServerConfig

    config = ProxyServerConfig(port=0, seed=1, busy_poll_us=100)
    with ProxyThread(config) as server:
        yield server


def test_busy_poll_keeps_copying(busy_poll_server, bulk_echo):
    """The busy-poll spin watches the transports' reads: no splice with it."""
    with httpx.Client(base_url=busy_poll_server.url, timeout=10) as client:
        addr = make_proxy(client, bulk_echo)
        with socket.create_connection(addr, timeout=20) as sock:
            for i in range(8):
                sock.sendall(_block(i))
                assert recv_exactly(sock, MiB) == _block(i)
            assert splicing(busy_poll_server) == [(False, False)]
