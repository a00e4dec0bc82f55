"""Samples, acks and values of several processes, merged in the parent: the same
statistics as one process on the same samples (no processes started here)."""

from __future__ import annotations

import pickle
import random

import pytest

from chaoskit.load import LoadConfig, OpenModel, TaskSpec
from chaoskit.load.config import ClosedModel
from chaoskit.load.engine import EngineStatus
from chaoskit.load.processes import (
    ProcessEngine,
    _Child,
    _describe_exit,
    _frame,
    _pack,
    process_count,
)
from chaoskit.load.share import split
from chaoskit.metrics import Recorder
from chaoskit.records import AckLog, ErrorClass, Sample, ValueLog

NS = 1_000_000_000
ORIGIN = 10 * NS
TASKS = (TaskSpec("browse", "/"),)


def recorded(count: int) -> list[Sample]:
    """A recorded-looking load: two tasks, two classes, errors and drops."""
    rng = random.Random(5)
    samples = []
    for i in range(count):
        intended = ORIGIN + i * NS // 500
        sent = intended + rng.randrange(0, 200_000)
        end = sent + int(rng.lognormvariate(15, 0.6))
        error, detail, status = None, "", 200
        roll = rng.random()
        if roll < 0.03:
            error, detail, status = ErrorClass.HTTP_5XX, "503", 503
        elif roll < 0.04:
            error, detail, status, sent, end = (
                ErrorClass.DROPPED, "in-flight cap reached", 0, 0, intended,
            )  # fmt: skip
        samples.append(
            Sample(
                "browse" if i % 3 else "buy",
                i % 40,
                intended,
                sent,
                end,
                status,
                120,
                300,
                error,
                detail,
                user_class="a" if i % 5 else "b",
            )
        )
    return samples


def batches(samples: list[Sample], count: int, every_ns: int = NS // 20):
    """What ``count`` processes would send: each its own samples (the
    part's users), in batches of 50 ms, the batches interleaved by time."""
    out = []
    for part in split(count):
        own = [s for s in samples if s.user % count == part.index]
        batch: list[Sample] = []
        for sample in own:
            if batch and sample.intended_ns - batch[0].intended_ns >= every_ns:
                out.append((batch[0].intended_ns, part, batch))
                batch = []
            batch.append(sample)
        if batch:
            out.append((batch[0].intended_ns, part, batch))
    out.sort(key=lambda b: (b[0], b[1].index))
    return out


@pytest.mark.parametrize("count", [2, 3])
def test_merged_statistics_are_one_process_statistics(count):
    samples = recorded(5000)
    one = Recorder(origin_ns=ORIGIN, settle_s=3)
    for sample in samples:
        one.write(sample)
    one.close()

    merged = Recorder(origin_ns=ORIGIN, settle_s=3)
    config = LoadConfig(
        base_url="http://127.0.0.1:1",
        model=OpenModel(rate=500),
        tasks=TASKS,
        duration=1,
    )
    engine = ProcessEngine(config, count, [merged])
    children = {part: _Child(part, None) for part in split(count)}  # type: ignore[arg-type]
    status = EngineStatus(0.0, 0, 0, 0, 0, 0, 0, 0)
    for _, part, batch in batches(samples, count):
        # Through the wire's own encoding, as a process sends it.
        frame = _frame(("batch", _pack(batch), None, None, status))
        message = pickle.loads(frame[4:])  # noqa: S301 - made just above
        engine._deliver(children[part], *message[1:])
    merged.close()

    a, b = one.snapshot(), merged.snapshot()
    assert b.total == a.total
    assert b.tasks == a.tasks
    assert b.classes == a.classes
    assert b.phases == a.phases
    assert b.windows == a.windows
    assert b.errors == a.errors
    assert b.user_errors == a.user_errors
    assert sorted(b.error_examples) == sorted(a.error_examples)


def test_acks_and_values_of_every_process_are_merged():
    config = LoadConfig(
        base_url="http://127.0.0.1:1", model=OpenModel(rate=1), tasks=TASKS, duration=1
    )
    acks, values = AckLog(), ValueLog()
    engine = ProcessEngine(config, 2, [], acks=acks, values=values)
    status = EngineStatus(1.0, 3, 3, 3, 0, 0, 0, 2)
    for index, part in enumerate(split(2)):
        child = _Child(part, None)  # type: ignore[arg-type]
        engine.children.append(child)
        engine._deliver(
            child, [],
            ([("w", f"id{index}")], [("w", f"m{index}")], {"w": index + 1}),
            ({("r", "p"): [(index, 1.5)]}, {("r", "p"): [index]}),
            status,
        )  # fmt: skip
    assert acks.acked == [("w", "id0"), ("w", "id1")]
    assert acks.indeterminate == [("w", "m0"), ("w", "m1")]
    assert acks.unknown == {"w": 3}
    assert values.values == {("r", "p"): [(0, 1.5), (1, 1.5)]}
    assert values.missing == {("r", "p"): [0, 1]}
    engine._start_ns = 1
    summed = engine.status()
    assert (summed.due, summed.completed, summed.users) == (6, 6, 4)


def test_process_count():
    open_model = LoadConfig(
        base_url="http://127.0.0.1:1", model=OpenModel(rate=1), tasks=TASKS, duration=1
    )
    closed = LoadConfig(
        base_url="http://127.0.0.1:1", model=ClosedModel(users=3), tasks=TASKS,
        duration=1,
    )  # fmt: skip
    assert process_count(4, open_model) == 4
    assert process_count(8, closed) == 3  # never more processes than users
    assert process_count("auto", open_model) >= 1


def test_exits_in_words():
    assert _describe_exit(-9) == "killed by SIGKILL"
    assert _describe_exit(1) == "exited with status 1"
    assert "still running" in _describe_exit(None)


def test_a_process_that_does_not_start_is_a_service_error(monkeypatch, tmp_path):
    import asyncio
    import sys

    from chaoskit.errors import ServiceError

    config = LoadConfig(
        base_url="http://127.0.0.1:1", model=OpenModel(rate=1), tasks=TASKS, duration=1
    )
    monkeypatch.setattr(sys, "executable", "/bin/false")  # exits at once
    engine = ProcessEngine(config, 2, [], log_dir=tmp_path)
    with pytest.raises(ServiceError, match="load-process"):
        asyncio.run(engine.prepare())
    assert all(child.proc.poll() is not None for child in engine.children)
