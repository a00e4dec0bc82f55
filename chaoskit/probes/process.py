"""Process probes with psutil: RSS, USS, open descriptors, threads, CPU %.

psutil reads ``/proc`` with plain blocking syscalls (USS walks
``/proc/<pid>/smaps``, milliseconds on a large process), so every sample runs
in a worker thread. The ``psutil.Process`` is kept between samples: CPU % is
the share of one core used since the previous sample, and a new pid (a
restarted service) starts a new one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from chaoskit.probes.base import ReadError

__all__ = ["ProcessReader"]


def _alive(process: Any, psutil: Any) -> None:
    if process.status() == psutil.STATUS_ZOMBIE:
        raise psutil.NoSuchProcess(process.pid)


class ProcessReader:
    """Samples the process ``pid_of()`` names at each read."""

    def __init__(self, pid_of: Callable[[], int | None]) -> None:
        self._pid_of = pid_of
        self._process: Any = None

    async def read(self) -> Mapping[str, float | None]:
        pid = self._pid_of()
        if pid is None:
            raise ReadError("the process is not running")
        return await asyncio.to_thread(self._sample, pid)

    def _sample(self, pid: int) -> dict[str, float | None]:
        import psutil  # lazy: `import chaoskit` stays cheap

        try:
            if self._process is None or self._process.pid != pid:
                self._process = psutil.Process(pid)
                self._process.cpu_percent(None)  # the first call only starts the clock
            process = self._process
            with process.oneshot():
                # Dead, not yet reaped: /proc reads zeros, not a value.
                _alive(process, psutil)
                values: dict[str, float | None] = {
                    "rss_bytes": float(process.memory_info().rss),
                    "threads": float(process.num_threads()),
                    "cpu_percent": process.cpu_percent(None),
                }
                try:
                    values["fds"] = float(process.num_fds())
                except (AttributeError, psutil.AccessDenied):
                    values["fds"] = None  # not on this platform, or not ours
                try:
                    values["uss_bytes"] = float(process.memory_full_info().uss)
                except (AttributeError, psutil.AccessDenied):
                    values["uss_bytes"] = None
        except psutil.NoSuchProcess:
            self._process = None
            raise ReadError(f"process {pid} is gone") from None
        except psutil.AccessDenied as exc:
            raise ReadError(f"process {pid}: access denied ({exc})") from None
        return values

    async def aclose(self) -> None:
        self._process = None
