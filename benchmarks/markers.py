"""What task markers cost per response: header capture and marker evaluation.

Usage::

    python -m benchmarks.markers [--responses 200000]

Feeds the same keep-alive HTTP/1.1 response to the load client's protocol
(``chaoskit.load.client.Connection``: what every load runs) and to the
``HeaderConnection`` used only when some task's marker names a header, then
times ``CompiledTask.marked`` for a header, a JSON-path and a status marker,
and ``CompiledTask.observed`` (numbers read for threshold hypotheses).
No sockets: this is the parsing and bookkeeping cost alone, in microseconds
per response (best of 5 runs).
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import time
from collections.abc import Callable

from chaoskit.load.client import Connection, HeaderConnection
from chaoskit.load.tasks import CompiledTask
from chaoskit.load.taskspec import Marker, TaskSpec

BODY = b'{"user": "3", "items": [1, 2, 3, 4, 5], "fallback": "cache"}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\ndate: Sun, 22 Nov 2026 16:00:00 GMT\r\n"
    b"server: uvicorn\r\ncontent-type: application/json\r\n"
    b"x-fallback: cache\r\ncontent-length: " + str(len(BODY)).encode() + b"\r\n\r\n"
) + BODY


def best(runs: int, fn: Callable[[], None], n: int) -> float:
    """Best microseconds per call of ``fn`` over ``runs`` runs of ``n`` calls."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) / n * 1e6)
    return min(times)


async def main(n: int) -> None:
    plain = Connection(time.monotonic_ns)
    headers = HeaderConnection(time.monotonic_ns, frozenset({b"x-fallback"}))

    def feed(conn: Connection) -> Callable[[], None]:
        def run() -> None:
            for _ in range(n):
                conn.data_received(RESPONSE)

        return run

    def task(marker: Marker | None) -> CompiledTask:
        spec = TaskSpec("t", "/r", marker=marker)
        return CompiledTask(
            spec, host="h", prefix="", names=frozenset(), seed=1, timeout=1
        )

    kept = ((b"x-fallback", b"cache"),)
    counted = (*kept, (b"x-upstream-attempts", b"3"))
    cases = {
        "none": task(None),
        "header": task(Marker(header="X-Fallback", equals="cache")),
        "json_path": task(Marker(json_path="$.fallback", equals="cache")),
        "status": task(Marker(status=(203,))),
    }
    print(f"python {platform.python_version()}, {platform.machine()}, n={n}")
    print("| what | µs per response |")
    print("| --- | ---: |")
    print(f"| parse, plain Connection | {best(5, feed(plain), n):.3f} |")
    print(f"| parse, HeaderConnection | {best(5, feed(headers), n):.3f} |")
    for name, compiled in cases.items():

        def mark(compiled: CompiledTask = compiled) -> None:
            for _ in range(n):
                compiled.marked(200, BODY, kept)

        print(f"| marked(), {name} marker | {best(5, mark, n):.3f} |")
    # Numbers read for threshold hypotheses on a header or a JSON value: only
    # tasks a hypothesis names read them (``TaskSpec.observe``).
    probes = {
        "none (every other task)": (),
        "header": ("header:X-Upstream-Attempts",),
        "json value": ("$.items[0]",),
    }
    for name, observe in probes.items():
        compiled = CompiledTask(
            TaskSpec("t", "/r", observe=observe), host="h", prefix="",
            names=frozenset(), seed=1, timeout=1,
        )  # fmt: skip

        def read(compiled: CompiledTask = compiled) -> None:
            for _ in range(n):
                if compiled.observes:
                    compiled.observed(BODY, counted)

        print(f"| observed(), {name} | {best(5, read, n):.3f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.markers")
    parser.add_argument("--responses", type=int, default=200_000)
    asyncio.run(main(parser.parse_args().responses))
