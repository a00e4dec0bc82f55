"""The pytest plugin, run on generated test files (pytester)."""

from __future__ import annotations

import threading

import pytest

pytest_plugins = ["pytester"]

_CLIENT = '''
import json, socket, socketserver, threading, time
import pytest

def call(port, waits):
    """A client with a retry policy: ``waits`` between attempts, then give up."""
    for wait in [*waits, None]:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.sendall(b"x")
                if sock.recv(10):
                    return True
        except OSError:
            pass
        if wait is None:
            return False
        time.sleep(wait)

class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while data := self.request.recv(100):
            self.request.sendall(data)

@pytest.fixture(scope="module")
def echo():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()
'''


def _proxy_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "chaoskit-proxy"}


def test_exponential_backoff_passes_and_immediate_retry_fails(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        _CLIENT
        + """
def test_exponential(chaoskit_route, echo):
    route = chaoskit_route(echo)
    with route.down(), route.attempts() as a:
        # 100 ms and up: a loaded machine's scheduling delay (50 ms seen) stays
        # well inside the 25% tolerance of each doubling.
        assert not call(route.port, [0.1 * 2**n for n in range(4)])
    assert a.count == 5
    assert a.backs_off(factor=1.5)
    assert 0.75 < a.max_interval < 8.0
    assert a.broken(max_attempts=5, min_growth=1.5) == []
    assert call(route.port, [])  # back up after the block

def test_immediate(chaoskit_route, echo):
    route = chaoskit_route(echo)
    with route.down(), route.attempts() as a:
        call(route.port, [0.0] * 9)
    assert a.count == 10
    assert a.backs_off(factor=1.5), a.broken(max_attempts=5, min_growth=1.5)
"""
    )
    before = _proxy_threads()
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*Broken(rule='max_attempts', message='1 of 1 sequences made more than 5*",
        ]
    )
    # The inner session's proxy thread is gone (this session may have its own).
    assert _proxy_threads() == before


def test_first_wait_and_total_growth_are_judged_with_their_figures(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        _CLIENT
        + """
RULES = dict(min_first_wait=0.1, min_total_growth=4)

def test_good_policy(chaoskit_route, echo):
    route = chaoskit_route(echo)
    with route.down(), route.attempts() as a:
        call(route.port, [0.15, 0.3, 0.6])
    assert a.broken(**RULES) == []
    assert a.backs_off(1.5, min_first_wait=0.1, min_total_growth=4)

def test_retries_at_once(chaoskit_route, echo):
    route = chaoskit_route(echo)
    with route.down(), route.attempts() as a:
        call(route.port, [0.0, 0.3, 0.6])
    [broken] = a.broken(**RULES)
    assert broken.rule == "min_first_wait", broken
    assert "1 of 1 retried sequences waited less than 100ms" in broken.message

def test_barely_grows(chaoskit_route, echo):
    route = chaoskit_route(echo)
    with route.down(), route.attempts() as a:
        call(route.port, [0.15, 0.16, 0.17])
    [broken] = a.broken(**RULES)
    assert broken.rule == "min_total_growth", broken
    assert "grew less than 4x from the first wait to the last" in broken.message
    assert not a.backs_off(1.0001, min_total_growth=4)
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_down_and_toxic_are_rolled_back_when_the_body_fails(
    pytester: pytest.Pytester,
) -> None:
    result_file = pytester.path / "seen.json"
    pytester.makepyfile(
        _CLIENT
        + f"""
RESULT = {str(result_file)!r}

@pytest.fixture
def observer(chaoskit_route, chaoskit_proxy, echo):
    route = chaoskit_route(echo, name="dep")
    yield route
    # Runs after the failed body, before the route is deleted.
    seen = {{
        "toxics": chaoskit_proxy.request("GET", "/proxies/dep/toxics"),
        "refusing": chaoskit_proxy.request(
            "GET", "/chaoskit/proxies/dep/connections?limit=0")["refusing"],
        "answers": call(route.port, []),
    }}
    with open(RESULT, "w") as f:
        json.dump(seen, f)

def test_body_fails(observer):
    with observer.down(), observer.toxic("latency", latency=500):
        assert not call(observer.port, [])
        raise RuntimeError("the test body failed")

def test_plain_down_refuses(chaoskit_route, echo):
    route = chaoskit_route(echo)
    with route.down(observe=False), route.attempts() as a:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", route.port), timeout=2)
    assert a.count == 0
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*RuntimeError: the test body failed*"])
    import json

    assert json.loads(result_file.read_text()) == {
        "toxics": [],
        "refusing": False,
        "answers": True,
    }


def test_plugin_loads_from_its_entry_point_in_a_fresh_process(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import sys

        def test_cheap(pytestconfig):
            assert pytestconfig.pluginmanager.has_plugin("chaoskit")
            assert "chaoskit" not in sys.modules
            # Loading the plugin imports none of chaoskit's machinery.
            assert "chaoskit.proxy.server" not in sys.modules
            assert "chaoskit.checks" not in sys.modules
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
