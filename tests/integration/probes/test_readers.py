"""Probe readers against real processes, the embedded PostgreSQL and a real
HTTP service; the sampler on a process that dies mid-run."""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from pathlib import Path

import asyncpg
import pytest

from chaoskit.events import ProbeSeries
from chaoskit.probes import (
    HttpReader,
    PostgresReader,
    ProcessReader,
    ReadError,
    Sampler,
    Watched,
)
from chaoskit.services import PostgresAddress
from tests.conftest import free_port
from tests.integration.services.children import Children

HOLD = "import sys, time; x = b'\\x01' * int(sys.argv[1]); time.sleep(60)"


def holding(children: Children, size: int) -> int:
    """A child holding ``size`` bytes (filled, so resident); its pid once it does."""
    proc = children.popen([sys.executable, "-c", HOLD, str(size)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        statm = Path(f"/proc/{proc.pid}/statm").read_text()
        rss = int(statm.split()[1]) * 4096
        if rss > size:
            return proc.pid
        time.sleep(0.05)
    raise AssertionError("the child never held its memory")


def test_process_reader_sees_memory_fds_threads_and_a_process_gone(children):
    small, big = holding(children, 1_000_000), holding(children, 60_000_000)

    async def read(pid: int) -> dict[str, float | None]:
        return dict(await ProcessReader(lambda: pid).read())

    a, b = asyncio.run(read(small)), asyncio.run(read(big))
    assert b["rss_bytes"] - a["rss_bytes"] > 50_000_000  # type: ignore[operator]
    assert b["uss_bytes"] is not None
    assert b["uss_bytes"] > 50_000_000
    assert a["fds"] is not None
    assert a["fds"] >= 3
    assert a["threads"] == 1
    assert a["cpu_percent"] is not None
    children.popens[-1].kill()
    children.popens[-1].wait()
    with pytest.raises(ReadError, match="gone"):
        asyncio.run(read(big))
    with pytest.raises(ReadError, match="not running"):
        asyncio.run(ProcessReader(lambda: None).read())


def test_postgres_reader_counts_others_never_itself(postgres: PostgresAddress):
    async def scenario() -> tuple[dict, dict, dict]:  # type: ignore[type-arg]
        reader = PostgresReader(postgres.dsn)
        holder = await asyncpg.connect(postgres.dsn)
        waiter = await asyncpg.connect(postgres.dsn)
        idle = await asyncpg.connect(postgres.dsn)
        try:
            await holder.execute("CREATE TABLE IF NOT EXISTS probe_locks (id int)")
            quiet = dict(await reader.read())
            await holder.execute(
                "BEGIN; LOCK TABLE probe_locks IN ACCESS EXCLUSIVE MODE"
            )
            blocked = asyncio.ensure_future(
                waiter.execute(
                    "BEGIN; LOCK TABLE probe_locks IN ACCESS SHARE MODE; ROLLBACK"
                )
            )
            await asyncio.sleep(0.6)
            busy = dict(await reader.read())
            await holder.execute("ROLLBACK")
            await blocked
            for _ in range(5):
                await idle.execute("SELECT 1")
            # A backend publishes its counters when it goes idle, at most once a
            # second: one more transaction after a second publishes them all.
            await asyncio.sleep(1.1)
            await idle.execute("SELECT 1")
            await waiter.execute("SELECT 1")
            await asyncio.sleep(0.2)
            after = dict(await reader.read())
        finally:
            await holder.execute("DROP TABLE IF EXISTS probe_locks")
            for conn in (holder, waiter, idle):
                await conn.close()
            await reader.aclose()
        return quiet, busy, after

    quiet, busy, after = asyncio.run(scenario())
    # Three sessions of the test; the probe's own is not among them.
    assert quiet["connections"] == 3
    assert quiet["connections_idle"] == 3
    assert quiet["locks_waiting"] == 0
    assert quiet["max_connections"] == pytest.approx(3 / quiet["connections_share"])
    assert busy["connections_idle_in_transaction"] == 1
    assert busy["connections_active"] == 1  # the waiter
    assert busy["locks_waiting"] == 1
    assert 0.3 < busy["lock_wait_max_s"] < 30
    assert busy["query_max_s"] >= busy["lock_wait_max_s"] - 0.05
    assert quiet["commits_per_s"] is None  # a rate needs two samples
    assert after["commits_per_s"] is not None
    assert after["commits_per_s"] > 0
    assert after["rollbacks_per_s"] is not None
    assert after["rollbacks_per_s"] > 0


def test_postgres_reader_refused_is_a_read_error():
    reader = PostgresReader(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")
    with pytest.raises(ReadError, match=r"refused|Connect"):
        asyncio.run(reader.read())


@pytest.fixture
def recommender(children: Children) -> str:
    """The recommender fixture with its memory leak on, on a free port."""
    port = free_port()
    children.popen([sys.executable, "-m", "fixtures.recommender", "--port",
                    str(port), "--leak-memory", "3"])  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/health", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    for user in range(4):
        httpx.get(f"{base}/recommendations?user={user}", timeout=5)
    return base


def test_http_reader_reads_prometheus_with_labels_and_json_paths(recommender):
    async def read(**kwargs: object) -> float | None:
        path = "/metrics" if "metric" in kwargs else "/stats"
        reader = HttpReader(recommender + path, **kwargs)  # type: ignore[arg-type]
        try:
            return (await reader.read())["value"]
        finally:
            await reader.aclose()

    held = 4 * 3 * 1000
    assert asyncio.run(read(metric="recommender_retained_bytes")) == held
    assert (
        asyncio.run(read(metric="recommender_retained_bytes", labels={"kind": "cache"}))
        == held
    )
    assert asyncio.run(read(json_path="$.retained.chunks")) == 4
    with pytest.raises(ReadError, match="no sample"):
        asyncio.run(read(metric="recommender_retained_bytes", labels={"kind": "x"}))
    with pytest.raises(ReadError, match="not a number"):
        asyncio.run(read(json_path="$.retained"))


def test_sampler_records_gaps_when_the_process_dies_and_calls_back(children):
    pid = holding(children, 1_000_000)
    metrics = ("rss_bytes", "fds", "threads", "cpu_percent", "uss_bytes")
    series = ProbeSeries("child", "process", f"pid {pid}", 0.2, metrics)
    seen: list[float] = []
    events = []

    async def scenario() -> None:
        sampler = Sampler(
            [Watched(ProcessReader(lambda: pid), series, 0.2, 1.0)],
            time.monotonic_ns(),
            events.append,
            lambda s, t, values: seen.append(t),
        )
        sampler.start()
        await asyncio.sleep(1.1)
        children.popens[-1].kill()
        children.popens[-1].wait()
        await asyncio.sleep(0.8)
        await sampler.stop()

    asyncio.run(scenario())
    assert len(series.t) >= 3
    assert series.gaps
    assert all("gone" in error for _, error in series.gaps)
    assert series.t == seen
    assert max(series.t) < min(t for t, _ in series.gaps)
    # Ticks on the timeline: multiples of 0.2 s, each sampled once.
    ticks = [round(t / 0.2) for t in series.t + [t for t, _ in series.gaps]]
    assert len(set(ticks)) == len(ticks)
    assert {e.kind for e in events} == {"probe"}
    assert any("error" in e.data for e in events)


def test_a_dead_process_not_yet_reaped_is_a_gap_not_zeros(children):
    pid = holding(children, 1_000_000)
    children.popens[-1].kill()  # not waited for: a zombie until reaped
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    with pytest.raises(ReadError, match="gone"):
        asyncio.run(ProcessReader(lambda: pid).read())


def test_a_sample_that_takes_too_long_is_a_gap_and_never_overlaps_the_next():
    """A server that accepts and never answers: each sample is cut at the
    probe's timeout, and the next starts only after it."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # the kernel completes the handshakes; nobody answers
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/metrics"
    series = ProbeSeries("silent", "http", url, 0.2, ("value",))

    async def scenario() -> None:
        reader = HttpReader(url, metric="up", timeout=30)
        sampler = Sampler([Watched(reader, series, 0.2, 0.3)], time.monotonic_ns(),
                          lambda e: None)  # fmt: skip
        sampler.start()
        await asyncio.sleep(1.5)
        await sampler.stop()

    try:
        asyncio.run(scenario())
    finally:
        silent.close()
    assert series.t == []
    assert len(series.gaps) >= 2
    assert all(error == "no sample within 0.3s" for _, error in series.gaps)
    times = [t for t, _ in series.gaps]
    # Each sample starts after the one before was cut at 0.3 s: never two at once.
    assert all(b - a >= 0.3 for a, b in itertools.pairwise(times))


def test_http_reader_opens_a_fresh_connection_for_every_read():
    """A probe reused its keep-alive connection: a read a few seconds after the
    last one could go out on a connection the server was closing at that
    instant (its keep-alive timeout) and fail with ReadError, a gap that says
    nothing about the service. Each read is now a connection of its own."""
    accepted: list[int] = []
    body = b"up 1\n"

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        accepted.append(1)
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(body), body)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> list[float | None]:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader = HttpReader(f"http://127.0.0.1:{port}/metrics", metric="up")
        try:
            return [(await reader.read())["value"] for _ in range(3)]
        finally:
            await reader.aclose()
            server.close()
            await server.wait_closed()

    assert asyncio.run(main()) == [1.0, 1.0, 1.0]
    assert len(accepted) == 3
