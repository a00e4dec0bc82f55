"""Backoff judged end to end: real clients retry against the embedded proxy.

Each scenario runs a few asyncio clients, each from its own loopback address
(127.0.0.2, .3, ...: "per client" grouping), against a route in observed down.
The runner's :class:`AttemptWatcher` polls the connection log and the
``backoff`` evaluator judges the attempts, as in a run.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

import pytest
import uvloop

from chaoskit.checks import CheckContext, Verdict, evaluate
from chaoskit.events import PhaseRecord
from chaoskit.faults.toxiproxy import Toxiproxy
from chaoskit.proxy.server import ProxyServerConfig
from chaoskit.runner.attempts import AttemptWatcher
from chaoskit.spec.model import BackoffHypothesis
from tests.integration.proxy.conftest import ProxyThread

Policy = Callable[[int, random.Random], float | None]
"""(attempt number from 0, rng) -> seconds to wait before the next, None: give up."""


def exponential_jitter(n: int, rng: random.Random) -> float | None:
    return 0.02 * 2**n * rng.uniform(0.75, 1.25) if n < 4 else None


def immediate(n: int, rng: random.Random) -> float | None:
    return 0.0 if n < 29 else None


def fixed(n: int, rng: random.Random) -> float | None:
    return 0.05 if n < 5 else None


def unbounded(n: int, rng: random.Random) -> float | None:
    return min(0.02 * 2**n, 0.16)  # capped, but never gives up


async def client(port: int, source: str, policy: Policy, until: float) -> None:
    rng = random.Random(source)
    n = 0
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, local_addr=(source, 0)
            )
            writer.write(b"ping")
            ok = bool(await reader.read(10))
            writer.close()
        except OSError:
            ok = False
        if ok:
            return
        wait = policy(n, rng)
        if wait is None:
            return
        n += 1
        await asyncio.sleep(wait)


HYPOTHESIS = BackoffHypothesis(
    name="backs off",
    kind="backoff",
    route="dep",
    max_attempts=5,
    min_growth=1.5,
    max_interval=0.5,
    jitter=0.05,
    max_rate=60,
    gives_up_within=1.0,
)


async def scenario(url: str, policy: Policy) -> Verdict:
    async with Toxiproxy(url) as toxiproxy:
        info, delete = await toxiproxy.create_proxy("dep", "127.0.0.1:9")
        port = int(info.listen.rpartition(":")[2])
        try:
            return await _judge(toxiproxy, port, policy)
        finally:
            await delete()


async def _judge(toxiproxy: Toxiproxy, port: int, policy: Policy) -> Verdict:
    undo = await toxiproxy.refuse("dep")
    watcher = AttemptWatcher(toxiproxy, ["dep"], interval_s=0.1)
    t0 = time.monotonic_ns()
    watcher.start()
    until = time.monotonic() + 1.5
    await asyncio.gather(
        *(client(port, f"127.0.0.{i}", policy, until) for i in range(2, 6))
    )
    window_s = (time.monotonic_ns() - t0) / 1e9
    await watcher.stop()
    await undo()
    ctx = CheckContext(
        merged=lambda labels, tasks: None,
        phases=(PhaseRecord("during:dep down", 0.0, window_s),),
        windows=(),
        faults=(),
        task_groups={},
        bins=lambda *args: [],
        attempts=watcher.records(t0),
    )
    [verdict] = evaluate([HYPOTHESIS], ctx)
    return verdict


@pytest.fixture(scope="module")
def proxy_url():
    with ProxyThread(ProxyServerConfig(port=0, seed=3)) as server:
        yield server.url


def judge(url: str, policy: Policy) -> Verdict:
    return uvloop.run(scenario(url, policy))


def broken_rules(verdict: Verdict) -> set[str]:
    """The rules a failed verdict names."""
    assert not verdict.passed
    broken = (verdict.data or {}).get("broken")
    assert isinstance(broken, list)
    return set(broken)


def test_exponential_backoff_with_jitter_passes(proxy_url) -> None:
    verdict = judge(proxy_url, exponential_jitter)
    assert verdict.passed, verdict.detail
    assert verdict.observed.startswith("4 sequences, 5 attempts, intervals 0.0")
    figures = verdict.data or {}
    assert figures["attempts"] == 20
    sequences = figures["sequences"]
    assert isinstance(sequences, list)
    assert {s["key"] for s in sequences} == {f"127.0.0.{i}" for i in range(2, 6)}


def test_an_immediate_retry_storm_fails(proxy_url) -> None:
    verdict = judge(proxy_url, immediate)
    assert {"max_attempts", "min_growth", "max_rate"} <= broken_rules(verdict)
    assert "4 of 4 sequences made more than 5 attempts; most 30" in verdict.detail
    assert "attempts/s above 60.0/s" in verdict.detail


def test_a_fixed_interval_fails_growth_and_jitter(proxy_url) -> None:
    verdict = judge(proxy_url, fixed)
    assert {"min_growth", "jitter"} <= broken_rules(verdict)
    assert "do not grow by >= 1.5x" in verdict.detail


def test_unbounded_retries_fail_to_give_up(proxy_url) -> None:
    verdict = judge(proxy_url, unbounded)
    assert {"max_attempts", "gives_up_within"} <= broken_rules(verdict)
    assert "failing sequences kept retrying past 1s" in verdict.detail
