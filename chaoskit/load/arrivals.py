"""The open model: requests at intended times, whatever the server does.

Arrival times come from the shape by accumulating ``rate x dt`` over 1 ms steps
and placing an arrival, interpolated inside the step, each time the running
total crosses the next threshold: thresholds 1 apart give evenly spaced
arrivals, exponential(1) gaps give a Poisson process (time rescaling). This is
exact for the piecewise-linear shapes at 1 ms resolution and handles ramps from
zero, which ``next = t + 1/rate(t)`` does not.

Latency is measured from the intended time. When requests in flight reach the
cap, a due request is counted as dropped. The dispatcher yields to the event
loop every few dozen requests, so no rate starves signals or the timeline; when
the machine cannot keep up and falls more than a second behind, the backlog is
skipped and counted as ``late`` (the run reports the rate it achieved).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator, Sequence

from chaoskit.clock import Clock
from chaoskit.load.client import Connection
from chaoskit.load.config import OpenModel
from chaoskit.load.exchange import Exchanger
from chaoskit.load.shapes import Shape
from chaoskit.load.share import WHOLE, Identities, Part, every, limit
from chaoskit.load.tasks import CompiledTask, UserState
from chaoskit.load.users import CompiledClass, CompiledFlow, flow_request
from chaoskit.spec.classes import Seats

__all__ = ["ArrivalSchedule", "OpenRunner", "arrival_times"]

_STEP_S = 0.001
_NS = 1_000_000_000
_MAX_SLEEP_NS = 100_000_000  # wake at least every 100 ms to notice stop()
# Dispatches between two yields to the event loop: signals, the timeline and
# the requests in flight get their turn within a few milliseconds at any rate.
_BATCH = 128
# Arrivals further behind than this are not sent (counted as late): the
# machine cannot offer the rate, and sending them would only fall further back.
LATE_AFTER_NS = 1_000_000_000


def arrival_times(
    rate_at: Callable[[float], float],
    duration_s: float,
    *,
    poisson: bool = False,
    rng: random.Random | None = None,
    part: Part = WHOLE,
) -> Iterator[float]:
    """Intended arrival times in seconds from the start, below ``duration_s``.

    Args:
        rate_at: requests per second at a time (``Shape.value_at``).
        duration_s: where the arrivals end.
        poisson: exponential gaps instead of even spacing.
        rng: the randomness for Poisson gaps (seeded by the caller).
        part: this process's share: every ``count``-th arrival of the whole
            schedule, from the ``index``-th (:mod:`chaoskit.load.share`).
    """
    return iter(
        ArrivalSchedule(rate_at, duration_s, poisson=poisson, rng=rng, part=part)
    )


class ArrivalSchedule:
    """The arrival times of :func:`arrival_times`, one at a time, with a way to
    skip ahead (:meth:`skip_until`) without producing every arrival skipped:
    at 10 million requests/s a second behind is ten million arrivals.

    A part of ``count`` keeps the thresholds ``index, index + count, ...`` of
    the whole schedule's (the same randomness drawn, ``count`` gaps summed per
    arrival), so the parts' arrivals together are exactly the whole's."""

    def __init__(
        self,
        rate_at: Callable[[float], float],
        duration_s: float,
        *,
        poisson: bool = False,
        rng: random.Random | None = None,
        part: Part = WHOLE,
    ) -> None:
        self._rate_at = rate_at
        self._duration = duration_s
        self._poisson = poisson
        self._rng = rng or random.Random(0)
        self._count = part.count
        self._threshold = self._rng.expovariate(1.0) if poisson else 0.0
        for _ in range(part.index):
            self._threshold += self._one_gap()
        # Even spacing: every gap is the part's count (no call per arrival).
        self._even = None if poisson else float(part.count)
        self._steps = int(duration_s / _STEP_S) + 1  # bounded: one pass
        self._step = -1
        self._t = self._width = self._gained = self._total = 0.0
        self._done = not self._advance()

    def _advance(self) -> bool:
        """Move to the next 1 ms step; False past the end."""
        self._total += self._gained
        self._step += 1
        self._t = self._step * _STEP_S
        self._width = min(_STEP_S, self._duration - self._t)
        if self._step >= self._steps or self._width <= 0:
            self._gained = 0.0
            return False
        self._gained = max(0.0, self._rate_at(self._t + self._width / 2) * self._width)
        return True

    def _one_gap(self) -> float:
        return self._rng.expovariate(1.0) if self._poisson else 1.0

    def _gap(self) -> float:
        """From one of this part's thresholds to its next."""
        if self._count == 1 or not self._poisson:
            return self._one_gap() * self._count
        return sum(self._rng.expovariate(1.0) for _ in range(self._count))

    def __iter__(self) -> Iterator[float]:
        return self

    def __next__(self) -> float:
        while not self._done:
            # The epsilon keeps float drift in the running total (a sum of many
            # small steps) from adding one arrival at the very end.
            if self._gained > 0 and (
                self._threshold <= self._total + self._gained - 1e-9
            ):
                at = (
                    self._t
                    + (self._threshold - self._total) / self._gained * self._width
                )
                even = self._even
                self._threshold += even if even is not None else self._gap()
                return at
            self._done = not self._advance()
        raise StopIteration

    def skip_until(self, offset_s: float) -> int:
        """Leave out the arrivals of every step that ends by ``offset_s``;
        how many were left out (for Poisson arrivals, the expected number)."""
        skipped = 0.0
        while not self._done and self._t + self._width <= offset_s:
            end = self._total + self._gained - 1e-9
            if self._threshold <= end:
                if self._poisson:
                    # One arrival at the threshold, then on average one per
                    # ``count`` units up to the end; exponential gaps are
                    # memoryless, so the next one is drawn afresh from there.
                    skipped += 1 + (end - self._threshold) / self._count
                    self._threshold = end + self._gap()
                else:
                    count = int((end - self._threshold) / self._count) + 1
                    skipped += count
                    self._threshold += count * self._count
            self._done = not self._advance()
        return round(skipped)


