"""Toxic behaviour on real loopback connections through the embedded proxy.

Timing tolerances: lower bounds are exact (a toxic never delivers early); upper
bounds are generous because these 2-core machines are shared and noisy, and a
scheduler hiccup of 100+ ms is not a bug in the proxy.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from chaoskit.proxy.server import ProxyServerConfig
from tests.integration.proxy.conftest import ProxyThread

# Upper-bound slack for a single timed operation on a busy CI machine.
SLACK = 0.25


@pytest.fixture(scope="module", params=[0, 200], ids=["sleep", "busy-poll"])
def shared_proxy_server(request: pytest.FixtureRequest) -> Iterator[ProxyThread]:
    """Every toxic test runs twice: as the proxy runs by default, and with
    ``--busy-poll-us 200``, whose spin must change nothing a toxic does."""
    config = ProxyServerConfig(
        port=0, seed=1234, log_capacity=1000, busy_poll_us=request.param
    )
    with ProxyThread(config) as server:
        yield server


def make_proxy(api: httpx.Client, upstream: str, name: str = "p") -> tuple[str, int]:
    reply = api.post("/proxies", json={"name": name, "upstream": upstream})
    assert reply.status_code == 201, reply.text
    host, port = reply.json()["listen"].rsplit(":", 1)
    return host, int(port)


def add_toxic(
    api: httpx.Client, toxic_type: str, proxy: str = "p", **fields: object
) -> None:
    reply = api.post(f"/proxies/{proxy}/toxics", json={"type": toxic_type, **fields})
    assert reply.status_code == 200, reply.text


def connect(addr: tuple[str, int], timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(addr, timeout=timeout)


def round_trip(sock: socket.socket, payload: bytes = b"ping") -> float:
    """Seconds for ``payload`` to come back from the echo upstream."""
    started = time.monotonic()
    sock.sendall(payload)
    received = b""
    while len(received) < len(payload):
        chunk = sock.recv(65536)
        assert chunk, "connection closed before the echo came back"
        received += chunk
    assert received == payload
    return time.monotonic() - started


def best_of_two(sock: socket.socket) -> float:
    """The faster of two round trips: a scheduling hiccup only ever adds time,
    so this bounds from above what the proxy itself does."""
    return min(round_trip(sock), round_trip(sock))


def recv_all(sock: socket.socket) -> bytes:
    """Everything until EOF."""
    parts = []
    while chunk := sock.recv(65536):
        parts.append(chunk)
    return b"".join(parts)


class TestLatency:
    @pytest.mark.parametrize("stream", ["upstream", "downstream"])
    def test_latency_delays_one_way(self, api, echo_upstream, stream):
        """A 100 ms toxic on either stream delays a round trip by at least 100 ms."""
        addr = make_proxy(api, echo_upstream)
        add_toxic(api, "latency", stream=stream, attributes={"latency": 100})
        with connect(addr) as sock:
            elapsed = round_trip(sock)
        assert 0.100 <= elapsed < 0.100 + SLACK

    def test_latency_on_both_streams_adds_up(self, api, echo_upstream):
        """Upstream and downstream latency are each paid once per round trip."""
        addr = make_proxy(api, echo_upstream)
        add_toxic(api, "latency", stream="upstream", attributes={"latency": 100})
        add_toxic(api, "latency", stream="downstream", attributes={"latency": 100})
        with connect(addr) as sock:
            elapsed = round_trip(sock)
        assert 0.200 <= elapsed < 0.200 + SLACK

    def test_stacked_latency_toxics_add_up(self, api, echo_upstream):
        """Two latency toxics on one stream delay by their sum."""
        addr = make_proxy(api, echo_upstream)
        add_toxic(api, "latency", name="a", attributes={"latency": 80})
        add_toxic(api, "latency", name="b", attributes={"latency": 120})
        with connect(addr) as sock:
            elapsed = round_trip(sock)
        assert 0.200 <= elapsed < 0.200 + SLACK

    def test_jitter_stays_within_its_bounds(self, api, echo_upstream):
        """Each delay is latency + U[-jitter, jitter): never below latency - jitter."""
        addr = make_proxy(api, echo_upstream)
        add_toxic(api, "latency", attributes={"latency": 60, "jitter": 40})
        with connect(addr) as sock:
            times = [round_trip(sock) for _ in range(8)]
        assert all(0.020 <= t < 0.100 + SLACK for t in times), times
        assert max(times) - min(times) > 0.005, "jitter should vary the delay"

    def test_toxic_added_to_a_live_connection_applies_to_it(self, api, echo_upstream):
        """Toxics take effect on connections that are already open."""
        addr = make_proxy(api, echo_upstream)
        with connect(addr) as sock:
            assert best_of_two(sock) < 0.150
            add_toxic(api, "latency", attributes={"latency": 150})
            assert round_trip(sock) >= 0.150
            api.post(
                "/proxies/p/toxics/latency_downstream",
                json={"attributes": {"latency": 50}},
            )
            assert 0.050 <= best_of_two(sock) < 0.150
            assert api.delete("/proxies/p/toxics/latency_downstream").status_code == 204
            assert round_trip(sock) < 0.05 + SLACK

    def test_removing_latency_flushes_held_data_at_once(self, api, echo_upstream):
        """Data held by a removed latency toxic is delivered, not dropped."""
        addr = make_proxy(api, echo_upstream)
        add_toxic(api, "latency", attributes={"latency": 5000})
        with connect(addr) as sock:
            sock.sendall(b"held")
            time.sleep(0.1)
            started = time.monotonic()
            api.delete("/proxies/p/toxics/latency_downstream")
            assert sock.recv(100) == b"held"
            assert time.monotonic() - started < 1.0


class TestBandwidth:
    def test_bandwidth_limits_the_rate(self, api, echo_upstream):
        """100 KB at 500 KB/s takes at least 200 ms."""
        addr = make_proxy(api, echo_upstream)
        add_toxic(api, "bandwidth", attributes={"rate": 500})
        payload = bytes(range(256)) * 400  # 102,400 bytes
        with connect(addr) as sock:
            elapsed = round_trip(sock, payload)
        assert 0.2048 * 0.97 <= elapsed < 0.2048 + 4 * SLACK

    def test_rate_zero_stalls_until_removed_then_flushes(self, api, echo_upstream):
        """rate 0 holds the stream (a stall); removing the toxic delivers it all."""
        addr = make_proxy(api, echo_upstream)
        add_toxic(api, "bandwidth", attributes={"rate": 0})
        with connect(addr, timeout=0.3) as sock:
            sock.sendall(b"stalled")
            with pytest.raises(TimeoutError):
                sock.recv(100)
            api.delete("/proxies/p/toxics/bandwidth_downstream")
            sock.settimeout(5)
            assert sock.recv(100) == b"stalled"

    def test_negative_rate_is_refused(self, api, echo_upstream):
        """Toxiproxy panics on a negative rate; we answer 400."""
        make_proxy(api, echo_upstream)
        reply = api.post(
            "/proxies/p/toxics", json={"type": "bandwidth", "attributes": {"rate": -1}}
        )
        assert reply.status_code == 400
        assert "rate" in reply.json()["error"]


class TestTimeout:
    def test_timeout_drops_data_then_closes(self, api, echo_upstream):
        """With timeout > 0, data is dropped and the connection closes when idle."""
        addr = make_proxy(api, echo_upstream)
        add_toxic(api, "timeout", stream="upstream", attributes={"timeout": 150})
        with connect(addr) as sock:
            started = time.monotonic()
            sock.sendall(b"lost")
            assert recv_all(sock) == b""
            elapsed = time.monotonic() - started
        assert 0.150 <= elapsed < 0.150 + SLACK

    def test_timeout_zero_holds_until_removed_then_closes(self, api, echo_upstream):
        """timeout 0 never closes by itself; removing it closes the connection."""
        addr = make_proxy(api, echo_upstream)
        add_toxic(api, "timeout", attributes={"timeout": 0})
        with connect(addr, timeout=0.3) as sock:
            sock.sendall(b"lost")
            with pytest.raises(TimeoutError):
                sock.recv(100)
            api.delete("/proxies/p/toxics/timeout_downstream")
            sock.settimeout(5)
            assert recv_all(sock) == b""


class TestResetPeer:
    @pytest.mark.parametrize("stream", ["upstream", "downstream"])
    def test_reset_peer_resets_after_timeout(self, api, echo_upstream, stream):
        """The client gets ECONNRESET about `timeout` ms after data flows."""
        addr = make_proxy(api, echo_upstream)
        add_toxic(api, "reset_peer", stream=stream, attributes={"timeout": 100})
        with connect(addr) as sock:
            started = time.monotonic()
            sock.sendall(b"boom")
            with pytest.raises(ConnectionResetError):
                sock.recv(100)
            elapsed = time.monotonic() - started
        assert 0.100 <= elapsed < 0.100 + SLACK

    def test_reset_peer_on_a_live_connection_resets_too(self, api, echo_upstream):
        """Unlike Toxiproxy (plain FIN), a late reset_peer still sends RST."""
        addr = make_proxy(api, echo_upstream)
        with connect(addr) as sock:
            round_trip(sock)
            add_toxic(api, "reset_peer", attributes={"timeout": 0})
            sock.sendall(b"boom")
            with pytest.raises(ConnectionResetError):
                sock.recv(100)


class TestLimitData:
    def test_limit_data_closes_after_n_bytes(self, api, echo_upstream):
        """Exactly `bytes` bytes pass, the crossing chunk truncated, then EOF."""
        addr = make_proxy(api, echo_upstream)
        add_toxic(api, "limit_data", attributes={"bytes": 10})
        with connect(addr) as sock:
            sock.sendall(b"0123456789abcdef")
            assert recv_all(sock) == b"0123456789"

    def test_limit_zero_closes_on_first_data(self, api, echo_upstream):
        """bytes = 0: nothing passes; the close comes with the first chunk."""
        addr = make_proxy(api, echo_upstream)
        add_toxic(api, "limit_data", stream="upstream", attributes={"bytes": 0})
        with connect(addr) as sock:
            sock.sendall(b"x")
            assert recv_all(sock) == b""


class TestSlicerAndSlowClose:
    def test_slicer_splits_into_small_pieces_in_order(self, api, echo_upstream):
        """24 bytes at average 1 arrive as many reads, intact and in order."""
        addr = make_proxy(api, echo_upstream)
        add_toxic(
            api,
            "slicer",
            attributes={"average_size": 1, "size_variation": 0, "delay": 3000},
        )
        payload = b"abcdefghijklmnopqrstuvwx"
        with connect(addr) as sock:
            sock.sendall(payload)
            reads = []
            while sum(map(len, reads)) < len(payload):
                reads.append(sock.recv(100))
        assert b"".join(reads) == payload
        # A 3 ms pause between one-byte pieces: the client sees many separate reads.
        assert len(reads) >= 8

    def test_slow_close_delays_the_close(self, api, echo_upstream):
        """The upstream's close reaches the client only after `delay` ms."""
        addr = make_proxy(api, echo_upstream)
        add_toxic(api, "slow_close", attributes={"delay": 200})
        with connect(addr) as sock:
            round_trip(sock)
            started = time.monotonic()
            sock.shutdown(socket.SHUT_WR)  # the echo server then closes its side
            assert recv_all(sock) == b""
            elapsed = time.monotonic() - started
        assert 0.200 <= elapsed < 0.200 + SLACK


