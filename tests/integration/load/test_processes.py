"""The native engine over several generator processes, against a real server on
loopback: every process's samples arrive, the merged load is the one-process
load, a killed process is reported while the others go on, no process
outlives the engine. No timed assertions: counts and identities only."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from pathlib import Path

import uvloop

from chaoskit.load import ClosedModel, LoadConfig, OpenModel, TaskSpec
from chaoskit.load.arrivals import arrival_times
from chaoskit.load.config import UserClass
from chaoskit.load.processes import ProcessEngine
from chaoskit.load.share import split
from chaoskit.metrics import Recorder
from chaoskit.records import MemorySink, ValueLog

NS = 1_000_000_000
FAST = TaskSpec("fast", "/fast")


def run(engine: ProcessEngine, starts: list[int] | None = None, during=None):
    """Run it; with ``starts``, the schedule starts a little after every
    process is ready, at a time appended to ``starts``."""

    async def main():
        await engine.prepare()
        start = None
        if starts is not None:
            start = time.monotonic_ns() + NS // 5
            starts.append(start)
        task = asyncio.ensure_future(engine.run(start))
        if during is not None:
            await during(engine)
        return await task

    return uvloop.run(main())


def gone(pid: int) -> bool:
    """Exited (a zombie counts: it waits only for its reaper)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.split(")")[-1].split()[0] == "Z"


def test_open_model_arrivals_of_two_processes_are_the_one_process_schedule(app):
    memory = MemorySink()
    config = LoadConfig(
        base_url=app.url, model=OpenModel(rate=200, users=10), tasks=(FAST,),
        duration=1.5, seed=11,
    )  # fmt: skip
    engine = ProcessEngine(config, 2, [memory])
    starts: list[int] = []
    status = run(engine, starts)
    (start,) = starts
    expected = [start + int(t * NS) for t in arrival_times(lambda t: 200.0, 1.5)]
    assert status.due == len(expected) == 300
    assert sorted(s.intended_ns for s in memory.samples) == expected
    assert status.errors == 0
    assert not engine.losses
    # Each process used its own identities: 0, 2, 4... and 1, 3, 5...
    users = Counter(s.user % 2 for s in memory.samples)
    assert users == {0: 150, 1: 150}
    assert {s.user for s in memory.samples} == set(range(10))
    assert all(gone(pid) for pid in engine.pids)


def test_closed_model_classes_are_shared_and_identities_unique(app):
    memory, recorder = MemorySink(), Recorder()
    classes = (
        UserClass("a", (FAST,), weight=3.0),
        UserClass("b", (TaskSpec("echo", "/echo"),), fixed_count=1),
    )
    config = LoadConfig(
        base_url=app.url, model=ClosedModel(users=6), tasks=(), classes=classes,
        duration=1.0, max_requests=600,
    )  # fmt: skip
    engine = ProcessEngine(config, 3, [memory, recorder])
    status = run(engine)
    # Users 0..5 over three processes (position p in process p % 3), each of
    # the class one process gives position p: b (fixed) first, then a.
    classes_of = {s.user: s.user_class for s in memory.samples}
    assert sorted(classes_of) == list(range(6))
    assert classes_of[0] == "b"
    assert Counter(classes_of.values()) == {"a": 5, "b": 1}
    # The request budget is split: no more than it in all.
    assert status.due == len(memory.samples) <= 600
    recorder.close()
    assert recorder.snapshot().total.count == len(memory.samples)
    assert all(gone(pid) for pid in engine.pids)


def test_values_observed_in_the_processes_reach_the_parent(app):
    values = ValueLog()
    task = TaskSpec("echo", "/echo", observe=("header:content-length",))
    config = LoadConfig(
        base_url=app.url, model=OpenModel(rate=100), tasks=(task,), duration=0.5
    )
    engine = ProcessEngine(config, 2, [MemorySink()], values=values)
    status = run(engine)
    observed = values.values.get(("echo", "header:content-length"), [])
    missing = values.missing.get(("echo", "header:content-length"), [])
    assert len(observed) + len(missing) == status.completed == 50


def test_a_process_killed_mid_run_is_reported_and_the_others_go_on(app):
    memory = MemorySink()
    config = LoadConfig(
        base_url=app.url, model=ClosedModel(users=4), tasks=(FAST,), duration=60.0
    )
    lost = []
    killed_at: list[int] = []

    async def kill_one(engine: ProcessEngine) -> None:
        # Wait until both processes have sent samples, then SIGKILL one.
        for _ in range(600):  # bounded: 60 s
            if len({s.user % 2 for s in memory.samples}) == 2:
                break
            await asyncio.sleep(0.1)
        killed_at.append(time.monotonic_ns())
        os.kill(engine.pids[1], signal.SIGKILL)
        for _ in range(600):  # the loss is noticed, and process 0 goes on
            if engine.losses and any(
                s.intended_ns > engine.losses[0].at_ns for s in memory.samples
            ):
                break
            await asyncio.sleep(0.1)
        engine.stop()

    engine = ProcessEngine(config, 2, [memory], lost=lost.append)
    run(engine, during=kill_one)
    (loss,) = lost
    assert loss.index == 1
    assert loss.pid == engine.pids[1]
    assert loss.how == "killed by SIGKILL"
    assert loss.share == "2 of 4 users"
    after = [s for s in memory.samples if s.intended_ns > loss.at_ns]
    assert after
    assert {s.user % 2 for s in after} == {0}
    assert all(gone(pid) for pid in engine.pids)


def test_stop_before_the_end_stops_every_process(app):
    config = LoadConfig(
        base_url=app.url, model=OpenModel(rate=50), tasks=(FAST,), duration=300.0
    )

    async def stop_soon(engine: ProcessEngine) -> None:
        await asyncio.sleep(0.3)
        engine.stop()

    engine = ProcessEngine(config, 2, [MemorySink()])
    run(engine, during=stop_soon)
    assert len(engine.pids) == 2
    assert all(gone(pid) for pid in engine.pids)
    assert [c.part for c in engine.children] == split(2)
