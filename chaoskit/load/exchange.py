"""One request, start to sample: send, classify, capture, count, hand to the sink.

Shared by the open and the closed model. :class:`Classifier` is where statuses
and body patterns become error classes (transport errors are mapped in
``client``).
"""

from __future__ import annotations

import itertools
import re
import sys
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

# What a fired request keeps on its connection until answered.
_Fired = tuple[CompiledTask, UserState, bytes, int, int, Callable[[], None], int]

_BODY_SCAN = 65536  # patterns look at the start of a body only
_new_tuple = tuple.__new__
if len(Sample._fields) != 13:  # finish() builds a Sample from all its fields
    raise ImportError("Sample's fields changed: update Exchanger.finish")


class Classifier:
    """Status and body checks for a response.

    A response gets facets, not one label: its status class when the status
    was not expected (``http_4xx``, ``http_5xx``, ``unexpected_status``) and a
    tag per body pattern it matches. A 500 saying "database is locked" is
    ``http_5xx`` tagged ``lock``, so a hypothesis on either counts it.

    Args:
        patterns: name -> regex; a body that matches is tagged with that name
            and fails whatever its status (a 200 saying "database is locked"
            is still a lock error: ``body_pattern``).
    """

    def __init__(self, patterns: Mapping[str, str]) -> None:
        # Names interned: every sample's tags share the same string objects.
        self._patterns = [
            (sys.intern(name), re.compile(p.encode())) for name, p in patterns.items()
        ]
        self.plain = not self._patterns
        """No pattern of the user's: an expected status is a success as it is."""
        # Built-in tags (``lock``) refine failures only: successes skip them.
        self._builtin = [
            (sys.intern(name), re.compile(p.encode()))
            for name, p in BUILTIN_BODY_PATTERNS.items()
            if name not in patterns
        ]

    def classify(
        self, expect: frozenset[int], status: int, body: bytes
    ) -> tuple[ErrorClass | None, str, tuple[str, ...]]:
        """``(None, "", ())`` for a success, else the error class, a detail
        (the status and the patterns matched) and the pattern tags."""
        tags: tuple[str, ...] = ()
        if self._patterns and body:
            head = body[:_BODY_SCAN]
            for name, pattern in self._patterns:
                if pattern.search(head):
                    tags += (name,)
            if tags and status in expect:
                return ErrorClass.BODY_PATTERN, ",".join(tags), tags
        if status in expect:
            return None, "", ()  # a constant: the hot path allocates nothing
        if body and self._builtin:
            lowered = body[:_BODY_SCAN].lower()
            for name, pattern in self._builtin:
                if pattern.search(lowered):
                    tags += (name,)
        # The detail names the tags too: "503 (lock)" is an example of both.
        detail = f"{status} ({', '.join(tags)})" if tags else str(status)
        if 400 <= status < 500:
            return ErrorClass.HTTP_4XX, detail, tags
        if 500 <= status < 600:
            return ErrorClass.HTTP_5XX, detail, tags
        return ErrorClass.UNEXPECTED_STATUS, detail, tags


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
        # Requests sent and not yet answered, so a cut-off load can count them
        # (``abandon``) instead of losing them: token -> (task, user, intended,
        # sent, raw).
        self._pending: dict[int, tuple[CompiledTask, int, int, int, bytes]] = {}
        self._tokens = itertools.count()
        self._fired = self._answered  # one bound method for every fired request

    def _begin(
        self, task: CompiledTask, user: int, intended_ns: int, sent: int, raw: bytes
    ) -> int:
        token = next(self._tokens)
        self._pending[token] = (task, user, intended_ns, sent, raw)
        return token

    def abandon(self, why: str = "still in flight when the load stopped") -> int:
        """Count every request still in flight as ``unfinished``; how many.

        Called when the load is cut off: a request never answered is an error
        in the phase it was due in, never a request that vanished. An answer
        arriving afterwards is ignored (it was counted here).
        """
        now = self.now_ns()
        pending = list(self._pending.values())
        self._pending.clear()
        for task, user, intended_ns, sent, raw in pending:
            self.counters.errors += 1
            if task.acks and self.acks is not None:
                self.acks.maybe(task.name, task.request_key(raw))
            sample = Sample(
                task.name, user, intended_ns, sent, now, 0, len(raw), 0,
                ErrorClass.UNFINISHED, why, user_class=task.user_class,
            )  # fmt: skip
            self.write(sample)
        return len(pending)

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
                user_class=task.user_class,
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
        token: int | None = None,
    ) -> Sample:
        """Turn an outcome into the request's one sample: classify, capture, count,
        write. With ``refreshable``, a 401 is not an error: the caller refreshes
        the token and retries. A request already counted by :meth:`abandon`
        (``token`` no longer pending) is not counted again."""
        if token is not None and self._pending.pop(token, None) is None:
            # Written as unfinished already: the caller gets a sample, not the sinks.
            return Sample(
                task.name, user.user, intended_ns, sent_ns, outcome.end_ns, 0, size,
                0, ErrorClass.UNFINISHED, "answered after the load stopped",
                user_class=task.user_class,
            )  # fmt: skip
        counters = self.counters
        counters.completed += 1
        if isinstance(outcome, RequestFailed):
            counters.errors += 1
            sample = Sample(
                task.name, user.user, intended_ns, sent_ns, outcome.end_ns, 0,
                size, 0, outcome.error, outcome.detail, user_class=task.user_class,
            )  # fmt: skip
            if task.acks and self.acks is not None:
                self.acks.maybe(task.name, task.request_key(raw))
            self.write(sample)
            return sample
        status = outcome.status
        tags: tuple[str, ...] = ()
        if refreshable and status == 401:
            error: ErrorClass | None = None
            detail = "401: token refreshed, request retried"
        else:
            if status in task.expect and self.classifier.plain:
                error, detail = None, ""  # the usual success: nothing to look for
            else:
                error, detail, tags = self.classifier.classify(
                    task.expect, status, outcome.body
                )
            if error is None:
                if task.captures:
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
        # Every field given: tuple.__new__ builds it in C (a NamedTuple's own
        # __new__ is a Python function), once per request.
        sample = _new_tuple(Sample, (
            task.name, user.user, intended_ns, sent_ns, outcome.end_ns, status,
            size, outcome.received, error, detail, marked, tags, task.user_class,
        ))  # fmt: skip
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
        token = self._begin(task, user.user, intended_ns, sent, raw)
        outcome: Outcome
        try:
            remaining = task.timeout
            if connection is None or not connection.reusable:
                if connection is not None:
                    connection.close()
                connection = await self.pool.acquire(task.timeout)
                # Only waiting for a connection takes time before the send.
                remaining -= (self.now_ns() - sent) / 1e9
            outcome = await connection.request(raw, max(remaining, 0.001))
        except RequestFailed as failure:
            outcome = failure
            if connection is not None:
                connection.close()  # a late answer would be read as the next one's
        sample = self.finish(
            task, user, len(raw), intended_ns, sent, outcome, refreshable, raw, token
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
        token = self._begin(task, user.user, intended_ns, sent, raw)
        connection = self.pool.take_idle()
        if connection is None:
            spawn(
                self._connect_then_start(
                    task, user, raw, intended_ns, sent, on_done, token
                )
            )
        else:
            # Nothing awaited since ``sent``: the whole timeout is left.
            self._start(
                connection, task, user, raw, intended_ns, sent, on_done, token,
                task.timeout,
            )  # fmt: skip

    def _start(
        self,
        connection: Connection,
        task: CompiledTask,
        user: UserState,
        raw: bytes,
        intended_ns: int,
        sent: int,
        on_done: Callable[[], None],
        token: int,
        remaining: float,
    ) -> None:
        # The request's context rides on its connection, not in a closure: a
        # closure is a function and a cell per variable, per request.
        connection.context = (task, user, raw, intended_ns, sent, on_done, token)
        connection.start(raw, max(remaining, 0.001), self._fired)

    def _answered(self, connection: Connection, outcome: Outcome) -> None:
        """A fired request's outcome: its sample, its connection back, ``on_done``."""
        fired: _Fired = connection.context  # type: ignore[assignment]
        task, user, raw, intended_ns, sent, on_done, token = fired
        connection.context = None
        try:
            self.finish(
                task, user, len(raw), intended_ns, sent, outcome, False, raw, token
            )
        finally:
            if isinstance(outcome, RequestFailed):
                connection.close()
            else:
                self.pool.release(connection)
            on_done()

    async def _connect_then_start(
        self,
        task: CompiledTask,
        user: UserState,
        raw: bytes,
        intended_ns: int,
        sent: int,
        on_done: Callable[[], None],
        token: int,
    ) -> None:
        try:
            connection = await self.pool.connect(task.timeout)
        except RequestFailed as failure:
            try:
                self.finish(
                    task, user, len(raw), intended_ns, sent, failure,
                    raw=raw, token=token,
                )  # fmt: skip
            finally:
                on_done()
            return
        remaining = task.timeout - (self.now_ns() - sent) / 1e9
        self._start(
            connection, task, user, raw, intended_ns, sent, on_done, token, remaining
        )
