"""The connection log: a chaoskit extension to the Toxiproxy API.

For every connection a proxy accepts, one record: who connected, when (and when
the first byte went each way), when it closed, how many bytes passed, and how it
ended. Later stages judge retry and backoff behaviour from these records, so
times are ``CLOCK_MONOTONIC`` nanoseconds: system-wide on Linux, comparable with
``time.monotonic_ns()`` in any other process on the machine, never stepped by
NTP. Each reply also carries a (monotonic, unix) clock pair to map them to wall
time.

The log is a bounded ring kept in change order. Every change to a record (accept,
first byte, close) gives it a new cursor value and moves it to the end, so a
reader polling with ``since=<last cursor>`` sees each new connection and each
later change exactly once. When the ring is full the least recently changed
record is evicted and counted in ``evicted``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from chaoskit.proxy.ring import CursorRing

if TYPE_CHECKING:
    from chaoskit.proxy.link import Link

__all__ = ["END_REASONS", "ConnectionLog", "ConnectionRecord"]

END_REASONS = (
    "client_close",  # the client closed (FIN), or both sides half-closed, client first
    "upstream_close",  # the upstream closed first
    "reset",  # a peer reset the connection, or a reset_peer toxic did
    "toxic",  # a toxic closed it (timeout, limit_data, removal of a timeout toxic)
    "disabled",  # the proxy was disabled or its listen/upstream changed
    "deleted",  # the proxy was deleted
    "upstream_unreachable",  # the upstream could not be dialled
    "refused",  # refused while "down, observed": accepted, logged, reset at once
    "shutdown",  # the proxy server stopped
    "error",  # an internal error in a toxic (a bug: please report it)
)

_MAX_EXCHANGES = 64


class ConnectionRecord:
    """What the log knows about one connection."""

    __slots__ = (
        "accepted_ns",
        "bytes_down",
        "bytes_up",
        "client",
        "closed_ns",
        "cursor",
        "dropped_down",
        "dropped_up",
        "end",
        "ended_by",
        "error",
        "exchanges",
        "first_byte_down_ns",
        "first_byte_up_ns",
        "id",
        "log",
        "toxics",
        "warning",
    )

    def __init__(self, log: ConnectionLog, conn_id: int) -> None:
        self.log = log
        self.id = conn_id
        self.cursor = 0
        self.client = ""
        self.accepted_ns = time.monotonic_ns()
        self.first_byte_up_ns: int | None = None
        self.first_byte_down_ns: int | None = None
        self.closed_ns: int | None = None
        self.bytes_up = 0
        self.bytes_down = 0
        self.dropped_up = 0
        self.dropped_down = 0
        self.end: str | None = None
        self.ended_by: str | None = None
        self.error: str | None = None
        self.warning: str | None = None
        """Something a user should know (a non-HTTP stream on an http route)."""
        # Tuples, not lists: a full log holds thousands of records, and tuples
        # of ints and strings are not tracked by the garbage collector, whose
        # full collections otherwise stall every connection for tens of ms.
        self.toxics: tuple[str, ...] = ()
        self.exchanges: tuple[int, ...] = ()

    def touch(self) -> None:
        """The record changed: give it a new cursor value."""
        self.log.changed(self)

    def note_toxic(self, name: str) -> None:
        """A toxic won its toxicity roll on this connection."""
        if name not in self.toxics:
            self.toxics += (name,)

    def note_exchange(self, at_ns: int) -> None:
        """The client started sending after a reply: a new request, for keep-alive."""
        if len(self.exchanges) < _MAX_EXCHANGES:
            self.exchanges += (at_ns,)

    def finish(self, reason: str, *, by: str | None, up: Link, down: Link) -> None:
        """The connection closed."""
        self.closed_ns = time.monotonic_ns()
        self.end = reason
        self.ended_by = by
        self.bytes_up, self.bytes_down = up.bytes, down.bytes
        self.dropped_up, self.dropped_down = up.dropped_bytes, down.dropped_bytes
        self.first_byte_up_ns = up.first_byte_ns
        self.first_byte_down_ns = down.first_byte_ns
        self.touch()

    def to_json(
        self, up: Link | None = None, down: Link | None = None
    ) -> dict[str, object]:
        """The API shape; live byte counts come from the links while open."""
        return {
            "id": self.id,
            "cursor": self.cursor,
            "client": self.client,
            "accepted_ns": self.accepted_ns,
            "first_byte_up_ns": self.first_byte_up_ns,
            "first_byte_down_ns": self.first_byte_down_ns,
            "closed_ns": self.closed_ns,
            "bytes_up": up.bytes if up is not None else self.bytes_up,
            "bytes_down": down.bytes if down is not None else self.bytes_down,
            "dropped_up": self.dropped_up,
            "dropped_down": self.dropped_down,
            "end": self.end,
            "ended_by": self.ended_by,
            "error": self.error,
            "warning": self.warning,
            "toxics": list(self.toxics),
            "exchanges_ns": list(self.exchanges),
        }


class ConnectionLog(CursorRing[ConnectionRecord]):
    """A bounded ring of connection records in change order, read by cursor."""

    def open(self, conn_id: int) -> ConnectionRecord:
        """A record for a just-accepted connection."""
        record = ConnectionRecord(self, conn_id)
        self.changed(record)
        return record
