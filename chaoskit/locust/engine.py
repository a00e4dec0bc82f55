"""The Locust engine: a locustfile's users as the load, in Locust's own processes.

The runner's view is the native engine's (``run``, ``stop``, ``status``), plus
``prepare`` (start the master and workers, wait until every worker is there)
before the timeline's clock starts::

    engine = LocustEngine(config, [recorder, samples], started=register)
    await engine.prepare()        # processes up, workers connected, no load yet
    run = asyncio.ensure_future(engine.run())   # "go"; returns at the end
    ...
    engine.stop()

Locust runs with gevent, which patches the standard library of its process:
so never in chaoskit's (asyncio) process. The master and each local worker are
:class:`~chaoskit.services.process.ProcessService` s (own process group, PID
and start time, logs in the report directory), each handed to ``started``
(the runner writes it to the rollback ledger and stacks its stop). The master
connects to a loopback socket of this engine and sends JSON lines: the
request records of every worker (:mod:`chaoskit.locust.samples` turns each
into a sample), its acks, and once a second the user count of each worker.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from chaoskit.errors import ServiceError
from chaoskit.load.engine import EngineStatus
from chaoskit.locust.config import LocustConfig, plugin_path
from chaoskit.locust.samples import to_sample
from chaoskit.records import AckLog, FanOut, Sample, Sink
from chaoskit.services.health import free_port
from chaoskit.services.process import ProcessService

__all__ = ["LocustEngine", "WorkerLoss"]

_NS = 1_000_000_000
_LINE_LIMIT = 64 * 1024 * 1024  # one batch: 500 records of ~200 bytes, with room
_STARTUP_S = 30.0  # importing Locust and the locustfile, beyond expect_timeout
_POLL_S = 0.25
_SHORT_RATIO = 0.9


@dataclass(frozen=True)
class WorkerLoss:
    """A worker that went away mid-run."""

    worker: str
    at_ns: int
    """Monotonic time it was noticed."""
    users: int
    """Its users when last seen."""
    pid: int | None = None
    """Its PID when chaoskit started it."""
    how: str = ""


class LocustEngine:
    """Runs one locustfile, once, over a Locust master and its workers.

    Args:
        config: what to run.
        sinks: where each sample goes.
        log_dir: where the processes' logs and PID files go.
        acks: where ``chaoskit_locust.ack`` calls are recorded.
        starting: called with each process before it starts (its ledger entry
            first, so a run killed mid-start leaves nothing unrecorded).
        started: called with each process once it runs.
        emit: ``emit(kind, fields)``: run events (a worker lost).
    """

    def __init__(
        self,
        config: LocustConfig,
        sinks: Sink | Sequence[Sink] = (),
        *,
        log_dir: Path,
        acks: AckLog | None = None,
        starting: Callable[[ProcessService], None] | None = None,
        started: Callable[[ProcessService], None] | None = None,
        emit: Callable[[str, dict[str, object]], None] | None = None,
    ) -> None:
        self.config = config
        self._write: Callable[[Sample], None] = lambda sample: None
        self.attach(sinks)
        self.acks = acks
        self.log_dir = log_dir
        self._starting = starting or (lambda service: None)
        self._started = started or (lambda service: None)
        self._emit = emit or (lambda kind, fields: None)
        self.origin_ns = 0
        """The timeline's start (set by the runner), for the times in events."""
        self.master: ProcessService | None = None
        self.workers: list[ProcessService] = []
        self.losses: list[WorkerLoss] = []
        self.lost_records = 0
        # What never became a sample: records a worker dropped (its buffer was
        # full), records and whole batches that arrived unreadable. The run
        # says so in a verdict (runner.locustrun.measured_verdict).
        self.bad_lines = 0
        """Lines from the master that were not JSON (their records are lost)."""
        self.unreadable_records = 0
        self.history: list[tuple[int, int, int]] = []
        """(monotonic ns, users, target users) once a second, from the master."""
        self._offset_ns = time.monotonic_ns() - time.time_ns()
        self._token = secrets.token_hex(16)
        self._server: asyncio.Server | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._hello: dict[str, object] | None = None
        self._ready = asyncio.Event()
        self._stopped = asyncio.Event()
        self._ready_info: dict[str, object] = {}
        self._closed = asyncio.Event()
        self._seen: dict[str, dict[str, object]] = {}
        self._pids: dict[str, int | None] = {}
        self._stopping = False
        self._prepared = False
        self._start_ns = 0
        self._end_ns = 0
        self._completed = 0
        self._errors = 0
        self._users = 0

    # -- the runner's view -----------------------------------------------------------

    def attach(self, sinks: Sink | Sequence[Sink]) -> LocustEngine:
        """Where samples go from now on (the runner makes its sinks once the
        processes are up and the timeline's clock is known)."""
        sink = sinks if isinstance(sinks, Sink) else FanOut(sinks)
        self._write = sink.write
        return self

    def stop(self) -> None:
        """End the load: ``run`` stops the processes and returns."""
        self._stopping = True

    def status(self) -> EngineStatus:
        """Live counts (Locust does not tell requests in flight: 0)."""
        end = self._end_ns or time.monotonic_ns()
        elapsed = (end - self._start_ns) / _NS if self._start_ns else 0.0
        return EngineStatus(
            elapsed, self._completed, self._completed, self._completed, 0,
            self._errors, 0, self._users,
        )  # fmt: skip

    async def prepare(self) -> None:
        """Start the master and the workers; return once all are ready.

        Raises:
            ServiceError: a process exits, or the workers do not all connect (or
                lack the plugin) in time; what Locust said is in the message.
        """
        self._prepared = True
        self._server = await asyncio.start_server(
            self._client, "127.0.0.1", 0, limit=_LINE_LIMIT
        )
        port = self._server.sockets[0].getsockname()[1]
        config = self.config
        bind = config.master_bind or ("127.0.0.1", free_port())
        settings = {
            **config.plugin_settings(),
            "sink": f"127.0.0.1:{port}",
            "token": self._token,
        }
        plugin = plugin_path()
        env = {
            "CHAOSKIT_LOCUST": json.dumps(settings),
            # The locustfile may `import chaoskit_locust` (acks).
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(plugin.parent), os.environ.get("PYTHONPATH")) if p
            ),
            "PYTHONUNBUFFERED": "1",
        }
        files = f"{plugin},{config.locustfile}"
        common = [sys.executable, "-m", "locust", "-f", files,
                  "--stop-timeout", f"{config.stop_timeout:g}"]  # fmt: skip
        common += [a for tag in config.tags for a in ("--tags", tag)]
        common += [a for tag in config.exclude_tags for a in ("--exclude-tags", tag)]
        distributed = config.workers > 0 or config.master_bind is not None
        users = config.users
        master = [
            *common, "--headless", "--host", config.base_url,
            "-u", str(users), "-r", str(config.spawn_rate or users),
            "--run-time", f"{int(config.duration) + 60}s", "--only-summary",
            "--loglevel", "WARNING",
        ]  # fmt: skip
        if distributed:
            master += [
                "--master", "--master-bind-host", bind[0],
                "--master-bind-port", str(bind[1]),
                "--expect-workers", str(config.expect_workers),
                "--enable-rebalancing",
            ]  # fmt: skip
        master += list(config.user_classes)
        cwd = config.locustfile.parent
        self.master = ProcessService(
            "locust-master", master, env=env, cwd=cwd, log_dir=self.log_dir,
            stop_timeout=5.0,
        )  # fmt: skip
        self._starting(self.master)
        await self.master.start()
        self._started(self.master)
        for number in range(1, config.workers + 1):
            host = "127.0.0.1" if bind[0] in ("0.0.0.0", "::") else bind[0]
            worker = ProcessService(
                f"locust-worker-{number}",
                [*common, "--worker", "--master-host", host,
                 "--master-port", str(bind[1]), "--loglevel", "WARNING",
                 *config.user_classes],
                env=env, cwd=cwd, log_dir=self.log_dir, stop_timeout=5.0,
            )  # fmt: skip
            self._starting(worker)
            await worker.start()
            self._started(worker)
            self.workers.append(worker)
            self._pids[worker.name] = worker.pid
        await self._wait_ready()

    async def run(self) -> EngineStatus:
        """Tell the master to go; run until the duration ends or :meth:`stop`."""
        if not self._prepared:
            await self.prepare()
        writer = self._writer
        assert writer is not None  # noqa: S101 - prepare waited for the master
        self._start_ns = time.monotonic_ns()
        writer.write(b'{"go": true}\n')
        await writer.drain()
        deadline = self._start_ns + round(self.config.duration * _NS)
        try:
            while not self._stopping and time.monotonic_ns() < deadline:
                await asyncio.sleep(_POLL_S)
                self._check_processes()
                if self.master is not None and not self.master.running:
                    raise ServiceError(
                        f"the Locust master exited mid-run{self._stderr(self.master)}"
                    )
        finally:
            self._end_ns = time.monotonic_ns()
            await self.close()
        return self.status()

    async def close(self) -> None:
        """Stop the load (the last records arrive), then the master and the
        workers (by PID); close the socket."""
        writer = self._writer
        if writer is not None and self.master is not None and self.master.running:
            try:
                writer.write(b'{"stop": true}\n')
                await writer.drain()
                await asyncio.wait_for(
                    self._stopped.wait(), self.config.stop_timeout + 6
                )
            except (OSError, TimeoutError):
                pass  # the processes are stopped by PID below all the same
        if self.master is not None:
            await self.master.stop()
        for worker in self.workers:
            await worker.stop()
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def describe(self) -> dict[str, object]:
        """What the master said once ready: its user classes, the locustfile's
        LoadTestShape (if any), the workers connected."""
        hello = self._hello or {}
        return {
            "classes": hello.get("classes", []),
            "shape": hello.get("shape") or ("chaoskit stages" if self.config.shape
                                             else None),
            "workers": _names(self._ready_info.get("ready")),
            "pids": dict(self._pids),
        }  # fmt: skip

    # -- what the load fell short of ------------------------------------------------

    def shortfall(self) -> tuple[float, float] | None:
        """Mean (users, target users) from the first worker loss to the end;
        None when no worker was lost or nothing was reported after."""
        if not self.losses:
            return None
        since = self.losses[0].at_ns
        after = [(u, t) for at, u, t in self.history if at >= since and t > 0]
        if not after:
            return None
        users = sum(u for u, _ in after) / len(after)
        target = sum(t for _, t in after) / len(after)
        return users, target

    def fell_short(self) -> bool:
        """The load after a worker loss stayed under 90 % of its target."""
        found = self.shortfall()
        return found is not None and found[0] < _SHORT_RATIO * found[1]

    # -- internals ---------------------------------------------------------------------

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.config.expect_timeout + _STARTUP_S
        while not self._ready.is_set():
            for service in (self.master, *self.workers):
                if service is not None and not service.running:
                    raise ServiceError(
                        f"Locust's {service.name} exited before the load started"
                        f"{self._stderr(service)}"
                    )
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"the Locust master did not report {self.config.expect_workers} "
                    f"ready workers within {self.config.expect_timeout:g} s"
                    f"{self._stderr(self.master)}"
                )
            await asyncio.sleep(_POLL_S)
        hello = self._hello or {}
        if hello.get("shape") and self.config.shape is not None:
            raise ServiceError(
                f"the locustfile has a LoadTestShape ({hello['shape']}) and [load] "
                "sets stages, a profile or bursts: remove one of them"
            )
        info = self._ready_info
        ready = _names(info.get("ready"))
        missing = _names(info.get("no_plugin"))
        if missing:
            raise ServiceError(
                f"Locust workers without chaoskit's plugin: {', '.join(missing)}"
                f"; start them with -f <locustfile>,{plugin_path()}"
                " (`python -m chaoskit.locust` prints that path)"
            )
        if len(ready) < self.config.expect_workers:
            raise ServiceError(
                f"only {len(ready)} of {self.config.expect_workers} Locust workers "
                f"connected within {self.config.expect_timeout:g} s (connected: "
                f"{', '.join(_names(info.get('connected'))) or 'none'})"
            )

    def _stderr(self, service: ProcessService | None) -> str:
        if service is None:
            return ""
        try:
            text = service.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        lines = [
            line for line in text.strip().splitlines()[-15:]
            if line and not line.startswith("--- chaoskit: start")
        ]  # fmt: skip
        if not lines:
            return f" (nothing on its stderr: {service.stderr_path})"
        return f"; last lines of {service.stderr_path}:\n" + "\n".join(lines)

    def _check_processes(self) -> None:
        """A local worker that exited is a loss (the master notices it later)."""
        known = {loss.pid for loss in self.losses}
        for worker in self.workers:
            pid = self._pids.get(worker.name)
            if not worker.running and pid not in known and not self._stopping:
                share = self._share_of(pid)
                self._lose(worker.name, share, pid, "its process exited")

    def _share_of(self, pid: int | None) -> int:
        for data in self._seen.values():
            if data.get("pid") == pid:
                return _int(data.get("users"))
        live = max(1, len(self.workers))
        return round(self._users / live)

    def _lose(self, worker: str, users: int, pid: int | None, how: str) -> None:
        now = time.monotonic_ns()
        self.losses.append(WorkerLoss(worker, now, users, pid, how))
        self._emit(
            "load_worker_lost",
            {
                "worker": worker, "pid": pid, "users": users, "how": how,
                "at_s": round((now - self.origin_ns) / _NS, 3),
            },
        )  # fmt: skip

    async def _client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            first = json.loads(await reader.readline() or b"{}")
            if self._writer is not None or first.get("hello") != self._token:
                return  # not our master
            self._hello, self._writer = first, writer
            while line := await reader.readline():
                try:
                    message = json.loads(line)
                except ValueError:
                    # One bad batch (a worker's text is forwarded undecoded)
                    # costs its records, not the rest of the run's.
                    self.bad_lines += 1
                    continue
                if isinstance(message, dict):
                    self._handle(message)
        except (ValueError, OSError, asyncio.LimitOverrunError):
            return
        finally:
            if writer is not self._writer:
                writer.close()

    def _handle(self, message: dict[str, object]) -> None:
        records = message.get("r")
        if isinstance(records, list):
            self._take(message, records)
        elif "status" in message:
            self._status(message["status"])
        elif "stopped" in message:
            self._stopped.set()
        elif "ready" in message:
            self._ready_info = message
            self._ready.set()

    def _take(self, message: dict[str, object], records: list[object]) -> None:
        write, offset = self._write, self._offset_ns
        for record in records:
            try:
                sample: Sample = to_sample(record, offset)  # type: ignore[arg-type]
            except (ValueError, TypeError, IndexError):
                self.unreadable_records += 1
                continue
            self._completed += 1
            if sample.error is not None:
                self._errors += 1
            write(sample)
        lost = message.get("lost")
        if isinstance(lost, int):
            self.lost_records += lost
        if self.acks is not None:
            for item in message.get("a") or []:  # type: ignore[attr-defined]
                self.acks.ack(str(item[0]), str(item[1]))
            for item in message.get("m") or []:  # type: ignore[attr-defined]
                self.acks.maybe(str(item[0]), None if item[1] is None else str(item[1]))

    def _status(self, status: object) -> None:
        if not isinstance(status, dict):
            return
        workers = status.get("workers")
        if not isinstance(workers, dict):
            workers = {}
        self._users = _int(status.get("users"))
        if workers:
            # The master counts a dead worker's users until its heartbeat is
            # missed (seconds): a worker known lost counts for nothing.
            gone = {loss.pid for loss in self.losses if loss.pid}
            self._users = sum(
                _int(d.get("users")) for d in workers.values()
                if isinstance(d, dict) and d.get("state") != "missing"
                and d.get("pid") not in gone
            )  # fmt: skip
        target = _int(status.get("target"))
        self.history.append((time.monotonic_ns(), self._users, target))
        for worker, data in workers.items():
            if not isinstance(data, dict):
                continue
            before = self._seen.get(worker)
            if (
                data.get("state") == "missing"
                and before is not None
                and (before.get("state") != "missing")
            ):
                pid = before.get("pid")
                if not any(loss.pid == pid for loss in self.losses if pid):
                    self._lose(worker, _int(before.get("users")),
                               pid if isinstance(pid, int) else None,
                               "the master lost its heartbeat")  # fmt: skip
                data = {**before, "state": "missing"}
            self._seen[worker] = data


def _names(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0
