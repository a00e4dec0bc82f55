"""A command chaoskit starts, health-checks, signals and stops: ``kind = "process"``.

::

    api = ProcessService(
        "api",
        [sys.executable, "-m", "fixtures.streaming", "--port", "8000"],
        health="http://127.0.0.1:8000/health",
        log_dir=report_dir,
    )
    await api.start()          # returns once /health answers 2xx
    await api.kill()           # SIGKILL the whole group, like a crash
    await api.restart()        # (stop and) start, healthy again
    api.pause(); api.resume()  # SIGSTOP / SIGCONT the whole group
    await api.stop()           # SIGTERM, SIGKILL after stop_timeout

Groups. The command runs in a session and process group of its own
(``start_new_session``): every signal goes to the whole group, so helpers it
forks go with it, and a terminal's Ctrl-C does not reach it behind our back.
A child that starts a session of its own (a daemon) escapes the group; that is
what ``setsid`` is for, and it is not followed.

Identity. The leader is never reaped before its whole group is gone, so its
PID, which is the group's ID, cannot be handed to another process while we may
still signal it; and every signal is checked against the leader's start time
from ``/proc/<pid>/stat`` (see ``_proc``). After a crash of chaoskit itself,
another process acts on the ledger data (pid, start time): :func:`stop_leftover`
and :func:`resume_leftover` do nothing to a PID whose start time differs. The
current identity is also kept in ``<log_dir>/<name>.pid``, so that a process
started after its ledger entry was written (a restart) is found too.

Logs. stdout and stderr go to ``<log_dir>/<name>.stdout.log`` and
``.stderr.log``, appended across restarts, each start marked by a line
``--- chaoskit: start N of 'name' at <UTC time>: <command> ---``.

Linux only: groups are found and verified through ``/proc``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Self

from chaoskit.errors import ServiceError, UsageError
from chaoskit.redact import redact_text
from chaoskit.services import _proc
from chaoskit.services.health import Endpoint, HealthCheck, wait_healthy

if TYPE_CHECKING:
    from chaoskit.services.base import Service
    from chaoskit.spec import model as spec_model

__all__ = [
    "ENDING_SIGNALS",
    "LeftoverOutcome",
    "ProcessService",
    "process_identity",
    "resume_leftover",
    "stop_leftover",
]

ENDING_SIGNALS = frozenset(
    {signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGABRT}
)
"""Signals meant to end a process: :meth:`ProcessService.kill` waits for the exit."""
LeftoverOutcome = Literal["stopped", "resumed", "gone", "not ours"]
"""What a leftover action did; "not ours": the PID now names another process."""

# Without a health check, a process counts as healthy once it has run this
# long: enough for an interpreter that fails on import or bad arguments to die.
_SETTLE_S = 0.2
# How long pause() waits to see every member stopped; normally microseconds.
_STOP_WAIT_S = 0.2
# After the leader exits, the rest of its group gets this long before SIGKILL.
_GRACE_S = 1.0


class ProcessService:
    """A command run in its own process group, health-checked, stopped by PID.

    One service is driven from one task at a time; it may be started in one
    event loop and stopped in another (it keeps no loop-bound state).

    Args:
        name: the service's name, used in every message and in the log names.
        command: the argv list; nothing goes through a shell.
        env: variables set over our own environment.
        cwd: working directory (made absolute now); None: ours.
        health: ``http(s)://...`` (healthy on 2xx) or ``tcp://host:port``; None:
            healthy once the process has run for 0.2 s.
        health_timeout: seconds ``start()`` waits for health.
        stop_timeout: seconds between SIGTERM and SIGKILL.
        log_dir: where the stdout and stderr logs go; None: a temp directory,
            kept (see ``stdout_path``).
        address: ``host:port`` where it listens; None: taken from ``health``
            (without either, ``address`` is ``127.0.0.1:0``, meaning unknown).
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        health: str | None = None,
        health_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        log_dir: str | os.PathLike[str] | None = None,
        secrets: Iterable[str] = (),
        address: str | None = None,
    ) -> None:
        if not name or "/" in name or name.startswith("."):
            raise UsageError(
                f"process service name {name!r} must be non-empty, without '/' and "
                "not start with '.' (it names the log files)"
            )
        owner = f"process service {name!r}"
        if isinstance(command, str) or not command:
            raise UsageError(f"{owner}: command must be a non-empty list of strings")
        if health_timeout <= 0 or stop_timeout <= 0:
            raise UsageError(f"{owner}: timeouts must be positive")
        self.name = name
        self.command = tuple(str(part) for part in command)
        self.env = dict(env or {})
        self.cwd = Path(cwd).absolute() if cwd is not None else None
        self.health = HealthCheck.parse(health, owner=owner) if health else None
        self.health_timeout = health_timeout
        self.stop_timeout = stop_timeout
        self._log_dir = Path(log_dir).absolute() if log_dir is not None else None
        # The command as written into logs and errors: credentials masked.
        self._shown = redact_text(shlex.join(self.command), secrets)
        if address is not None:
            self._endpoint = Endpoint.parse(address, owner=owner)
        elif self.health is not None:
            self._endpoint = self.health.endpoint
        else:
            self._endpoint = Endpoint("127.0.0.1", 0)

        # The leader while it or any of its group may live; kept unreaped until
        # the group is gone. Its start time names it.
        self._proc: subprocess.Popen[bytes] | None = None
        self._start_time = 0
        self._starts = 0
        self._paused = False
        self._stderr_offset = 0
        self._started_at: float | None = None
        self._healthy_after: float | None = None
        self.on_launch: Callable[[Mapping[str, object]], None] | None = None
        """Called with :meth:`ledger_data` as soon as each start has a PID, before
        the health wait: the runner updates its ledger entry there."""

    @classmethod
    def from_spec(
        cls,
        spec: spec_model.ProcessService,
        log_dir: str | os.PathLike[str],
        secrets: Iterable[str] = (),
    ) -> ProcessService:
        """The service an experiment's ``[[services]]`` entry describes
        (``secrets``: values masked in its log banner)."""
        return cls(
            spec.name,
            spec.command,
            env=spec.env,
            cwd=spec.cwd,
            health=spec.health,
            health_timeout=spec.health_timeout,
            stop_timeout=spec.stop_timeout,
            log_dir=log_dir,
            secrets=secrets,
        )

    # -- state ---------------------------------------------------------------

    @property
    def address(self) -> Endpoint:
        """Where it listens: ``address`` given, else the health check's host:port."""
        return self._endpoint

    @property
    def pid(self) -> int | None:
        """The leader's PID while it runs (paused included), else None."""
        proc = self._proc
        if proc is None or _proc.peek_exit(proc) is not None:
            return None
        return proc.pid

    @property
    def running(self) -> bool:
        """Whether the leader runs (paused included; not necessarily healthy)."""
        return self.pid is not None

    @property
    def paused(self) -> bool:
        """Whether ``pause()`` stopped the group and ``resume()`` has not run yet."""
        return self._paused and self.running

    @property
    def started_at(self) -> float | None:
        """Wall-clock Unix time of the last start (for reports), or None."""
        return self._started_at

    @property
    def last_healthy_after_s(self) -> float | None:
        """Seconds the last successful start took until the health check passed."""
        return self._healthy_after

    @property
    def log_dir(self) -> Path:
        """Where the logs go (a temp directory, made at first start, if none given)."""
        if self._log_dir is None:
            self._log_dir = Path(tempfile.mkdtemp(prefix=f"chaoskit-{self.name}-"))
        return self._log_dir

    @property
    def stdout_path(self) -> Path:
        """``<log_dir>/<name>.stdout.log``."""
        return self.log_dir / f"{self.name}.stdout.log"

    @property
    def stderr_path(self) -> Path:
        """``<log_dir>/<name>.stderr.log``."""
        return self.log_dir / f"{self.name}.stderr.log"

    @property
    def pid_path(self) -> Path:
        """``<log_dir>/<name>.pid``: the running group's ``{pid, start_time}`` (JSON).

        Written at each start and removed once the group is gone, so that
        :func:`stop_leftover` also finds a process started after the ledger
        entry was written (by a ``kill`` fault's undo, or a ``restart``).
        """
        return self.log_dir / f"{self.name}.pid"

    def planned_ledger_data(self) -> dict[str, object]:
        """``{name, pid_file}``: the ledger entry written *before* the start.

        :func:`stop_leftover` finds the process through the PID file until
        :attr:`on_launch` adds the PID and start time.
        """
        return {"name": self.name, "pid_file": str(self.pid_path)}

    def ledger_data(self) -> dict[str, object]:
        """``{pid, start_time, name, pid_file}``: what :func:`stop_leftover` needs.

        The rollback ledger's ``process`` (and ``sigcont``) entries carry it.
        """
        pid = self.pid
        if pid is None:
            raise ServiceError(f"process service {self.name!r} is not running")
        return {
            "pid": pid,
            "start_time": self._start_time,
            "name": self.name,
            "pid_file": str(self.pid_path),
        }

    # -- start and stop ------------------------------------------------------

    async def start(self) -> Endpoint:
        """Start the command and wait until it is healthy.

        Raises:
            ServiceError: it cannot be run, exits before it is healthy (with its
                exit status and stderr tail), or is not healthy within
                ``health_timeout`` (it is stopped; the message says what the
                health check last saw). Nothing is left running, also when
                cancelled.
        """
        if self.running:
            raise ServiceError(
                f"process service {self.name!r} is already running (pid {self.pid})"
            )
        # Exited on its own: reap it, and its group's stragglers first.
        await self._stop_group()
        if self.health is not None and await self.health.probe(0.5) is None:
            # Otherwise that other process would pass our health check while
            # ours fails to bind: a leftover of an earlier run, typically.
            raise ServiceError(
                f"process service {self.name!r}: {self.health.url} already answers "
                "before the service is started: is another instance holding "
                f"{self.health.endpoint.address}? (`chaoskit rollback` stops what a "
                "killed run left)"
            )
        began = time.monotonic()
        proc = self._launch()
        try:
            await self._wait_healthy(proc, began)
        except BaseException:
            self._kill_now()
            raise
        self._healthy_after = time.monotonic() - began
        return self._endpoint

    async def stop(self) -> None:
        """SIGTERM the group, SIGKILL it after ``stop_timeout``, reap; idempotent."""
        try:
            await self._stop_group()
        except BaseException:
            # Cancelled half-way: no time left for a graceful stop.
            self._kill_now()
            raise

    async def restart(self) -> Endpoint:
        """Stop (if it runs), then start and wait until healthy."""
        await self.stop()
        return await self.start()

    async def kill(self, sig: int = signal.SIGKILL) -> int | None:
        """Send ``sig`` to the group; for an ending signal, wait until it is gone.

        For :data:`ENDING_SIGNALS`, waits up to ``stop_timeout`` for the leader
        to exit, gives the rest of the group a second, SIGKILLs what is left and
        reaps. Returns the leader's exit code (minus the signal number), or None
        when nothing ran or ``sig`` does not end processes (SIGHUP, SIGUSR1...).

        Raises:
            ServiceError: the leader still runs ``stop_timeout`` after ``sig``
                (it handles or ignores it); it is left running.
        """
        proc = self._proc
        if proc is None or not self.running:
            return None
        sig = signal.Signals(sig)
        self._signal(sig)
        if sig not in ENDING_SIGNALS:
            return None
        if self._paused and sig != signal.SIGKILL:
            # A stopped process acts on the signal only once continued.
            self._signal(signal.SIGCONT)
        code = await self._wait_leader(proc, self.stop_timeout)
        if code is None:
            raise ServiceError(
                f"process service {self.name!r} (pid {proc.pid}) still runs "
                f"{self.stop_timeout:g} s after {sig.name}: it handles or ignores it"
            )
        await self._stop_group(grace=_GRACE_S)
        return code

    def pause(self) -> None:
        """SIGSTOP the whole group: it keeps its sockets but answers nothing.

        Returns once every member is seen stopped (signal delivery is
        asynchronous; this takes well under a millisecond, at most 0.2 s), so
        a fault window starts frozen.
        """
        proc = self._proc
        if proc is None or not self.running:
            raise ServiceError(f"process service {self.name!r} is not running")
        self._signal(signal.SIGSTOP)
        self._paused = True
        deadline = time.monotonic() + _STOP_WAIT_S
        while not _proc.group_stopped(proc.pid, self._start_time):
            if time.monotonic() >= deadline:
                break  # a member stuck in the kernel stops when it leaves it
            time.sleep(0.0005)  # blocking, but only for microseconds

    def resume(self) -> None:
        """SIGCONT the whole group; harmless when it is not paused or not running."""
        if self._proc is not None:
            self._signal(signal.SIGCONT)
        self._paused = False

    def start_sync(self) -> Endpoint:
        """``start()`` for synchronous code (pytest fixtures), outside an event loop."""
        return _proc.run_sync(self.start)

    def stop_sync(self) -> None:
        """``stop()`` for synchronous code (pytest fixtures), outside an event loop."""
        _proc.run_sync(self.stop)

    async def __aenter__(self) -> Self:
        """Start and wait until healthy; the service itself is the context value."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop, whatever happened inside the block."""
        await self.stop()

    def __repr__(self) -> str:
        return f"ProcessService(name={self.name!r}, pid={self.pid})"

    # -- internals -----------------------------------------------------------

    def _launch(self) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._starts += 1
        when = datetime.now(UTC).isoformat(timespec="milliseconds")
        marker = (
            f"--- chaoskit: start {self._starts} of {self.name!r} at {when}: "
            f"{self._shown} ---\n"
        ).encode()
        with self.stdout_path.open("ab") as out, self.stderr_path.open("ab") as err:
            out.write(marker)
            err.write(marker)
            out.flush()
            err.flush()
            self._stderr_offset = err.tell()
            try:
                proc = subprocess.Popen(  # noqa: S603 - the experiment's own command
                    self.command,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    env={**os.environ, **self.env},
                    cwd=self.cwd,
                    # Own session and group: we signal the group, and a
                    # terminal's Ctrl-C does not reach it behind our back.
                    start_new_session=True,
                )
            except OSError as exc:
                raise ServiceError(
                    f"process service {self.name!r} cannot run {self._shown}: {exc}"
                ) from exc
        # Unreaped, so the PID is certainly our child's: its start time now
        # names it for every later signal.
        started = _proc.start_time(proc.pid)
        if started is None:
            _proc.kill_group(proc)
            raise ServiceError(
                f"process service {self.name!r}: no /proc/{proc.pid}/stat; process "
                "services need Linux's /proc to tell their processes apart"
            )
        self._proc, self._start_time = proc, started
        _proc.write_pid_file(self.pid_path, proc.pid, started)
        self._paused = False
        self._started_at = time.time()
        if self.on_launch is not None:
            try:
                self.on_launch(self.ledger_data())
            except BaseException:
                self._kill_now()
                raise
        return proc

    async def _wait_healthy(self, proc: subprocess.Popen[bytes], began: float) -> None:
        def exited() -> None:
            code = _proc.peek_exit(proc)
            if code is not None:
                raise ServiceError(
                    f"process service {self.name!r} {_proc.describe_exit(code)} "
                    f"before it was healthy{self._stderr_note()}"
                )

        if self.health is None:
            while time.monotonic() - began < _SETTLE_S:
                exited()
                await asyncio.sleep(_proc.POLL_S)
            exited()
            return
        result = await wait_healthy(
            self.health, began + self.health_timeout, between=exited
        )
        if not result.healthy:
            await self._stop_group()
            raise ServiceError(
                f"process service {self.name!r} was not healthy within "
                f"{self.health_timeout:g} s and was stopped; {self.health.url} "
                f"last gave: {result.last_seen}{self._stderr_note()}"
            )

    def _signal(self, sig: int) -> None:
        """Send ``sig`` to our group, only while it is certainly ours."""
        if self._proc is not None:
            _proc.signal_verified_group(self._proc.pid, self._start_time, sig)

    async def _wait_leader(
        self, proc: subprocess.Popen[bytes], within: float
    ) -> int | None:
        deadline = time.monotonic() + within
        while (code := _proc.peek_exit(proc)) is None:
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(_proc.POLL_S)
        return code

    async def _stop_group(self, grace: float | None = None) -> None:
        """SIGTERM, SIGKILL after ``grace`` (default ``stop_timeout``), then reap."""
        proc = self._proc
        if proc is None:
            return
        within = self.stop_timeout if grace is None else grace
        try:
            await _proc.terminate_group(proc.pid, self._start_time, within)
        except ServiceError as exc:
            raise ServiceError(f"process service {self.name!r}: {exc}") from exc
        # Only now, with the group gone, may its ID be given away.
        await _proc.wait_exit(proc, _GRACE_S * 5)
        self._forget(proc)

    def _kill_now(self) -> None:
        """SIGKILL the group and reap; synchronous, so nothing can skip it."""
        proc = self._proc
        if proc is not None:
            self._signal(signal.SIGKILL)
            _proc.kill_group(proc)
            self._forget(proc)

    def _forget(self, proc: subprocess.Popen[bytes]) -> None:
        """The group is gone: drop it, and its PID file if the file still names it."""
        if _proc.read_pid_file(self.pid_path) == (proc.pid, self._start_time):
            self.pid_path.unlink(missing_ok=True)
        self._proc, self._paused = None, False

    def _stderr_note(self) -> str:
        try:
            with self.stderr_path.open("rb") as err:
                err.seek(self._stderr_offset)
                text = _proc.tail(err.read().decode(errors="replace"))
        except OSError:
            text = ""
        if not text:
            return f" (nothing on stderr; stdout is in {self.stdout_path})"
        return f"; last lines of {self.stderr_path}:\n{text}"


