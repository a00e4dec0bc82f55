"""Health checks for the services chaoskit starts or only watches.

A check is written in the experiment as ``health = "..."``:

* ``http://host:port/path`` or ``https://...``: healthy on a 2xx answer. The
  client ignores proxy variables (``trust_env=False``: a loopback service must
  never be reached through a proxy) and follows no redirects.
* ``tcp://host:port``: healthy once a TCP connection is accepted.

:func:`wait_healthy` probes until healthy or a deadline, each probe bounded by
a short timeout, and reports what the last probe saw ("HTTP 503", "connection
refused", "no answer within 1 s") for the error message when it gives up.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import httpx

from chaoskit.errors import UsageError

__all__ = ["Endpoint", "HealthCheck", "HealthResult", "free_port", "wait_healthy"]

_PROBE_TIMEOUT_S = 1.0
"""The most one probe may take: a healthy local service answers in milliseconds."""
_INTERVAL_S = 0.05
"""Pause between probes: frequent enough that start-up time is measured finely."""


@dataclass(frozen=True)
class Endpoint:
    """Where a service listens: ``host``, ``port`` and ``address`` (``host:port``)."""

    host: str
    port: int

    @property
    def address(self) -> str:
        """``"host:port"`` (IPv6 hosts in brackets), the form experiment files use."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @classmethod
    def parse(cls, text: str, *, owner: str) -> Endpoint:
        """Parse ``"host:port"``; a UsageError names ``owner`` and the form wanted."""
        host, sep, port = text.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise UsageError(
                f"{owner}: address {text!r} is not host:port "
                "(e.g. '127.0.0.1:8000', port 1..65535)"
            )
        return cls(host, int(port))


@dataclass(frozen=True)
class HealthCheck:
    """A parsed ``health`` setting: an HTTP(S) URL or ``tcp://host:port``."""

    url: str
    kind: Literal["http", "tcp"]
    endpoint: Endpoint

    @classmethod
    def parse(cls, url: str, *, owner: str) -> HealthCheck:
        """Parse a ``health`` setting; a UsageError names ``owner`` and the forms."""
        allowed = "allowed: 'http://host:port/path', 'https://...', 'tcp://host:port'"
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise UsageError(
                f"{owner}: health {url!r} is not a URL ({exc}); {allowed}"
            ) from None
        if parts.scheme not in ("http", "https", "tcp") or not parts.hostname:
            raise UsageError(f"{owner}: health {url!r} is not supported; {allowed}")
        if parts.scheme == "tcp":
            if port is None or parts.path not in ("", "/"):
                raise UsageError(
                    f"{owner}: health {url!r} needs a port and no path; {allowed}"
                )
            return cls(url, "tcp", Endpoint(parts.hostname, port))
        default_port = 443 if parts.scheme == "https" else 80
        return cls(url, "http", Endpoint(parts.hostname, port or default_port))

    async def probe(
        self, within: float, client: httpx.AsyncClient | None = None
    ) -> str | None:
        """One probe: None when healthy, else what it saw (for error messages)."""
        if self.kind == "tcp":
            return await _probe_tcp(self.endpoint, within)
        if client is None:
            async with _http_client() as own:
                return await _probe_http(own, self.url, within)
        return await _probe_http(client, self.url, within)


@dataclass(frozen=True)
class HealthResult:
    """How waiting for health ended."""

    healthy: bool
    last_seen: str
    """What the last probe saw: ``"HTTP 200"``, ``"connection refused"``, ..."""
    probes: int


async def wait_healthy(
    check: HealthCheck,
    deadline: float,
    *,
    between: Callable[[], None] | None = None,
) -> HealthResult:
    """Probe ``check`` until it passes or ``time.monotonic()`` reaches ``deadline``.

    ``between`` runs before each probe and may raise to stop waiting (a process
    service raises when its process has exited).
    """
    last_seen = "not probed yet"
    probes = 0
    async with _http_client() as client:
        while True:
            if between is not None:
                between()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return HealthResult(False, last_seen, probes)
            within = min(_PROBE_TIMEOUT_S, max(remaining, 0.05))
            seen = await check.probe(within, client)
            probes += 1
            if seen is None:
                return HealthResult(True, _ok(check), probes)
            last_seen = seen
            await asyncio.sleep(min(_INTERVAL_S, max(deadline - time.monotonic(), 0)))


def _ok(check: HealthCheck) -> str:
    return "a 2xx answer" if check.kind == "http" else "connection accepted"


def _http_client() -> httpx.AsyncClient:
    # No keep-alive: each probe is a fresh connection, as a new client would make.
    return httpx.AsyncClient(
        trust_env=False,
        follow_redirects=False,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


async def _probe_http(client: httpx.AsyncClient, url: str, within: float) -> str | None:
    try:
        response = await client.get(url, timeout=within)
    except httpx.TimeoutException:
        return f"no answer within {within:g} s"
    except httpx.ConnectError as exc:
        return _connect_failure(exc)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


async def _probe_tcp(endpoint: Endpoint, within: float) -> str | None:
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(endpoint.host, endpoint.port), within
        )
    except TimeoutError:
        return f"no answer within {within:g} s"
    except OSError as exc:
        return _connect_failure(exc)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None


def _connect_failure(exc: BaseException) -> str:
    """ "connection refused" when that is what happened underneath, else the text."""
    todo: list[BaseException] = [exc]
    seen: set[int] = set()
    while todo:
        cause = todo.pop()
        if id(cause) in seen:
            continue
        seen.add(id(cause))
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        # anyio raises "All connection attempts failed" from a group of them.
        if isinstance(cause, BaseExceptionGroup):
            todo.extend(cause.exceptions)
        todo.extend(e for e in (cause.__cause__, cause.__context__) if e is not None)
    return f"cannot connect ({exc or type(exc).__name__})"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (the kernel's pick: bind 0, read, close).

    Another process may take it before it is used; callers that bind it later
    retry with a new one when that happens.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
