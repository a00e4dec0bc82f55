"""Server-sent events on the load path: a small reader of ``text/event-stream``.

Why our own: the async SSE clients on PyPI sit on httpx or aiohttp
(``httpx-sse``, ``aiohttp-sse-client``), which put a general client's
per-chunk cost under every event; the format itself is a dozen lines. This is
an ``asyncio.Protocol`` with ``httptools`` (as the HTTP client) reading the
response head and de-chunking the body, and a line parser that dispatches an
event at each blank line as the WHATWG specification says (``data``, ``id``,
``event``; ``:`` comments are signs of life). ``benchmarks/results/streams.md``
has the numbers.

An event's ``id`` that is an integer is its sequence: a jump is a gap. A
reconnect sends the last id seen as ``Last-Event-ID``, so a service that
resumes replays what was missed, and one that does not shows as a gap.
"""

from __future__ import annotations

import asyncio
from typing import cast

import httptools

from chaoskit.load.client import map_error
from chaoskit.load.streams import OpenFailed, Stream, StreamBroke, StreamRunner
from chaoskit.load.tasks import CompiledTask, UserState

__all__ = ["EventParser", "SseStream", "open_sse"]


class EventParser:
    """``text/event-stream`` bytes -> events, each handed to ``on_event`` as
    (id, size) once its blank line arrives; ``on_comment`` on each comment."""

    __slots__ = (
        "_buffer",
        "_data",
        "_id",
        "_size",
        "last_id",
        "on_comment",
        "on_event",
    )

    def __init__(self) -> None:
        self._buffer = b""
        self._data = False
        self._id: str | None = None
        self._size = 0
        self.last_id: str | None = None
        """The last event id the stream set (kept across events, per the spec)."""
        self.on_event: list[tuple[str | None, int]] = []
        """Events completed by the last :meth:`feed` (cleared by the caller)."""
        self.on_comment = False
        """A comment arrived in the last :meth:`feed`."""

    def feed(self, data: bytes) -> None:
        """Parse a chunk; completed events are appended to ``on_event``."""
        buffer = self._buffer + data if self._buffer else data
        lines = buffer.split(b"\n")
        self._buffer = lines.pop()
        for raw in lines:
            line = raw[:-1] if raw.endswith(b"\r") else raw
            self._size += len(raw) + 1
            if not line:
                if self._data:
                    self.on_event.append((self._id, self._size))
                self._data = False
                self._id = None
                self._size = 0
                continue
            if line[0] == 58:  # b":" a comment
                self.on_comment = True
                continue
            field, _, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if field == b"data":
                self._data = True
            elif field == b"id" and b"\0" not in value:
                self._id = self.last_id = value.decode("utf-8", "replace")


class _Protocol(asyncio.Protocol):
    def __init__(self, stream: SseStream) -> None:
        self.stream = stream
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.head: asyncio.Future[tuple[int, bytes]] = loop.create_future()
        self.ended: asyncio.Future[str] = loop.create_future()
        self._content_type = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._end(f"not HTTP: {error}")

    def connection_lost(self, exc: Exception | None) -> None:
        detail = map_error(exc)[1] if exc is not None else "closed by the server"
        self._end(detail)

    def _end(self, detail: str) -> None:
        if not self.head.done():
            self.head.set_exception(OpenFailed(detail))
            self.head.exception()  # read: awaited by ``open`` or by no one
        if not self.ended.done():
            self.ended.set_result(detail)
        if self.transport is not None:
            self.transport.close()

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"content-type":
            self._content_type = value.lower()

    def on_headers_complete(self) -> None:
        if not self.head.done():
            self.head.set_result((self.parser.get_status_code(), self._content_type))

    def on_body(self, body: bytes) -> None:
        self.stream.body(body)

    def on_message_complete(self) -> None:
        self._end("the server ended the stream")


class SseStream(Stream):
    """One SSE connection of a stream task."""

    def __init__(
        self,
        runner: StreamRunner,
        task: CompiledTask,
        state: UserState,
        resume: str | None,
    ) -> None:
        super().__init__(runner, task, state, resume)
        self._protocol: _Protocol | None = None
        self._events = EventParser()
        self._events.last_id = resume
        self._now = runner.clock.now_ns

    def _request(self) -> bytes:
        ctx = self.state
        lines = [
            f"GET {self.task.target(ctx)} HTTP/1.1",
            f"Host: {self.runner.target.host}",
            "User-Agent: chaoskit",
            "Accept: text/event-stream",
            "Cache-Control: no-cache",
        ]
        if self.resume is not None:
            lines.append(f"Last-Event-ID: {self.resume}")
        lines += [f"{k}: {v}" for k, v in self.task.header_pairs(ctx)]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def open(self) -> None:
        """Connect, send the request, read the response head.

        Raises:
            OpenFailed: refused, timed out, not a 2xx ``text/event-stream``.
        """
        loop = asyncio.get_running_loop()
        target = self.runner.target
        try:
            async with asyncio.timeout(self.task.timeout):
                _, protocol = await loop.create_connection(
                    lambda: _Protocol(self), target.address, target.port
                )
                self._protocol = protocol
                assert protocol.transport is not None  # noqa: S101 - set on connect
                protocol.transport.write(self._request())
                status, content_type = await protocol.head
        except OpenFailed:
            self.close()
            raise
        except (OSError, TimeoutError) as error:
            self.close()
            raise OpenFailed(map_error(error)[1]) from None
        if status not in self.task.expect:
            self.close()
            raise OpenFailed(str(status), status)
        if not content_type.startswith(b"text/event-stream"):
            self.close()
            raise OpenFailed(f"{status} {content_type.decode('latin-1')}", status)

    def body(self, data: bytes) -> None:
        """Body bytes: parse them, record each complete event."""
        events = self._events
        events.feed(data)
        now = self._now()
        if events.on_comment:
            events.on_comment = False
            self.last_ns = now
        if events.on_event:
            for event_id, size in events.on_event:
                sequence = None
                if event_id is not None and event_id.isdigit():
                    sequence = int(event_id)
                self.received(size, sequence, now)
                if sequence is None and event_id is not None:
                    self.last_id = event_id
            events.on_event.clear()

    async def run(self) -> None:
        """Wait for the stream to end (events arrive through :meth:`body`).

        Raises:
            StreamBroke: always, when the stream ends.
        """
        assert self._protocol is not None  # noqa: S101 - opened first
        raise StreamBroke(await self._protocol.ended)

    def close(self) -> None:
        """Close the connection."""
        protocol = self._protocol
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()


def open_sse(
    runner: StreamRunner, task: CompiledTask, state: UserState, resume: str | None
) -> Stream:
    """An SSE stream for ``task`` (the runner's opener for ``kind = "sse"``)."""
    return SseStream(runner, task, state, resume)
