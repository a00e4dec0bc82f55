"""Record types that cross stage boundaries: request samples, error classes, sinks.

A leaf module: it imports nothing from chaoskit, so the load engine can produce
samples and metrics, journals or files can consume them without importing each
other. The producer is handed its sinks; it never imports them.

Times in a :class:`Sample` are monotonic nanoseconds from the run's
:class:`chaoskit.clock.Clock`; only differences between them mean anything.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

__all__ = [
    "BUILTIN_BODY_PATTERNS",
    "PATTERN_PREFIX",
    "AckLog",
    "ErrorClass",
    "FanOut",
    "MemorySink",
    "ReadBack",
    "Sample",
    "Sink",
    "ValueLog",
    "error_keys",
    "stream_sample_name",
    "stream_sample_parts",
]


class ErrorClass(enum.Enum):
    """The closed vocabulary of request failures: a failed sample's status or
    transport facet.

    A failure has one of these and any number of pattern tags (``lock``, the
    user's ``load.error_patterns``) beside it: a 500 saying "database is
    locked" is ``http_5xx`` *and* tagged ``lock`` (see :func:`error_keys`).
    Transport errors are mapped to these in one place
    (``chaoskit.load.client``); statuses and body patterns in
    ``chaoskit.load.exchange``.
    """

    HTTP_4XX = "http_4xx"
    """A 4xx status where the task expected something else."""
    HTTP_5XX = "http_5xx"
    """A 5xx status where the task expected something else."""
    UNEXPECTED_STATUS = "unexpected_status"
    """Any other unexpected status (1xx, 3xx, or a 2xx on a negative task)."""
    BODY_PATTERN = "body_pattern"
    """Only a body pattern made the response fail (its status was expected);
    the patterns matched are the sample's ``tags``."""
    TIMEOUT = "timeout"
    """No complete response within the request timeout (connect included)."""
    CONNECT_REFUSED = "connect_refused"
    """The target refused the TCP connection."""
    CONNECT_ERROR = "connect_error"
    """The connection could not be made for another reason (unreachable, DNS)."""
    RESET = "reset"
    """The connection was reset or closed before the response was complete."""
    PROTOCOL = "protocol"
    """The response was not valid HTTP/1.1."""
    DROPPED = "dropped"
    """Open model only: the request was due but the in-flight cap was reached,
    so it was never sent (k6's ``dropped_iterations``). Never silently skipped."""
    UNFINISHED = "unfinished"
    """Still in flight when the load was cut off (the run ended or was
    stopped before its answer or its timeout): counted, never dropped."""
    WS_CONNECT_FAILED = "ws_connect_failed"
    """A WebSocket task's connection or handshake failed (``<task>.connect``)."""
    WS_DISCONNECT = "ws_disconnect"
    """A WebSocket stream closed or broke that the task did not close."""
    WS_GAP = "ws_gap"
    """A WebSocket message's sequence number skipped some (messages lost)."""
    SSE_CONNECT_FAILED = "sse_connect_failed"
    """An SSE task's connection failed or was answered without a stream."""
    SSE_DISCONNECT = "sse_disconnect"
    """An SSE stream ended or broke that the task did not close."""
    SSE_GAP = "sse_gap"
    """An SSE event's id skipped some (events lost, e.g. not resumed after a
    reconnect with ``Last-Event-ID``)."""


class Sample(NamedTuple):
    """One request, as the load engine saw it.

    A ``NamedTuple`` because one is made per request on the hot path and it is
    immutable and about three times cheaper to build than a frozen dataclass.
    """

    task: str
    """Name of the task (or flow step) that made the request."""
    user: int
    """Virtual user (closed model) or user identity (open model), from 0."""
    intended_ns: int
    """When the request was due: its arrival time (open model) or the end of the
    user's think time (closed model). Latency from here is coordinated-omission safe."""
    sent_ns: int
    """When the request's first byte was handed to the socket (0 if never sent)."""
    end_ns: int
    """When the response was complete or the request failed."""
    status: int
    """HTTP status, 0 when no response arrived."""
    bytes_sent: int
    bytes_received: int
    error: ErrorClass | None
    """``None`` when the request succeeded as the task expected."""
    detail: str = ""
    """Short text for the error: the pattern name, the status, the exception."""
    marked: bool = False
    """The response carried its task's ``marker`` (e.g. a fallback served it)."""
    tags: tuple[str, ...] = ()
    """Body patterns the response matched (``lock``, user patterns): facets
    beside ``error``, never instead of it."""
    user_class: str = ""
    """The ``[[load.users]]`` class of the user that made it (``""``: the load
    has no classes)."""

    @property
    def latency_ns(self) -> int:
        """Latency from the intended start (what a user waited)."""
        return self.end_ns - self.intended_ns

    @property
    def service_ns(self) -> int:
        """Latency from the actual send (what the service took, plus the wire)."""
        return self.end_ns - self.sent_ns if self.sent_ns else 0

    @property
    def lag_ns(self) -> int:
        """Scheduling lag: how late the request was sent after it was due."""
        return self.sent_ns - self.intended_ns if self.sent_ns else 0


_STREAM_PARTS = {"websocket": ("connect",), "sse": ("connect", "first_event")}


def stream_sample_parts(kind: str) -> tuple[str, ...]:
    """The extra sample names' suffixes a task kind records beside its own name:
    ``connect`` (connection time, ``websocket`` and ``sse``) and ``first_event``
    (connect to first event, ``sse``); none for ``http``.

    The one registration of these names: the load engine names its samples
    with :func:`stream_sample_name`, and the spec declares the same names so
    hypotheses may pick them (``task = "feed.connect"``).
    """
    return _STREAM_PARTS.get(kind, ())


def stream_sample_name(task: str, part: str) -> str:
    """``<task>.<part>``: the name of a stream task's extra samples."""
    return f"{task}.{part}"


PATTERN_PREFIX = "body_pattern:"
"""How a pattern tag is counted and named in reports (``body_pattern:lock``)."""


def error_keys(sample: Sample) -> tuple[str, ...]:
    """Every error class a failed sample carries (empty for a success).

    Its status or transport class (``http_5xx``, ``timeout``...) and one
    ``body_pattern:<name>`` per pattern tag: classes are facets, so a count
    per key counts every sample carrying it and the counts may overlap.
    """
    error = sample.error
    if error is None:
        return ()
    if not sample.tags:
        if error is ErrorClass.BODY_PATTERN:  # written before tags: detail names it
            return (PATTERN_PREFIX + sample.detail,)
        return (error.value,)
    tagged = tuple(PATTERN_PREFIX + tag for tag in sample.tags)
    return tagged if error is ErrorClass.BODY_PATTERN else (error.value, *tagged)


@runtime_checkable
class Sink(Protocol):
    """Consumer of samples. ``write`` is called on the event loop per request,
    so it must be fast and must not block; buffer and flush in ``close``."""

    def write(self, sample: Sample) -> None:
        """Take one sample."""

    def close(self) -> None:
        """Flush and release resources; called once when the producer stops."""


class FanOut:
    """A sink that hands each sample to several sinks, in order."""

    def __init__(self, sinks: Iterable[Sink]) -> None:
        self._sinks = tuple(sinks)

    def write(self, sample: Sample) -> None:
        """Forward one sample to every sink."""
        for sink in self._sinks:
            sink.write(sample)

    def close(self) -> None:
        """Close every sink."""
        for sink in self._sinks:
            sink.close()


class MemorySink:
    """Keeps every sample in a list: for tests and short runs only (unbounded)."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self.closed = False

    def write(self, sample: Sample) -> None:
        """Append the sample."""
        self.samples.append(sample)

    def close(self) -> None:
        """Mark the sink closed."""
        self.closed = True


BUILTIN_BODY_PATTERNS = {
    "lock": (
        r"database is locked|database table is locked|could not obtain lock"
        r"|deadlock detected|lock timeout|lock wait timeout"
        r"|canceling statement due to lock timeout|lock not available"
    ),
}
"""Body-pattern tags every load knows (``body_pattern:lock``).

Matched against the lower-cased start of the body (so written in lower case:
a case-insensitive regex is ten times slower on a 1 KB body). Unlike
``load.error_patterns`` they only tag a failed response (an unexpected
status), beside its status class: a success is never scanned for them, so
they cost nothing on the hot path. A user pattern of the same name replaces one.
"""


class AckLog:
    """What each request of a task with ``ack`` acknowledged, for integrity checks.

    ``acked``: (task, id) of each successful write, in completion order (an id
    acknowledged twice appears twice). ``indeterminate``: ids of writes whose
    outcome is unknown (a timeout, a reset, an error status); ``unknown``: how
    many such writes had no id to record (the id comes from the answer).
    Held in memory for the run: about 100 bytes per write of a task with ``ack``.
    """

    def __init__(self) -> None:
        self.acked: list[tuple[str, str]] = []
        self.indeterminate: list[tuple[str, str]] = []
        self.unknown: dict[str, int] = {}

    def ack(self, task: str, key: str) -> None:
        """A write acknowledged ``key``."""
        self.acked.append((task, key))

    def maybe(self, task: str, key: str | None) -> None:
        """A write whose outcome is unknown (``key`` None: not even its id)."""
        if key is None:
            self.unknown[task] = self.unknown.get(task, 0) + 1
        else:
            self.indeterminate.append((task, key))


class ValueLog:
    """Numbers read from responses for threshold hypotheses on a header or a
    JSON value: (task, probe) -> (intended start ns, value) of each response
    that carried one, and how many did not. Only the probes a hypothesis names
    are read, so other tasks pay nothing; held in memory for the run (about 60
    bytes per response of an observed task).
    """

    def __init__(self, origin_ns: int = 0) -> None:
        self.origin_ns = origin_ns
        """Monotonic time of the timeline's zero (the runner sets it)."""
        self.values: dict[tuple[str, str], list[tuple[int, float]]] = {}
        self.missing: dict[tuple[str, str], list[int]] = {}

    def add(self, task: str, probe: str, intended_ns: int, value: float | None) -> None:
        """One response's number (None: the response did not carry one)."""
        if value is None:
            self.missing.setdefault((task, probe), []).append(intended_ns)
        else:
            self.values.setdefault((task, probe), []).append((intended_ns, value))


@dataclass(frozen=True)
class ReadBack:
    """What an integrity hypothesis's read-back found after the run.

    ``ids`` as text, in the order read (duplicates kept); ``error`` when the
    read-back itself failed (then ``ids`` is empty and nothing can be judged).
    """

    source: str
    ids: tuple[str, ...] = ()
    error: str | None = None
    value: float | None = None
    """A counter read-back's number (``ids`` is then empty)."""