# -- after a crash: acting on ledger data from another process ------------------------


def process_identity(pid: int) -> int | None:
    """``pid``'s start time (clock ticks since boot), or None if there is no such PID.

    A (PID, start time) pair names one process for the life of the machine, so
    a record of it can later tell "still that process" from "a reused PID".
    """
    return _proc.start_time(pid)


async def stop_leftover(
    entry: object, *, stop_timeout: float = 10.0
) -> LeftoverOutcome:
    """Stop a process group a crashed chaoskit run left (a ``process`` entry).

    SIGTERM (and SIGCONT, in case it was paused), SIGKILL after ``stop_timeout``;
    every signal only while the PID still has the recorded start time.

    Returns:
        "stopped", "gone" (nothing left), or "not ours" (the PID was reused:
        the other process is left alone).

    An entry written before the start and never updated (chaoskit was killed
    before the PID was known) has no PID: the PID file, if the process got that
    far, names it; else nothing was started, and only its directory is removed.

    Raises:
        ServiceError: the entry is not a ``process`` one, or the group survives
            SIGKILL.
    """
    data = getattr(entry, "data", entry)
    if isinstance(data, Mapping) and data.get("pid") is None:
        return await _stop_planned(entry, data, stop_timeout)
    pid, started, pid_file = _proc.ledger_identity(entry, "process")
    outcomes = [await _proc.terminate_group(pid, started, stop_timeout)]
    # The service may have been started again since the entry was written.
    current = _proc.read_pid_file(pid_file) if pid_file else None
    if current is not None and current != (pid, started):
        outcomes.append(await _proc.terminate_group(*current, stop_timeout))
        if outcomes[-1] != "not ours":
            _proc.remove_pid_file(pid_file)
    if outcomes[0] != "not ours":
        await _remove_leftover_dir(entry)
    if "signalled" in outcomes:
        return "stopped"
    return "not ours" if outcomes[0] == "not ours" else "gone"