class TestToxicity:
    def test_toxicity_zero_has_no_effect(self, api, echo_upstream):
        """toxicity 0 never applies (Toxiproxy's reset_peer still sets RST)."""
        addr = make_proxy(api, echo_upstream)
        add_toxic(api, "latency", toxicity=0.0, attributes={"latency": 1000})
        add_toxic(api, "reset_peer", toxicity=0.0, attributes={"timeout": 0})
        with connect(addr) as sock:
            assert round_trip(sock) < 0.5

    def test_toxicity_rolls_are_per_connection_and_seeded(self, echo_upstream):
        """Same seed, same connections hit; the roll is once per connection."""
        hits = []
        for _ in range(2):
            with (
                ProxyThread_for_seed(99) as server,
                httpx.Client(base_url=server.url) as api,
            ):
                addr = make_proxy(api, echo_upstream)
                add_toxic(api, "latency", toxicity=0.5, attributes={"latency": 1})
                for _ in range(16):
                    with connect(addr) as sock:
                        round_trip(sock)
                log = api.get("/chaoskit/proxies/p/connections").json()["connections"]
                hits.append(
                    [bool(rec["toxics"]) for rec in sorted(log, key=lambda r: r["id"])]
                )
        assert hits[0] == hits[1]
        assert 2 <= sum(hits[0]) <= 14  # about half, and not all or nothing


