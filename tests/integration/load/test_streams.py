"""Stream tasks against ``fixtures.feed`` as a real process on loopback: SSE
events and WebSocket messages as samples, exchanges, gaps, and reconnects
through the embedded proxy when a route goes down."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaoskit.checks import CheckContext, evaluate
from chaoskit.events import PhaseRecord
from chaoskit.load import ClosedModel, LoadConfig, LoadEngine, TaskSpec
from chaoskit.load.config import Think, UserClass
from chaoskit.load.streamspec import StreamMessage, StreamSpec
from chaoskit.metrics.recorder import Recorder
from chaoskit.metrics.series import bins_by_intended_start, samples_between
from chaoskit.records import ErrorClass, MemorySink, Sample
from chaoskit.spec.model import ErrorBudgetHypothesis, ThresholdHypothesis
from tests.integration.load.conftest import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[3]


@contextlib.contextmanager
def feed(tmp: Path, *flags: str) -> Iterator[int]:
    """``python -m fixtures.feed`` on a free port; stopped by its PID."""
    port = free_port()
    log = tmp / f"feed-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "fixtures.feed", "--port", str(port), *flags],
            cwd=REPO, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for_port(port)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with feed(tmp_path_factory.mktemp("feed")) as port:
        yield port


@pytest.fixture(scope="module")
def gappy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with feed(tmp_path_factory.mktemp("feed"), "--break", "gaps") as port:
        yield port


def run(
    port: int, *tasks: TaskSpec, users: int = 2, seconds: float = 2
) -> list[Sample]:
    config = LoadConfig(
        f"http://127.0.0.1:{port}", ClosedModel(users), tasks, duration=seconds,
        seed=3, timeout=2,
    )  # fmt: skip
    sink = MemorySink()
    asyncio.run(LoadEngine(config, sink).run())
    return sink.samples


def by_task(samples: list[Sample]) -> collections.Counter[tuple[str, str | None]]:
    return collections.Counter(
        (s.task, s.error.value if s.error else None) for s in samples
    )


def test_sse_events_are_samples_with_connect_and_first_event(healthy):
    samples = run(healthy, TaskSpec("ticks", "/events", stream=StreamSpec("sse")))
    counts = by_task(samples)
    assert counts[("ticks.connect", None)] == 2  # one stream per user, held
    assert counts[("ticks.first_event", None)] == 2
    assert counts[("ticks", None)] > 10
    assert not [s for s in samples if s.error is not None]
    # The two users' streams open side by side: pair each user's own samples.
    connect = next(s for s in samples if s.task == "ticks.connect")
    first = next(
        s for s in samples if s.task == "ticks.first_event" and s.user == connect.user
    )
    assert first.intended_ns == connect.intended_ns
    assert first.end_ns >= connect.end_ns


def test_websocket_exchanges_are_timed_from_the_send(healthy):
    exchange = StreamMessage("hello {{ user }}", "hello")
    samples = run(
        healthy,
        TaskSpec("chat", "/ws", stream=StreamSpec("websocket", messages=(exchange,))),
    )
    counts = by_task(samples)
    assert counts[("chat.connect", None)] == 2
    assert counts[("chat", None)] > 10
    chat = [s for s in samples if s.task == "chat"]
    assert all(s.bytes_sent == len("hello 0") for s in chat)
    assert not [s for s in samples if s.error is not None]


def test_a_websocket_subscription_receives_in_sequence(healthy):
    spec = StreamSpec("websocket", subscribe="subscribe", sequence="$.seq")
    samples = run(healthy, TaskSpec("quotes", "/ws", stream=spec))
    assert by_task(samples)[("quotes", None)] > 10
    assert not [s for s in samples if s.error is not None]


def test_lost_ticks_are_gaps_in_both_kinds(gappy):
    samples = run(
        gappy,
        TaskSpec("ticks", "/events", stream=StreamSpec("sse")),
        TaskSpec(
            "quotes", "/ws",
            stream=StreamSpec("websocket", subscribe="subscribe", sequence="$.seq"),
        ),
        users=6, seconds=2.5,
    )  # fmt: skip
    gaps = [s for s in samples if s.error in (ErrorClass.SSE_GAP, ErrorClass.WS_GAP)]
    assert {s.error for s in gaps} == {ErrorClass.SSE_GAP, ErrorClass.WS_GAP}
    assert all(s.detail.endswith("1 missed") for s in gaps), gaps[:3]


def test_a_refused_stream_is_a_connect_failure_and_retried(tmp_path):
    port = free_port()  # nothing listens
    spec = StreamSpec("sse", reconnect=0.2)
    samples = run(port, TaskSpec("ticks", "/events", stream=spec), users=1, seconds=1)
    failures = [s for s in samples if s.task == "ticks.connect"]
    assert len(failures) >= 3  # retried every 0.2 s
    assert {s.error for s in failures} == {ErrorClass.SSE_CONNECT_FAILED}
    assert "refused" in failures[0].detail.lower()


def test_a_cut_stream_reconnects_and_resumes_without_gaps(healthy, api):
    """The proxy route goes down for a second: each stream is a disconnect,
    reconnects are refused while it is down, then SSE resumes from
    Last-Event-ID and the WebSocket client from its id: no gap."""
    proxied = free_port()
    reply = api.post(
        "/proxies",
        json={"name": "feed", "listen": f"127.0.0.1:{proxied}",
              "upstream": f"127.0.0.1:{healthy}"},
    )  # fmt: skip
    assert reply.status_code == 201, reply.text

    def toggle(enabled: bool) -> None:
        api.post("/proxies/feed", json={"enabled": enabled}).raise_for_status()

    async def cut() -> None:
        await asyncio.sleep(1.5)
        await asyncio.to_thread(toggle, False)
        await asyncio.sleep(1)
        await asyncio.to_thread(toggle, True)

    tasks = (
        TaskSpec("ticks", "/events", stream=StreamSpec("sse", reconnect=0.2)),
        TaskSpec(
            "quotes", "/ws?client={{ user }}",
            stream=StreamSpec(
                "websocket", subscribe="subscribe", sequence="$.seq", reconnect=0.2
            ),
        ),
    )  # fmt: skip
    config = LoadConfig(
        f"http://127.0.0.1:{proxied}", ClosedModel(6), tasks, duration=5, seed=3,
        timeout=2,
    )  # fmt: skip
    sink = MemorySink()

    async def main() -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(cut())
            tg.create_task(LoadEngine(config, sink).run())

    asyncio.run(main())
    counts = by_task(sink.samples)
    assert counts[("ticks", "sse_disconnect")] >= 1
    assert counts[("quotes", "ws_disconnect")] >= 1
    assert counts[("ticks.connect", "sse_connect_failed")] >= 1
    assert counts[("quotes.connect", "ws_connect_failed")] >= 1
    assert counts[("ticks", "sse_gap")] == 0
    # Events flow again after the cut (the route was up for its last 2.5 s).
    cut_end = max(s.end_ns for s in sink.samples if s.error is not None)
    assert any(s.task == "ticks" and s.end_ns > cut_end for s in sink.samples)
    assert any(s.task == "quotes" and s.end_ns > cut_end for s in sink.samples)


def judged(samples: list[Sample], seconds: float) -> CheckContext:
    """The run's samples as hypotheses read them: one phase, ``before``."""
    origin = min(s.intended_ns for s in samples)
    recorder = Recorder(origin_ns=origin, phase="before")
    for sample in samples:
        recorder.write(sample)
    recorder.close()
    return CheckContext(
        origin_ns=origin,
        bins=lambda start, end, step, tasks: bins_by_intended_start(
            samples, origin, start, end, step, tasks
        ),
        samples=lambda start, end, tasks: samples_between(
            samples, origin, start, end, tasks
        ),
        merged=recorder.merged,
        phases=(PhaseRecord("before", 0, seconds),),
        windows=(),
        faults=(),
        task_groups={},
    )


