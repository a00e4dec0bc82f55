"""The load engine: runs a :class:`~chaoskit.load.config.LoadConfig` and emits one
:class:`~chaoskit.records.Sample` per request to the sinks it was handed.

The runner's view::

    recorder = chaoskit.metrics.Recorder()
    engine = LoadEngine(config, [recorder, journal])
    async with asyncio.TaskGroup() as tg:
        run = tg.create_task(engine.run())   # returns at the end of config.duration
        ...                                  # engine.status(), recorder.snapshot()
        engine.stop()                        # or let it run out
    final = run.result()

The engine knows nothing of faults or metrics; statistics are a sink's
business. Every loop is bounded by the duration, ``max_requests`` and the
request timeouts; ``stop()`` ends it early but lets requests in flight finish
and users run ``on_stop``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
from collections.abc import Iterator, Sequence
from typing import NamedTuple
from urllib.parse import urlsplit

from chaoskit.clock import Clock, MonotonicClock
from chaoskit.hosts import is_loopback
from chaoskit.load.arrivals import OpenRunner
from chaoskit.load.client import ConnectionPool
from chaoskit.load.config import (
    ClosedModel,
    Flow,
    LoadConfig,
    OpenModel,
    TaskSpec,
    Think,
)
from chaoskit.load.errors import LoadConfigError
from chaoskit.load.exchange import Classifier, Exchanger
from chaoskit.load.share import WHOLE, Part, limit
from chaoskit.load.streams import StreamRunner, StreamTarget
from chaoskit.load.tasks import CompiledTask, TaskChooser, UserState
from chaoskit.load.users import ClosedRunner, CompiledClass, CompiledFlow
from chaoskit.records import AckLog, FanOut, Sink, ValueLog
from chaoskit.spec.classes import ClassShare

__all__ = ["EngineStatus", "LoadEngine"]

_NS = 1_000_000_000


# Requests in flight and samples waiting for their batched count keep a few
# thousand young container objects alive at any moment. With CPython's default
# first threshold (700) that ebb and flow alone started a collection every ~90
# requests: 1,408 in a 5 s open-model run at 25,000/s, 0.50 s of its ~4.4 s of
# CPU, with nothing to free (the load path makes no reference cycles). At
# 20,000 the same run made one. Cyclic garbage is still collected, later.
_GEN0_THRESHOLD = 20_000
_outer: list[tuple[int, ...]] = []  # the thresholds before the first load here
_loads = 0  # loads running in this process


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the garbage collector's first threshold while loads run; the
    last to end puts back what was there before the first began."""
    global _loads
    if _loads == 0:
        _outer[:] = [gc.get_threshold()]
        if _outer[0][0] < _GEN0_THRESHOLD:
            gc.set_threshold(_GEN0_THRESHOLD, *_outer[0][1:])
    _loads += 1
    try:
        yield
    finally:
        _loads -= 1
        if _loads == 0:
            gc.set_threshold(*_outer[0])


class EngineStatus(NamedTuple):
    """Live counts of a running (or finished) load."""

    elapsed_s: float
    due: int
    """Requests that were due (sent plus dropped)."""
    sent: int
    completed: int
    dropped: int
    errors: int
    in_flight: int
    users: int
    """Users active (closed model) or identities used (open model)."""
    late: int = 0
    """Arrivals never sent: the schedule fell too far behind (the machine could
    not offer the rate; open model)."""


