"""The closed model: virtual users, each on its own keep-alive connection.

A user runs its flow: the ``on_start`` steps (register, login: captures become
its values, the bearer token among them), then weighted tasks with think time
between a response and the next request, heartbeats at a fixed interval
interleaved, and ``on_stop`` (logout, clean-up) when it is told to stop. A 401
re-runs the refresh step and retries the request once.

Each user's next request is due at the end of its think time (its intended
start); each user thinks on its own clock, started at its own moment, so users
do not fire in synchronised bursts (unlike locust's ``constant_throughput``).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field

from chaoskit.clock import Clock
from chaoskit.load.client import Connection
from chaoskit.load.config import ClosedModel, Flow, Think
from chaoskit.load.exchange import Exchanger
from chaoskit.load.share import WHOLE, Part, position, positions
from chaoskit.load.streams import StreamRunner
from chaoskit.load.tasks import CompiledTask, TaskChooser, UserState
from chaoskit.records import Sample
from chaoskit.spec.classes import ClassShare, Seats

__all__ = [
    "ClassOrder",
    "ClosedRunner",
    "CompiledClass",
    "CompiledFlow",
    "flow_request",
]

_NS = 1_000_000_000
_TICK_NS = 50_000_000  # the spawn controller's period
_MAX_SLEEP_NS = 100_000_000  # users wake at least this often to notice stop
# Users started per tick at most (20,000/s): a huge ``users`` ramps up over a
# few seconds instead of holding the event loop while it creates every task.
_SPAWN_PER_TICK = 1000


@dataclass(frozen=True)
class CompiledFlow:
    """A :class:`~chaoskit.load.config.Flow` with its steps compiled."""

    flow: Flow
    on_start: Sequence[CompiledTask] = ()
    on_stop: Sequence[CompiledTask] = ()
    heartbeat: CompiledTask | None = None
    refresh: CompiledTask | None = field(default=None)


@dataclass(frozen=True)
class CompiledClass:
    """A user class ready to run: its tasks, flow, think time and share.

    A load without ``[[load.users]]`` runs one class named ``""`` holding the
    load's tasks and flow.
    """

    name: str
    chooser: TaskChooser
    flow: CompiledFlow | None
    think: Think
    share: ClassShare = field(default_factory=ClassShare)
    rate: float | None = None
    """Open model: the class's own requests per second (None: a share)."""


class ClassOrder:
    """The class of the user in each position of the active list.

    Position ``i`` always holds a user of class ``order[i]``: users start at
    the end of the list and the newest stop first, so the active users are
    always a prefix of :class:`~chaoskit.spec.classes.Seats` and match the
    weights within one user per class, however the shape moves.
    """

    def __init__(self, classes: Sequence[CompiledClass]) -> None:
        self.classes = tuple(classes)
        self._seats = iter(Seats([c.share for c in self.classes]))
        self._order: list[int] = []

    def at(self, position: int) -> CompiledClass:
        """The class of the user at ``position`` (from 0)."""
        order = self._order
        while len(order) <= position:
            # Only fixed counts and more users than they add up to (the spec
            # refuses it): the first class takes the rest.
            order.append(next(self._seats, 0))
        return self.classes[order[position]]


class _User:
    __slots__ = ("cls", "state", "stopping")

    def __init__(self, state: UserState, cls: CompiledClass) -> None:
        self.state = state
        self.cls = cls
        self.stopping = False


