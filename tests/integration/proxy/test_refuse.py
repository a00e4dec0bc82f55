"""Observed down (``/chaoskit/proxies/{p}/refuse``): attempts reset and logged."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.integration.proxy.conftest import ProxyThread, round_trip


def _attempt(port: int) -> bytes:
    """Connect, send, read: what a client sees of one attempt."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"ping")
        return sock.recv(100)


def _create(api: httpx.Client, upstream: str) -> int:
    info = api.post(
        "/proxies", json={"name": "dep", "listen": "127.0.0.1:0", "upstream": upstream}
    ).json()
    return int(info["listen"].rpartition(":")[2])


def test_refusing_resets_each_attempt_and_logs_it(
    api: httpx.Client, echo_upstream: str, proxy_server: ProxyThread
) -> None:
    port = _create(api, echo_upstream)
    assert api.get("/chaoskit/info").json()["extensions"] == [
        "connections",
        "refuse",
        "http",
    ]
    reply = api.post("/chaoskit/proxies/dep/refuse", json={"refuse": True})
    assert reply.json() == {"proxy": "dep", "refusing": True}
    for _ in range(3):
        with pytest.raises(ConnectionResetError):
            _attempt(port)
    page = api.get("/chaoskit/proxies/dep/connections").json()
    assert page["refusing"] is True
    assert [c["end"] for c in page["connections"]] == ["refused"] * 3
    assert all(c["bytes_down"] == 0 and c["client"] for c in page["connections"])
    # The Toxiproxy view is unchanged: the proxy is still enabled.
    assert api.get("/proxies/dep").json()["enabled"] is True
    api.post("/chaoskit/proxies/dep/refuse", json={"refuse": False})
    assert round_trip(port) == b"ping"


def test_plain_down_refuses_in_the_kernel_and_logs_nothing(
    api: httpx.Client, echo_upstream: str, proxy_server: ProxyThread
) -> None:
    port = _create(api, echo_upstream)
    api.post("/proxies/dep", json={"enabled": False})
    with pytest.raises(ConnectionRefusedError):
        _attempt(port)
    assert api.get("/chaoskit/proxies/dep/connections").json()["connections"] == []


def test_reset_ends_refusing_and_a_disabled_proxy_cannot_refuse(
    api: httpx.Client, echo_upstream: str, proxy_server: ProxyThread
) -> None:
    port = _create(api, echo_upstream)
    api.post("/chaoskit/proxies/dep/refuse", json={"refuse": True})
    assert api.post("/reset").status_code == 204
    assert round_trip(port) == b"ping"
    api.post("/proxies/dep", json={"enabled": False})
    reply = api.post("/chaoskit/proxies/dep/refuse", json={"refuse": True})
    assert reply.status_code == 409
    assert "disabled" in reply.text
    assert api.post("/chaoskit/proxies/dep/refuse", json={}).status_code == 400