def ProxyThread_for_seed(seed: int) -> ProxyThread:
    return ProxyThread(ProxyServerConfig(port=0, seed=seed))


class TestProxyState:
    def test_disable_drops_live_connections_and_refuses_new(self, api, echo_upstream):
        """Disabled: live connections closed, new ones refused; enable rebinds."""
        addr = make_proxy(api, echo_upstream)
        with connect(addr) as sock:
            round_trip(sock)
            api.post("/proxies/p", json={"enabled": False})
            # A close with unread data may arrive as a reset: dropped all the same.
            with contextlib.suppress(ConnectionResetError):
                assert recv_all(sock) == b""
        with pytest.raises(ConnectionRefusedError):
            connect(addr)
        api.post("/proxies/p", json={"enabled": True})
        with connect(addr) as sock:
            round_trip(sock)

    def test_half_close_is_passed_on(self, api, echo_upstream):
        """A client that shuts down its write side still gets the reply."""
        addr = make_proxy(api, echo_upstream)
        with connect(addr) as sock:
            sock.sendall(b"request")
            sock.shutdown(socket.SHUT_WR)
            assert recv_all(sock) == b"request"

    def test_unreachable_upstream_resets_the_client(self, api):
        """No upstream listening: the client sees a reset, and the log says why."""
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            dead = unused.getsockname()[1]
        addr = make_proxy(api, f"127.0.0.1:{dead}")
        # The reset may even beat connect() back to the client: a reset either way.
        with pytest.raises(ConnectionResetError), connect(addr) as sock:  # noqa: PT012
            sock.sendall(b"x")
            sock.recv(10)
        records = api.get("/chaoskit/proxies/p/connections").json()["connections"]
        assert records[-1]["end"] == "upstream_unreachable"
        assert "refused" in records[-1]["error"]


