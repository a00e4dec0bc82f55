"""The independent ``toxiproxy-python==0.1.1`` client drives our server unchanged.

Nobody here wrote that client (``TOXIPROXY.md`` section 5.1 lists its quirks), so
it is a fair judge of compatibility: if it needs a workaround, the server is
wrong. Its endpoint is global class state, pointed at our server by a fixture and
restored afterwards.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from toxiproxy import Proxy, Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from tests.conftest import free_port
from tests.integration.proxy.conftest import ProxyThread, round_trip

# Every toxic type with non-default attributes, as a user of the client sends them.
TOXICS: dict[str, dict[str, int]] = {
    "latency": {"latency": 100, "jitter": 10},
    "bandwidth": {"rate": 1000},
    "slow_close": {"delay": 50},
    "timeout": {"timeout": 500},
    "reset_peer": {"timeout": 20},
    "slicer": {"average_size": 64, "size_variation": 32, "delay": 10},
    "limit_data": {"bytes": 4096},
    "noop": {},
}


@pytest.fixture
def toxiproxy(proxy_server: ProxyThread) -> Iterator[Toxiproxy]:
    """The client, pointed at our server; its process-wide endpoint is restored."""
    host, port = APIConsumer.host, APIConsumer.port
    client = Toxiproxy()
    client.update_api_consumer("127.0.0.1", proxy_server.port)
    try:
        yield client
    finally:
        client.update_api_consumer(host, port)


@pytest.fixture
def proxy(toxiproxy: Toxiproxy, echo_upstream: str) -> Proxy:
    """A proxy named ``echo`` in front of the echo server, on a free port."""
    return toxiproxy.create(upstream=echo_upstream, name="echo")


# --- helpers -----------------------------------------------------------------------


def port_of(proxy: Proxy) -> int:
    return int(proxy.listen.rpartition(":")[2])


def assert_refused(port: int) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


# --- server ------------------------------------------------------------------------


def test_version_is_the_raw_toxiproxy_version_body(toxiproxy: Toxiproxy) -> None:
    """version() returns the raw body bytes of GET /version."""
    assert toxiproxy.version() == b'{"version": "2.12.0"}\n'


def test_running_is_true_for_our_server(toxiproxy: Toxiproxy) -> None:
    """running() (a bare TCP connect) finds our API."""
    assert toxiproxy.running() is True


def test_running_and_version_report_a_server_that_is_not_there(
    toxiproxy: Toxiproxy,
) -> None:
    """With nothing listening, running() is False and version() None."""
    toxiproxy.update_api_consumer("127.0.0.1", free_port())
    assert toxiproxy.running() is False
    assert toxiproxy.version() is None


# --- proxies -----------------------------------------------------------------------


def test_create_with_the_default_listen_gets_the_real_port(
    toxiproxy: Toxiproxy, echo_upstream: str
) -> None:
    """The client's default listen 127.0.0.1:0 comes back with the real port."""
    # The client's default listen is 127.0.0.1:0.
    proxy = toxiproxy.create(upstream=echo_upstream, name="echo")
    assert isinstance(proxy, Proxy)
    assert proxy.name == "echo"
    assert proxy.upstream == echo_upstream
    assert proxy.enabled is True
    host, _, port = proxy.listen.rpartition(":")
    assert host == "127.0.0.1"
    assert int(port) != 0
    assert round_trip(int(port)) == b"ping"


def test_create_with_an_explicit_listen_keeps_it(
    toxiproxy: Toxiproxy, echo_upstream: str
) -> None:
    """An explicit loopback listen is echoed unchanged and forwards."""
    listen = f"127.0.0.1:{free_port()}"
    proxy = toxiproxy.create(upstream=echo_upstream, name="echo", listen=listen)
    assert proxy.listen == listen
    assert round_trip(port_of(proxy)) == b"ping"


def test_create_disabled_keeps_listen_and_refuses_connections(
    toxiproxy: Toxiproxy, echo_upstream: str
) -> None:
    """create(enabled=False) keeps the listen verbatim and binds nothing."""
    port = free_port()
    proxy = toxiproxy.create(
        upstream=echo_upstream,
        name="echo",
        listen=f"localhost:{port}",
        enabled=False,
    )
    assert proxy.enabled is False
    assert proxy.listen == f"localhost:{port}"
    assert_refused(port)


def test_create_a_duplicate_raises_proxy_exists(
    toxiproxy: Toxiproxy, proxy: Proxy
) -> None:
    """A duplicate create raises ProxyExists."""
    with pytest.raises(ProxyExists):
        toxiproxy.create(upstream=proxy.upstream, name=proxy.name)


def test_duplicate_create_from_the_server_maps_to_proxy_exists(
    toxiproxy: Toxiproxy, proxy: Proxy
) -> None:
    """The server's 409 maps to ProxyExists."""
    # create() checks on the client side first; the 409 path needs a raw POST.
    with pytest.raises(ProxyExists, match="proxy already exists"):
        APIConsumer.post("/proxies", json={"name": "echo", "upstream": "x:1"})


