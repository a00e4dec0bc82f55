"""Stream tasks' cost on the load path: client CPU per message, event, request.

Each case runs chaoskit's load engine (closed model, no think time) for a
fixed time against a minimal server in another process, and reports the
engine process's CPU time per sample, so what is measured is the client:

* ``http``: GET requests against a raw asyncio HTTP/1.1 server (the peer);
* ``ws``: WebSocket exchanges (send, wait for the echo) against a
  ``websockets`` echo server;
* ``sse``: SSE events read from a raw server writing them as fast as the
  socket takes them (receive mode: each event is a sample);
* ``httpx-sse`` (when installed): the same events read by ``httpx-sse`` on
  httpx, the candidate library for SSE, counting events only.

Run (the server processes are started and stopped by the script)::

    PYTHONPATH=. .venv/bin/python -m benchmarks.streams --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

_EVENT = b'id: %d\nevent: tick\ndata: {"seq": %d, "price": 101.25}\n\n'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _serve_http(port: int) -> None:
    body = b'{"ok":true}'
    answer = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(answer)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    await server.serve_forever()


async def _serve_sse(port: int) -> None:
    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return  # the readiness probe
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        seq = 0
        with contextlib.suppress(ConnectionError):
            while True:
                chunk = b"".join(_EVENT % (seq + i, seq + i) for i in range(1, 51))
                seq += 50
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    await server.serve_forever()


async def _serve_ws(port: int) -> None:
    from websockets.asyncio.server import ServerConnection, serve

    async def echo(ws: ServerConnection) -> None:
        with contextlib.suppress(Exception):
            async for message in ws:
                await ws.send(message)

    async with serve(echo, "127.0.0.1", port, compression=None, ping_interval=None):
        await asyncio.Future()


@contextlib.contextmanager
def _server(kind: str) -> Iterator[int]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.streams", "--serve", kind,
         "--port", str(port)],
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), 0.2),
            ):
                break
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def _engine(kind: str, port: int, seconds: float, users: int) -> tuple[int, float]:
    from chaoskit.load import ClosedModel, LoadConfig, LoadEngine, TaskSpec
    from chaoskit.load.streamspec import StreamMessage, StreamSpec
    from chaoskit.records import MemorySink

    if kind == "http":
        task = TaskSpec("get", "/")
    elif kind == "ws":
        ping = StreamMessage('{"op":"ping","n":1}', "ping")
        task = TaskSpec("ws", "/", stream=StreamSpec("websocket", messages=(ping,)))
    else:
        task = TaskSpec("sse", "/", stream=StreamSpec("sse"))
    config = LoadConfig(
        f"http://127.0.0.1:{port}", ClosedModel(users), (task,), duration=seconds
    )
    sink = MemorySink()
    cpu = time.process_time()
    asyncio.run(LoadEngine(config, sink).run())
    cpu = time.process_time() - cpu
    good = sum(1 for s in sink.samples if s.error is None and s.task == task.name)
    return good, cpu


def _httpx_sse(port: int, seconds: float, users: int) -> tuple[int, float] | None:
    try:
        import httpx
        from httpx_sse import aconnect_sse
    except ImportError:
        return None
    count = 0

    async def one(client: httpx.AsyncClient, end: float) -> None:
        nonlocal count
        async with aconnect_sse(client, "GET", f"http://127.0.0.1:{port}/") as source:
            async for _ in source.aiter_sse():
                count += 1
                if time.monotonic() > end:
                    return

    async def main() -> None:
        end = time.monotonic() + seconds
        async with httpx.AsyncClient(timeout=30) as client:
            await asyncio.gather(*(one(client, end) for _ in range(users)))

    cpu = time.process_time()
    asyncio.run(main())
    return count, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--serve", choices=("http", "sse", "ws"))
    parser.add_argument("--port", type=int, default=0)
    ns = parser.parse_args()
    if ns.serve:
        serve = {"http": _serve_http, "sse": _serve_sse, "ws": _serve_ws}[ns.serve]
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(ns.port))
        return
    print(f"{ns.users} users, {ns.seconds:g} s a case; client CPU per sample")
    print(f"{'case':<12}{'samples':>10}{'per s':>10}{'CPU s':>8}{'us/sample':>12}")
    for kind, server in (("http", "http"), ("ws", "ws"), ("sse", "sse"),
                         ("httpx-sse", "sse")):  # fmt: skip
        with _server(server) as port:
            if kind == "httpx-sse":
                measured = _httpx_sse(port, ns.seconds, ns.users)
                if measured is None:
                    print(f"{kind:<12}(not installed)")
                    continue
                count, cpu = measured
            else:
                count, cpu = _engine(kind, port, ns.seconds, ns.users)
        rate = count / ns.seconds
        per = cpu / count * 1e6 if count else float("nan")
        print(f"{kind:<12}{count:>10}{rate:>10.0f}{cpu:>8.2f}{per:>12.1f}")


if __name__ == "__main__":
    main()
