"""HTTP client candidates for the load path, measured the same way.

Each candidate keeps 64 requests in flight (64 coroutines in a loop, keep-alive)
against one URL for a fixed time on uvloop; the script reports requests/s per
CPU second of this process. Run it pinned to one core, with the server on the
other, in a throwaway virtualenv holding the candidates::

    python3 -m venv /tmp/candvenv
    /tmp/candvenv/bin/pip install aiohttp pyreqwest uvloop httpx sniffio httptools
    PYTHONPATH=. taskset -c 0 /tmp/candvenv/bin/python -m benchmarks.load_clients \\
        http://127.0.0.1:18080/ --seconds 5

chaoskit's own client is measured through ``chaoskit.load.client``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

CONCURRENCY = 64


async def _drive(get: Callable[[], Awaitable[None]], seconds: float) -> int:
    done = 0
    end = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < end:
            await get()
            done += 1

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return done


async def chaoskit_client(url: str, seconds: float) -> int:
    from chaoskit.load.client import ConnectionPool

    parts = urlsplit(url)
    pool = ConnectionPool(parts.hostname or "", parts.port or 80, time.monotonic_ns)
    raw = f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()

    async def get() -> None:
        connection = await pool.acquire(5)
        await connection.request(raw, 5)
        pool.release(connection)

    try:
        return await _drive(get, seconds)
    finally:
        pool.close()


async def aiohttp_client(url: str, seconds: float) -> int:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def get() -> None:
            async with session.get(url) as response:
                await response.read()

        return await _drive(get, seconds)


async def pyreqwest_client(url: str, seconds: float) -> int:
    from pyreqwest.client import ClientBuilder

    async with ClientBuilder().build() as client:

        async def get() -> None:
            response = await client.get(url).build().send()
            await response.bytes()

        return await _drive(get, seconds)


async def httpx_client(url: str, seconds: float) -> int:
    import httpx

    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits) as client:

        async def get() -> None:
            response = await client.get(url)
            response.read()

        return await _drive(get, seconds)


CANDIDATES = {
    "chaoskit (asyncio protocol + httptools)": chaoskit_client,
    "aiohttp": aiohttp_client,
    "pyreqwest": pyreqwest_client,
    "httpx": httpx_client,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load_clients")
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    import uvloop

    print("| client | requests/s per core |")
    print("| --- | ---: |")
    for name, run in CANDIDATES.items():
        try:
            start = time.process_time()
            count = uvloop.run(run(args.url, args.seconds))
            cpu = time.process_time() - start
        except ImportError as error:
            print(f"| {name} | not installed ({error.name}) |")
            continue
        print(f"| {name} | {count / cpu:.0f} |", flush=True)


if __name__ == "__main__":
    main()
