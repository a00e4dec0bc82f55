"""The load path's HTTP/1.1 client, and the one place transport errors become
:class:`~chaoskit.records.ErrorClass`.

Why not httpx (which chaoskit keeps for the control plane): measured on the
benchmark machine it manages about 1.4-2k requests/s per core and collapses at
64 in flight; aiohttp about 12-14k. This client is an ``asyncio.Protocol`` per
keep-alive connection with ``httptools`` (llhttp, what uvicorn uses) parsing
the response; requests arrive as ready bytes, the parser calls back only for
the body and the end of the message, and the time the response completed is
read inside the callback so event-loop scheduling after it is not counted.
``benchmarks/results/load.md`` has the numbers.

One request at a time per connection (no pipelining). Responses must be
delimited by ``Content-Length`` or chunked encoding; a response that ends at
connection close is reported as a reset.

Request timeouts are one sweep per pool (:class:`Sweeper`), not one event-loop
timer per request: a timer is an allocation, a heap insertion and a
cancellation per request; the sweep costs a set insertion and removal, and
fires a timeout within :data:`SWEEP_S` of its deadline.
"""

from __future__ import annotations

import asyncio
import socket
import weakref
from collections.abc import Callable
from typing import NamedTuple, cast

import httptools

from chaoskit.records import ErrorClass

__all__ = [
    "SWEEP_S",
    "Connection",
    "ConnectionPool",
    "Outcome",
    "RequestFailed",
    "Response",
    "Sweeper",
    "map_error",
]

SWEEP_S = 0.01
"""How often requests in flight are checked against their deadline: a timeout
fires 0-10 ms after it is due (a little more with thousands in flight)."""


_new_tuple = tuple.__new__


class Response(NamedTuple):
    """A complete response: status, body, bytes on the wire, and when it completed."""

    status: int
    body: bytes
    received: int
    end_ns: int
    headers: tuple[tuple[bytes, bytes], ...] = ()
    """Only the headers some task's marker names (lower-case names)."""


if len(Response._fields) != 5:  # on_message_complete gives every field
    raise ImportError("Response's fields changed: update on_message_complete")


class RequestFailed(Exception):
    """A request failed below HTTP; carries the error class and when it failed."""

    def __init__(self, error: ErrorClass, detail: str, end_ns: int) -> None:
        super().__init__(f"{error.value}: {detail}")
        self.error = error
        self.detail = detail
        self.end_ns = end_ns


class IncompleteResponse(ConnectionError):
    """The connection closed before the response was complete."""


def map_error(error: BaseException) -> tuple[ErrorClass, str]:
    """The error class of a transport exception: the most specific match wins."""
    detail = f"{type(error).__name__}: {error}".rstrip(": ")
    if isinstance(error, TimeoutError):
        return ErrorClass.TIMEOUT, "no complete response within the timeout"
    if isinstance(error, ConnectionRefusedError):
        return ErrorClass.CONNECT_REFUSED, detail
    if isinstance(
        error, ConnectionResetError | BrokenPipeError | ConnectionAbortedError
    ):
        return ErrorClass.RESET, detail
    if isinstance(error, IncompleteResponse):
        return ErrorClass.RESET, detail
    if isinstance(error, httptools.HttpParserError):
        return ErrorClass.PROTOCOL, detail
    if isinstance(error, OSError):
        return ErrorClass.CONNECT_ERROR, detail
    return ErrorClass.PROTOCOL, detail


