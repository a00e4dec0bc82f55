"""WebSocket streams on the load path, on the ``websockets`` library.

Why ``websockets``: it is the well-kept asyncio implementation (what uvicorn
serves with), its frame masking is in C, and on the benchmark machine one
core exchanges tens of thousands of small messages a second through it,
within a small factor of our HTTP client's requests
(``benchmarks/results/streams.md``); ``wsproto`` would leave the framing
loop to us in Python. Compression is off (a load generator should not pay for
``permessage-deflate`` unless asked) and so are keep-alive pings (a
``timeout`` is what ``idle`` is for). The library's exceptions become
:class:`OpenFailed` and :class:`StreamBroke` here and nowhere else.
"""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from chaoskit.jsonpath import extract
from chaoskit.load.client import map_error
from chaoskit.load.streams import OpenFailed, Stream, StreamBroke, StreamRunner
from chaoskit.load.tasks import CompiledTask, UserState
from chaoskit.records import ErrorClass

__all__ = ["WebSocketStream", "open_websocket"]

_MAX_MESSAGE = 16 * 1024**2
_NS = 1_000_000_000


def _closed(error: ConnectionClosed) -> str:
    frame = error.rcvd or error.sent
    if frame is None:
        return "the connection broke without a close frame"
    return f"closed {frame.code}" + (f" {frame.reason}" if frame.reason else "")


class WebSocketStream(Stream):
    """One WebSocket connection of a stream task."""

    def __init__(
        self,
        runner: StreamRunner,
        task: CompiledTask,
        state: UserState,
        resume: str | None,
    ) -> None:
        super().__init__(runner, task, state, resume)
        self._ws: ClientConnection | None = None
        spec = task.stream
        self._sequence = spec.sequence if spec is not None else None

    async def open(self) -> None:
        """Connect and finish the handshake; send ``subscribe``.

        Raises:
            OpenFailed: refused, timed out, a status other than 101.
        """
        target = self.runner.target
        uri = f"ws://{target.host}{self.task.target(self.state)}"
        try:
            self._ws = await connect(
                uri, host=target.address, port=target.port,
                additional_headers=self.task.header_pairs(self.state),
                user_agent_header="chaoskit", open_timeout=self.task.timeout,
                ping_interval=None, compression=None, proxy=None,
                max_size=_MAX_MESSAGE, close_timeout=1,
            )  # fmt: skip
            if self.task.subscribe is not None:
                await self._ws.send(self.task.subscribe.render(self.state))
        except InvalidStatus as error:
            status = error.response.status_code
            raise OpenFailed(str(status), status) from None
        except InvalidHandshake as error:
            raise OpenFailed(f"handshake: {error}") from None
        except ConnectionClosed as error:
            raise OpenFailed(_closed(error)) from None
        except (OSError, TimeoutError) as error:
            raise OpenFailed(map_error(error)[1]) from None

    def _message(self, message: str | bytes) -> None:
        sequence = None
        if self._sequence is not None:
            try:
                value = extract(json.loads(message), self._sequence)
            except ValueError:
                value = None
            if isinstance(value, int) and not isinstance(value, bool):
                sequence = value
        self.received(len(message), sequence, self.runner.clock.now_ns())

    async def run(self) -> None:
        """Receive (each message a sample) or run the exchanges in rounds.

        Raises:
            StreamBroke: the connection closed or broke.
        """
        ws = self._ws
        assert ws is not None  # noqa: S101 - opened first
        try:
            if not self.task.messages:
                while True:
                    self._message(await ws.recv())
            await self._rounds(ws)
        except ConnectionClosed as error:
            raise StreamBroke(_closed(error)) from None
        except OSError as error:
            raise StreamBroke(map_error(error)[1]) from None

    async def _rounds(self, ws: ClientConnection) -> None:
        runner = self.runner
        clock = runner.clock
        state = self.state
        due = clock.now_ns()
        while not self.stopping:
            for template, expect in self.task.messages:
                text = template.render(state)
                intended = due
                sent = clock.now_ns()
                self.last_ns = sent
                try:
                    async with asyncio.timeout(self.task.timeout):
                        await ws.send(text)
                        while True:
                            answer = await ws.recv()
                            if self._sequence is not None:
                                self._message(answer)
                            found = (
                                answer
                                if isinstance(answer, str)
                                else answer.decode("utf-8", "replace")
                            )
                            if expect is None or expect in found:
                                break
                except TimeoutError:
                    runner.emit(self.task, state.user, intended, clock.now_ns(),
                                0, 0, ErrorClass.TIMEOUT, f"no answer containing "
                                f"{expect!r}", sent=len(text))  # fmt: skip
                except asyncio.CancelledError:
                    # The user stopped with the exchange in flight: counted.
                    runner.emit(self.task, state.user, intended, clock.now_ns(),
                                0, 0, ErrorClass.UNFINISHED, "the load ended",
                                sent=len(text))  # fmt: skip
                    raise
                else:
                    runner.emit(self.task, state.user, intended, clock.now_ns(),
                                101, len(answer), None, "", sent=len(text))  # fmt: skip
                due = clock.now_ns()
                self.last_ns = due
            due = clock.now_ns() + int(self.think.draw(state.rng) * _NS)
            self.last_ns = due
            await runner.pause_until(due, lambda: self.stopping)

    def close(self) -> None:
        """Close the connection (the close handshake runs in the background
        of the library's own task, bounded by its ``close_timeout``)."""
        ws = self._ws
        if ws is not None:
            ws.transport.close()


def open_websocket(
    runner: StreamRunner, task: CompiledTask, state: UserState, resume: str | None
) -> Stream:
    """A WebSocket stream for ``task`` (the runner's opener for ``websocket``)."""
    return WebSocketStream(runner, task, state, resume)