def test_a_class_of_listeners_beside_a_class_of_pollers(healthy):
    """Stream tasks inside ``[[load.users]]`` classes: each stream sample
    (events, ``.connect``, ``.first_event``) carries its class, and a
    hypothesis's ``user_class`` sees that class's samples only."""
    listeners = UserClass(
        "Listener", (TaskSpec("ticks", "/events", stream=StreamSpec("sse")),),
        weight=2,
    )  # fmt: skip
    pollers = UserClass(
        "Poller", (TaskSpec("health", "/health"),), think=Think(0.05, 0.05)
    )
    config = LoadConfig(
        f"http://127.0.0.1:{healthy}", ClosedModel(3), (), duration=2, seed=3,
        timeout=2, classes=(listeners, pollers),
    )  # fmt: skip
    sink = MemorySink()
    asyncio.run(LoadEngine(config, sink).run())
    samples = sink.samples
    classes = collections.defaultdict(set)
    for sample in samples:
        classes[sample.task].add(sample.user_class)
    assert classes == {
        "ticks": {"Listener"},
        "ticks.connect": {"Listener"},
        "ticks.first_event": {"Listener"},
        "health": {"Poller"},
    }
    counts = by_task(samples)
    assert counts[("ticks.connect", None)] == 2  # two listeners, each held
    assert counts[("ticks", None)] > 10
    assert counts[("health", None)] > 5
    assert not [s for s in samples if s.error is not None]

    listener_connects, poller_connects, listener_errors = evaluate(
        [
            ThresholdHypothesis(
                name="listeners", phase="before", task="ticks.connect",
                metric="p95", below="1s", user_class="Listener", min_samples=1,
            ),
            ThresholdHypothesis(
                name="pollers", phase="before", task="ticks.connect",
                metric="p95", below="1s", user_class="Poller", min_samples=1,
            ),
            ErrorBudgetHypothesis(
                name="no errors", kind="error_budget", phase="before",
                error_class="sse_disconnect", max="0%", user_class="Listener",
            ),
        ],
        judged(samples, 2),
    )  # fmt: skip
    assert listener_connects.passed, listener_connects
    assert "class Listener" in listener_connects.expected
    assert not listener_connects.observed.startswith("no ")
    assert not poller_connects.passed  # the pollers open no stream
    assert listener_errors.passed, listener_errors
    scoped = judged(samples, 2).scoped("Poller")
    assert {s.task for s in scoped.samples(0, 2, None)} == {"health"}
