"""The pytest plugin on an HTTP route: HTTP faults as blocks, attempts per request id.

Run on generated test files (pytester), with a real HTTP/1.1 upstream and a
tenacity-retrying httpx client.
"""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]

_UPSTREAM = """
import json, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import httpx, pytest, tenacity

class Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def do_GET(self):
        body = b"fresh"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

@pytest.fixture(scope="module")
def upstream():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()

def retry_after(state):
    response = state.outcome.result()
    return float(response.headers.get("retry-after", "0"))

def make_client(base, honour):
    fixed = tenacity.wait_fixed(0.02)
    wait = (lambda s: max(0.02, retry_after(s))) if honour else fixed

    @tenacity.retry(
        stop=tenacity.stop_after_attempt(5),
        wait=wait,
        retry=tenacity.retry_if_result(lambda r: r.status_code in (429, 503)),
        retry_error_callback=lambda s: s.outcome.result(),
    )
    def get(client, request_id):
        return client.get("/job", headers={"X-Request-Id": request_id})

    return get
"""


def test_tenacity_client_through_http_faults(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        _UPSTREAM
        + """
def test_first_two_503_then_success(chaoskit_route, upstream):
    route = chaoskit_route(upstream, protocol="http")
    get = make_client(f"http://{route.listen}", honour=False)
    with httpx.Client(base_url=f"http://{route.listen}") as client:
        with route.http_status(503, first=2), route.requests() as r:
            assert get(client, "job-1").text == "fresh"
    assert r.attempts("job-1") == 3
    assert r.statuses("job-1") == [503, 503, 200]
    assert r.broken(max_attempts=3) == []

def test_ignoring_retry_after_is_caught(chaoskit_route, upstream):
    route = chaoskit_route(upstream, protocol="http")
    with httpx.Client(base_url=f"http://{route.listen}") as client:
        for honour, rid in ((False, "rude"), (True, "polite")):
            get = make_client(f"http://{route.listen}", honour)
            with route.http_status(429, first=1, headers={"Retry-After": "1"}), \\
                    route.requests() as r:
                assert get(client, rid).status_code == 200
            broken = r.honours_retry_after()
            if honour:
                assert broken is None
            else:
                assert broken is not None and "waited" in broken.message
                raise AssertionError(str(broken))

def test_fault_is_rolled_back_when_the_body_fails(
    chaoskit_route, chaoskit_proxy, upstream
):
    route = chaoskit_route(upstream, protocol="http", name="web")
    try:
        with route.http_status(500), route.http_delay(0.01, path="^/x"):
            raise RuntimeError("the test body failed")
    finally:
        left = chaoskit_proxy.request("GET", "/chaoskit/proxies/web/http_faults")
        with open("left.json", "w") as f:
            json.dump(left, f)
        with httpx.Client(base_url=f"http://{route.listen}") as client:
            assert client.get("/").status_code == 200
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: honours_retry_after: 1 of 1 retries came before the "
            "Retry-After they were given; e.g. rude at * waited 0.0*s of 1s",
            "*RuntimeError: the test body failed*",
        ]
    )
    assert json.loads((pytester.path / "left.json").read_text()) == []
