"""Stream tasks (``kind = "websocket"`` and ``kind = "sse"``): their extra
sample names and their rules.

A stream task is a task like any other (same table, same name, path, weight,
headers, timeout), so wherever tasks are declared, two calls make it work:
:func:`task_sample_names` for the names hypotheses may pick (``feed`` and
``feed.connect``), and :func:`check_stream_task` for what only a stream task
may set and what it needs (the closed model).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chaoskit.errors import SpecIssue
from chaoskit.records import stream_sample_name, stream_sample_parts
from chaoskit.units import format_duration

if TYPE_CHECKING:
    from chaoskit.spec.model import TaskSection

__all__ = [
    "STREAM_KINDS",
    "check_stream_task",
    "describe_stream_task",
    "task_sample_names",
]

STREAM_KINDS = ("websocket", "sse")

# Keys only some kinds read: key -> the kinds that read it.
_ONLY = {
    "subscribe": ("websocket",),
    "messages": ("websocket",),
    "sequence": ("websocket",),
    "hold": STREAM_KINDS,
    "reconnect": STREAM_KINDS,
    "idle": STREAM_KINDS,
    "json": ("http",),
    "form": ("http",),
    "files": ("http",),
    "capture": ("http",),
    "marker": ("http",),
    "ack": ("http",),
}


def task_sample_names(item: object) -> list[str]:
    """Every sample name a task (its raw table) records: its own name, then a
    stream task's ``<name>.connect`` (and ``<name>.first_event`` for SSE).

    Empty when the item has no name. The kind is read as written; an unknown
    one adds nothing (it is reported on its own).
    """
    if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
        return []
    name: str = item["name"]
    kind = item.get("kind", "http")
    parts = stream_sample_parts(kind) if isinstance(kind, str) else ()
    return [name, *(stream_sample_name(name, part) for part in parts)]


def describe_stream_task(task: TaskSection) -> str:
    """A stream task as ``validate`` shows it: the kind, what it does, its extra
    sample names."""
    kind = "WebSocket" if task.kind == "websocket" else "SSE"
    does = f"{len(task.messages)} exchange(s) a round" if task.messages else "receive"
    hold = f", held {format_duration(task.hold)}" if task.hold else ""
    extra = ", ".join(
        stream_sample_name(task.name, part) for part in stream_sample_parts(task.kind)
    )
    return f"{kind} {task.path} ({does}{hold}; also {extra})"


def check_stream_task(
    where: str, task: TaskSection, raw: Mapping[str, Any], *, model: str, step: bool
) -> list[SpecIssue]:
    """What a task of its kind may not set, and what a stream task needs.

    Args:
        where: the task's key path (``load.tasks[2]``).
        task: the validated task.
        raw: the task's table as written (which keys were set).
        model: the load model (``"open"`` or ``"closed"``).
        step: the task is a flow step (``on_start``, ``on_stop``, heartbeat),
            where a stream cannot be held.
    """
    issues: list[SpecIssue] = []
    for key, kinds in _ONLY.items():
        if key in raw and task.kind not in kinds:
            issues.append(
                SpecIssue(
                    f"{where}.{key}",
                    f"is not read by a {task.kind!r} task",
                    raw[key],
                    "kind = " + " | ".join(repr(k) for k in kinds),
                )
            )
    if task.kind not in STREAM_KINDS:
        return issues
    if step:
        issues.append(
            SpecIssue(
                f"{where}.kind",
                "a flow step is one request; a stream is held by a weighted task",
                task.kind,
                '"http"',
            )
        )
    elif model != "closed":
        issues.append(
            SpecIssue(
                f"{where}.kind",
                "stream tasks need the closed model: a user holds each stream "
                "open, which arrivals at a rate cannot",
                task.kind,
                'load.model = "closed" with users',
            )
        )
    if task.method.upper() != "GET":
        issues.append(
            SpecIssue(f"{where}.method", "a stream opens with GET", task.method, "GET")
        )
    if task.kind == "websocket":
        for index, message in enumerate(task.messages):
            if isinstance(message.send, str) and not message.send:
                issues.append(
                    SpecIssue(
                        f"{where}.messages[{index}].send",
                        "is empty",
                        message.send,
                        "text or a table",
                    )
                )
        if task.sequence is not None and not task.sequence.startswith("$"):
            issues.append(
                SpecIssue(
                    f"{where}.sequence",
                    "is not a JSON path",
                    task.sequence,
                    '"$.seq"',
                )
            )
    return issues
