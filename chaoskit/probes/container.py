"""Container probes: memory, CPU % and pids from the Docker stats API.

One ``stats(stream=False, one_shot=True)`` call per sample, in a worker thread
(:func:`chaoskit.containers.call`): without ``one_shot`` the engine waits a
second to fill in the previous CPU reading, longer than a sample may take. CPU %
is computed here from this sample and the previous one, as ``docker stats``
does (share of the host's CPU time, times the number of CPUs). Memory is the
usage minus the inactive page cache, also as ``docker stats`` shows it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from chaoskit.containers import call
from chaoskit.errors import ChaoskitError
from chaoskit.probes.base import ReadError

__all__ = ["ContainerReader", "container_values"]


def container_values(
    stats: Mapping[str, Any], previous: tuple[float, float] | None
) -> tuple[dict[str, float | None], tuple[float, float] | None]:
    """Metrics from one stats document; also (container CPU, system CPU) for the
    next sample's CPU %."""
    memory = stats.get("memory_stats") or {}
    usage = memory.get("usage")
    detail = memory.get("stats") or {}
    cache = detail.get("inactive_file", detail.get("total_inactive_file", 0))
    cpu = stats.get("cpu_stats") or {}
    total = (cpu.get("cpu_usage") or {}).get("total_usage")
    system = cpu.get("system_cpu_usage")
    cpus = cpu.get("online_cpus") or len(
        (cpu.get("cpu_usage") or {}).get("percpu_usage") or [1]
    )
    percent: float | None = None
    now = (float(total), float(system)) if total is not None and system else None
    if now is not None and previous is not None:
        used, elapsed = now[0] - previous[0], now[1] - previous[1]
        percent = 100.0 * cpus * used / elapsed if elapsed > 0 and used >= 0 else None
    pids = (stats.get("pids_stats") or {}).get("current")
    return {
        "memory_bytes": float(usage - cache) if usage is not None else None,
        "cpu_percent": percent,
        "pids": float(pids) if pids is not None else None,
    }, now


class ContainerReader:
    """Samples the container ``container_of()`` returns (a docker SDK object)."""

    def __init__(self, container_of: Callable[[], Awaitable[Any]]) -> None:
        self._container_of = container_of
        self._previous: tuple[float, float] | None = None

    async def read(self) -> Mapping[str, float | None]:
        try:
            container = await self._container_of()
            stats = await call(
                "container stats", container.stats, stream=False, one_shot=True
            )
        except ChaoskitError as exc:
            raise ReadError(str(exc)) from None
        if not isinstance(stats, dict) or not stats.get("memory_stats"):
            raise ReadError("the container is not running")
        values, self._previous = container_values(stats, self._previous)
        return values

    async def aclose(self) -> None:
        self._previous = None
