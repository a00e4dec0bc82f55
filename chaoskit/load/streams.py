"""Stream tasks on the load path: a user holds a WebSocket or SSE stream open.

One loop for both kinds (:class:`StreamRunner`): connect, receive (or run the
WebSocket exchanges), notice a break, wait ``reconnect``, connect again, until
the hold ends or the user stops. The protocol lives in :mod:`websocket` and
:mod:`sse`; each hands this loop a :class:`Stream` whose failures arrive as
:class:`OpenFailed` or :class:`StreamBroke`, and this module is where those
become error classes (the kind's ``*_connect_failed``, ``*_disconnect``,
``*_gap``).

What is recorded, each as a :class:`~chaoskit.records.Sample`:

* ``<task>.connect``: from the connect's intended start to the stream open
  (the WebSocket handshake done, the SSE response head read);
* ``<task>.first_event`` (SSE): from the same start to the first event;
* ``<task>``: one sample per message or event received (its latency the wait
  since the previous one, or since the stream opened), or per exchange
  (``messages``: from the send to the answer); a break is a sample with the
  kind's disconnect class, a silence longer than ``idle`` a ``timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable

from chaoskit.clock import Clock
from chaoskit.load.config import Think
from chaoskit.load.exchange import Counters
from chaoskit.load.tasks import CompiledTask, UserState
from chaoskit.records import ErrorClass, Sample, stream_sample_name

__all__ = ["OpenFailed", "Stream", "StreamBroke", "StreamRunner", "StreamTarget"]

_NS = 1_000_000_000
_POLL_S = 0.1  # how often a held stream notices the user stopping

_CLASSES = {
    "websocket": (
        ErrorClass.WS_CONNECT_FAILED, ErrorClass.WS_DISCONNECT, ErrorClass.WS_GAP
    ),
    "sse": (
        ErrorClass.SSE_CONNECT_FAILED, ErrorClass.SSE_DISCONNECT, ErrorClass.SSE_GAP
    ),
}  # fmt: skip


class OpenFailed(Exception):
    """The stream could not be opened: refused, timed out, a wrong status."""

    def __init__(self, detail: str, status: int = 0) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


class StreamBroke(Exception):
    """The stream ended or broke while held (the peer closed it, a reset)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class StreamTarget:
    """Where streams connect: the resolved address and the URL's parts.

    Args:
        address: the IP address to connect to.
        port: the port.
        host: the ``Host`` header (the base URL's netloc).
    """

    __slots__ = ("address", "host", "port")

    def __init__(self, address: str, port: int, host: str) -> None:
        self.address = address
        self.port = port
        self.host = host


class Stream:
    """One stream connection, opened by :meth:`open` and read by :meth:`run`.

    Subclasses call :meth:`received` for each message or event; the runner
    reads ``last_ns`` (the last sign of life) for ``idle``.

    Args:
        runner: the runner that records.
        task: the stream task.
        state: the user.
        resume: the last event id seen on this hold's previous connection
            (SSE sends it as ``Last-Event-ID``).
    """

    def __init__(
        self,
        runner: StreamRunner,
        task: CompiledTask,
        state: UserState,
        resume: str | None,
    ) -> None:
        self.runner = runner
        self.task = task
        self.state = state
        self.resume = resume
        self.last_ns = 0
        self.last_id: str | None = resume
        self.think = Think()
        """The user's think time: the pause between exchange rounds."""
        self.stopping = False
        """Set when the task is done with the stream: an exchange round in
        flight finishes (counted), no new one starts."""
        self._opened_ns = 0
        self._first_at = 0

    async def open(self) -> None:
        """Connect and finish the handshake (within the task's timeout).

        Raises:
            OpenFailed: the stream could not be opened.
        """
        raise NotImplementedError

    async def run(self) -> None:
        """Receive (or run the exchanges) until the stream ends.

        Raises:
            StreamBroke: the stream ended or broke.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Close the connection (the task's own close: no sample)."""
        raise NotImplementedError

    def opened(self, intended_ns: int, now_ns: int) -> None:
        """The stream is open: the next message's wait counts from now."""
        self._opened_ns = self.last_ns = now_ns
        self._first_at = intended_ns

    def received(self, size: int, sequence: int | None, now_ns: int) -> None:
        """A message or event arrived: its sample, a gap if ``sequence`` jumped,
        and the time to the first event (SSE)."""
        runner = self.runner
        task = self.task
        if self._first_at and task.stream is not None and task.stream.kind == "sse":
            runner.emit(
                task, self.state.user, self._first_at, now_ns, 200, size, None, "",
                part="first_event",
            )  # fmt: skip
        self._first_at = 0
        error: ErrorClass | None = None
        detail = ""
        if sequence is not None:
            last = _integer(self.last_id)
            if last is not None and sequence > last + 1:
                error = runner.classes(task)[2]
                detail = f"{sequence} after {last}: {sequence - last - 1} missed"
            self.last_id = str(sequence)
        if not task.messages:  # receive mode: each message is a sample
            runner.emit(
                task, self.state.user, self.last_ns, now_ns, 200, size, error, detail
            )
        elif error is not None:
            runner.emit(task, self.state.user, now_ns, now_ns, 200, size, error,
                        detail)  # fmt: skip
        self.last_ns = now_ns


