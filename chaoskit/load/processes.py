"""The native engine on several cores: ``[load] processes = N``.

One :class:`~chaoskit.load.engine.LoadEngine` per generator process, each with
its own event loop and connections, each running its
:class:`~chaoskit.load.share.Part` of the load. The runner's view is the
single engine's (``run``, ``stop``, ``status``), plus ``prepare`` (processes
up, before the timeline's clock starts) and ``attach`` (the sinks)::

    engine = ProcessEngine(config, 4, spawned=record_pid, lost=report)
    await engine.prepare()
    engine.attach([recorder, samples])
    await engine.run()          # every process starts its schedule at one instant

Each process is ``python -m chaoskit.load.processes FD PARENT`` on its end of
a socket pair: it gets the configuration and its part, says it is ready,
starts on "go" with the shared start time, and sends back every ~50 ms a
batch (pickled: the samples, what tasks acknowledged and observed, its live
counts). The parent hands the samples to its sinks in arrival order, so the
recorder, sample file and live view see every request as from one engine.

A process never outlives the parent: it dies with it (``PR_SET_PDEATHSIG``)
and stops when its socket closes. One that dies mid-run is reported
(``lost``) with its share and the time; the others go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaoskit.errors import ServiceError
from chaoskit.load.config import ClosedModel, LoadConfig
from chaoskit.load.engine import EngineStatus, LoadEngine, fewer_collections
from chaoskit.load.errors import LoadConfigError
from chaoskit.load.share import Part, positions, split
from chaoskit.records import AckLog, FanOut, Sample, Sink, ValueLog

__all__ = ["ProcessEngine", "ProcessLoss", "process_count"]

_NS = 1_000_000_000
_HEADER = struct.Struct("!I")
_FLUSH_S = 0.05  # a batch every 50 ms
_BATCH_MAX = 20_000  # samples: a batch goes early past this (bounded memory)
_READY_S = 60.0  # importing and connecting, on a loaded machine
_EXIT_S = 5.0  # after "done", or after a loss: the process is reaped
_KILLED_S = 2.0  # after SIGKILL
_PR_SET_PDEATHSIG = 1


def process_count(requested: int | str, config: LoadConfig) -> int:
    """How many processes to run: ``"auto"`` is the cores this process may
    use; never more processes than the closed model has users."""
    count = len(os.sched_getaffinity(0)) if requested == "auto" else int(requested)
    model = config.model
    if isinstance(model, ClosedModel):
        count = min(count, max(model.users, round(model.target().peak)))
    return max(1, count)


@dataclass(frozen=True)
class ProcessLoss:
    """A generator process that went away before the end of the load."""

    index: int
    pid: int
    at_ns: int
    """Monotonic time it was noticed."""
    share: str
    """Its share of the load, in words (``32 of 64 users``)."""
    how: str


def _share(config: LoadConfig, part: Part) -> str:
    model = config.model
    if isinstance(model, ClosedModel):
        return f"{positions(model.users, part)} of {model.users} users"
    return f"1/{part.count} of the arrivals ({model.rate / part.count:g} requests/s)"


def _pack(samples: list[Sample]) -> list[tuple[object, ...]]:
    """Samples as plain tuples: pickled and unpickled in C, a third of the cost
    of a NamedTuple's (which calls Python on both ends)."""
    return [tuple(sample) for sample in samples]


def _frame(message: object) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(payload)) + payload


async def _read(reader: asyncio.StreamReader) -> Any:
    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    return pickle.loads(await reader.readexactly(size))  # noqa: S301 - our child


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "its connection closed; still running, killed"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exited with status {code}"


class _Child:
    """The parent's handle on one generator process."""

    def __init__(self, part: Part, proc: subprocess.Popen[bytes]) -> None:
        self.part = part
        self.proc = proc
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.status = EngineStatus(0.0, 0, 0, 0, 0, 0, 0, 0)
        self.done = False

    def send(self, message: object) -> None:
        writer = self.writer
        if writer is not None and not writer.is_closing():
            writer.write(_frame(message))


