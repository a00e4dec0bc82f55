"""``protocol = "http"`` proxies: requests seen, HTTP faults, the request log.

Real sockets, a real HTTP/1.1 upstream (keep-alive, chunked), real clients
(httpx, a tenacity-retrying client, raw sockets for pipelining and non-HTTP).
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import tenacity

from tests.integration.proxy.conftest import ProxyThread


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _send(
        self, status: int, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.startswith("/chunked"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(20):
                piece = f"piece {i};".encode() * 50
                self.wfile.write(b"%x\r\n%b\r\n" % (len(piece), piece))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            return
        if self.path.startswith("/big"):
            self._send(200, b"x" * 200_000)
            return
        self._send(200, f"ok {self.path}".encode(), {"X-Upstream": "yes"})

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "1234")
        self.end_headers()

    def do_POST(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._send(200, b"echo:" + body)


@pytest.fixture(scope="module")
def http_upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}
    )
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def route(api: httpx.Client, http_upstream: str) -> str:
    """An http proxy in front of the upstream; its base URL."""
    created = api.post("/proxies", json={"name": "web", "upstream": http_upstream})
    assert created.status_code == 201
    set_http = api.post("/chaoskit/proxies/web/http", json={"protocol": "http"})
    assert set_http.json()["protocol"] == "http"
    return f"http://{created.json()['listen']}"


def _fault(api: httpx.Client, **body: object) -> dict[str, object]:
    answer = api.post("/chaoskit/proxies/web/http_faults", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def _requests(api: httpx.Client) -> list[dict[str, object]]:
    return api.get("/chaoskit/proxies/web/requests").json()["requests"]  # type: ignore[no-any-return]


def _wait_logged(api: httpx.Client, count: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + 5
    while True:
        records = [r for r in _requests(api) if r["outcome"] is not None]
        if len(records) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.02)


def test_keep_alive_requests_pass_and_are_logged(api: httpx.Client, route: str) -> None:
    with httpx.Client(base_url=route, timeout=5) as client:
        for i in range(10):
            answer = client.get(f"/items/{i}", headers={"X-Request-Id": f"r{i}"})
            assert answer.status_code == 200
            assert answer.text == f"ok /items/{i}"
    records = _wait_logged(api, 10)
    assert [r["path"] for r in records] == [f"/items/{i}" for i in range(10)]
    assert {r["connection"] for r in records} == {1}  # one keep-alive connection
    assert [r["request_id"] for r in records] == [f"r{i}" for i in range(10)]
    first = records[0]
    assert first["method"] == "GET"
    assert first["status"] == 200
    assert first["fault"] is None
    assert first["outcome"] == "answered"
    assert first["client"].startswith("127.0.0.1:")
    assert first["start_ns"] <= first["response_ns"] <= first["end_ns"]


def test_chunked_responses_and_requests_pass_intact(
    api: httpx.Client, route: str
) -> None:
    expected = b"".join(f"piece {i};".encode() * 50 for i in range(20))
    with httpx.Client(base_url=route, timeout=5) as client:
        assert client.get("/chunked").content == expected
        assert len(client.get("/big").content) == 200_000

        def parts() -> Iterator[bytes]:
            yield b"hello "
            yield b"chunked "
            yield b"world"

        answer = client.post("/echo", content=parts())
        assert answer.content == b"echo:hello chunked world"
        assert client.head("/anything").headers["content-length"] == "1234"
        assert client.get("/after-head").text == "ok /after-head"


def test_first_two_503_then_tenacity_client_succeeds_on_attempt_3(
    api: httpx.Client, route: str
) -> None:
    _fault(
        api,
        name="flaky",
        type="status",
        status=503,
        first=2,
        headers={"Retry-After": "0"},
        body="try later",
    )
    attempts: list[int] = []

    @tenacity.retry(
        stop=tenacity.stop_after_attempt(5),
        wait=tenacity.wait_exponential(multiplier=0.01),
        retry=tenacity.retry_if_result(lambda r: r.status_code >= 500),
    )
    def call(client: httpx.Client) -> httpx.Response:
        answer = client.get("/recommendations", headers={"X-Request-Id": "job-1"})
        attempts.append(answer.status_code)
        return answer

    with httpx.Client(base_url=route, timeout=5) as client:
        final = call(client)
    assert final.status_code == 200
    assert attempts == [503, 503, 200]
    records = _wait_logged(api, 3)
    assert [(r["status"], r["fault"]) for r in records] == [
        (503, "flaky"),
        (503, "flaky"),
        (200, None),
    ]
    assert {r["request_id"] for r in records} == {"job-1"}
    listed = api.get("/chaoskit/proxies/web/http_faults").json()
    assert listed[0]["matched"] == 3
    assert listed[0]["applied"] == 2


def test_path_and_method_match_only_hit_matched_requests(
    api: httpx.Client, route: str
) -> None:
    _fault(
        api,
        name="pay",
        type="status",
        status=500,
        match={"method": "POST", "path": "^/payments"},
    )
    with httpx.Client(base_url=route, timeout=5) as client:
        assert client.post("/payments", content=b"1").status_code == 500
        assert client.get("/payments").status_code == 200
        assert client.post("/orders", content=b"1").status_code == 200
        assert client.post("/payments/2", content=b"2").status_code == 500
    records = _wait_logged(api, 4)
    assert [r["fault"] for r in records] == ["pay", None, None, "pay"]


def test_header_match_every_and_toxicity_are_seeded(
    api: httpx.Client, route: str
) -> None:
    _fault(
        api,
        name="tenant",
        type="status",
        status=502,
        every=2,
        match={"headers": {"X-Tenant": "^blue$"}},
    )
    with httpx.Client(base_url=route, timeout=5) as client:
        blue = [
            client.get("/", headers={"X-Tenant": "blue"}).status_code for _ in range(4)
        ]
        red = [
            client.get("/", headers={"X-Tenant": "red"}).status_code for _ in range(2)
        ]
    assert blue == [200, 502, 200, 502]
    assert red == [200, 200]


def test_toxicity_rolls_repeat_with_the_seed(api: httpx.Client, route: str) -> None:
    def rolls() -> list[int]:
        _fault(api, name="half", type="status", status=503, toxicity=0.5)
        with httpx.Client(base_url=route, timeout=5) as client:
            got = [client.get("/").status_code for _ in range(30)]
        api.delete("/chaoskit/proxies/web/http_faults/half")
        return got

    first, second = rolls(), rolls()
    assert first == second
    assert 0 < first.count(503) < 30


def test_throttle_answers_429_with_retry_after(api: httpx.Client, route: str) -> None:
    _fault(api, name="limit", type="throttle", rate=3, retry_after=2)
    with httpx.Client(base_url=route, timeout=5) as client:
        answers = [client.get("/") for _ in range(6)]
    statuses = [a.status_code for a in answers]
    assert statuses[:3] == [200, 200, 200]
    assert 429 in statuses[3:]
    throttled = next(a for a in answers if a.status_code == 429)
    assert throttled.headers["retry-after"] == "2"
    records = _wait_logged(api, 6)
    assert any(r["retry_after"] == "2" and r["fault"] == "limit" for r in records)


def test_delay_holds_the_request(api: httpx.Client, route: str) -> None:
    _fault(api, name="slow", type="delay", delay_ms=150, where="request")
    _fault(
        api,
        name="slowresp",
        type="delay",
        delay_ms=100,
        where="response",
        match={"path": "^/resp"},
    )
    with httpx.Client(base_url=route, timeout=5) as client:
        started = time.monotonic()
        assert client.get("/x").status_code == 200
        assert time.monotonic() - started >= 0.15  # a lower bound: never flaky
        started = time.monotonic()
        assert client.get("/resp").text == "ok /resp"
        assert time.monotonic() - started >= 0.25
    records = _wait_logged(api, 2)
    assert records[1]["delayed_by"] == ["slow", "slowresp"]


@pytest.mark.parametrize("mode", ["headers", "body", "reset"])
def test_abort_cuts_the_response(api: httpx.Client, route: str, mode: str) -> None:
    _fault(api, name="cut", type="abort", abort=mode, match={"path": "^/big"})
    with httpx.Client(base_url=route, timeout=5) as client:
        with pytest.raises(httpx.TransportError):
            client.get("/big")
        assert client.get("/fine").status_code == 200  # a new connection works
    records = _wait_logged(api, 2)
    cut = records[0]
    assert cut["fault"] == "cut"
    assert cut["outcome"] == ("reset" if mode == "reset" else "aborted")
    if mode != "reset":
        assert cut["status"] == 200  # the upstream answered; the client got less


def test_pipelined_requests_keep_their_order(api: httpx.Client, route: str) -> None:
    _fault(api, name="mid", type="status", status=418, match={"path": "^/two"})
    raw = b"".join(
        f"GET /{p} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        for p in ("one", "two", "three")
    )
    with socket.create_connection(
        ("127.0.0.1", int(route.rsplit(":", 1)[1])), timeout=5
    ) as sock:
        sock.sendall(raw)
        got = b""
        deadline = time.monotonic() + 5
        while b"ok /three" not in got and time.monotonic() < deadline:
            got += sock.recv(65536)
    order = re.findall(rb"HTTP/1\.1 (\d{3})", got)
    assert order == [b"200", b"418", b"200"]
    assert got.index(b"ok /one") < got.index(b"418") < got.index(b"ok /three")


def test_non_http_streams_pass_through_as_tcp(
    api: httpx.Client, proxy_server: ProxyThread, echo_upstream: str
) -> None:
    created = api.post(
        "/proxies", json={"name": "raw", "upstream": echo_upstream}
    ).json()
    api.post("/chaoskit/proxies/raw/http", json={"protocol": "http"})
    port = int(created["listen"].rsplit(":", 1)[1])
    for payload in (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"\x16\x03\x01\x00\x05hello"):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(payload)
            got = b""
            while len(got) < len(payload):
                got += sock.recv(65536)
        assert got == payload
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        conns = api.get("/chaoskit/proxies/raw/connections").json()["connections"]
        warnings = [c["warning"] for c in conns if c["warning"]]
        if len(warnings) >= 2:
            break
        time.sleep(0.02)
    assert any("HTTP/2" in w for w in warnings)
    assert any("TLS" in w for w in warnings)


def test_tcp_toxics_still_act_on_an_http_route(api: httpx.Client, route: str) -> None:
    api.post(
        "/proxies/web/toxics", json={"type": "latency", "attributes": {"latency": 100}}
    )
    with httpx.Client(base_url=route, timeout=5) as client:
        started = time.monotonic()
        assert client.get("/").status_code == 200
        assert time.monotonic() - started >= 0.1


def test_bad_fault_definitions_are_refused(api: httpx.Client, route: str) -> None:
    bad = api.post(
        "/chaoskit/proxies/web/http_faults", json={"name": "x", "type": "teapot"}
    )
    assert bad.status_code == 400
    assert "type" in bad.json()["error"]
    bad = api.post(
        "/chaoskit/proxies/web/http_faults",
        json={"name": "x", "type": "status", "match": {"path": "("}},
    )
    assert bad.status_code == 400
    assert "match.path" in bad.json()["error"]
    _fault(api, name="dup", type="status")
    again = api.post(
        "/chaoskit/proxies/web/http_faults", json={"name": "dup", "type": "status"}
    )
    assert again.status_code == 409
    assert api.delete("/chaoskit/proxies/web/http_faults/nope").status_code == 404
    api.post("/reset")
    assert api.get("/chaoskit/proxies/web/http_faults").json() == []


def test_a_tcp_proxy_refuses_http_faults(api: httpx.Client, http_upstream: str) -> None:
    api.post("/proxies", json={"name": "plain", "upstream": http_upstream})
    refused = api.post(
        "/chaoskit/proxies/plain/http_faults", json={"name": "x", "type": "status"}
    )
    assert refused.status_code == 409
    assert "not an http proxy" in refused.json()["error"]


def _raw_exchange(route: str, request: bytes, until: bytes) -> bytes:
    port = int(route.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        got = b""
        deadline = time.monotonic() + 5
        while until not in got and time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
        return got


def test_http_10_and_expect_continue_pass(api: httpx.Client, route: str) -> None:
    # HTTP/1.0: http.server answers and closes; the request is logged answered.
    got = _raw_exchange(route, b"GET /old HTTP/1.0\r\n\r\n", b"ok /old")
    assert got.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200"))
    assert got.endswith(b"ok /old")
    # Expect: 100-continue: the interim answer does not end the exchange.
    with httpx.Client(base_url=route, timeout=5) as client:
        answer = client.post(
            "/echo", content=b"x" * 10, headers={"Expect": "100-continue"}
        )
        assert answer.content == b"echo:" + b"x" * 10
        assert client.get("/next").text == "ok /next"
    records = _wait_logged(api, 3)
    assert [r["status"] for r in records] == [200, 200, 200]


def test_abort_mid_body_truncates_a_chunked_response(
    api: httpx.Client, route: str
) -> None:
    _fault(api, name="cut", type="abort", abort="body", match={"path": "^/chunked"})
    got = _raw_exchange(route, b"GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n", b"\0")
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200"))
    assert b"chunked" in head.lower()
    assert body  # part of the body came
    assert not body.endswith(b"0\r\n\r\n")  # but never its end
    with (
        httpx.Client(base_url=route, timeout=5) as client,
        pytest.raises(httpx.TransportError),
    ):
        client.get("/chunked")


def test_an_injected_answer_to_a_post_skips_its_body(
    api: httpx.Client, route: str
) -> None:
    _fault(api, name="no", type="status", status=503, first=1, match={"method": "POST"})
    with httpx.Client(base_url=route, timeout=5) as client:
        assert client.post("/echo", content=b"y" * 100_000).status_code == 503
        answer = client.post("/echo", content=b"z" * 100_000)
        assert answer.content == b"echo:" + b"z" * 100_000