def test_proxies_and_get_proxy_list_what_exists(
    toxiproxy: Toxiproxy, echo_upstream: str
) -> None:
    """proxies() and get_proxy() read every proxy back; a missing one is None."""
    assert toxiproxy.proxies() == {}
    created = [
        toxiproxy.create(upstream=echo_upstream, name=name) for name in ("b", "a")
    ]
    proxies = toxiproxy.proxies()
    assert list(proxies) == ["a", "b"]
    for proxy in created:
        found = toxiproxy.get_proxy(proxy.name)
        assert isinstance(found, Proxy)
        assert (found.name, found.listen, found.upstream, found.enabled) == (
            proxy.name,
            proxy.listen,
            proxy.upstream,
            True,
        )
    assert toxiproxy.get_proxy("missing") is None


def test_destroy_deletes_the_proxy_and_closes_its_port(
    toxiproxy: Toxiproxy, proxy: Proxy
) -> None:
    """destroy() deletes the proxy; a second delete raises NotFound."""
    assert toxiproxy.destroy(proxy) is True
    assert toxiproxy.get_proxy("echo") is None
    assert_refused(port_of(proxy))
    with pytest.raises(NotFound):
        proxy.destroy()


def test_destroy_all_deletes_every_proxy(
    toxiproxy: Toxiproxy, echo_upstream: str
) -> None:
    """destroy_all() leaves no proxy."""
    for name in ("a", "b", "c"):
        toxiproxy.create(upstream=echo_upstream, name=name)
    toxiproxy.destroy_all()
    assert toxiproxy.proxies() == {}


def test_unknown_url_raises_not_found(toxiproxy: Toxiproxy) -> None:
    """A 404 (missing proxy or unknown path) raises NotFound."""
    with pytest.raises(NotFound):
        APIConsumer.get("/proxies/missing")
    with pytest.raises(NotFound):
        APIConsumer.get("/nothing/here")


# --- toxics ------------------------------------------------------------------------


@pytest.mark.parametrize("stream", ["upstream", "downstream"])
@pytest.mark.parametrize("toxic_type", sorted(TOXICS))
def test_add_toxic_of_every_type_on_both_streams(
    proxy: Proxy, toxic_type: str, stream: str
) -> None:
    """Every toxic type is added on either stream and read back as sent."""
    attributes = TOXICS[toxic_type]
    returned = proxy.add_toxic(
        type=toxic_type, stream=stream, toxicity=0.5, attributes=attributes
    )
    assert returned is None  # the client throws the reply away
    toxic = proxy.get_toxic(f"{toxic_type}_{stream}")
    assert toxic is not None
    assert (toxic.type, toxic.stream, toxic.toxicity) == (toxic_type, stream, 0.5)
    assert toxic.attributes == attributes


def test_add_toxic_defaults_to_downstream_full_toxicity(proxy: Proxy) -> None:
    """The client's defaults read back as downstream, toxicity 1, zero-filled."""
    proxy.add_toxic(type="latency", attributes={"latency": 1})
    toxic = proxy.get_toxic("latency_downstream")
    assert toxic is not None
    assert toxic.stream == "downstream"
    assert toxic.toxicity == 1.0
    assert toxic.attributes == {"latency": 1, "jitter": 0}


def test_toxics_get_toxic_and_destroy_toxic(proxy: Proxy) -> None:
    """toxics(), get_toxic() and destroy_toxic() agree with the server."""
    proxy.add_toxic(name="slow", type="latency", attributes={"latency": 1})
    proxy.add_toxic(name="cut", type="limit_data", stream="upstream")
    assert sorted(proxy.toxics()) == ["cut", "slow"]
    assert proxy.get_toxic("missing") is None

    assert proxy.destroy_toxic("slow") is True
    assert list(proxy.toxics()) == ["cut"]
    with pytest.raises(NotFound):
        proxy.destroy_toxic("slow")


@pytest.mark.parametrize(
    ("toxic_type", "stream"),
    [("latency", "sideways"), ("latency", ""), ("lag", "downstream")],
)
def test_an_invalid_toxic_raises_invalid_toxic(
    proxy: Proxy, toxic_type: str, stream: str
) -> None:
    """An invalid stream or type is a 400, raised as InvalidToxic."""
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type=toxic_type, stream=stream)
    assert proxy.toxics() == {}


def test_a_duplicate_toxic_raises_proxy_exists(proxy: Proxy) -> None:
    """A duplicate toxic name is a 409, raised as ProxyExists."""
    # The client maps every 409 to ProxyExists, toxics included.
    proxy.add_toxic(type="noop")
    with pytest.raises(ProxyExists):
        proxy.add_toxic(type="noop")