def test_no_data_lost_or_reordered_while_toxics_churn(api, echo_upstream):
    """2 MB echoed intact while latency, slicer and noop toxics come and go."""
    addr = make_proxy(api, echo_upstream)
    payload = bytes(i % 251 for i in range(2_000_000))
    received = bytearray()
    sending = threading.Event()
    done = threading.Event()
    cycles_while_sending = 0

    def churn() -> None:
        nonlocal cycles_while_sending
        attrs = {
            "latency": {"latency": 2, "jitter": 1},
            "slicer": {"average_size": 512},
        }
        with httpx.Client(base_url=api.base_url, timeout=10) as client:
            for i in range(400):  # bounded, whatever happens
                if done.is_set():
                    return
                kind = ("latency", "slicer", "noop")[i % 3]
                toxic = {
                    "name": f"t{i}",
                    "type": kind,
                    "stream": ("upstream", "downstream")[i % 2],
                    "attributes": attrs.get(kind, {}),
                }
                assert client.post("/proxies/p/toxics", json=toxic).status_code == 200
                time.sleep(0.003)
                assert client.delete(f"/proxies/p/toxics/t{i}").status_code == 204
                cycles_while_sending += sending.is_set()

    def read() -> None:
        while len(received) < len(payload):
            chunk = sock.recv(65536)
            if not chunk:
                return
            received.extend(chunk)

    with connect(addr, timeout=20) as sock:
        churner = threading.Thread(target=churn)
        reader = threading.Thread(target=read)
        churner.start()
        reader.start()
        sending.set()
        for offset in range(0, len(payload), 8192):
            sock.sendall(payload[offset : offset + 8192])
            time.sleep(0.001)  # pace the sender so the churn overlaps the stream
        sending.clear()
        reader.join(timeout=30)
        done.set()
        churner.join(timeout=30)
    assert cycles_while_sending >= 10, "the churn should overlap the transfer"
    assert len(received) == len(payload)
    assert bytes(received) == payload


class TestDeviations:
    """Behaviours where we differ from Toxiproxy on purpose (README: Deviations)."""

    def test_removing_timeout_spares_connections_it_never_hit(self, api, echo_upstream):
        """Only connections where the timeout toxic won its roll are closed."""
        addr = make_proxy(api, echo_upstream)
        add_toxic(api, "timeout", toxicity=0.0, attributes={"timeout": 0})
        with connect(addr) as sock:
            round_trip(sock)
            api.delete("/proxies/p/toxics/timeout_downstream")
            round_trip(sock)  # still open, still echoing

    def test_chain_changes_do_not_reroll_other_toxics(self, api, echo_upstream):
        """Adding a toxic after a 50%-toxicity one keeps each connection's fate."""
        addr = make_proxy(api, echo_upstream)
        add_toxic(api, "latency", toxicity=0.5, attributes={"latency": 80})
        socks = [connect(addr) for _ in range(8)]
        try:
            before = [best_of_two(s) >= 0.080 for s in socks]
            add_toxic(api, "noop", name="after")
            assert api.delete("/proxies/p/toxics/after").status_code == 204
            after = [best_of_two(s) >= 0.080 for s in socks]
        finally:
            for sock in socks:
                sock.close()
        assert before == after
        assert any(before)
        assert not all(before)


def test_a_server_that_speaks_first_goes_through_the_toxics(api):
    """An upstream greeting (SMTP, MySQL style) is sent as soon as it connects:
    it must still wait for the chain to be built and pass the downstream toxic."""
    greeter = socket.socket()
    greeter.bind(("127.0.0.1", 0))
    greeter.listen()
    stop = threading.Event()

    def greet() -> None:
        greeter.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = greeter.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"220 hello\r\n")
                conn.settimeout(5)
                with contextlib.suppress(OSError):
                    conn.recv(10)

    thread = threading.Thread(target=greet)
    thread.start()
    try:
        addr = make_proxy(api, f"127.0.0.1:{greeter.getsockname()[1]}")
        add_toxic(api, "latency", attributes={"latency": 100})
        for _ in range(5):  # the race needed luck to show: try it a few times
            # Timed from before connect(): the greeting may reach the proxy
            # before connect() has even returned here.
            started = time.monotonic()
            with connect(addr) as sock:
                assert sock.recv(100) == b"220 hello\r\n"
                assert time.monotonic() - started >= 0.100
    finally:
        stop.set()
        thread.join(timeout=5)
        greeter.close()
