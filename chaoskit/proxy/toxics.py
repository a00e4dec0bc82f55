"""Toxic types: their attributes, their validation, and what each does to a stream.

Semantics follow Toxiproxy 2.12 (``shared/TOXIPROXY.md`` section 4) unless the
README's "Deviations" section says otherwise. Units are Toxiproxy's: latency,
jitter, delays and timeouts in milliseconds, the slicer delay in microseconds,
bandwidth in KB/s where KB = 1000 bytes.

Each toxic is an async ``pipe`` over a :class:`~chaoskit.proxy.link.Stage`: it
takes items (data chunks or end-of-stream) from the stage and emits them onward.
Anything a toxic holds while it waits sits in ``stage.held``, so that removing or
updating the toxic flushes it onward instead of dropping it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaoskit.proxy.link import Stage

__all__ = [
    "ATTRIBUTES",
    "STREAMS",
    "Chunk",
    "EndOfStream",
    "Item",
    "Toxic",
    "ToxicError",
    "check_attributes",
    "json_kind",
    "pipe_for",
    "sleep_until",
    "slicer_sizes",
]

ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "latency": ("latency", "jitter"),
    "bandwidth": ("rate",),
    "slow_close": ("delay",),
    "timeout": ("timeout",),
    "reset_peer": ("timeout",),
    "slicer": ("average_size", "size_variation", "delay"),
    "limit_data": ("bytes",),
    "noop": (),
}
"""Every toxic type and its attributes, in the order Toxiproxy echoes them."""

STREAMS = ("upstream", "downstream")

_INT64 = (-(2**63), 2**63 - 1)


class ToxicError(ValueError):
    """A toxic definition is invalid; the message is the API's error text."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Chunk:
    """Bytes read from one socket read, stamped with when they may leave (ns)."""

    __slots__ = ("data", "ts")

    def __init__(self, data: bytes, ts: int) -> None:
        self.data = data
        self.ts = ts


class EndOfStream:
    """The source side finished sending (EOF); passed down the chain like data."""

    __slots__ = ()


EOF = EndOfStream()
Item = Chunk | EndOfStream


@dataclass
class Toxic:
    """A toxic as the API knows it: configuration only, no runtime state."""

    name: str
    type: str
    stream: str
    """As sent by the client (Toxiproxy echoes the raw case)."""
    toxicity: float = 1.0
    attributes: dict[str, int] = field(default_factory=dict)

    @property
    def direction(self) -> str:
        """``upstream`` (client to server) or ``downstream`` (server to client)."""
        return self.stream.lower()

    def to_json(self) -> dict[str, object]:
        """The API shape, keys in Toxiproxy's order."""
        return {
            "attributes": dict(self.attributes),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
        }


def check_attributes(
    toxic_type: str, given: dict[str, object], base: dict[str, int] | None = None
) -> dict[str, int]:
    """Merge ``given`` over ``base`` (or zeros), checking types like Go would.

    Keys match case-insensitively and unknown keys are ignored, as in Toxiproxy.

    Raises:
        ToxicError: a value is not an integer, or is out of the range we accept.
    """
    names = ATTRIBUTES[toxic_type]
    out = dict(base) if base is not None else dict.fromkeys(names, 0)
    # Go's decoder prefers an exact key and falls back to a case-insensitive one.
    lowered = {k.lower(): k for k in given}
    for name in names:
        key = name if name in given else lowered.get(name)
        value = given[key] if key is not None else None
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            kind = json_kind(value, number_value=True)
            raise ToxicError(
                f"bad request body: json: cannot unmarshal {kind} into Go struct "
                f"field {_go_type(toxic_type)}.{name} of type int64"
            )
        if not _INT64[0] <= value <= _INT64[1]:
            raise ToxicError(f"bad request body: {name}={value} overflows int64")
        out[name] = value
    if toxic_type == "bandwidth" and out["rate"] < 0:
        # Toxiproxy panics on a negative rate; we refuse it (README: Deviations).
        raise ToxicError(
            f"bad request body: bandwidth rate={out['rate']} must be >= 0 "
            "(KB/s; 0 stalls the stream)"
        )
    return out


def json_kind(value: object, *, number_value: bool = False) -> str:
    """How Go's decoder names a JSON value's kind in its errors ("string"...).

    With ``number_value``, a number carries its text ("number 1.5"), as Go's
    message does for a number that does not fit the field.
    """
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return f"number {value!r}" if number_value else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _go_type(toxic_type: str) -> str:
    return "".join(part.capitalize() for part in toxic_type.split("_")) + "Toxic"


# --- behaviour -------------------------------------------------------------------

Pipe = Callable[["Stage", dict[str, int]], Coroutine[Any, Any, None]]


async def sleep_until(deadline_ns: int) -> None:
    """Sleep until ``time.monotonic_ns()`` reaches ``deadline_ns``, never less.

    The event loop's timers are about 1 ms coarse and count from the loop's
    cached clock, which lags while callbacks run (or a busy-poll spins), so they
    may fire a hair early: loop until the deadline has really passed, so lower
    bounds are exact.
    """
    while (remaining := deadline_ns - time.monotonic_ns()) > 0:  # noqa: ASYNC110
        await asyncio.sleep(remaining / 1e9)


