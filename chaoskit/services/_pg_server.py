"""The PostgreSQL server process of one service: launch, readiness, stop, kill.

The postmaster is our own child, in its own session (``_pg_tools.popen``).
Its children each get a session of their own, so they are found through the
System V shared memory segment they all keep attached (named in
``postmaster.pid``): after the postmaster is gone we wait until no orphan
still holds it (a new server refuses to start until then) and SIGKILL
stragglers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from chaoskit.errors import ServiceError
from chaoskit.services._pg_layout import HOST, Layout
from chaoskit.services._pg_tools import Spawned, popen
from chaoskit.services._proc import (
    POLL_S,
    kill_group,
    proc_entries,
    read_lines,
    tail,
    wait_exit,
)

__all__ = ["PORT_ATTEMPTS", "PortTakenError", "Postmaster", "StopMode"]

StopMode = Literal["smart", "fast", "immediate"]
"""PostgreSQL's shutdown modes: wait for clients / disconnect them / no checkpoint."""

_STOP_SIGNALS: dict[str, signal.Signals] = {
    "smart": signal.SIGTERM,
    "fast": signal.SIGINT,
    "immediate": signal.SIGQUIT,
}
# After the postmaster is gone, its children notice within milliseconds and
# exit; this is how long we let them before SIGKILLing the stragglers.
_ORPHAN_GRACE_S = 2.0
PORT_ATTEMPTS = 5
"""How many free ports a first start picks before it gives up on the races."""
# In the server log when another socket holds the port (English: LC_ALL=C). Other
# bind failures, such as a privileged port, get the generic message and the log.
_PORT_IN_USE = "Address already in use"


class PortTakenError(ServiceError):
    """The server could not bind a port we picked: pick another."""

    def __init__(self, name: str, port: int) -> None:
        self.port = port
        super().__init__(
            f"postgres service {name!r}: port {port} on {HOST} was taken before "
            f"the server could bind it, {PORT_ATTEMPTS} times in a row"
        )