class ProcessEngine:
    """Runs one load, once, over ``count`` generator processes.

    Args:
        config: the load.
        count: how many processes (2 or more; :func:`process_count`).
        sinks: where each sample goes (or later, with :meth:`attach`).
        acks: where tasks with ``ack`` record what each write acknowledged.
        values: where tasks with ``observe`` record the numbers they read.
        spawned: called with each process's PID as soon as it exists (the
            runner writes it to the ledger).
        lost: called with each process lost mid-run.
        log_dir: where each process's stderr goes (``load-process-N.log``).
    """

    def __init__(
        self,
        config: LoadConfig,
        count: int,
        sinks: Sink | Sequence[Sink] = (),
        *,
        acks: AckLog | None = None,
        values: ValueLog | None = None,
        spawned: Callable[[int], None] | None = None,
        lost: Callable[[ProcessLoss], None] | None = None,
        log_dir: Path | None = None,
    ) -> None:
        self.config = config
        self.count = count
        self.acks = acks
        self.values = values
        self._write: Callable[[Sample], None] = lambda sample: None
        self.attach(sinks)
        self._spawned = spawned or (lambda pid: None)
        self._lost = lost or (lambda loss: None)
        self.log_dir = log_dir
        self.children: list[_Child] = []
        self.losses: list[ProcessLoss] = []
        self._error: LoadConfigError | None = None
        self._stopping = False
        self._prepared = False
        self._started = False
        self._start_ns = 0
        self._end_ns = 0

    # -- the runner's view ---------------------------------------------------------

    @property
    def pids(self) -> list[int]:
        """Every process started (lost ones included)."""
        return [child.proc.pid for child in self.children]

    def attach(self, sinks: Sink | Sequence[Sink]) -> ProcessEngine:
        """Where samples go from now on."""
        sink = sinks if isinstance(sinks, Sink) else FanOut(sinks)
        self._write = sink.write
        return self

    def stop(self) -> None:
        """Stop dispatching new requests in every process; ``run`` returns once
        their requests in flight end."""
        self._stopping = True
        for child in self.children:
            child.send(("stop",))

    def status(self) -> EngineStatus:
        """Live counts, summed over the processes (a lost one's last counts)."""
        if not self._start_ns:
            return EngineStatus(0.0, 0, 0, 0, 0, 0, 0, 0)
        end = self._end_ns or time.monotonic_ns()
        sums = [
            sum(column)
            for column in zip(*(c.status for c in self.children), strict=True)
        ]
        return EngineStatus((end - self._start_ns) / _NS, *map(int, sums[1:]))

    async def prepare(self) -> None:
        """Start every process and wait until each is ready (bounded).

        Raises:
            ServiceError: a process did not start (its log says why).
        """
        if self._prepared:
            return
        self._prepared = True
        acks, values = self.acks is not None, self.values is not None
        try:
            for part in split(self.count):
                child, ours = self._spawn(part)
                self.children.append(child)
                child.reader, child.writer = await asyncio.open_connection(
                    sock=ours, limit=2**31
                )
            for child in self.children:
                child.send(("setup", self.config, child.part, acks, values))
            for child in self.children:  # they start side by side
                assert child.reader is not None  # noqa: S101 - set above
                reply = await asyncio.wait_for(_read(child.reader), _READY_S)
                _expect_ready(reply)
        except (OSError, EOFError, TimeoutError, RuntimeError) as error:
            # IncompleteReadError is an EOFError: the process died starting.
            self.close()
            raise ServiceError(
                f"a load process did not start ({type(error).__name__}: {error}); "
                f"see load-process-*.log in {self.log_dir or 'its stderr'}"
            ) from error

    def _spawn(self, part: Part) -> tuple[_Child, socket.socket]:
        """Start one process; the parent's end of its socket pair."""
        ours, theirs = socket.socketpair()
        log = None
        if self.log_dir is not None:
            log = (self.log_dir / f"load-process-{part.index}.log").open("ab")
        try:
            proc = subprocess.Popen(  # noqa: S603 - our own module, no shell
                [sys.executable, "-m", "chaoskit.load.processes",
                 str(theirs.fileno()), str(os.getpid())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                # Its own group: a terminal's Ctrl-C reaches the parent only,
                # which stops each process through its socket.
                start_new_session=True,
            )  # fmt: skip
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
            if log is not None:
                log.close()
        self._spawned(proc.pid)
        return _Child(part, proc), ours

    async def run(self, start_ns: int | None = None) -> EngineStatus:
        """Run the load in every process to its end; the final status.

        Raises:
            LoadConfigError: a process refused the load (a non-loopback target).
            RuntimeError: the engine was already run.
            ServiceError: a process did not start.
        """
        if self._started:
            raise RuntimeError("a ProcessEngine runs once; make a new one")
        self._started = True
        await self.prepare()
        self._start_ns = start = start_ns or time.monotonic_ns()
        for child in self.children:
            child.send(("go", start))
        if self._stopping:
            self.stop()
        try:
            # Each process's batches become samples here: as many young objects.
            with fewer_collections():
                await asyncio.gather(*(self._follow(c) for c in self.children))
        finally:
            self._end_ns = time.monotonic_ns()
            self.close()
        if self._error is not None:
            raise self._error
        return self.status()

    async def _follow(self, child: _Child) -> None:
        """Deliver a process's batches until it is done or gone."""
        reader = child.reader
        assert reader is not None  # noqa: S101 - set in _spawn
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                message = await _read(reader)
                kind = message[0]
                if kind == "batch":
                    self._deliver(child, *message[1:])
                elif kind == "done":
                    self._deliver(child, *message[1:])
                    child.done = True
                    break
                elif kind == "error":
                    field, reason, value, allowed = message[1:]
                    self._error = LoadConfigError(field, reason, value, allowed=allowed)
                    child.done = True
                    self.stop()  # the load is refused as a whole
                    break
        if child.done:
            await _reap(child.proc, _EXIT_S)
            return
        at = time.monotonic_ns()
        code = await _reap(child.proc, _EXIT_S)
        loss = ProcessLoss(
            child.part.index, child.proc.pid, at, _share(self.config, child.part),
            _describe_exit(code),
        )  # fmt: skip
        self.losses.append(loss)
        self._lost(loss)

    def _deliver(
        self,
        child: _Child,
        samples: list[tuple[object, ...]],
        acks: tuple[list[tuple[str, str]], list[tuple[str, str]], dict[str, int]]
        | None,
        values: tuple[
            dict[tuple[str, str], list[tuple[int, float]]],
            dict[tuple[str, str], list[int]],
        ]
        | None,
        status: EngineStatus,
    ) -> None:
        write = self._write
        new = tuple.__new__
        for fields in samples:
            write(new(Sample, fields))
        if acks is not None and self.acks is not None:
            acked, indeterminate, unknown = acks
            self.acks.acked.extend(acked)
            self.acks.indeterminate.extend(indeterminate)
            for task, number in unknown.items():
                self.acks.unknown[task] = self.acks.unknown.get(task, 0) + number
        if values is not None and self.values is not None:
            found, missing = values
            for key, pairs in found.items():
                self.values.values.setdefault(key, []).extend(pairs)
            for key, times in missing.items():
                self.values.missing.setdefault(key, []).extend(times)
        child.status = status

    def close(self) -> None:
        """Kill any process still running (by PID), reap it, close the sockets."""
        for child in self.children:
            if child.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.kill()
            # Bounded: a killed process is gone within milliseconds.
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(_KILLED_S)
            if child.writer is not None:
                child.writer.close()


def _expect_ready(reply: Any) -> None:
    if reply[0] != "ready":
        raise RuntimeError(f"load process said {reply!r}")


async def _reap(proc: subprocess.Popen[bytes], within: float) -> int | None:
    """The exit status, waiting up to ``within`` seconds; killed past that."""
    try:
        return await asyncio.to_thread(proc.wait, within)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        return None


# -- the generator process -----------------------------------------------------------


def _die_with_parent(parent: int) -> None:
    """SIGKILL when the parent dies (Linux); the socket's end stops it anyway."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(1)


class _Outbox:
    """The process's sink: samples buffered and sent in batches, with what
    tasks acknowledged and observed since the last batch and the live counts."""

    def __init__(
        self, writer: asyncio.StreamWriter, acks: AckLog | None, values: ValueLog | None
    ) -> None:
        self.writer = writer
        self.acks = acks
        self.values = values
        self.samples: list[Sample] = []
        self.engine: LoadEngine | None = None

    def write(self, sample: Sample) -> None:
        samples = self.samples
        samples.append(sample)
        if len(samples) >= _BATCH_MAX:
            self.send("batch")

    def close(self) -> None:
        """Nothing to release: the parent closes its sinks."""

    def send(self, kind: str) -> None:
        samples, self.samples = self.samples, []
        acks = values = None
        if self.acks is not None:
            log = self.acks
            acks = (log.acked, log.indeterminate, log.unknown)
            log.acked, log.indeterminate, log.unknown = [], [], {}
        if self.values is not None:
            found = self.values
            values = (found.values, found.missing)
            found.values, found.missing = {}, {}
        assert self.engine is not None  # noqa: S101 - set before the run
        message = (kind, _pack(samples), acks, values, self.engine.status())
        if not self.writer.is_closing():
            self.writer.write(_frame(message))


async def _generate(fd: int) -> None:
    sock = socket.socket(fileno=fd)
    reader, writer = await asyncio.open_connection(sock=sock, limit=2**31)
    _, config, part, with_acks, with_values = await _read(reader)
    acks = AckLog() if with_acks else None
    values = ValueLog() if with_values else None
    outbox = _Outbox(writer, acks, values)
    engine = outbox.engine = LoadEngine(
        config, outbox, acks=acks, values=values, part=part
    )
    writer.write(_frame(("ready",)))
    message = await _read(reader)
    if message[0] != "go":
        return

    async def listen() -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while (await _read(reader))[0] != "stop":
                pass
        engine.stop()  # told to, or the parent is gone

    async def flush() -> None:
        while True:
            await asyncio.sleep(_FLUSH_S)
            outbox.send("batch")
            await writer.drain()

    helpers = [asyncio.ensure_future(listen()), asyncio.ensure_future(flush())]
    try:
        await engine.run(message[1])
    except LoadConfigError as error:
        writer.write(
            _frame(("error", error.field, error.reason, error.value, error.allowed))
        )
        await writer.drain()
        return
    finally:
        for helper in helpers:
            helper.cancel()
    outbox.send("done")
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    writer.close()


def main(argv: Sequence[str]) -> None:
    """``python -m chaoskit.load.processes FD PARENT_PID``."""
    fd, parent = int(argv[0]), int(argv[1])
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops it
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(_generate(fd))


if __name__ == "__main__":
    main(sys.argv[1:])