class LoadEngine:
    """Runs one load, once.

    Args:
        config: the load.
        sinks: where each sample goes (a sink or several, in order). The
            engine does not close them: whoever made them does.
        clock: the time source (default the monotonic clock).
        acks: where tasks with ``ack`` record what each write acknowledged.
        values: where tasks with ``observe`` record the numbers they read.
        part: the share of the load this engine runs when several processes
            run it (:mod:`chaoskit.load.share`); the whole load by default.
    """

    def __init__(
        self,
        config: LoadConfig,
        sinks: Sink | Sequence[Sink],
        *,
        clock: Clock | None = None,
        acks: AckLog | None = None,
        values: ValueLog | None = None,
        part: Part = WHOLE,
    ) -> None:
        self.config = config
        self.part = part
        self._max_requests = limit(config.max_requests, part)
        self.acks = acks
        self.values = values
        sink = sinks if isinstance(sinks, Sink) else FanOut(sinks)
        self._write = sink.write
        self.clock = clock or MonotonicClock()
        parts = urlsplit(config.base_url)
        self._host = parts.hostname or ""
        self._port = parts.port or 80
        host_header = self._host_header = parts.netloc.rsplit("@", 1)[-1]
        names = config.captured_names()

        def compile_task(spec: TaskSpec, user_class: str = "") -> CompiledTask:
            return CompiledTask(
                spec, host=host_header, prefix=parts.path, names=names,
                seed=config.seed, timeout=config.timeout, user_class=user_class,
            )  # fmt: skip

        if isinstance(config.model, OpenModel):
            tasks = [*config.tasks, *(t for cls in config.classes for t in cls.tasks)]
            streams = [t.name for t in tasks if t.stream is not None]
            if streams:  # the spec says so with key paths; this guards the API
                raise LoadConfigError(
                    "model", "stream tasks need the closed model", streams,
                    allowed="ClosedModel",
                )  # fmt: skip

        def compile_flow(flow: Flow | None, user_class: str) -> CompiledFlow | None:
            if flow is None:
                return None
            on_start = [compile_task(t, user_class) for t in flow.on_start]
            beat = flow.heartbeat
            refresh = (
                compile_task(flow.refresh, user_class)
                if isinstance(flow.refresh, TaskSpec)
                else next((t for t in on_start if t.name == flow.refresh), None)
            )
            return CompiledFlow(
                flow=flow,
                on_start=on_start,
                on_stop=[compile_task(t, user_class) for t in flow.on_stop],
                heartbeat=compile_task(beat, user_class) if beat else None,
                refresh=refresh,
            )

        model = config.model
        think = model.think if isinstance(model, ClosedModel) else Think()
        self._classes = [
            CompiledClass(
                name=cls.name,
                chooser=TaskChooser([compile_task(t, cls.name) for t in cls.tasks]),
                flow=compile_flow(cls.flow or config.flow, cls.name),
                think=cls.think or think,
                share=ClassShare(cls.weight, cls.fixed_count),
                rate=cls.rate,
            )
            for cls in config.classes
        ] or [
            CompiledClass(
                name="",
                chooser=TaskChooser([compile_task(t) for t in config.tasks]),
                flow=compile_flow(config.flow, ""),
                think=think,
            )
        ]
        self._classifier = Classifier(config.error_patterns)
        self._exchanger: Exchanger | None = None
        self._runner: OpenRunner | ClosedRunner | None = None
        self._stopping = False
        self._started = False
        self._start_ns = 0
        self._end_ns = 0

    def stop(self) -> None:
        """Stop dispatching new requests; ``run`` returns once in-flight ones end."""
        self._stopping = True

    def status(self) -> EngineStatus:
        """Live counts (all zero before ``run`` starts)."""
        if self._exchanger is None:
            return EngineStatus(0.0, 0, 0, 0, 0, 0, 0, 0)
        c = self._exchanger.counters
        end = self._end_ns or self.clock.now_ns()
        elapsed = (end - self._start_ns) / _NS
        return EngineStatus(
            elapsed,
            c.due,
            c.sent,
            c.completed,
            c.dropped,
            c.errors,
            c.in_flight,
            c.users,
            self._runner.late if isinstance(self._runner, OpenRunner) else 0,
        )

    def _new_user(self, number: int) -> UserState:
        return UserState(number, self.config.seed, self.config.hot_keys)

    def _within_bounds(self) -> bool:
        budget = self._max_requests
        return (
            budget is None
            or self._exchanger is None
            or (self._exchanger.counters.due < budget)
        )

    def _should_stop(self) -> bool:
        return self._stopping or not self._within_bounds()

    async def _resolve(self) -> str:
        """The address to connect to; refuses a non-loopback one unless allowed."""
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(
                self._host, self._port, type=socket.SOCK_STREAM
            )
        except OSError as error:
            raise LoadConfigError(
                "base_url", f"host does not resolve: {error}", self.config.base_url
            ) from error
        addresses = [str(info[4][0]) for info in infos]
        if not self.config.allow_remote and not all(is_loopback(a) for a in addresses):
            raise LoadConfigError(
                "base_url", "resolves to a non-loopback address; set allow_remote",
                addresses, allowed="127.0.0.0/8, ::1",
            )  # fmt: skip
        return addresses[0]

    def _streams(self, address: str, exchanger: Exchanger) -> StreamRunner | None:
        """The stream runner, when some task holds a stream (WebSocket, SSE)."""
        tasks = (task for cls in self._classes for task in cls.chooser.tasks)
        if not any(task.stream is not None for task in tasks):
            return None
        # Imported here: an HTTP-only load never loads the websockets library.
        from chaoskit.load.sse import open_sse
        from chaoskit.load.websocket import open_websocket

        target = StreamTarget(address, self._port, self._host_header)
        return StreamRunner(
            target, {"websocket": open_websocket, "sse": open_sse},
            self._write, exchanger.counters, self.clock,
        )  # fmt: skip

    async def run(self, start_ns: int | None = None) -> EngineStatus:
        """Run the load to its end (or until :meth:`stop`); the final status.

        ``start_ns`` (monotonic): when the schedule starts, if not now (the
        processes of one load share it).

        Raises:
            LoadConfigError: the target is not loopback and remote is not allowed.
            RuntimeError: the engine was already run.
        """
        if self._started:
            raise RuntimeError("a LoadEngine runs once; make a new one")
        self._started = True
        address = await self._resolve()
        pool = ConnectionPool(
            address, self._port, self.clock.now_ns, self.config.marker_headers()
        )
        exchanger = self._exchanger = Exchanger(
            pool, self._write, self._classifier, self.clock.now_ns, self.acks,
            self.values,
        )  # fmt: skip
        config = self.config
        self._start_ns = start = start_ns or self.clock.now_ns()
        try:
            with fewer_collections():
                async with asyncio.TaskGroup() as tg:
                    if isinstance(config.model, OpenModel):
                        runner: OpenRunner | ClosedRunner = OpenRunner(
                            config.model, exchanger, self._classes, self.clock,
                            config.seed, self._new_user, self.part,
                        )  # fmt: skip
                    else:
                        runner = ClosedRunner(
                            config.model, exchanger, self._classes, self.clock,
                            self._new_user, self._within_bounds,
                            streams=self._streams(address, exchanger), part=self.part,
                        )  # fmt: skip
                    self._runner = runner
                    await runner.run(tg, start, config.duration, self._should_stop)
        finally:
            # Before the pool closes: a cut-off request is ``unfinished``, not a
            # reset caused by our own close (and never lost).
            exchanger.abandon()
            pool.close()
            self._end_ns = self.clock.now_ns()
        return self.status()
