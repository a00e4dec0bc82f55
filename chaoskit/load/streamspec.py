"""A stream task as configured: a WebSocket or SSE stream a user holds open.

Frozen values the spec module builds from a task with ``kind = "websocket"``
or ``kind = "sse"``; they ride on :class:`~chaoskit.load.taskspec.TaskSpec`
as its ``stream``, so a stream task has a task's name, path, weight, headers
and timeout like any other.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from chaoskit.load.errors import LoadConfigError

__all__ = ["StreamMessage", "StreamSpec", "message_text"]


def message_text(value: str | Mapping[str, object]) -> str:
    """A message as sent: text as written, a table as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class StreamMessage:
    """One WebSocket exchange: ``send``, then the first message containing
    ``expect`` (any message when None) ends it.

    Args:
        send: the text sent (templates allowed).
        expect: text the answer contains.
    """

    send: str
    expect: str | None = None

    @classmethod
    def of(cls, send: str | Mapping[str, object], expect: str | None) -> StreamMessage:
        """From the file's form: a table is sent as compact JSON."""
        return cls(message_text(send), expect)


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """How a stream task holds its stream.

    Args:
        kind: ``"websocket"`` or ``"sse"``.
        subscribe: WebSocket: a message sent once the connection is open.
        messages: WebSocket: exchanges, all of them once per round, a round per
            think time; empty: every message (or SSE event) received is a
            sample, its latency the wait since the previous one.
        sequence: WebSocket: a JSON path to each message's sequence number
            (SSE reads the event ``id``); a jump is a gap error.
        hold: seconds a connection is held before the user moves on; None:
            to the end of the run.
        reconnect: seconds to wait before reconnecting after a break.
        idle: seconds of silence counted as a ``timeout`` (then reconnect);
            None: no limit.
    """

    kind: Literal["websocket", "sse"]
    subscribe: str | None = None
    messages: tuple[StreamMessage, ...] = ()
    sequence: str | None = None
    hold: float | None = None
    reconnect: float = 0.5
    idle: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("websocket", "sse"):
            raise LoadConfigError(
                "tasks.kind",
                "is not a stream kind",
                self.kind,
                allowed="websocket, sse",
            )
        for name, value in (("hold", self.hold), ("idle", self.idle)):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise LoadConfigError(f"tasks.{name}", "must be > 0", value)
        if not (math.isfinite(self.reconnect) and 0 <= self.reconnect <= 3600):
            raise LoadConfigError(
                "tasks.reconnect", "is out of range", self.reconnect, allowed="0..1h"
            )
