"""The byte path of one proxied connection: two links, each a chain of toxic stages.

Each accepted client connection gets an ``upstream`` link (client to server) and a
``downstream`` link (server to client). A link with no active toxic writes each
read straight to the other socket (the fast path). A link with toxics feeds
chunks through a chain of :class:`Stage` objects; an active stage runs its toxic
as a task, and a stage whose toxicity roll was lost (or a ``noop``) passes items
on synchronously.

Chains change on live connections: a new toxic is appended, an updated one is
restarted with a fresh roll, a removed one is spliced out after flushing what it
held and what was queued for it, so no byte is lost or reordered.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol, cast

from chaoskit.proxy.addr import AddressError, join_hostport, split_hostport
from chaoskit.proxy.busypoll import BusyPoller, busy_poller
from chaoskit.proxy.toxics import EOF, Chunk, Item, Toxic, pipe_for, sleep_until

if TYPE_CHECKING:
    from chaoskit.proxy.connlog import ConnectionRecord
    from chaoskit.proxy.http import HttpSession

__all__ = ["Connection", "Link", "Stage"]

# Read-ahead bound per link: past this many queued chunks we stop reading the
# source socket, so a stalled toxic pushes back on the sender instead of on memory.
_QUEUE_HIGH = 1024
_QUEUE_LOW = 256
# A graceful close waits for buffered writes to drain; a peer that never reads
# must not pin the connection for ever.
_CLOSE_GRACE_S = 5.0
_READ_BUFFER = 256 * 1024
# Sockets read into one shared 1 MiB buffer (below) instead of uvloop's own
# 250 KB one: a bulk transfer then takes a quarter of the reads, writes and
# wake-ups. Reads under _COPY_BELOW are copied out, as before: for them the
# zero-copy bookkeeping costs more than the copy.
_READ_SIZE = 1024 * 1024
_COPY_BELOW = 64 * 1024


class _ReadBuffer:
    """The buffer sockets read into: one per thread, so one per event loop.

    Each read is consumed synchronously (written on, or copied into a chunk)
    before the next read, so one buffer serves every socket of a loop, as
    uvloop's own read buffer does. The fast path writes a view of it straight
    on: no ``bytes`` object per read. With the larger reads, that cut the
    proxy's CPU per MB of bulk transfer by 9-25% in interleaved before/after
    runs, round trips of small messages unchanged (benchmarks/results/proxy.md).
    """

    __slots__ = ("view",)

    def __init__(self) -> None:
        self.view = memoryview(bytearray(_READ_SIZE))

    def renew(self) -> None:
        """A transport kept a view of the buffer (a partial write): leave it
        that one and read into a new one."""
        self.view = memoryview(bytearray(_READ_SIZE))


_buffers = threading.local()


def _read_buffer() -> _ReadBuffer:
    buffer: _ReadBuffer | None = getattr(_buffers, "buffer", None)
    if buffer is None:
        buffer = _buffers.buffer = _ReadBuffer()
    return buffer


class Owner(Protocol):
    """What a connection needs from its proxy."""

    name: str
    toxics: list[Toxic]

    def stage_rng(
        self, conn_id: int, direction: str, toxic: str, gen: int
    ) -> random.Random:
        """A random source for one run of one toxic on one link."""
        ...

    def connection_closed(self, conn: Connection) -> None:
        """The connection is gone; forget it."""
        ...


class _Writer:
    """End of a chain: writes to the destination socket."""

    __slots__ = ("link",)

    def __init__(self, link: Link) -> None:
        self.link = link

    def put(self, item: Item) -> None:
        link = self.link
        if isinstance(item, Chunk):
            if link.dest is not None and not link.dest.is_closing():
                link.dest.write(item.data)
        else:
            link.eof_delivered()


class Stage:
    """One toxic running on one link."""

    __slots__ = (
        "gen",
        "held",
        "link",
        "next",
        "queue",
        "rng",
        "task",
        "toxic",
        "waiter",
    )

    def __init__(self, link: Link, toxic: Toxic, nxt: Stage | _Writer) -> None:
        self.link = link
        self.toxic = toxic
        self.next: Stage | _Writer = nxt
        self.queue: deque[Item] = deque()
        self.held: list[Item] = []
        self.waiter: asyncio.Future[None] | None = None
        self.task: asyncio.Task[None] | None = None
        self.gen = 0
        self.rng = random.Random()

    # -- used by the chain ----------------------------------------------------------

    def put(self, item: Item) -> None:
        """Take an item from the previous stage (or the socket)."""
        if self.task is None:
            self.next.put(item)  # not active on this link: transparent
            return
        self.queue.append(item)
        self.link.queued += 1
        if self.link.queued > _QUEUE_HIGH:
            self.link.pause_source("queue")
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- used by toxics -------------------------------------------------------------

    async def get(self) -> Item:
        """The next item for this toxic, waiting for one if need be."""
        while not self.queue:
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        link = self.link
        link.queued -= 1
        if link.queued < _QUEUE_LOW:
            link.resume_source("queue")
        return self.queue.popleft()

    def emit(self, item: Item) -> None:
        """Pass an item to the next stage."""
        self.next.put(item)

    def dropped(self, item: Item) -> None:
        """Account for an item this toxic swallowed."""
        if isinstance(item, Chunk):
            self.link.dropped_bytes += len(item.data)

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Roll the toxicity and, if the toxic applies, run it as a task."""
        link = self.link
        self.gen += 1
        self.rng = link.conn.owner.stage_rng(
            link.conn.id, link.direction, self.toxic.name, self.gen
        )
        pipe = pipe_for(self.toxic.type)
        # One roll per link per start, as Toxiproxy does (not per chunk).
        if pipe is None or self.rng.random() >= self.toxic.toxicity:
            return
        link.conn.record.note_toxic(self.toxic.name)
        self.task = asyncio.get_running_loop().create_task(
            pipe(self, dict(self.toxic.attributes)),
            name=f"toxic {self.toxic.name} on {link.conn.owner.name}#{link.conn.id}",
        )
        self.task.add_done_callback(self._finished)

    async def interrupt(self) -> None:
        """Stop the toxic and flush what it held onward, in order."""
        task = self.task
        if task is None:
            return
        task.cancel()
        # While the task winds down, put() keeps queueing behind what it holds.
        await asyncio.wait([task])
        self.task = None
        held, self.held = self.held, []
        for item in held:
            self.next.put(item)

    def drain(self) -> None:
        """Pass every queued item onward (after :meth:`interrupt`)."""
        queue, self.queue = self.queue, deque()
        self.link.queued -= len(queue)
        for item in queue:
            self.next.put(item)
        self.link.resume_source("queue")

    def _finished(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        if self.task is task:
            # The toxic ended by itself (end of stream, or it closed the
            # connection): from now on it is transparent.
            self.task = None
            self.drain()
        error = task.exception()
        if error is not None:
            self.link.conn.close("error")


class Link:
    """One direction of a connection, from a source socket to a destination."""

    def __init__(self, conn: Connection, direction: str) -> None:
        self.conn = conn
        self.direction = direction
        self.source: asyncio.Transport | None = None
        self.dest: asyncio.Transport | None = None
        self.writer = _Writer(self)
        self.stages: list[Stage] = []
        self.toxic_state: dict[str, dict[str, int]] = {}
        self.queued = 0
        self.bytes = 0
        self.dropped_bytes = 0
        self.first_byte_ns: int | None = None
        self.eof_done = False
        self.eof_sent = False
        # Nothing flows until the connection has both sockets and its toxic
        # chain (see Connection._dial); what arrives before waits here.
        self.ready = False
        self.pending: list[Item] = []
        self._pause_reasons: set[str] = set()
        self.source_ended = False
        """The source socket sent its EOF (it stays readable from then on)."""

    @property
    def head(self) -> Stage | _Writer:
        return self.stages[0] if self.stages else self.writer

    def _note(self, nbytes: int) -> int:
        """Bookkeeping for one read: first byte, byte count, exchanges."""
        now = time.monotonic_ns()
        if self.first_byte_ns is None:
            self.first_byte_ns = now
            self.conn.record_changed()
        self.bytes += nbytes
        self.conn.exchange(self.direction, now)
        return now

    def feed_from(self, buffer: _ReadBuffer, nbytes: int) -> None:
        """``nbytes`` read from the source socket into the shared buffer."""
        dest = self.dest
        if dest is None or self.stages or not self.ready or self.conn.http:
            self.feed(bytes(buffer.view[:nbytes]))  # a chunk of its own
            return
        self._note(nbytes)
        if dest.is_closing():
            return
        if nbytes < _COPY_BELOW or dest.get_write_buffer_size():
            # Small, or queued behind earlier data for sure: write a copy.
            dest.write(bytes(buffer.view[:nbytes]))
            return
        dest.write(buffer.view[:nbytes])  # fast path: no toxic, no copy
        if dest.get_write_buffer_size():
            buffer.renew()

    def feed(self, data: bytes) -> None:
        """Bytes read from the source socket."""
        now = self._note(len(data))
        http = self.conn.http
        if http is None:
            self.pass_on(data, now)
        elif self.direction == "upstream":
            http.client_data(data, now)
        else:
            http.upstream_data(data, now)

    def pass_on(self, data: bytes, now: int) -> None:
        """Bytes for the destination, through the toxic chain."""
        if not self.ready:
            # Data before the chain is built (the client spoke before the
            # dial finished, or the server before its toxics were added): hold it.
            self.pending.append(Chunk(data, now))
            self.pause_source("dial")
        elif self.stages:
            self.stages[0].put(Chunk(data, now))
        elif self.dest is not None and not self.dest.is_closing():
            self.dest.write(data)  # fast path: no toxic on this link

    def feed_eof(self) -> None:
        """The source socket finished sending."""
        http = self.conn.http
        if http is not None:
            ready = (
                http.client_eof_received()
                if self.direction == "upstream"
                else http.upstream_eof_received()
            )
            if not ready:
                return  # the session passes it on once what it holds is out
        self.pass_eof()

    def pass_eof(self) -> None:
        """End of stream for the destination, behind what went before."""
        if self.eof_sent:
            return
        self.eof_sent = True
        if not self.ready:
            self.pending.append(EOF)
        else:
            self.head.put(EOF)

    def connected(self) -> None:
        """Both sockets and the toxic chain exist: pass on what arrived before."""
        self.ready = True
        pending, self.pending = self.pending, []
        for item in pending:
            self.head.put(item)
        self.resume_source("dial")

    def eof_delivered(self) -> None:
        """End of stream reached the destination: half-close it."""
        if self.eof_done:
            return
        self.eof_done = True
        self.conn.half_closed(self)

    # -- flow control -------------------------------------------------------------

    def pause_source(self, reason: str) -> None:
        if not self._pause_reasons and self.source is not None:
            with contextlib.suppress(RuntimeError):
                self.source.pause_reading()
            if self.conn.poller is not None:
                # Unread data would end every spin at once: not watched meanwhile.
                self.conn.poller.unwatch(self.source)
        self._pause_reasons.add(reason)

    def resume_source(self, reason: str) -> None:
        if reason not in self._pause_reasons:
            return
        self._pause_reasons.discard(reason)
        if not self._pause_reasons and self.source is not None:
            with contextlib.suppress(RuntimeError):
                self.source.resume_reading()
            if self.conn.poller is not None and not self.source_ended:
                self.conn.poller.watch(self.source)

    # -- chain changes ---------------------------------------------------------------

    def add(self, toxic: Toxic) -> None:
        """Append a toxic at the end of the chain."""
        stage = Stage(self, toxic, self.writer)
        if self.stages:
            self.stages[-1].next = stage
        self.stages.append(stage)
        stage.start()

    async def update(self, toxic: Toxic) -> None:
        """Restart a toxic with new settings (a new toxicity roll, new timers)."""
        for stage in self.stages:
            if stage.toxic.name == toxic.name:
                await stage.interrupt()
                stage.toxic = toxic
                stage.start()
                if stage.task is None:
                    stage.drain()
                return

    async def remove(self, name: str) -> bool:
        """Splice a toxic out, flushing what it held; True if it was active here."""
        for index, stage in enumerate(self.stages):
            if stage.toxic.name != name:
                continue
            was_active = stage.task is not None
            await stage.interrupt()
            stage.drain()
            if index > 0:
                self.stages[index - 1].next = stage.next
            self.stages.remove(stage)
            return was_active
        return False

    def stop(self) -> None:
        """Cancel every toxic task (the connection is closing)."""
        for stage in self.stages:
            if stage.task is not None:
                stage.task.cancel()
                stage.task = None


class _Side(asyncio.BufferedProtocol):
    """The protocol for one socket of a connection: client or upstream."""

    def __init__(self, conn: Connection, role: str) -> None:
        self.conn = conn
        self.role = role
        # Reads from the client feed the upstream link, and so on.
        self.link_in = conn.up if role == "client" else conn.down
        self.link_out = conn.down if role == "client" else conn.up
        self.buffer = _read_buffer()
        self.loop: asyncio.AbstractEventLoop | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # TCP only; uvloop's transports do not subclass asyncio.Transport.
        transport = cast("asyncio.Transport", transport)
        transport.set_write_buffer_limits(high=_READ_BUFFER)
        self.link_in.source = transport
        self.link_out.dest = transport
        if self.conn.poller is not None:
            self.loop = asyncio.get_running_loop()
            self.conn.poller.watch(transport)
        if self.role == "client":
            self.conn.client_connected(transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        if self.link_in.stages:
            # Toxics queue chunks, bounded by count (_QUEUE_HIGH): keep chunks
            # at most 256 KiB, as with uvloop's reads, so a stalled toxic holds
            # no more memory than before the 1 MiB reads.
            return self.buffer.view[:_READ_BUFFER]
        return self.buffer.view

    def buffer_updated(self, nbytes: int) -> None:
        self.link_in.feed_from(self.buffer, nbytes)
        poller = self.conn.poller
        if poller is not None and self.loop is not None:
            poller.activity(self.loop, self.conn.busy_poll_us)

    def eof_received(self) -> bool:
        link = self.link_in
        link.source_ended = True
        if self.conn.poller is not None and link.source is not None:
            # At EOF a socket stays readable: watched, it would end every spin.
            self.conn.poller.unwatch(link.source)
        link.feed_eof()
        return True  # keep our write side open: half-close is passed on

    def pause_writing(self) -> None:
        self.link_out.pause_source("dest")

    def resume_writing(self) -> None:
        self.link_out.resume_source("dest")

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn.side_lost(self.role, exc)


class Connection:
    """A client connection and its upstream connection, joined by two links."""

    def __init__(
        self,
        owner: Owner,
        conn_id: int,
        upstream: str,
        record: ConnectionRecord,
        dial_timeout: float,
        refuse: bool = False,
        busy_poll_us: int = 0,
    ) -> None:
        self.owner = owner
        self.refuse = refuse
        self.busy_poll_us = busy_poll_us
        """Spin up to this long after traffic instead of sleeping (busypoll.py)."""
        self.poller: BusyPoller | None = busy_poller() if busy_poll_us else None
        self.id = conn_id
        self.upstream = upstream
        self.record = record
        self.dial_timeout = dial_timeout
        self.up = Link(self, "upstream")
        self.down = Link(self, "downstream")
        self.client_side = _Side(self, "client")
        self.upstream_side = _Side(self, "upstream")
        self.client: asyncio.Transport | None = None
        self.server: asyncio.Transport | None = None
        self.closed = False
        self._first_eof: str | None = None
        self._last_direction = "downstream"
        self._tasks: set[asyncio.Task[None]] = set()
        self.http: HttpSession | None = None
        """The HTTP view, on a ``protocol = "http"`` proxy."""

    def link(self, direction: str) -> Link:
        return self.up if direction == "upstream" else self.down

    # -- opening ---------------------------------------------------------------------

    def client_connected(self, transport: asyncio.Transport) -> None:
        if self.closed:
            # The proxy stopped between the accept and this callback (uvloop
            # calls connection_made later): close() found no socket to close.
            transport.abort()
            return
        self.client = transport
        peer = transport.get_extra_info("peername")
        self.record.client = _format_addr(peer)
        if self.refuse:
            self.close("refused", rst=True)
            return
        self.up.pause_source("dial")  # nothing to forward to until the dial succeeds
        self.spawn(self._dial())

    async def _dial(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            host, port = split_hostport(self.upstream)
        except AddressError as exc:
            self.record.error = f"dial {self.upstream}: {exc}"
            self.close("upstream_unreachable", rst=True)
            return
        try:
            async with asyncio.timeout(self.dial_timeout):
                transport, _ = await loop.create_connection(
                    lambda: self.upstream_side, host, port
                )
        except (OSError, TimeoutError) as exc:
            self.record.error = f"dial {host}:{port}: {_describe(exc)}"
            # Toxiproxy accepts then closes with a FIN ("empty reply"); a reset
            # tells the client more plainly that the upstream is not there.
            self.close("upstream_unreachable", rst=True)
            return
        if self.closed:
            transport.abort()
            return
        # uvloop may return before connection_made has run: wire the links here.
        self.server = transport
        self.up.dest = self.down.source = self.server
        # The chain as it is now, not at accept: toxics may change while dialling.
        for toxic in self.owner.toxics:
            self.link(toxic.direction).add(toxic)
        self.up.connected()
        self.down.connected()

    # -- traffic bookkeeping -----------------------------------------------------------

    def exchange(self, direction: str, now: int) -> None:
        """Note when the client starts a new request after a reply (keep-alive)."""
        if direction != self._last_direction:
            self._last_direction = direction
            if direction == "upstream":
                self.record.note_exchange(now)

    def record_changed(self) -> None:
        rec = self.record
        rec.first_byte_up_ns = self.up.first_byte_ns
        rec.first_byte_down_ns = self.down.first_byte_ns
        rec.touch()

    # -- closing ---------------------------------------------------------------------

    def half_closed(self, link: Link) -> None:
        """End of stream went through ``link``: pass the half-close on."""
        if self._first_eof is None:
            self._first_eof = (
                "client_close" if link.direction == "upstream" else "upstream_close"
            )
        dest = link.dest
        if dest is not None and not dest.is_closing() and dest.can_write_eof():
            dest.write_eof()
        if self.up.eof_done and self.down.eof_done:
            self.close(self._first_eof)

    def side_lost(self, role: str, exc: Exception | None) -> None:
        if self.closed:
            return
        if isinstance(exc, ConnectionResetError):
            reason = "reset"
        else:
            reason = "client_close" if role == "client" else "upstream_close"
        self.close(reason)

    def reset_after(self, delay_s: float, toxic: str) -> None:
        """Reset (RST) the connection after a delay: the reset_peer toxic."""

        deadline_ns = time.monotonic_ns() + round(delay_s * 1e9)

        async def later() -> None:
            await sleep_until(deadline_ns)
            self.close("reset", rst=True, by=toxic)

        self.spawn(later())

    def close(
        self,
        reason: str,
        *,
        rst: bool = False,
        graceful: bool = True,
        by: str | None = None,
    ) -> None:
        """Close both sockets once; the first reason given is the one recorded."""
        if self.closed:
            return
        self.closed = True
        self.up.stop()
        self.down.stop()
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        for transport in (self.client, self.server):
            if transport is None or (transport.is_closing() and not rst):
                continue
            if rst:
                _set_linger_zero(transport)
                transport.abort()
            elif graceful:
                # Deliver what is buffered (e.g. limit_data's last bytes), then FIN.
                transport.close()
                asyncio.get_running_loop().call_later(_CLOSE_GRACE_S, transport.abort)
            else:
                transport.abort()
        if self.http is not None:
            self.http.closed()
        self.record.finish(reason, by=by, up=self.up, down=self.down)
        self.owner.connection_closed(self)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _set_linger_zero(transport: asyncio.Transport) -> None:
    # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )


def _format_addr(addr: object) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        return join_hostport(str(addr[0]), int(addr[1]))
    return str(addr)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__