async def _stop_planned(
    entry: object, data: Mapping[str, object], stop_timeout: float
) -> LeftoverOutcome:
    """A ``process`` entry written before the start, without PID."""
    kind = getattr(entry, "kind", None) or data.get("kind")
    if kind not in (None, "process"):
        raise ServiceError(f"ledger entry of kind {kind!r} is not a 'process' entry")
    pid_file = data.get("pid_file")
    current = _proc.read_pid_file(pid_file) if pid_file else None
    outcome: _proc.SignalOutcome = "gone"
    if current is not None:
        outcome = await _proc.terminate_group(*current, stop_timeout)
        if outcome != "not ours":
            _proc.remove_pid_file(pid_file)
    await _remove_leftover_dir(entry)
    return "stopped" if outcome == "signalled" else outcome


async def _remove_leftover_dir(entry: object) -> None:
    """Remove the temporary directory a stopped leftover's entry names (a
    PostgreSQL cluster's run directory), only if chaoskit made it (its name).

    A run killed just after it spawned initdb had no time to record initdb's
    PID: initdb would go on writing into the directory after it is removed. So
    first every process whose command line names the directory (initdb, a
    server: ``-D <dir>/...``; the name is unique to that run) is killed.
    """
    data = getattr(entry, "data", entry)
    raw = data.get("remove_dir") if isinstance(data, Mapping) else None
    if not (isinstance(raw, str) and Path(raw).name.startswith("chaoskit-")):
        return
    # initdb forks PostgreSQL in single-user mode, which can still be starting
    # (and then write) after initdb is killed: every round kills whatever names
    # the directory now, and the directory is removed again if it came back.
    for _ in range(3):
        for _ in range(100):  # bounded: 2 s for the kernel to reap them
            users = _processes_naming(raw)
            if not users:  # killed and reaped (or reparented, gone)
                break
            for pid in users:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(0.02)
        shutil.rmtree(raw, ignore_errors=True)
        if not await asyncio.to_thread(Path(raw).exists):
            return
        await asyncio.sleep(0.1)


def _processes_naming(path: str) -> list[int]:
    """PIDs whose command line holds ``path`` (or a path inside it)."""
    needle = path.encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            found.append(int(proc.name))
    return found


async def resume_leftover(entry: object) -> LeftoverOutcome:
    """SIGCONT a group a crashed run left paused (a ``sigcont`` entry) if ours.

    Returns "resumed", "gone" or "not ours" (the PID was reused; left alone).
    """
    # Only the process that was paused: one started since is not frozen.
    pid, started, _ = _proc.ledger_identity(entry, "sigcont")
    outcome = _proc.signal_verified_group(pid, started, signal.SIGCONT)
    return "resumed" if outcome == "signalled" else outcome


if TYPE_CHECKING:

    def _is_a_service(service: ProcessService) -> Service:
        # mypy checks here that ProcessService satisfies the Service protocol.
        return service
