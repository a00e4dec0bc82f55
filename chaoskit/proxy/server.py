"""The embedded Toxiproxy-compatible server: API plus proxies, in one event loop.

Embed it (``async with ProxyServer(config) as server: ...``) or run it as
``chaoskit proxy`` (:func:`run_forever`), which stops cleanly on SIGINT or SIGTERM:
every listener and every connection is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import secrets
import signal
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import uvicorn

from chaoskit.errors import UsageError
from chaoskit.proxy.api import build_app
from chaoskit.proxy.busypoll import MAX_BUSY_POLL_US
from chaoskit.proxy.state import ApiError, ProxyCollection, ProxySettings

__all__ = ["API_KEEP_ALIVE_S", "ProxyServer", "ProxyServerConfig", "run_forever"]

API_KEEP_ALIVE_S = 120
"""How long the API keeps an idle keep-alive connection (uvicorn's default is 5 s)."""


@dataclass(frozen=True)
class ProxyServerConfig:
    """How to run the server.

    Args:
        host: API address; loopback unless you mean to expose it.
        port: API port; 0 picks a free one (see :attr:`ProxyServer.url`).
        seed: seeds jitter, toxicity rolls and slicer cuts; random (and reported
            by ``/chaoskit/info``) when None.
        log_capacity: connection-log records kept per proxy.
        config_file: a JSON array of proxies created at start, as ``/populate``.
        dial_timeout: seconds to wait for an upstream to accept a connection.
        busy_poll_us: after traffic, spin up to this many µs before sleeping
            (0: never). Cuts the round trip when the proxy has a CPU of its own,
            at the price of that CPU time (chaoskit/proxy/busypoll.py).
    """

    host: str = "127.0.0.1"
    port: int = 8474
    seed: int | None = None
    log_capacity: int = 10_000
    config_file: str | None = None
    dial_timeout: float = 10.0
    busy_poll_us: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.busy_poll_us <= MAX_BUSY_POLL_US:
            raise UsageError(
                f"busy_poll_us = {self.busy_poll_us}: expected 0 (off) to "
                f"{MAX_BUSY_POLL_US} µs"
            )


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Signals belong to whoever embeds us (run_forever installs its own).
        yield


class ProxyServer:
    """The API server and its proxies, started and stopped together."""

    def __init__(self, config: ProxyServerConfig | None = None) -> None:
        self.config = config or ProxyServerConfig()
        self.seed = (
            self.config.seed if self.config.seed is not None else secrets.randbits(32)
        )
        self.proxies = ProxyCollection(
            ProxySettings(
                seed=self.seed,
                log_capacity=self.config.log_capacity,
                dial_timeout=self.config.dial_timeout,
                busy_poll_us=self.config.busy_poll_us,
            )
        )
        self._uvicorn: _Uvicorn | None = None
        self._task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound API address."""
        if self._sock is None:
            raise RuntimeError("the server is not started")
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """Base URL of the API, e.g. ``http://127.0.0.1:8474``."""
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    async def start(self) -> None:
        """Bind the API, load the config file, and serve in the background."""
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.config.host, self.config.port))
        except OSError as exc:
            sock.close()
            raise UsageError(
                f"cannot listen on {self.config.host}:{self.config.port}: "
                f"{exc.strerror or exc}; pick another --port (0 = any free port)"
            ) from None
        sock.listen(128)
        sock.setblocking(False)
        self._sock = sock
        if self.config.config_file:
            await self._load_config(Path(self.config.config_file))
        app = build_app(self.proxies, self.seed)
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            loop="none",
            server_header=False,  # Go sends none
            # Toxiproxy (Go, no idle timeout) keeps idle API connections; a
            # short keep-alive races clients that reuse theirs (ReadError).
            timeout_keep_alive=API_KEEP_ALIVE_S,
        )
        self._uvicorn = _Uvicorn(config)
        self._task = asyncio.get_running_loop().create_task(
            self._uvicorn.serve(sockets=[sock]), name="chaoskit proxy API"
        )
        while not self._uvicorn.started:
            if self._task.done():
                self._task.result()  # raise what stopped it
            await asyncio.sleep(0.005)

    async def _load_config(self, path: Path) -> None:
        try:
            entries = json.loads(await asyncio.to_thread(path.read_text))
        except (OSError, ValueError) as exc:
            raise UsageError(f"{path}: not a readable JSON file: {exc}") from None
        if not isinstance(entries, list):
            raise UsageError(f"{path}: expected a JSON array of proxies")
        for index, entry in enumerate(entries, start=1):
            if (
                not isinstance(entry, dict)
                or not entry.get("name")
                or not entry.get("upstream")
            ):
                raise UsageError(f"{path}: proxy {index} needs a name and an upstream")
            try:
                await self.proxies.create(
                    str(entry["name"]),
                    str(entry.get("listen") or "127.0.0.1:0"),
                    str(entry["upstream"]),
                    entry.get("enabled") is not False,
                )
            except ApiError as exc:
                raise UsageError(
                    f"{path}: proxy {entry['name']!r}: {exc.message}"
                ) from None

    async def stop(self) -> None:
        """Stop the API, then close every listener and connection."""
        if self._uvicorn is not None and self._task is not None:
            self._uvicorn.should_exit = True
            await asyncio.wait([self._task])
        await self.proxies.shutdown()
        if self._sock is not None:
            self._sock.close()
        self._uvicorn = self._task = None

    async def __aenter__(self) -> ProxyServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when available: it roughly doubles loopback throughput."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_forever(config: ProxyServerConfig) -> None:
    """Serve until SIGINT or SIGTERM, then close everything (``chaoskit proxy``)."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with ProxyServer(config) as server:
            # Everything built so far (modules, the API app) lives as long as
            # the process: out of the collector's sight, a full collection
            # no longer walks it on the byte path (perf: 9% of a bulk run).
            gc.freeze()
            # One machine-readable line, so a parent process can find the port.
            spin = config.busy_poll_us
            busy = f"busy-polling {spin} µs after traffic; " if spin else ""
            print(
                f"chaoskit proxy: API on {server.url} (seed {server.seed}); "
                f"{busy}Ctrl-C to stop",
                flush=True,
            )
            await stop.wait()
        print(
            "chaoskit proxy: stopped, every listener and connection closed",
            file=sys.stderr,
        )

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(main())