class ClosedRunner:
    """Runs the closed model: keeps the number of users on its shape.

    Args:
        model: users, think time, spawn rate, shape.
        exchanger: sends and records.
        classes: the user classes (one, ``""``, without ``[[load.users]]``).
        clock: the time source.
        users: builds a user's state from its number.
        within_bounds: False once the request budget is spent.
        streams: holds stream tasks (needed when some task is one).
        part: this process's share of the users: every ``count``-th position
            of the active list (:mod:`chaoskit.load.share`).
    """

    def __init__(
        self,
        model: ClosedModel,
        exchanger: Exchanger,
        classes: Sequence[CompiledClass],
        clock: Clock,
        users: Callable[[int], UserState],
        within_bounds: Callable[[], bool],
        *,
        streams: StreamRunner | None = None,
        part: Part = WHOLE,
    ) -> None:
        self.model = model
        self.part = part
        self.streams = streams
        self.exchanger = exchanger
        self.order = ClassOrder(classes)
        self.clock = clock
        self._new_user = users
        self._within_bounds = within_bounds
        self._active: list[_User] = []

    async def run(
        self,
        tg: asyncio.TaskGroup,
        start_ns: int,
        duration_s: float,
        stopping: Callable[[], bool],
    ) -> None:
        """Start and stop users on the shape until the end; then stop them all."""
        clock = self.clock
        deadline = start_ns + int(duration_s * _NS)
        shape = self.model.target()
        part = self.part
        spawn_rate = self.model.spawn_rate
        if spawn_rate is not None:
            spawn_rate /= part.count
        budget = 1.0  # users that may still be started (spawn-rate limit)
        started = 0
        last = start_ns
        while not stopping() and clock.now_ns() < deadline and self._within_bounds():
            now = clock.now_ns()
            if spawn_rate is not None:
                budget = min(
                    budget + spawn_rate * (now - last) / _NS, max(1.0, spawn_rate)
                )
            last = now
            self._active = [u for u in self._active if not u.stopping]
            desired = positions(round(shape.value_at((now - start_ns) / _NS)), part)
            spawned = 0
            while (
                len(self._active) < desired
                and (spawn_rate is None or budget >= 1)
                and spawned < _SPAWN_PER_TICK
            ):
                cls = self.order.at(position(len(self._active), part))
                user = _User(self._new_user(position(started, part)), cls)
                started += 1
                budget -= 1
                spawned += 1
                self._active.append(user)
                tg.create_task(self._run_user(user, deadline, stopping))
            for user in self._active[desired:]:
                user.stopping = True  # the newest stop first
            await clock.sleep_until(min(now + _TICK_NS, deadline))
        for user in self._active:
            user.stopping = True

    def _wait_until(
        self, user: _User, deadline: int, stopping: Callable[[], bool]
    ) -> bool:
        return user.stopping or stopping() or self.clock.now_ns() >= deadline

    async def _run_user(
        self, user: _User, deadline: int, stopping: Callable[[], bool]
    ) -> None:
        counters = self.exchanger.counters
        counters.users += 1
        connection: Connection | None = None
        flow = user.cls.flow
        try:
            if flow is not None:
                connection = await self._steps(user, connection, flow.on_start)
            connection = await self._loop(user, connection, deadline, stopping)
            if flow is not None:
                connection = await self._steps(user, connection, flow.on_stop)
        finally:
            counters.users -= 1
            if connection is not None:
                connection.close()

    async def _steps(
        self,
        user: _User,
        connection: Connection | None,
        steps: Sequence[CompiledTask],
    ) -> Connection | None:
        for step in steps:
            _, connection = await self._request(
                step, user, connection, self.clock.now_ns()
            )
        return connection

    async def _loop(
        self,
        user: _User,
        connection: Connection | None,
        deadline: int,
        stopping: Callable[[], bool],
    ) -> Connection | None:
        clock = self.clock
        state = user.state
        cls = user.cls
        think, chooser, flow = cls.think, cls.chooser, cls.flow
        heartbeat = flow.heartbeat if flow is not None else None
        every = int(flow.flow.heartbeat_every * _NS) if flow is not None else 0
        # A random phase per user, so heartbeats do not arrive all at once.
        beat_at = (
            clock.now_ns() + int(state.rng.random() * every) if heartbeat else math.inf
        )
        now_ns = clock.now_ns
        within_bounds = self._within_bounds
        exchanger = self.exchanger
        due = now_ns()
        while (
            not (user.stopping or stopping())
            and (now := now_ns()) < deadline
            and within_bounds()
        ):
            if heartbeat is not None and now >= beat_at:
                task, intended = heartbeat, int(beat_at)
                beat_at += every
            else:
                task, intended = chooser.choose(state.rng), due
            if task.stream is not None and self.streams is not None:
                ended = await self.streams.hold(
                    task, state, intended,
                    lambda: self._wait_until(user, deadline, stopping), think,
                )  # fmt: skip
            else:
                sample, connection = await flow_request(
                    exchanger, flow, task, state, connection, intended, clock
                )
                ended = sample.end_ns
            now = now_ns()
            if task is not heartbeat:
                pause = think.draw(state.rng)
                due = max(ended, now) + int(pause * _NS)
            else:
                # The user was busy with its heartbeat: its next task is due
                # once the beat is answered, so a slow beat is charged to the
                # beat's own latency and not a second time to the next task.
                due = max(due, ended)
                if beat_at < ended:  # fell behind: skip the missed beats (a
                    beat_at = ended + every  # beat slower than its interval
                    # would otherwise leave no time for any task)
            wake = int(min(due, beat_at, deadline))
            while now < wake and not self._wait_until(user, deadline, stopping):
                await clock.sleep_until(min(wake, now + _MAX_SLEEP_NS))
                now = now_ns()
        return connection

    async def _request(
        self,
        task: CompiledTask,
        user: _User,
        connection: Connection | None,
        intended: int,
    ) -> tuple[Sample, Connection | None]:
        return await flow_request(
            self.exchanger, user.cls.flow, task, user.state, connection, intended,
            self.clock,
        )  # fmt: skip


def flow_request(
    exchanger: Exchanger,
    flow: CompiledFlow | None,
    task: CompiledTask,
    state: UserState,
    connection: Connection | None,
    intended: int,
    clock: Clock,
) -> Coroutine[object, object, tuple[Sample, Connection | None]]:
    """One request of a user's flow: with its bearer token, and on a 401 the
    refresh step, then the request again (once).

    Awaited for the last sample and the connection used (``None`` lets the
    exchanger take one from the pool). Without a refresh step it is the
    exchanger's own ``send``: no coroutine of its own, once per request.
    """
    bearer = flow.flow.bearer if flow is not None else None
    refresh = flow.refresh if flow is not None else None
    refreshable = refresh is not None and task is not refresh
    exchanger.counters.due += 1
    state.seq += 1
    raw = task.build(state, state.bearer(bearer) if bearer is not None else None)
    sent = exchanger.send(
        task, state, raw, intended, connection, refreshable=refreshable
    )
    if not refreshable:
        return sent
    return _refreshed(exchanger, flow, task, state, sent, clock)


async def _refreshed(
    exchanger: Exchanger,
    flow: CompiledFlow | None,
    task: CompiledTask,
    state: UserState,
    sent: Coroutine[object, object, tuple[Sample, Connection | None]],
    clock: Clock,
) -> tuple[Sample, Connection | None]:
    """``sent``'s result; on a 401 the refresh step and the request again."""
    sample, connection = await sent
    if sample.status == 401 and flow is not None and flow.refresh is not None:
        _, connection = await flow_request(
            exchanger, flow, flow.refresh, state, connection, clock.now_ns(), clock
        )
        exchanger.counters.due += 1
        state.seq += 1
        raw = task.build(state, state.bearer(flow.flow.bearer))
        sample, connection = await exchanger.send(
            task, state, raw, clock.now_ns(), connection
        )
    return sample, connection
