"""Error classes from real failures: timeouts, refusals, resets, bad HTTP, bodies,
requests cut off in flight. A body pattern is a tag beside the status class."""

from __future__ import annotations

import asyncio

import uvloop

from chaoskit.load import ClosedModel, LoadConfig, LoadEngine, OpenModel, TaskSpec
from chaoskit.metrics import Recorder
from chaoskit.records import ErrorClass, MemorySink, error_keys


def errors_of(url, *tasks, timeout=5.0, patterns=None, requests=4):
    memory = MemorySink()
    config = LoadConfig(
        base_url=url,
        model=ClosedModel(users=2),
        tasks=tasks,
        duration=10,
        max_requests=requests,
        timeout=timeout,
        error_patterns=patterns or {},
    )
    uvloop.run(LoadEngine(config, memory).run())
    assert len(memory.samples) == requests
    return {
        (s.error, s.detail if s.error is not ErrorClass.TIMEOUT else "")
        for s in memory.samples
    }


def test_timeout_is_classified_and_bounded(app):
    got = errors_of(app.url, TaskSpec("slow", "/stall?s=2"), timeout=0.2, requests=2)
    assert got == {(ErrorClass.TIMEOUT, "")}


def test_refused_connection(refused_url):
    ((error, _),) = errors_of(refused_url, TaskSpec("t", "/"))
    assert error is ErrorClass.CONNECT_REFUSED


def test_reset_connection(raw_server):
    server = raw_server("reset")
    (error, _), *_ = errors_of(server.url, TaskSpec("t", "/"))
    assert error is ErrorClass.RESET


def test_invalid_http_is_a_protocol_error(raw_server):
    server = raw_server("garbage")
    (error, _), *_ = errors_of(server.url, TaskSpec("t", "/"))
    assert error is ErrorClass.PROTOCOL


def test_silent_server_times_out(raw_server):
    server = raw_server("silent")
    got = errors_of(server.url, TaskSpec("t", "/"), timeout=0.2, requests=2)
    assert got == {(ErrorClass.TIMEOUT, "")}


def test_body_patterns_are_tags_beside_the_status(app):
    """A 500 saying "database is locked" is http_5xx, tagged with the user's
    pattern and the built-in lock: a hypothesis on any of them counts it."""
    memory = MemorySink()
    config = LoadConfig(
        base_url=app.url, model=ClosedModel(users=2), tasks=(TaskSpec("w", "/locked"),),
        duration=10, max_requests=4, error_patterns={"db_locked": "database is locked"},
    )  # fmt: skip
    uvloop.run(LoadEngine(config, memory).run())
    assert {(s.error, s.detail, s.tags) for s in memory.samples} == {
        (ErrorClass.HTTP_5XX, "500 (db_locked, lock)", ("db_locked", "lock"))
    }
    assert {error_keys(s) for s in memory.samples} == {
        ("http_5xx", "body_pattern:db_locked", "body_pattern:lock")
    }


def test_requests_in_flight_when_the_load_is_cut_off_are_unfinished(raw_server):
    """A server that never answers, a 30 s timeout, a load cut after 0.5 s: every
    request sent is counted (``unfinished``), none vanishes."""
    server = raw_server("silent")
    recorder, memory = Recorder(), MemorySink()
    config = LoadConfig(
        base_url=server.url, model=OpenModel(rate=20, users=4),
        tasks=(TaskSpec("t", "/"),), duration=5, timeout=30,
    )  # fmt: skip
    engine = LoadEngine(config, [recorder, memory])

    async def cut_off() -> None:
        run = asyncio.ensure_future(engine.run())
        await asyncio.sleep(1.0)
        engine.stop()  # stops dispatching; the requests in flight keep waiting
        await asyncio.sleep(0.2)
        assert not run.done()
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)

    uvloop.run(cut_off())
    status = engine.status()
    assert status.sent >= 10
    assert len(memory.samples) == status.due
    assert {s.error for s in memory.samples} == {ErrorClass.UNFINISHED}
    assert recorder.snapshot().errors == {"unfinished": status.sent}


def test_statuses_against_expectations(app):
    assert errors_of(app.url, TaskSpec("s", "/status/503")) == {
        (ErrorClass.HTTP_5XX, "503")
    }
    assert errors_of(app.url, TaskSpec("s", "/status/429")) == {
        (ErrorClass.HTTP_4XX, "429")
    }
    negative = TaskSpec("neg", "/status/404", expect=("4xx",))
    assert errors_of(app.url, negative) == {(None, "")}
    wrong = TaskSpec("neg", "/fast", expect=(404,))
    assert errors_of(app.url, wrong) == {(ErrorClass.UNEXPECTED_STATUS, "200")}


def test_per_user_error_counts_show_who_hit_lock_errors(app):
    recorder = Recorder()
    tasks = (TaskSpec("ok", "/fast"), TaskSpec("w", "/locked", weight=1))
    config = LoadConfig(
        base_url=app.url,
        model=OpenModel(rate=200, users=4),
        tasks=tasks,
        duration=0.5,
        error_patterns={"db_locked": "database is locked"},
    )
    uvloop.run(LoadEngine(config, recorder).run())
    snap = recorder.snapshot()
    assert set(snap.user_errors) == {0, 1, 2, 3}
    assert all(
        set(e) == {"http_5xx", "body_pattern:db_locked", "body_pattern:lock"}
        for e in snap.user_errors.values()
    )
    assert snap.tasks["ok"].errors == 0
