"""Helpers for tests that start real child processes: start them, always clean up.

:class:`Children` makes :class:`ProcessService` instances running
``child_server.py`` and remembers every process it hears of; ``cleanup()``
(run by each test file's fixture, also when the test failed) stops every
service and SIGKILLs every remembered PID that is still the same process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from chaoskit.services import ProcessService, _proc
from tests.conftest import free_port

CHILD_SERVER = Path(__file__).with_name("child_server.py")


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not reaped, does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in "ZX"


def state(pid: int) -> str:
    """The one-letter process state ("S" sleeping, "T" stopped, ...)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


class Children:
    """Starts child processes for one test and cleans every one of them up."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.services: list[ProcessService] = []
        self.popens: list[subprocess.Popen[bytes]] = []
        self.pids: dict[int, int | None] = {}

    def server(
        self, *args: str, name: str = "api", health: str | None = "http", **kwargs
    ) -> ProcessService:
        """A service running child_server.py on a free port (not started)."""
        port = free_port()
        if health == "http":
            health = f"http://127.0.0.1:{port}/health"
        elif health == "tcp":
            health = f"tcp://127.0.0.1:{port}"
        command = [sys.executable, str(CHILD_SERVER), "--port", str(port), *args]
        kwargs.setdefault("health_timeout", 10.0)
        kwargs.setdefault("stop_timeout", 2.0)
        return self.service(name, command, health=health, **kwargs)

    def service(self, name: str, command: list[str], **kwargs) -> ProcessService:
        kwargs.setdefault("log_dir", self.log_dir)  # not a temp dir left in /tmp
        service = ProcessService(name, command, **kwargs)
        self.services.append(service)
        return service

    def popen(self, command: list[str]) -> subprocess.Popen[bytes]:
        """A plain child in a session of its own, as a crashed run would leave it."""
        proc = subprocess.Popen(command, start_new_session=True)
        self.popens.append(proc)
        self.remember(proc.pid)
        return proc

    def remember(self, pid: int) -> int:
        """SIGKILL ``pid`` at cleanup if it is still the same process."""
        self.pids[pid] = _proc.start_time(pid)
        return pid

    def read_pid(self, path: Path) -> int:
        """Wait for a PID file a child writes, remember the PID and return it."""
        for _ in range(500):
            with contextlib.suppress(OSError, ValueError):
                return self.remember(int(path.read_text()))
            time.sleep(0.01)
        raise AssertionError(f"{path} was never written")

    def cleanup(self) -> None:
        for service in self.services:
            if service._proc is not None:
                self.remember(service._proc.pid)
            with contextlib.suppress(Exception):
                asyncio.run(service.stop())
        for pid, started in self.pids.items():
            if started is not None and _proc.start_time(pid) == started:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGCONT)
                    os.kill(pid, signal.SIGKILL)
        for proc in self.popens:
            with contextlib.suppress(OSError):
                proc.kill()
            proc.wait(timeout=5)
