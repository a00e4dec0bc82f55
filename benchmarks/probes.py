"""What probes cost the run: CPU of chaoskit's own process while they sample.

Usage::

    python -m benchmarks.probes [--seconds 30] [--every 1]

Starts what the probes watch (a child process, an embedded PostgreSQL with a
few sessions, the recommender fixture for an HTTP probe), then measures the
CPU time of this process (every thread: psutil and the docker SDK run in worker
threads) over the same wall time twice: once idle (the event loop alone) and
once with a process, a postgres and an HTTP probe sampling every ``--every``
seconds through :class:`chaoskit.probes.Sampler`, as a run does. The
difference, as a share of one core, is what the probes cost. Also printed:
each probe's time per sample (wall, including waiting for the server).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx

from chaoskit.events import ProbeSeries
from chaoskit.probes import HttpReader, PostgresReader, ProcessReader, Sampler, Watched
from chaoskit.services import PostgresService
from chaoskit.services.health import free_port
from chaoskit.spec.model import PROBE_METRICS


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Timed:
    """A reader that records how long each of its samples took."""

    def __init__(self, reader: object) -> None:
        self.reader = reader
        self.took: list[float] = []

    async def read(self) -> object:
        start = time.perf_counter()
        try:
            return await self.reader.read()  # type: ignore[attr-defined]
        finally:
            self.took.append(time.perf_counter() - start)

    async def aclose(self) -> None:
        await self.reader.aclose()  # type: ignore[attr-defined]


async def measure(seconds: float, every: float, dsn: str, url: str, pid: int) -> None:
    await asyncio.sleep(1)
    start_cpu, start = cpu_s(), time.monotonic()
    await asyncio.sleep(seconds)
    idle = (cpu_s() - start_cpu) / (time.monotonic() - start)

    readers = {
        "process": Timed(ProcessReader(lambda: pid)),
        "postgres": Timed(PostgresReader(dsn)),
        "http": Timed(HttpReader(url, metric="recommender_retained_bytes")),
    }
    watched = [
        Watched(r, ProbeSeries(k, k, k, every, PROBE_METRICS[k]), every, 5.0)
        for k, r in readers.items()
    ]
    sampler = Sampler(watched, time.monotonic_ns(), lambda e: None)
    sampler.start()
    await asyncio.sleep(2 * every)  # first samples open connections: not counted
    start_cpu, start = cpu_s(), time.monotonic()
    await asyncio.sleep(seconds)
    busy = (cpu_s() - start_cpu) / (time.monotonic() - start)
    await sampler.stop()
    gaps = sum(len(w.series.gaps) for w in watched)
    print(
        f"python {platform.python_version()}, {platform.platform()}, "
        f"{os.cpu_count()} CPUs; {seconds:g}s per measurement, every {every:g}s"
    )
    print(f"idle loop:            {idle * 100:.3f}% of a core")
    print(f"with 3 probes:        {busy * 100:.3f}% of a core")
    print(f"probes' cost:         {(busy - idle) * 100:.3f}% of a core")
    for kind, reader in readers.items():
        took = reader.took[2:] or reader.took
        median, most = statistics.median(took) * 1000, max(took) * 1000
        print(
            f"{kind:>8} per sample:  median {median:.2f} ms, max {most:.2f} ms "
            f"({len(reader.took)} samples)"
        )
    print(f"gaps: {gaps}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.probes")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--every", type=float, default=1.0)
    ns = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    port = free_port()
    reco = subprocess.Popen(
        [sys.executable, "-m", "fixtures.recommender", "--port", str(port)], cwd=root
    )
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    pg = PostgresService("bench-probes", durable=False)
    pg.start_sync()
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)

        async def run() -> None:
            sessions = [await asyncpg.connect(pg.address.dsn) for _ in range(5)]
            try:
                url = f"http://127.0.0.1:{port}/metrics"
                await measure(ns.seconds, ns.every, pg.address.dsn, url, child.pid)
            finally:
                for conn in sessions:
                    await conn.close()

        asyncio.run(run())
    finally:
        pg.stop_sync()
        for proc in (reco, child):
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