class OpenRunner:
    """Runs the open model until the duration ends or ``stopping()`` says so.

    User classes without a rate of their own share the model's arrivals by
    weight, in the order of :class:`~chaoskit.spec.classes.Seats` (any prefix
    of the arrivals matches the weights within one); a class with its own
    ``rate`` gets its own arrivals, following the model's shape scaled.

    Args:
        model: rate, shape, in-flight cap, users.
        exchanger: sends and records.
        classes: the user classes (one, ``""``, without ``[[load.users]]``).
        clock: the time source.
        seed: the run's seed.
        users: builds the state of a user identity on first use.
        part: this process's share of the arrivals (:mod:`chaoskit.load.share`).
    """

    def __init__(
        self,
        model: OpenModel,
        exchanger: Exchanger,
        classes: Sequence[CompiledClass],
        clock: Clock,
        seed: int,
        users: Callable[[int], UserState],
        part: Part = WHOLE,
    ) -> None:
        self.model = model
        self.part = part
        self._cap = limit(model.max_in_flight, part) or model.max_in_flight
        self._identities = Identities(model.users, part)
        self.exchanger = exchanger
        self.classes = tuple(classes)
        self.clock = clock
        self.seed = seed
        self._new_user = users
        self._users: dict[int, UserState] = {}
        self._class_of: dict[int, CompiledClass] = {}  # user number -> its class
        self._idle = asyncio.Event()  # set when no request is in flight
        self._started: dict[int, asyncio.Event] = {}  # user -> on_start finished
        self.late = 0
        """Arrivals not sent because the schedule was too far behind."""

    async def run(
        self,
        tg: asyncio.TaskGroup,
        start_ns: int,
        duration_s: float,
        stopping: Callable[[], bool],
    ) -> None:
        """Dispatch every arrival on time, in ``tg``; return when the last is due.

        Never holds the event loop for more than :data:`_BATCH` dispatches; an
        arrival more than :data:`LATE_AFTER_NS` behind is skipped with every
        other one up to now, and counted in :attr:`late`.
        """
        target = self.model.target()
        shared = [i for i, c in enumerate(self.classes) if c.rate is None]
        streams: list[tuple[Shape, list[int], str]] = []
        if shared:
            streams.append((target, shared, "arrivals"))
        for index, cls in enumerate(self.classes):
            if cls.rate is not None:
                shape = target.scaled(cls.rate / self.model.rate)
                streams.append((shape, [index], f"arrivals:{cls.name}"))
        async with asyncio.TaskGroup() as dispatchers:
            for shape, members, name in streams:
                dispatchers.create_task(
                    self._stream(
                        tg, start_ns, duration_s, stopping, shape, members, name
                    )
                )
        await self._drain()
        if any(c.flow is not None and c.flow.on_stop for c in self.classes):
            async with asyncio.TaskGroup() as stops:
                for number in self._started:
                    stops.create_task(self._on_stop(self._users[number]))

    async def _stream(
        self,
        tg: asyncio.TaskGroup,
        start_ns: int,
        duration_s: float,
        stopping: Callable[[], bool],
        shape: Shape,
        members: list[int],
        name: str,
    ) -> None:
        """One schedule's arrivals, each handed to a class of ``members``."""
        clock = self.clock
        rng = random.Random(f"{self.seed}:{name}")
        schedule = ArrivalSchedule(
            shape.value_at,
            duration_s,
            poisson=self.model.arrivals == "poisson",
            rng=rng,
            part=self.part,
        )
        # The class of each of this part's arrivals is the whole schedule's.
        seats = every(Seats([self.classes[i].share for i in members]), self.part)
        single = members[0] if len(members) == 1 else None
        counts = dict.fromkeys(members, 0)  # arrivals per class: its identities
        batch = 0
        # The clock is read again only when an arrival is not yet due by the
        # last reading: a burst of due arrivals costs one reading, and none is
        # ever sent before its time (that reading was taken before the send).
        now = clock.now_ns()
        for offset in schedule:
            intended = start_ns + int(offset * _NS)
            if now < intended:
                now = clock.now_ns()
            while now < intended and not stopping():
                await clock.sleep_until(min(intended, now + _MAX_SLEEP_NS))
                now = clock.now_ns()
                batch = 0
            if stopping():
                break
            if now - intended > LATE_AFTER_NS:
                # Behind by more than the bound: drop the backlog in one go.
                late = 1 + schedule.skip_until((now - start_ns) / _NS)
                self.late += late
                continue
            member = single if single is not None else members[next(seats)]
            count = counts[member]
            counts[member] = count + 1
            self._dispatch(tg, member, count, intended)
            batch += 1
            if batch >= _BATCH:
                batch = 0
                await asyncio.sleep(0)
                now = clock.now_ns()

    async def _drain(self) -> None:
        """Wait for the requests in flight: each ends by its timeout at the latest."""
        counters = self.exchanger.counters
        while counters.in_flight > 0:
            self._idle.clear()
            await self._idle.wait()

    def _request_done(self) -> None:
        counters = self.exchanger.counters
        counters.in_flight -= 1
        if counters.in_flight == 0:
            self._idle.set()

    def _user(self, member: int, count: int) -> UserState:
        """The identity of a class's ``count``-th arrival: each class rotates
        through ``model.users`` identities of its own."""
        number = self._identities.number(member, count)
        user = self._users.get(number)
        if user is None:
            user = self._users[number] = self._new_user(number)
            self._class_of[number] = self.classes[member]
            self.exchanger.counters.users = len(self._users)
        return user

    def _dispatch(
        self, tg: asyncio.TaskGroup, member: int, count: int, intended: int
    ) -> None:
        exchanger = self.exchanger
        counters = exchanger.counters
        counters.due += 1
        cls = self.classes[member]
        user = self._user(member, count)
        task = cls.chooser.choose(user.rng)
        if counters.in_flight >= self._cap:
            exchanger.drop(task, user.user, intended, "in-flight cap reached")
            return
        counters.in_flight += 1
        if cls.flow is not None:
            tg.create_task(self._flow_request(task, user, cls.flow, intended))
            return
        # Render now, in arrival order, so the request sequence is seeded.
        user.seq += 1
        raw = task.build(user)
        exchanger.fire(task, user, raw, intended, tg.create_task, self._request_done)

    async def _flow_request(
        self, task: CompiledTask, user: UserState, flow: CompiledFlow, intended: int
    ) -> None:
        """A flow user's request: ``on_start`` first, then with its token."""
        try:
            await self._ensure_started(user, flow)
            _, connection = await flow_request(
                self.exchanger, flow, task, user, None, intended, self.clock
            )
            if connection is not None:
                self.exchanger.pool.release(connection)
        finally:
            self._request_done()

    async def _ensure_started(self, user: UserState, flow: CompiledFlow) -> None:
        """Run the user's ``on_start`` steps once; later arrivals wait for them."""
        started = self._started.get(user.user)
        if started is not None:
            await started.wait()  # bounded: each step ends by its timeout
            return
        started = self._started[user.user] = asyncio.Event()
        try:
            await self._steps(user, flow, flow.on_start)
        finally:
            started.set()

    async def _on_stop(self, user: UserState) -> None:
        flow = self._class_of[user.user].flow
        if flow is not None:
            await self._steps(user, flow, flow.on_stop)

    async def _steps(
        self, user: UserState, flow: CompiledFlow, steps: Sequence[CompiledTask]
    ) -> None:
        connection: Connection | None = None
        for step in steps:
            _, connection = await flow_request(
                self.exchanger, flow, step, user, connection,
                self.clock.now_ns(), self.clock,
            )  # fmt: skip
        if connection is not None:
            self.exchanger.pool.release(connection)