class Postmaster:
    """The server process of the service ``name``, while it runs.

    Holds the postmaster (until we notice it has died) and where its part of
    the log starts; the service hands in everything else per call.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        # Where the current server's part of the log starts, for error tails.
        self._log_offset = 0
        # The layout of the last launch: its postmaster.pid names the segment.
        self._layout: Layout | None = None

    @property
    def pid(self) -> int | None:
        """The postmaster's PID while it runs, else None."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        return self.proc.pid

    async def launch(
        self,
        layout: Layout,
        port: int,
        deadline: float,
        *,
        durable: bool,
        settings: Sequence[str],
        start_timeout: float,
        picked_port: bool,
        on_spawn: Spawned | None = None,
    ) -> None:
        """Start the postmaster on ``port`` and wait until it is ready.

        Args:
            layout: the service's files.
            port: the TCP port to listen on.
            deadline: ``time.monotonic()`` by which it must be ready.
            durable: False turns off fsync and full-page writes.
            settings: extra ``-c name=value`` arguments.
            start_timeout: the service's start timeout, named in the message.
            picked_port: we picked ``port``, so when it turns out taken the
                caller may pick another (:class:`PortTakenError`).
            on_spawn: told of the postmaster as soon as it runs.

        Raises:
            PortTakenError: ``picked_port`` and the port was in use.
            ServiceError: the server exited, or was not ready by ``deadline``.
        """
        argv = [
            str(layout.bin_dir / "postgres"),
            "-D",
            str(layout.data_dir),
            "-h",
            HOST,
            "-p",
            str(port),
            "-k",
            str(layout.socket_dir) if layout.socket_dir is not None else "",
            # The log is the file descriptor we hand over: no collector.
            "-c",
            "logging_collector=off",
            "-c",
            "log_destination=stderr",
        ]
        if not durable:
            argv += ["-c", "fsync=off", "-c", "full_page_writes=off"]
        argv += settings
        self._layout = layout
        self._log_offset = layout.log_path.stat().st_size
        with layout.log_path.open("ab") as log:
            proc = popen(
                argv, layout.account, stdin=subprocess.DEVNULL, stdout=log,
                stderr=log, on_spawn=on_spawn,
            )  # fmt: skip
        self.proc = proc
        await self._wait_ready(layout, proc, port, deadline, start_timeout, picked_port)

    async def _wait_ready(
        self,
        layout: Layout,
        proc: subprocess.Popen[bytes],
        port: int,
        deadline: float,
        start_timeout: float,
        picked_port: bool,
    ) -> None:
        pid_file = layout.data_dir / "postmaster.pid"
        while True:
            code = proc.poll()
            if code is not None:
                self.proc = None
                await self._wait_children_gone(proc.pid)
                log_tail = self._log_tail(layout)
                if _PORT_IN_USE in log_tail:
                    if picked_port:
                        raise PortTakenError(self.name, port)
                    raise ServiceError(
                        f"postgres service {self.name!r}: port {port} on {HOST} is "
                        f"already in use{self._log_note(layout, log_tail)}"
                    )
                raise ServiceError(
                    f"postgres service {self.name!r}: the server exited with code "
                    f"{code} before accepting connections on {HOST}:{port}"
                    f"{self._log_note(layout, log_tail)}"
                )
            # postmaster.pid: pid, data dir, start time, port, socket dir, listen
            # address, shared memory key, status. A stale file left by a killed
            # server says "ready" too, hence the PID check.
            lines = read_lines(pid_file)
            if (
                len(lines) >= 8
                and lines[0].strip() == str(proc.pid)
                and lines[7].strip() == "ready"
            ):
                return
            if time.monotonic() >= deadline:
                raise ServiceError(
                    f"postgres service {self.name!r}: not accepting connections on "
                    f"{HOST}:{port} after {start_timeout:g} s"
                    f"{self._log_note(layout, self._log_tail(layout))}"
                )
            await asyncio.sleep(POLL_S)

    async def stop(self, mode: StopMode, within: float) -> None:
        """Shut the server down in ``mode``; see :meth:`kill`."""
        await self.kill(_STOP_SIGNALS[mode], within)

    async def kill(self, sig: int, within: float) -> int | None:
        """Send ``sig`` to the postmaster and wait until it and its children are gone.

        Whatever still runs after ``within`` s gets SIGKILL, its group with it.
        Returns the postmaster's exit code (minus the signal number), or None
        when it was not running.
        """
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
        code = await wait_exit(proc, within)
        if code is None:
            kill_group(proc)
            code = proc.returncode
        self.proc = None
        await self._wait_children_gone(proc.pid)
        return code

    def kill_now(self) -> None:
        """SIGKILL the server and its children; synchronous, so nothing can skip it."""
        proc, self.proc = self.proc, None
        if proc is not None:
            kill_group(proc)
            for pid in _attached_to(self._segment(proc.pid)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def _segment(self, pid: int) -> tuple[int, int] | None:
        """(key, id) of the System V segment that the server with ``pid`` created."""
        layout = self._layout
        if layout is None:
            return None
        # postmaster.pid: pid, data dir, start time, port, socket dir, listen
        # address, "key id" of the segment, status. It outlives a killed server.
        lines = read_lines(layout.data_dir / "postmaster.pid")
        if len(lines) < 7 or lines[0].strip() != str(pid):
            return None
        fields = lines[6].split()
        if len(fields) != 2 or not all(field.isdigit() for field in fields):
            return None
        return int(fields[0]), int(fields[1])

    async def _wait_children_gone(self, pid: int) -> None:
        """Wait until the dead postmaster's children have exited; SIGKILL stragglers.

        They notice the postmaster's death within milliseconds on their own.
        """
        segment = self._segment(pid)
        if segment is None:
            return
        deadline = time.monotonic() + _ORPHAN_GRACE_S
        killed = False
        while _attach_count(segment):
            if time.monotonic() >= deadline:
                stragglers = _attached_to(segment)
                if killed:
                    raise ServiceError(
                        f"postgres service {self.name!r}: processes {stragglers} of "
                        f"the killed server {pid} survive SIGKILL"
                    )
                for straggler in stragglers:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(straggler, signal.SIGKILL)
                killed = True
                deadline = time.monotonic() + _ORPHAN_GRACE_S
            await asyncio.sleep(POLL_S)

    def _log_tail(self, layout: Layout) -> str:
        try:
            with layout.log_path.open("rb") as log:
                log.seek(self._log_offset)
                return tail(log.read().decode(errors="replace"))
        except OSError:
            return ""

    def _log_note(self, layout: Layout, log_tail: str) -> str:
        if not log_tail:
            return f" (nothing in the server log {layout.log_path})"
        return f"; last lines of {layout.log_path}:\n{log_tail}"


def _attach_count(segment: tuple[int, int] | None) -> int:
    """How many processes still have the server's System V segment attached."""
    if segment is None:
        return 0
    key, shmid = segment
    for line in read_lines(Path("/proc/sysvipc/shm"))[1:]:
        fields = line.split()
        if len(fields) > 6 and fields[0] == str(key) and fields[1] == str(shmid):
            return int(fields[6])
    return 0


def _attached_to(segment: tuple[int, int] | None) -> list[int]:
    """The processes that have the segment attached: the server's, even orphaned.

    Each maps it as ``/SYSV<key in hex>``; zombies map nothing.
    """
    if segment is None:
        return []
    name = f"/SYSV{segment[0]:08x} "
    pids: list[int] = []
    for entry in proc_entries():
        try:
            if name in (entry / "maps").read_text():
                pids.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return pids