async def _latency(stage: Stage, attrs: dict[str, int]) -> None:
    latency, jitter = attrs["latency"], attrs["jitter"]
    while True:
        item = await stage.get()
        if isinstance(item, Chunk):
            stage.held.append(item)
            delay_ms = latency
            if jitter > 0:
                # Uniform integer in [-jitter, jitter - 1] ms, drawn per chunk.
                delay_ms += stage.rng.randrange(-jitter, jitter)
            if delay_ms > 0:
                # Count from the chunk's timestamp, so latency does not cut
                # throughput, and push the timestamp on, so stacked toxics add up.
                item.ts += delay_ms * 1_000_000
                await sleep_until(item.ts)
            stage.held.clear()
        stage.emit(item)
        if item is EOF:
            return


async def _bandwidth(stage: Stage, attrs: dict[str, int]) -> None:
    rate = attrs["rate"]  # KB/s = bytes per ms
    if rate == 0:
        # A zero rate stalls the stream until the toxic is removed or updated;
        # held data is then flushed onward (README: Deviations).
        while True:
            stage.held.append(await stage.get())
    debt_ns = 0  # how far behind schedule we are, made up on the next sleeps
    slice_size = rate * 100  # what 100 ms at this rate allows
    while True:
        item = await stage.get()
        if isinstance(item, EndOfStream):
            stage.emit(item)
            return
        data = item.data
        while data:
            piece, data = data[:slice_size], data[slice_size:]
            stage.held[:] = [Chunk(piece + data, item.ts)]
            want_ns = len(piece) * 1_000_000 // rate
            started = time.monotonic_ns()
            target = want_ns - debt_ns
            if target > 0:
                await sleep_until(started + target)
            debt_ns = (time.monotonic_ns() - started) - target
            stage.held.clear()
            stage.emit(Chunk(piece, item.ts))


async def _slow_close(stage: Stage, attrs: dict[str, int]) -> None:
    while True:
        item = await stage.get()
        if isinstance(item, EndOfStream):
            stage.held.append(item)
            await sleep_until(time.monotonic_ns() + attrs["delay"] * 1_000_000)
            stage.held.clear()
            stage.emit(item)
            return
        stage.emit(item)


async def _timeout(stage: Stage, attrs: dict[str, int]) -> None:
    timeout_ms = attrs["timeout"]
    while True:
        # Every item is dropped; the timer restarts after each one (an idle timeout).
        idle_since = time.monotonic_ns()
        try:
            async with asyncio.timeout(timeout_ms / 1000 if timeout_ms > 0 else None):
                item = await stage.get()
        except TimeoutError:
            await sleep_until(idle_since + timeout_ms * 1_000_000)  # never early
            stage.link.conn.close("toxic")
            return
        stage.dropped(item)
        if item is EOF:
            stage.link.conn.close("toxic")
            return


async def _reset_peer(stage: Stage, attrs: dict[str, int]) -> None:
    # Nothing happens until something arrives; that first item is dropped and
    # the connection is reset `timeout` ms later. Once started, the reset goes
    # ahead even if the toxic is removed (the stream has already lost data).
    item = await stage.get()
    stage.dropped(item)
    stage.link.conn.reset_after(attrs["timeout"] / 1000, stage.toxic.name)
    while True:
        stage.dropped(await stage.get())


def slicer_sizes(attrs: dict[str, int]) -> tuple[int, int]:
    """(average, variation) made safe: Toxiproxy panics or never ends on these."""
    average = max(attrs["average_size"], 1)
    variation = min(max(attrs["size_variation"], 0), average - 1)
    return average, variation


async def _slicer(stage: Stage, attrs: dict[str, int]) -> None:
    average, variation = slicer_sizes(attrs)
    delay_s = attrs["delay"] / 1e6
    while True:
        item = await stage.get()
        if isinstance(item, EndOfStream):
            stage.emit(item)
            return
        pieces = _slice(item.data, average, variation, stage.rng.randrange)
        stage.held[:] = [Chunk(p, item.ts) for p in pieces]
        while stage.held:
            stage.emit(stage.held.pop(0))
            if delay_s > 0:
                await asyncio.sleep(delay_s)


def _slice(
    data: bytes, average: int, variation: int, randrange: Callable[[int, int], int]
) -> list[bytes]:
    """Split by repeated halving until no piece is longer than average + variation."""
    out: list[bytes] = []
    todo = [data]
    while todo:
        piece = todo.pop()
        if len(piece) <= average + variation:
            out.append(piece)
            continue
        middle = len(piece) // 2
        if variation > 0:
            middle += randrange(-variation, variation)
        middle = min(max(middle, 1), len(piece) - 1)
        todo.append(piece[middle:])
        todo.append(piece[:middle])
    return out


async def _limit_data(stage: Stage, attrs: dict[str, int]) -> None:
    limit = attrs["bytes"]
    # The count belongs to the connection, so it survives toxic updates.
    state = stage.link.toxic_state.setdefault(stage.toxic.name, {"sent": 0})
    while True:
        item = await stage.get()
        if isinstance(item, EndOfStream):
            stage.emit(item)
            return
        room = limit - state["sent"]
        if room > 0:
            piece = item if len(item.data) <= room else Chunk(item.data[:room], item.ts)
            state["sent"] += len(piece.data)
            stage.emit(piece)
        else:
            stage.dropped(item)
        if state["sent"] >= limit:
            stage.link.conn.close("toxic")
            return


_PIPES: dict[str, Pipe] = {
    "latency": _latency,
    "bandwidth": _bandwidth,
    "slow_close": _slow_close,
    "timeout": _timeout,
    "reset_peer": _reset_peer,
    "slicer": _slicer,
    "limit_data": _limit_data,
}


def pipe_for(toxic_type: str) -> Pipe | None:
    """The behaviour of a toxic type; ``None`` for ``noop`` (a pass-through)."""
    return _PIPES.get(toxic_type)
