"""The Toxiproxy driver against a real server (chaoskit's), over real HTTP."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from chaoskit.errors import ToxiproxyError
from chaoskit.faults.toxiproxy import Toxiproxy
from tests.conftest import free_port

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(proxy_server):
    async with Toxiproxy(proxy_server.url, timeout=5) as toxiproxy:
        yield toxiproxy


async def echo_once(listen: str, payload: bytes = b"ping") -> float:
    host, port = listen.rsplit(":", 1)
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(payload)
        await writer.drain()
        assert await asyncio.wait_for(reader.readexactly(len(payload)), 5) == payload
    finally:
        writer.close()
        await writer.wait_closed()
    return time.monotonic() - started


async def test_detects_chaoskit_and_reads_the_version(client):
    assert await client.is_chaoskit()
    assert (await client.version()).startswith("2.")


async def test_proxy_lifecycle_and_undo(client, echo_upstream):
    """create -> list -> get -> undo deletes it; a second undo is harmless."""
    proxy, undo = await client.create_proxy("db", echo_upstream)
    assert proxy.enabled
    assert proxy.listen.startswith("127.0.0.1:")
    assert not proxy.listen.endswith(":0")
    assert set(await client.proxies()) == {"db"}
    assert (await client.get_proxy("db")).upstream == echo_upstream
    await echo_once(proxy.listen)
    await undo()
    await undo()
    assert await client.proxies() == {}


@pytest.mark.parametrize(
    ("toxic_type", "attributes"),
    [
        ("latency", {"latency": 10, "jitter": 2}),
        ("bandwidth", {"rate": 1000}),
        ("slow_close", {"delay": 10}),
        ("timeout", {"timeout": 100}),
        ("reset_peer", {"timeout": 10}),
        ("slicer", {"average_size": 64, "size_variation": 8, "delay": 10}),
        ("limit_data", {"bytes": 1000}),
        ("noop", {}),
    ],
)
async def test_every_toxic_type_adds_and_undoes(
    client, echo_upstream, toxic_type, attributes
):
    await client.create_proxy("p", echo_upstream)
    toxic, undo = await client.add_toxic(
        "p", toxic_type, stream="upstream", toxicity=0.5, attributes=attributes
    )
    assert toxic.name == f"{toxic_type}_upstream"
    assert toxic.stream == "upstream"
    assert toxic.toxicity == 0.5
    assert toxic.attributes == attributes
    assert [t.name for t in await client.toxics("p")] == [toxic.name]
    await undo()
    await undo()  # idempotent: already gone is fine
    assert await client.toxics("p") == []


async def test_update_toxic_merges_and_undo_restores(client, echo_upstream):
    await client.create_proxy("p", echo_upstream)
    await client.add_toxic("p", "latency", attributes={"latency": 100, "jitter": 5})
    updated, undo = await client.update_toxic(
        "p", "latency_downstream", attributes={"latency": 300}, toxicity=0.25
    )
    assert updated.attributes == {"latency": 300, "jitter": 5}
    assert updated.toxicity == 0.25
    await undo()
    (restored,) = await client.toxics("p")
    assert restored.attributes == {"latency": 100, "jitter": 5}
    assert restored.toxicity == 1.0


async def test_latency_added_through_the_driver_slows_traffic(client, echo_upstream):
    proxy, _ = await client.create_proxy("p", echo_upstream)
    _, undo = await client.add_toxic("p", "latency", attributes={"latency": 100})
    assert await echo_once(proxy.listen) >= 0.100
    await undo()
    # Undone at the proxy (its own tests show a removed toxic stops delaying);
    # a timed echo here would only measure the machine's load.
    assert await client.toxics("p") == []
    await echo_once(proxy.listen)


async def test_disable_refuses_connections_and_undo_enables(client, echo_upstream):
    proxy, _ = await client.create_proxy("p", echo_upstream)
    undo = await client.disable("p")
    with pytest.raises(ConnectionRefusedError):
        await echo_once(proxy.listen)
    await undo()
    await undo()
    await echo_once(proxy.listen)


async def test_update_proxy_and_undo_restores_upstream(client, echo_upstream):
    await client.create_proxy("p", echo_upstream)
    moved, undo = await client.update_proxy("p", upstream="127.0.0.1:1")
    assert moved.upstream == "127.0.0.1:1"
    await undo()
    assert (await client.get_proxy("p")).upstream == echo_upstream


async def test_populate_and_reset(client, echo_upstream):
    created = await client.populate(
        [
            {"name": "a", "upstream": echo_upstream},
            {"name": "b", "upstream": echo_upstream},
        ]
    )
    assert [p.name for p in created] == ["a", "b"]
    await client.disable("a")
    await client.add_toxic("b", "latency", attributes={"latency": 1})
    await client.reset()
    proxies = await client.proxies()
    assert all(p.enabled and not p.toxics for p in proxies.values())


async def test_connection_log_pages_by_cursor(client, echo_upstream):
    proxy, _ = await client.create_proxy("p", echo_upstream)
    await echo_once(proxy.listen)
    await asyncio.sleep(0.05)  # let the close be recorded
    first = await client.connections("p")
    (record,) = first.connections
    assert record.end == "client_close"
    assert record.bytes_up == record.bytes_down == 4
    assert record.accepted_ns <= record.first_byte_up_ns <= record.closed_ns
    # Times are CLOCK_MONOTONIC: comparable with ours, in this process.
    assert record.closed_ns <= time.monotonic_ns()
    assert (await client.connections("p", since=first.cursor)).connections == ()
    await echo_once(proxy.listen)
    await asyncio.sleep(0.05)
    later = await client.connections("p", since=first.cursor)
    assert [r.id for r in later.connections] == [2]


async def test_errors_name_the_proxy_toxic_and_server_message(client, echo_upstream):
    with pytest.raises(ToxiproxyError) as missing:
        await client.get_proxy("nope")
    assert missing.value.status == 404
    assert "proxy 'nope'" in str(missing.value)
    assert "proxy not found" in str(missing.value)

    await client.create_proxy("p", echo_upstream)
    await client.add_toxic("p", "latency", name="slow")
    with pytest.raises(ToxiproxyError) as dup:
        await client.add_toxic("p", "latency", name="slow", stream="upstream")
    assert dup.value.status == 409
    assert dup.value.toxic == "slow"
    assert "toxic already exists" in str(dup.value)

    with pytest.raises(ToxiproxyError, match="invalid toxic type"):
        await client.add_toxic("p", "nonsense")


async def test_unreachable_server_is_a_clear_error():
    port = free_port()
    async with Toxiproxy(f"http://127.0.0.1:{port}", timeout=1) as client:
        with pytest.raises(ToxiproxyError, match="cannot reach the API") as info:
            await client.proxies()
    assert info.value.status is None
    assert f"127.0.0.1:{port}" in str(info.value)


async def test_real_toxiproxy_gets_the_standard_api_only():
    """Against a server without /chaoskit/ (a real Toxiproxy), the log is refused.

    A real Toxiproxy cannot run on these machines, so this one test stands in for
    it with httpx's MockTransport answering as Toxiproxy 2.12 does.
    """

    def toxiproxy_2_12(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/version":
            return httpx.Response(200, text='{"version": "2.12.0"}\n')
        return httpx.Response(404, text="404 page not found\n")

    async with Toxiproxy(transport=httpx.MockTransport(toxiproxy_2_12)) as client:
        assert await client.version() == "2.12.0"
        assert not await client.is_chaoskit()
        with pytest.raises(ToxiproxyError, match="not chaoskit's"):
            await client.connections("p")


async def test_observed_down_resets_and_is_undone_from_the_ledger_alone(
    client, echo_upstream, tmp_path
):
    """``down`` with observe: attempts reset, not refused; ``chaoskit rollback``
    (the ledger file, no Undo object) ends it, as after a kill -9."""
    from chaoskit.faults.network import network_changes
    from chaoskit.runner.ledger import Ledger, roll_back
    from chaoskit.spec.model import ToxicFault

    proxy, _ = await client.create_proxy("p", echo_upstream)
    fault = ToxicFault.model_validate(
        {"name": "gone", "kind": "down", "observe": True, "route": "p",
         "at": "1s", "for": "1s"}
    )  # fmt: skip
    (change,) = network_changes(fault, client, "p")
    assert change.entry is not None
    assert change.entry.kind == "proxy_accept"
    ledger = Ledger(tmp_path, {"experiment": "t"})
    ledger.add(change.entry)
    await change.apply()  # the Undo it returns is dropped: as if killed
    with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
        await echo_once(proxy.listen)
    page = await client.connections("p")
    assert [c.end for c in page.connections] == ["refused"]
    [result] = await roll_back(ledger.path)
    assert result.ok, result.message
    await echo_once(proxy.listen)


async def test_api_connections_outlive_the_drivers_reuse(proxy_server):
    """A request sent on a keep-alive connection the API was closing at that
    instant failed with ReadError (uvicorn's 5 s keep-alive against httpx's
    5 s expiry: a shipped experiment aborted). The API now keeps an idle
    connection longer than the driver ever reuses one."""
    from chaoskit.faults.toxiproxy import KEEPALIVE_EXPIRY_S
    from chaoskit.proxy.server import API_KEEP_ALIVE_S

    assert KEEPALIVE_EXPIRY_S < API_KEEP_ALIVE_S
    async with Toxiproxy(proxy_server.url) as toxiproxy:
        pool = toxiproxy._client._transport._pool  # type: ignore[attr-defined]
        assert pool._keepalive_expiry == KEEPALIVE_EXPIRY_S
    host, port = proxy_server.url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        for pause in (0, 5.5):  # past uvicorn's default keep-alive (5 s)
            await asyncio.sleep(pause)
            writer.write(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200"), head
            length = int(
                next(
                    line.split(b":")[1]
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
            )
            await reader.readexactly(length)
    finally:
        writer.close()
        await writer.wait_closed()