def test_toxics_of_a_missing_proxy_raise_not_found(
    toxiproxy: Toxiproxy, proxy: Proxy
) -> None:
    """Toxic calls and disable() on a deleted proxy raise NotFound."""
    proxy.destroy()
    with pytest.raises(NotFound):
        proxy.toxics()
    with pytest.raises(NotFound):
        proxy.add_toxic(type="noop")
    with pytest.raises(NotFound):
        proxy.disable()


def test_latency_toxic_delays_an_echo_round_trip(proxy: Proxy) -> None:
    """A 100 ms latency toxic added by the client delays a round trip >= 100 ms."""
    port = port_of(proxy)
    assert round_trip(port) == b"ping"  # warm up: the upstream is reachable
    proxy.add_toxic(type="latency", attributes={"latency": 100})
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        start = time.monotonic()
        sock.sendall(b"ping")
        assert sock.recv(4) == b"ping"
        elapsed = time.monotonic() - start
    assert elapsed >= 0.100
    # The lower bound is exact; the upper one only catches a gross bug (10x the
    # toxic): shared 2-core machines stall a thread for hundreds of ms.
    assert elapsed < 1.0


# --- enable, disable, reset, populate ----------------------------------------------


def test_disable_refuses_connections_and_enable_restores_them(proxy: Proxy) -> None:
    """disable() refuses connections; enable() serves the same port again."""
    port = port_of(proxy)
    proxy.disable()
    assert proxy.enabled is False
    assert_refused(port)
    assert Toxiproxy().get_proxy("echo").enabled is False

    proxy.enable()
    assert proxy.enabled is True
    assert round_trip(port) == b"ping"
    assert Toxiproxy().get_proxy("echo").listen == proxy.listen


def test_toxics_survive_disable_and_enable(proxy: Proxy) -> None:
    """Toxics are kept across disable() and enable()."""
    proxy.add_toxic(type="slicer", attributes={"average_size": 2})
    before = {name: vars(t) for name, t in proxy.toxics().items()}
    proxy.disable()
    proxy.enable()
    assert {name: vars(t) for name, t in proxy.toxics().items()} == before


def test_down_context_takes_the_proxy_down_and_back_up(proxy: Proxy) -> None:
    """``with proxy.down():`` refuses connections inside and restores them after."""
    port = port_of(proxy)
    with proxy.down() as down:
        assert down is proxy
        assert proxy.enabled is False
        assert_refused(port)
    assert proxy.enabled is True
    assert round_trip(port) == b"ping"


def test_reset_re_enables_proxies_and_removes_toxics(
    toxiproxy: Toxiproxy, proxy: Proxy
) -> None:
    """reset() is True, re-enables the proxy on its port and removes its toxics."""
    proxy.add_toxic(type="timeout", attributes={"timeout": 0})
    proxy.add_toxic(type="latency", stream="upstream", attributes={"latency": 500})
    proxy.disable()
    assert toxiproxy.reset() is True
    assert proxy.toxics() == {}
    found = toxiproxy.get_proxy("echo")
    assert found.enabled is True
    assert found.listen == proxy.listen
    assert round_trip(port_of(proxy)) == b"ping"


def test_populate_creates_then_leaves_unchanged_proxies_alone(
    toxiproxy: Toxiproxy, echo_upstream: str
) -> None:
    """The client-side populate() creates, skips unchanged, recreates moved."""
    # The client's populate() is client-side: it compares listen strings, so
    # only resolved listens with real ports count as unchanged.
    wanted = [
        {"name": name, "upstream": echo_upstream, "listen": f"127.0.0.1:{free_port()}"}
        for name in ("one", "two")
    ]
    created = toxiproxy.populate(wanted)
    assert [p.listen for p in created] == [p["listen"] for p in wanted]
    toxiproxy.get_proxy("one").add_toxic(type="noop")

    assert toxiproxy.populate(wanted) == []
    assert list(toxiproxy.get_proxy("one").toxics()) == ["noop_downstream"]

    moved = [{**wanted[0], "listen": f"127.0.0.1:{free_port()}"}, wanted[1]]
    (recreated,) = toxiproxy.populate(moved)
    assert recreated.name == "one"
    assert recreated.listen == moved[0]["listen"]
    assert recreated.toxics() == {}
    assert round_trip(port_of(recreated)) == b"ping"


def test_the_client_sees_the_same_state_as_the_raw_api(
    toxiproxy: Toxiproxy, proxy: Proxy, proxy_server: ProxyThread
) -> None:
    """The client's view matches the raw API (listen, toxic names and order)."""
    proxy.add_toxic(type="bandwidth", stream="upstream", attributes={"rate": 10})
    with httpx.Client(base_url=proxy_server.url, timeout=10) as api:
        raw = api.get("/proxies/echo").json()
    assert raw["listen"] == proxy.listen
    assert [t["name"] for t in raw["toxics"]] == list(proxy.toxics())
