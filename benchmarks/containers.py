"""Container-fault benchmark: what each fault costs on a real Docker engine.

Usage (a Docker engine at DOCKER_HOST, Debian's busybox-static installed)::

    python -m benchmarks.containers --rounds 10

It builds the test image (``docker import`` of busybox-static, as the tests
do), runs ``busybox httpd`` as a ``container`` service with host networking,
then applies and undoes each fault kind ``--rounds`` times through the driver
(``chaoskit.faults.docker``), measuring: apply (the Docker calls, and for
``restart`` the health check), undo (start or unpause, and the health check),
and the outage a client sees (from the apply call to the first 200 after the
undo, which runs at once: no fault window; probing every 5 ms). Also the
service's own start (create, start, healthy) and stop (logs, remove). Prints a
Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from chaoskit.containers import connect
from chaoskit.faults.docker import container_changes
from chaoskit.services.container import ContainerService
from chaoskit.services.health import free_port
from chaoskit.spec.model import ContainerFault
from chaoskit.spec.model import ContainerService as ContainerSpec
from tests.docker_support import _rootfs_tar, find_static_busybox

KINDS = ("restart", "stop", "kill", "pause")


async def _first_200(url: str, deadline_s: float = 30.0) -> float:
    async with httpx.AsyncClient(trust_env=False, timeout=0.5) as client:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            try:
                if (await client.get(url)).status_code == 200:
                    return time.monotonic()
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.005)
    raise RuntimeError(f"{url} did not answer within {deadline_s} s")


async def bench(rounds: int, image: str) -> dict[str, list[tuple[float, ...]]]:
    client = await connect()
    port = free_port()
    spec = ContainerSpec.model_validate(
        {"name": "web", "kind": "container", "image": image,
         "command": ["httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", "/www"],
         "health": f"http://127.0.0.1:{port}/health"}
    )  # fmt: skip
    results: dict[str, list[tuple[float, ...]]] = {"service": []}
    url = f"http://127.0.0.1:{port}/index.html"
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            service = ContainerService(spec, client, run_id="bench", log_dir=Path(tmp))
            began = time.monotonic()
            await service.start()
            started = time.monotonic()
            await service.stop()
            results["service"].append((started - began, time.monotonic() - started))
        service = ContainerService(spec, client, run_id="bench", log_dir=Path(tmp))
        await service.start()
        try:
            for kind in KINDS:
                fault = ContainerFault.model_validate(
                    {"name": kind, "kind": kind, "service": "web", "at": 0,
                     "for": 1, "timeout": 0}
                )  # fmt: skip
                results[kind] = []
                for _ in range(rounds):
                    (change,) = await container_changes(
                        fault, client, {"web": service}, seed=1
                    )
                    began = time.monotonic()
                    undo = await change.apply()
                    applied = time.monotonic()
                    await undo()
                    undone = time.monotonic()
                    back = await _first_200(url)
                    results[kind].append(
                        (applied - began, undone - applied, back - began)
                    )
        finally:
            await service.stop()
            client.close()
    return results


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    parts = (statistics.median(ordered), p90, ordered[-1])
    return " / ".join(f"{value * 1000:.0f}" for value in parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    busybox = find_static_busybox()
    if busybox is None:
        raise SystemExit("needs a static busybox: apt-get install busybox-static")
    import docker

    engine = docker.from_env()
    tag = f"chaoskit-bench/busybox:{os.getpid()}"
    repository, _, version = tag.partition(":")
    engine.api.import_image_from_data(
        _rootfs_tar(busybox), repository=repository, tag=version
    )
    info = engine.info()
    try:
        results = asyncio.run(bench(args.rounds, tag))
    finally:
        engine.images.remove(tag, force=True)
        engine.close()
    print(
        f"Docker {info['ServerVersion']}, storage {info['Driver']}, "
        f"{os.cpu_count()} CPUs, {platform.platform()}; {args.rounds} rounds; "
        "median / p90 / max in ms\n"
    )
    print("| fault | apply | undo | outage seen by a client |")
    print("| --- | --- | --- | --- |")
    for kind in KINDS:
        rows = results[kind]
        print(
            f"| {kind} | {_ms([r[0] for r in rows])} | {_ms([r[1] for r in rows])} "
            f"| {_ms([r[2] for r in rows])} |"
        )
    service = results["service"]
    print(
        f"\nservice start (create, start, healthy): {_ms([r[0] for r in service])}; "
        f"stop (logs, remove): {_ms([r[1] for r in service])}"
    )


if __name__ == "__main__":
    main()