Outcome = Response | RequestFailed
"""What a request ends with: a response, or a transport failure."""


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one request at a time.

    :meth:`start` sends a request and calls back once with its outcome (the
    open model's path: no task or future per request); :meth:`request` awaits
    the same thing (the closed model's path).

    Args:
        now_ns: the clock read when a response completes.
        sweeper: what times out its requests (a pool's; its own by default).
    """

    def __init__(
        self, now_ns: Callable[[], int], sweeper: Sweeper | None = None
    ) -> None:
        self._now_ns = now_ns
        self._loop = asyncio.get_running_loop()
        self._sweeper = sweeper or Sweeper(now_ns)
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._done: Callable[[Connection, Outcome], None] | None = None
        self.context: object = None
        """Whatever the caller of :meth:`start` keeps with the request in flight
        (the open model: no closure per request)."""
        self._waiter: asyncio.Future[Outcome] | None = None
        self.deadline_ns = 0
        """When the request in flight times out (monotonic ns)."""
        self._chunks: list[bytes] = []
        self._received = 0
        self._keep_alive = True
        self.closed = False
        """True once the connection cannot take another request."""

    # asyncio.Protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but act alike.
        self._transport = cast("asyncio.Transport", transport)

    def data_received(self, data: bytes) -> None:
        self._received += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(error)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc if exc is not None else IncompleteResponse("connection closed"))

    # httptools callbacks

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        end = self._now_ns()
        body = b"".join(self._chunks)
        self._chunks.clear()
        received = self._received
        self._received = 0
        if not self._parser.should_keep_alive():
            self._keep_alive = False
        status = self._parser.get_status_code()
        headers = self._kept_headers() if self._keeps_headers else ()
        # tuple.__new__ builds it in C (a NamedTuple's own __new__ is Python).
        self._finish(_new_tuple(Response, (status, body, received, end, headers)))

    _keeps_headers = False

    def _kept_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        return ()

    def _finish(self, outcome: Outcome) -> None:
        done = self._done
        if done is None:
            return
        self._done = None
        self._sweeper.forget(self)
        done(self, outcome)

    def _fail(self, error: BaseException) -> None:
        if self._done is not None:
            error_class, detail = map_error(error)
            self._finish(RequestFailed(error_class, detail, self._now_ns()))

    def time_out(self) -> None:
        """The request in flight is past its deadline (the sweeper says so)."""
        self._fail(TimeoutError())
        self.close()  # a late answer would be read as the next request's

    @property
    def reusable(self) -> bool:
        """Whether another request may go on this connection."""
        return not self.closed and self._keep_alive and self._done is None

    def start(
        self,
        raw: bytes,
        time_limit: float,
        done: Callable[[Connection, Outcome], None],
    ) -> None:
        """Send ``raw`` (a whole request); ``done`` gets this connection and the
        outcome, exactly once."""
        if self._transport is None or self.closed:
            failed = RequestFailed(
                ErrorClass.RESET, "connection closed", self._now_ns()
            )
            done(self, failed)
            return
        self._done = done
        self._received = 0
        self._transport.write(raw)
        self.deadline_ns = self._now_ns() + int(time_limit * 1e9)
        self._sweeper.watch(self)

    def _resolve(self, _: Connection, outcome: Outcome) -> None:
        waiter = self._waiter
        self._waiter = None
        if waiter is not None and not waiter.done():  # its task may be cancelled
            waiter.set_result(outcome)

    async def request(self, raw: bytes, time_limit: float) -> Response:
        """Send ``raw`` (a whole request) and wait for the whole response.

        Raises:
            RequestFailed: the request failed below HTTP (mapped by :func:`map_error`).
        """
        waiter: asyncio.Future[Outcome] = self._loop.create_future()
        self._waiter = waiter
        self.start(raw, time_limit, self._resolve)
        outcome = await waiter
        if isinstance(outcome, RequestFailed):
            raise outcome
        return outcome

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self.closed = True
        if self._transport is not None:
            self._transport.close()


class HeaderConnection(Connection):
    """A connection that keeps some response headers (for task markers).

    A subclass, because httptools calls ``on_header`` for every header only
    when the protocol has one: loads without header markers pay nothing.
    """

    def __init__(
        self,
        now_ns: Callable[[], int],
        wanted: frozenset[bytes],
        sweeper: Sweeper | None = None,
    ) -> None:
        self._wanted = wanted
        self._headers: list[tuple[bytes, bytes]] = []
        super().__init__(now_ns, sweeper)

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name in self._wanted:
            self._headers.append((name, value))

    _keeps_headers = True

    def _kept_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        kept = tuple(self._headers)
        self._headers.clear()
        return kept


class ConnectionPool:
    """Keep-alive connections to one host and port, opened on demand.

    The pool does not cap anything itself: the engine holds at most one
    connection per request in flight (open model) or per user (closed model).

    Args:
        host: the target host.
        port: the target port.
        now_ns: the clock read when responses complete.
    """

    def __init__(
        self,
        host: str,
        port: int,
        now_ns: Callable[[], int],
        headers: frozenset[bytes] = frozenset(),
    ) -> None:
        self.host = host
        self._headers = headers
        self.port = port
        self._now_ns = now_ns
        self._idle: list[Connection] = []
        # Every connection, weakly: a connection in use belongs to its request
        # or user, but close() must still reach it if the run is cancelled.
        self._all: weakref.WeakSet[Connection] = weakref.WeakSet()
        self.opened = 0
        """Connections opened so far."""
        self.sweeper = Sweeper(now_ns)

    async def connect(self, time_limit: float) -> Connection:
        """A new connection.

        Raises:
            RequestFailed: the connection could not be made in time.
        """
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(time_limit):
                _, protocol = await loop.create_connection(
                    self._protocol, self.host, self.port
                )
        except (OSError, TimeoutError) as error:
            error_class, detail = map_error(error)
            raise RequestFailed(error_class, detail, self._now_ns()) from error
        sock = (
            protocol._transport.get_extra_info("socket")
            if protocol._transport
            else None
        )
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.opened += 1
        self._all.add(protocol)
        return protocol

    def _protocol(self) -> Connection:
        if self._headers:
            return HeaderConnection(self._now_ns, self._headers, self.sweeper)
        return Connection(self._now_ns, self.sweeper)

    def take_idle(self) -> Connection | None:
        """An idle connection that can be reused, or ``None``."""
        idle = self._idle
        while idle:
            connection = idle.pop()
            if connection.reusable:
                return connection
            connection.close()
        return None

    async def acquire(self, time_limit: float) -> Connection:
        """An idle connection, or a new one."""
        connection = self.take_idle()
        if connection is not None:
            return connection
        return await self.connect(time_limit)

    def release(self, connection: Connection) -> None:
        """Give a connection back; one that cannot be reused is closed."""
        if connection.reusable:
            self._idle.append(connection)
        else:
            connection.close()

    def close(self) -> None:
        """Close every connection, idle or in use."""
        for connection in list(self._all):
            connection.close()
        self._idle.clear()
        self.sweeper.close()


class Sweeper:
    """Times out requests in flight: one event-loop timer for every connection
    of a pool, running while some request is in flight.

    Args:
        now_ns: the clock deadlines are on.
    """

    __slots__ = ("_busy", "_handle", "_now_ns")

    def __init__(self, now_ns: Callable[[], int]) -> None:
        self._now_ns = now_ns
        self._busy: set[Connection] = set()
        self._handle: asyncio.TimerHandle | None = None

    def watch(self, connection: Connection) -> None:
        """A request went out on ``connection`` (its ``deadline_ns`` is set)."""
        self._busy.add(connection)
        if self._handle is None:
            loop = asyncio.get_running_loop()
            self._handle = loop.call_later(SWEEP_S, self._sweep)

    def forget(self, connection: Connection) -> None:
        """The request on ``connection`` ended."""
        self._busy.discard(connection)

    def _sweep(self) -> None:
        self._handle = None
        now = self._now_ns()
        for connection in [c for c in self._busy if c.deadline_ns <= now]:
            connection.time_out()  # forgets it
        if self._busy:
            # Thousands in flight: sweep less often (at most ~100,000 checks/s).
            period = max(SWEEP_S, len(self._busy) / 100_000)
            self._handle = asyncio.get_running_loop().call_later(period, self._sweep)

    def close(self) -> None:
        """Stop sweeping (the pool is closed)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._busy.clear()