def _integer(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


Opener = Callable[["StreamRunner", CompiledTask, UserState, "str | None"], Stream]
"""Builds a kind's :class:`Stream` (the runner is handed one per kind)."""


class StreamRunner:
    """Holds stream tasks for the closed model's users.

    Args:
        target: where to connect.
        openers: kind -> the function that builds its :class:`Stream`.
        write: the sink's ``write``.
        counters: the engine's live counts.
        clock: the time source.
    """

    def __init__(
        self,
        target: StreamTarget,
        openers: dict[str, Opener],
        write: Callable[[Sample], None],
        counters: Counters,
        clock: Clock,
    ) -> None:
        self.target = target
        self.openers = openers
        self.write = write
        self.counters = counters
        self.clock = clock

    def classes(self, task: CompiledTask) -> tuple[ErrorClass, ErrorClass, ErrorClass]:
        """The task kind's connect-failed, disconnect and gap classes."""
        assert task.stream is not None  # noqa: S101 - only stream tasks come here
        return _CLASSES[task.stream.kind]

    def emit(
        self,
        task: CompiledTask,
        user: int,
        intended_ns: int,
        end_ns: int,
        status: int,
        received: int,
        error: ErrorClass | None,
        detail: str,
        *,
        part: str | None = None,
        sent: int = 0,
    ) -> None:
        """Record one sample of ``task`` (or of its ``<task>.<part>``, e.g.
        ``connect``), with the task's user class, and count it."""
        name = task.name if part is None else stream_sample_name(task.name, part)
        counters = self.counters
        counters.due += 1
        counters.sent += 1
        counters.completed += 1
        if error is not None:
            counters.errors += 1
        self.write(
            Sample(
                name, user, intended_ns, intended_ns, end_ns, status, sent,
                received, error, detail, user_class=task.user_class,
            )
        )  # fmt: skip

    async def hold(
        self,
        task: CompiledTask,
        state: UserState,
        due_ns: int,
        done: Callable[[], bool],
        think: Think,
    ) -> int:
        """Hold ``task``'s stream from ``due_ns`` until its ``hold`` ends or
        ``done()``; reconnect after each break. ``think`` paces the exchange
        rounds (the user's think time). Returns when it ended (ns)."""
        spec = task.stream
        assert spec is not None  # noqa: S101 - only stream tasks come here
        clock = self.clock
        until = math.inf if spec.hold is None else due_ns + spec.hold * _NS
        connect_failed, disconnect, _ = self.classes(task)
        resume: str | None = None
        intended = due_ns
        while not done() and clock.now_ns() < until:
            stream = self.openers[spec.kind](self, task, state, resume)
            stream.think = think
            try:
                await stream.open()
            except OpenFailed as failed:
                self.emit(task, state.user, intended, clock.now_ns(), failed.status,
                          0, connect_failed, failed.detail, part="connect")  # fmt: skip
                intended = await self._pause(spec.reconnect, until, done)
                continue
            now = clock.now_ns()
            self.emit(task, state.user, intended, now, 101 if spec.kind ==
                      "websocket" else 200, 0, None, "", part="connect")  # fmt: skip
            stream.opened(intended, now)
            ended = await self._watch(stream, spec.idle, until, done)
            resume = stream.last_id
            if ended is None:
                break  # the task closed it: the hold is over
            error, detail = ended
            self.emit(task, state.user, stream.last_ns, clock.now_ns(), 0, 0,
                      error or disconnect, detail)  # fmt: skip
            intended = await self._pause(spec.reconnect, until, done)
        return clock.now_ns()

    async def _watch(
        self, stream: Stream, idle: float | None, until: float, done: Callable[[], bool]
    ) -> tuple[ErrorClass | None, str] | None:
        """Run the stream until it breaks (its error: None means the kind's
        disconnect class), goes idle, or is no longer wanted (None)."""
        clock = self.clock
        reader = asyncio.ensure_future(stream.run())
        try:
            while True:
                finished, _ = await asyncio.wait({reader}, timeout=_POLL_S)
                if finished:
                    try:
                        reader.result()
                    except StreamBroke as broke:
                        return None, broke.detail
                    return None, "the stream ended"
                now = clock.now_ns()
                if done() or now >= until:
                    stream.stopping = True
                    if stream.task.messages:  # let the exchange in flight end
                        await asyncio.wait({reader}, timeout=stream.task.timeout)
                    return None
                if idle is not None and now - stream.last_ns > idle * _NS:
                    return ErrorClass.TIMEOUT, f"no message for {idle:g}s"
        finally:
            stream.close()
            if not reader.done():
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, StreamBroke):
                    await reader

    async def _pause(
        self, seconds: float, until: float, done: Callable[[], bool]
    ) -> int:
        """Wait ``seconds`` (waking to notice ``done``); the time it ended."""
        wake = min(self.clock.now_ns() + seconds * _NS, until)
        return await self.pause_until(wake, done)

    async def pause_until(self, wake: float, done: Callable[[], bool]) -> int:
        """Wait until ``wake`` (ns), waking to notice ``done``; when it ended."""
        clock = self.clock
        while not done() and clock.now_ns() < wake:
            await clock.sleep_until(int(min(wake, clock.now_ns() + _POLL_S * _NS)))
        return clock.now_ns()
