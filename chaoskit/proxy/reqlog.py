"""The request log of a ``protocol = "http"`` proxy: a chaoskit extension.

One record per HTTP request the proxy saw, beside the connection log: method,
path, the status the client got (the upstream's, or the one a fault injected),
when it started, when the response began and ended (``CLOCK_MONOTONIC`` ns, as
in the connection log), the request id header of the user's choice, the
client's address, the response's ``Retry-After`` and the faults that acted.
Read with a cursor, like the connection log (:mod:`chaoskit.proxy.ring`).
"""

from __future__ import annotations

import time

from chaoskit.proxy.ring import CursorRing

__all__ = ["OUTCOMES", "RequestLog", "RequestRecord"]

OUTCOMES = (
    "answered",  # a response came back whole (the upstream's or an injected one)
    "aborted",  # an http_abort fault cut it (after the headers or mid-body)
    "reset",  # an http_abort fault reset the connection
    "closed",  # the connection closed before the response was complete
)


class RequestRecord:
    """What the log knows about one request."""

    __slots__ = (
        "client",
        "conn_id",
        "cursor",
        "delayed_by",
        "end_ns",
        "fault",
        "headers",
        "id",
        "log",
        "method",
        "outcome",
        "path",
        "request_id",
        "response_ns",
        "retry_after",
        "start_ns",
        "status",
    )

    def __init__(
        self,
        log: RequestLog,
        record_id: int,
        *,
        conn_id: int,
        client: str,
        start_ns: int,
    ) -> None:
        self.log = log
        self.id = record_id
        self.cursor = 0
        self.conn_id = conn_id
        self.client = client
        self.start_ns = start_ns
        self.method = ""
        self.path = ""
        self.request_id: str | None = None
        self.headers: dict[str, str] = {}
        self.status: int | None = None
        self.response_ns: int | None = None
        self.end_ns: int | None = None
        self.retry_after: str | None = None
        self.fault: str | None = None
        self.delayed_by: tuple[str, ...] = ()
        self.outcome: str | None = None

    def responded(self, status: int, retry_after: str | None) -> None:
        """The response's head went to the client."""
        self.status = status
        self.retry_after = retry_after
        self.response_ns = time.monotonic_ns()

    def finish(self, outcome: str) -> None:
        """Done: the response was whole, or the exchange was cut."""
        if self.outcome is not None:
            return
        self.outcome = outcome
        self.end_ns = time.monotonic_ns()
        self.log.changed(self)

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "cursor": self.cursor,
            "connection": self.conn_id,
            "client": self.client,
            "method": self.method,
            "path": self.path,
            "request_id": self.request_id,
            "headers": self.headers,
            "status": self.status,
            "start_ns": self.start_ns,
            "response_ns": self.response_ns,
            "end_ns": self.end_ns,
            "retry_after": self.retry_after,
            "fault": self.fault,
            "delayed_by": list(self.delayed_by),
            "outcome": self.outcome,
        }


class RequestLog(CursorRing[RequestRecord]):
    """Request records of one proxy in change order, read by cursor."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._next_id = 0

    def open(self, *, conn_id: int, client: str, start_ns: int) -> RequestRecord:
        """A record for a request whose head was just read."""
        self._next_id += 1
        record = RequestRecord(
            self, self._next_id, conn_id=conn_id, client=client, start_ns=start_ns
        )
        self.changed(record)
        return record
