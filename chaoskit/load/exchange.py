"""One request, start to sample: send, classify, capture, count, hand to the sink.

Shared by the open and the closed model. :class:`Classifier` is where statuses
and body patterns become error classes (transport errors are mapped in
``client``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Mapping

from chaoskit.load.client import Connection, ConnectionPool, Outcome, RequestFailed
from chaoskit.load.tasks import CompiledTask, UserState
from chaoskit.records import (
    BUILTIN_BODY_PATTERNS,
    AckLog,
    ErrorClass,
    Sample,
    ValueLog,
)

__all__ = ["Classifier", "Counters", "Exchanger"]

_BODY_SCAN = 65536  # patterns look at the start of a body only


class Classifier:
    """Status and body checks for a response.

    Args:
        patterns: name -> regex; a body that matches is ``body_pattern`` with
            that name, whatever its status (a 200 saying "database is locked"
            is still a lock error).
    """

    def __init__(self, patterns: Mapping[str, str]) -> None:
        self._patterns = [
            (name, re.compile(p.encode())) for name, p in patterns.items()
        ]
        # Built-in classes (``lock``) refine failures only: successes skip them.
        self._builtin = [
            (name, re.compile(p.encode()))
            for name, p in BUILTIN_BODY_PATTERNS.items()
            if name not in patterns
        ]

    def classify(
        self, expect: frozenset[int], status: int, body: bytes
    ) -> tuple[ErrorClass | None, str]:
        """``(None, "")`` for a success, else the error class and a detail."""
        if self._patterns and body:
            head = body[:_BODY_SCAN]
            for name, pattern in self._patterns:
                if pattern.search(head):
                    return ErrorClass.BODY_PATTERN, name
        if status in expect:
            return None, ""
        if body and self._builtin:
            lowered = body[:_BODY_SCAN].lower()
            for name, pattern in self._builtin:
                if pattern.search(lowered):
                    return ErrorClass.BODY_PATTERN, name
        if 400 <= status < 500:
            return ErrorClass.HTTP_4XX, str(status)
        if 500 <= status < 600:
            return ErrorClass.HTTP_5XX, str(status)
        return ErrorClass.UNEXPECTED_STATUS, str(status)


class Counters:
    """Live counts, read by ``LoadEngine.status``."""

    __slots__ = ("completed", "dropped", "due", "errors", "in_flight", "sent", "users")

    def __init__(self) -> None:
        self.due = 0
        self.sent = 0
        self.completed = 0
        self.dropped = 0
        self.errors = 0
        self.in_flight = 0
        self.users = 0


class Exchanger:
    """Sends requests and turns each into exactly one :class:`Sample`.

    Args:
        pool: connections to the target.
        write: the sink's ``write``.
        classifier: status and body checks.
        now_ns: the clock.
        acks: where tasks with ``ack`` record what each write acknowledged.
        values: where tasks with ``observe`` record the numbers they read.
    """

    def __init__(
        self,
        pool: ConnectionPool,
        write: Callable[[Sample], None],
        classifier: Classifier,
        now_ns: Callable[[], int],
        acks: AckLog | None = None,
        values: ValueLog | None = None,
    ) -> None:
        self.acks = acks
        self.values = values
        self.pool = pool
        self.write = write
        self.classifier = classifier
        self.now_ns = now_ns
        self.counters = Counters()

    def drop(self, task: CompiledTask, user: int, intended_ns: int, why: str) -> None:
        """Count a request that was due but could not be sent."""
        counters = self.counters
        counters.dropped += 1
        counters.errors += 1
        self.write(
            Sample(
                task.name,
                user,
                intended_ns,
                0,
                intended_ns,
                0,
                0,
                0,
                ErrorClass.DROPPED,
                why,
            )
        )

    def finish(
        self,
        task: CompiledTask,
        user: UserState,
        size: int,
        intended_ns: int,
        sent_ns: int,
        outcome: Outcome,
        refreshable: bool = False,
        raw: bytes = b"",
    ) -> Sample:
        """Turn an outcome into the request's one sample: classify, capture, count,
        write. With ``refreshable``, a 401 is not an error: the caller refreshes
        the token and retries."""
        counters = self.counters
        counters.completed += 1
        if isinstance(outcome, RequestFailed):
            counters.errors += 1
            sample = Sample(
                task.name, user.user, intended_ns, sent_ns, outcome.end_ns, 0,
                size, 0, outcome.error, outcome.detail,
            )  # fmt: skip
            if task.acks and self.acks is not None:
                self.acks.maybe(task.name, task.request_key(raw))
            self.write(sample)
            return sample
        status = outcome.status
        if refreshable and status == 401:
            error: ErrorClass | None = None
            detail = "401: token refreshed, request retried"
        else:
            error, detail = self.classifier.classify(task.expect, status, outcome.body)
            if error is None:
                task.capture(outcome.body, user)
            else:
                counters.errors += 1
            if task.acks and self.acks is not None:
                self._acknowledge(task, error is None, outcome.body, raw)
        marked = task.marker is not None and task.marked(
            status, outcome.body, outcome.headers
        )
        if task.observes and self.values is not None:
            for probe, value in zip(
                task.observes, task.observed(outcome.body, outcome.headers), strict=True
            ):
                self.values.add(task.name, probe, intended_ns, value)
        sample = Sample(
            task.name, user.user, intended_ns, sent_ns, outcome.end_ns, status,
            size, outcome.received, error, detail, marked,
        )  # fmt: skip
        self.write(sample)
        return sample

    def _acknowledge(
        self, task: CompiledTask, ok: bool, body: bytes, raw: bytes
    ) -> None:
        assert self.acks is not None  # noqa: S101 - checked by the caller
        # An error status may still have been written (a 503 after the
        # commit): its outcome is unknown, never a definite failure.
        key = task.acknowledged(body, raw) if ok else task.request_key(raw)
        if ok and key is not None:
            self.acks.ack(task.name, key)
        else:
            self.acks.maybe(task.name, key)

    async def send(
        self,
        task: CompiledTask,
        user: UserState,
        raw: bytes,
        intended_ns: int,
        connection: Connection | None,
        *,
        refreshable: bool = False,
    ) -> tuple[Sample, Connection | None]:
        """Send ``raw`` on ``connection`` (or a pooled one when ``None``) and wait.

        Returns the sample (already written to the sink) and the connection
        used, which may be closed (``None`` if none could be made).
        """
        self.counters.sent += 1
        sent = self.now_ns()
        outcome: Outcome
        try:
            if connection is None or not connection.reusable:
                if connection is not None:
                    connection.close()
                connection = await self.pool.acquire(task.timeout)
            remaining = task.timeout - (self.now_ns() - sent) / 1e9
            outcome = await connection.request(raw, max(remaining, 0.001))
        except RequestFailed as failure:
            outcome = failure
            if connection is not None:
                connection.close()  # a late answer would be read as the next one's
        sample = self.finish(
            task, user, len(raw), intended_ns, sent, outcome, refreshable, raw
        )
        return sample, connection

    def fire(
        self,
        task: CompiledTask,
        user: UserState,
        raw: bytes,
        intended_ns: int,
        spawn: Callable[[Coroutine[object, object, None]], object],
        on_done: Callable[[], None],
    ) -> None:
        """Send ``raw`` without waiting (open model); ``on_done`` runs after its
        sample is written. Needs a task (``spawn``) only to open a connection."""
        self.counters.sent += 1
        sent = self.now_ns()
        connection = self.pool.take_idle()
        if connection is None:
            spawn(self._connect_then_start(task, user, raw, intended_ns, sent, on_done))
        else:
            self._start(connection, task, user, raw, intended_ns, sent, on_done)

    def _start(
        self,
        connection: Connection,
        task: CompiledTask,
        user: UserState,
        raw: bytes,
        intended_ns: int,
        sent: int,
        on_done: Callable[[], None],
    ) -> None:
        def done(outcome: Outcome) -> None:
            try:
                self.finish(task, user, len(raw), intended_ns, sent, outcome, raw=raw)
            finally:
                if isinstance(outcome, RequestFailed):
                    connection.close()
                else:
                    self.pool.release(connection)
                on_done()

        remaining = task.timeout - (self.now_ns() - sent) / 1e9
        connection.start(raw, max(remaining, 0.001), done)

    async def _connect_then_start(
        self,
        task: CompiledTask,
        user: UserState,
        raw: bytes,
        intended_ns: int,
        sent: int,
        on_done: Callable[[], None],
    ) -> None:
        try:
            connection = await self.pool.connect(task.timeout)
        except RequestFailed as failure:
            try:
                self.finish(task, user, len(raw), intended_ns, sent, failure, raw=raw)
            finally:
                on_done()
            return
        self._start(connection, task, user, raw, intended_ns, sent, on_done)
