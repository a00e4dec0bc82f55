"""Task markers: each response checked for a header, a JSON value or a status."""

from __future__ import annotations

import uvloop

from chaoskit.load import ClosedModel, LoadConfig, LoadEngine, TaskSpec
from chaoskit.load.taskspec import Marker
from chaoskit.metrics import Recorder
from chaoskit.records import MemorySink


def run(url: str, *tasks: TaskSpec, requests: int = 6) -> tuple[MemorySink, Recorder]:
    memory, recorder = MemorySink(), Recorder(phase="during")
    config = LoadConfig(
        base_url=url,
        model=ClosedModel(users=1),
        tasks=tasks,
        duration=10,
        max_requests=requests,
        timeout=5,
    )
    uvloop.run(LoadEngine(config, [memory, recorder]).run())
    assert len(memory.samples) == requests
    return memory, recorder


def test_header_json_and_status_markers(app) -> None:
    header = Marker(header="X-Fallback", equals="cache")
    tasks = [
        TaskSpec("header", "/marked?via=header", marker=header),
        TaskSpec("header-missing", "/marked?via=json", marker=header),
        TaskSpec("json", "/marked?via=json", marker=Marker(json_path="$.fallback")),
        TaskSpec("json-null", "/marked", marker=Marker(json_path="$.fallback")),
        TaskSpec("status", "/status/203", marker=Marker(status=(203,))),
        TaskSpec("none", "/marked?via=header+json"),
    ]
    for task in tasks:
        memory, recorder = run(app.url, task, requests=3)
        marks = {s.marked for s in memory.samples}
        stats = recorder.merged(["during"], None)
        assert stats is not None
        expected = task.name in ("header", "json", "status")
        assert marks == {expected}, task.name
        assert stats.marked == (3 if expected else 0), task.name


def test_json_marker_compares_as_text(app) -> None:
    cache = Marker(json_path="$.fallback", equals="cache")
    other = Marker(json_path="$.fallback", equals="default")
    memory, _ = run(
        app.url,
        TaskSpec("cache", "/marked?via=json", marker=cache, weight=1),
        TaskSpec("other", "/marked?via=json", marker=other, weight=1),
        requests=10,
    )
    by_task = {(s.task, s.marked) for s in memory.samples}
    assert by_task == {("cache", True), ("other", False)}
