"""Toxiproxy API client: drives a real Toxiproxy or chaoskit's own server alike.

Only the standard API is used unless the server is chaoskit's (detected through
``/chaoskit/info``), in which case the connection log is available too. Every
change returns an :class:`Undo`: an idempotent coroutine that puts things back
(removing a toxic that is already gone, or enabling a proxy that is already
enabled, is not an error), so the runner can always roll back.

Errors become :class:`~chaoskit.errors.ToxiproxyError`, naming the action, the
proxy and toxic, the HTTP status and the server's own message. Only requests
that never reached the server (connection refused) are retried, so a retry can
never apply a change twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from chaoskit.errors import ToxiproxyError
from chaoskit.faults.base import Undo

__all__ = [
    "ConnectionPage",
    "ConnectionRecord",
    "ProxyInfo",
    "RequestPage",
    "RequestRecord",
    "ToxicInfo",
    "Toxiproxy",
    "Undo",
]

KEEPALIVE_EXPIRY_S = 2.0
"""An idle API connection is not reused after this long. uvicorn (chaoskit's
proxy API) closes idle connections after its keep-alive timeout, httpx's
default expiry was the same 5 s, and a request sent on a connection the server
was closing at that moment failed with ``ReadError`` (a shipped experiment
whose fault came 5 s after its route was created aborted). A request that may
have reached the server is never retried, so the connection must be fresh."""

DEFAULT_URL = "http://127.0.0.1:8474"


@dataclass(frozen=True)
class ToxicInfo:
    """A toxic as the server reports it."""

    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ToxicInfo:
        return cls(
            name=str(data["name"]),
            type=str(data["type"]),
            stream=str(data.get("stream", "downstream")),
            toxicity=float(data.get("toxicity", 1.0)),
            attributes=dict(data.get("attributes") or {}),
        )


@dataclass(frozen=True)
class ProxyInfo:
    """A proxy as the server reports it."""

    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[ToxicInfo, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProxyInfo:
        return cls(
            name=str(data["name"]),
            listen=str(data["listen"]),
            upstream=str(data["upstream"]),
            enabled=bool(data["enabled"]),
            toxics=tuple(ToxicInfo.from_json(t) for t in data.get("toxics") or ()),
        )


@dataclass(frozen=True)
class ConnectionRecord:
    """One connection from chaoskit's connection log (times: CLOCK_MONOTONIC ns)."""

    id: int
    cursor: int
    client: str
    accepted_ns: int
    first_byte_up_ns: int | None
    first_byte_down_ns: int | None
    closed_ns: int | None
    bytes_up: int
    bytes_down: int
    end: str | None
    ended_by: str | None
    error: str | None
    toxics: tuple[str, ...]
    exchanges_ns: tuple[int, ...]
    warning: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ConnectionRecord:
        return cls(
            id=int(data["id"]),
            cursor=int(data["cursor"]),
            client=str(data["client"]),
            accepted_ns=int(data["accepted_ns"]),
            first_byte_up_ns=data.get("first_byte_up_ns"),
            first_byte_down_ns=data.get("first_byte_down_ns"),
            closed_ns=data.get("closed_ns"),
            bytes_up=int(data.get("bytes_up", 0)),
            bytes_down=int(data.get("bytes_down", 0)),
            end=data.get("end"),
            ended_by=data.get("ended_by"),
            error=data.get("error"),
            toxics=tuple(data.get("toxics") or ()),
            exchanges_ns=tuple(data.get("exchanges_ns") or ()),
            warning=data.get("warning"),
        )


@dataclass(frozen=True)
class RequestRecord:
    """One request from chaoskit's request log (times: CLOCK_MONOTONIC ns)."""

    id: int
    cursor: int
    connection: int
    client: str
    method: str
    path: str
    request_id: str | None
    headers: dict[str, str]
    status: int | None
    start_ns: int
    response_ns: int | None
    end_ns: int | None
    retry_after: str | None
    fault: str | None
    outcome: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RequestRecord:
        return cls(
            id=int(data["id"]),
            cursor=int(data["cursor"]),
            connection=int(data.get("connection", 0)),
            client=str(data.get("client", "")),
            method=str(data.get("method", "")),
            path=str(data.get("path", "")),
            request_id=data.get("request_id"),
            headers=dict(data.get("headers") or {}),
            status=data.get("status"),
            start_ns=int(data["start_ns"]),
            response_ns=data.get("response_ns"),
            end_ns=data.get("end_ns"),
            retry_after=data.get("retry_after"),
            fault=data.get("fault"),
            outcome=data.get("outcome"),
        )

    def header(self, name: str) -> str | None:
        """A recorded request header (``request_id`` is the route's id header)."""
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class RequestPage:
    """A read of the request log: records changed after the cursor asked for."""

    cursor: int
    evicted: int
    monotonic_ns: int
    unix_ns: int
    requests: tuple[RequestRecord, ...]


@dataclass(frozen=True)
class ConnectionPage:
    """A read of the connection log: records changed after the cursor asked for."""

    cursor: int
    """Pass this as ``since`` next time to get only later changes."""
    evicted: int
    """Records dropped from the bounded log so far (the reader fell behind if > 0)."""
    monotonic_ns: int
    unix_ns: int
    """A clock pair read together by the server, to map monotonic times to wall time."""
    connections: tuple[ConnectionRecord, ...]


class Toxiproxy:
    """Async client for the Toxiproxy HTTP API.

    Args:
        url: the API's base URL (``http://127.0.0.1:8474`` by default).
        timeout: seconds for each request; the API is local, so keep it short.
        transport: an httpx transport, for tests.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self.url,
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY_S),
            headers={"User-Agent": "chaoskit", "Content-Type": "application/json"},
            trust_env=False,  # the API is local: never route it through an env proxy
        )
        self._is_chaoskit: bool | None = None

    async def __aenter__(self) -> Toxiproxy:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    # -- transport ----------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        action: str,
        *,
        body: object = None,
        proxy: str | None = None,
        toxic: str | None = None,
        ok: tuple[int, ...] = (200,),
        params: dict[str, int] | None = None,
    ) -> httpx.Response:
        content = json.dumps(body).encode() if body is not None else None
        try:
            async for attempt in AsyncRetrying(
                # A refused connection never reached the server: safe to retry.
                retry=retry_if_exception_type(httpx.ConnectError),
                stop=stop_after_attempt(3),
                wait=wait_exponential(multiplier=0.05, max=0.5),
                reraise=True,
            ):
                with attempt:
                    response = await self._client.request(
                        method, path, content=content, params=params
                    )
        except httpx.HTTPError as exc:
            raise ToxiproxyError(
                action,
                f"cannot reach the API: {type(exc).__name__}: {exc}",
                proxy=proxy,
                toxic=toxic,
                url=self.url,
            ) from exc
        if response.status_code not in ok:
            raise ToxiproxyError(
                action,
                _server_message(response),
                status=response.status_code,
                proxy=proxy,
                toxic=toxic,
                url=self.url,
            )
        return response

    # -- server ---------------------------------------------------------------------

    async def version(self) -> str:
        """The server's version string, e.g. ``2.12.0``."""
        response = await self._request("GET", "/version", "version")
        text = response.text.strip()
        try:
            return str(json.loads(text)["version"])
        except (ValueError, KeyError, TypeError):
            return text  # before 2.7.0 the body was the bare version

    async def is_chaoskit(self) -> bool:
        """Whether the server is chaoskit's (and so has the extensions)."""
        if self._is_chaoskit is None:
            try:
                response = await self._client.get("/chaoskit/info")
            except httpx.HTTPError as exc:
                raise ToxiproxyError(
                    "detect server", f"cannot reach the API: {exc}", url=self.url
                ) from exc
            ours = response.status_code == 200
            self._is_chaoskit = ours and response.json().get("server") == "chaoskit"
        return self._is_chaoskit

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        await self._request("POST", "/reset", "reset", ok=(204,))

    # -- proxies ----------------------------------------------------------------------

    async def proxies(self) -> dict[str, ProxyInfo]:
        """Every proxy, by name."""
        response = await self._request("GET", "/proxies", "list proxies")
        return {name: ProxyInfo.from_json(p) for name, p in response.json().items()}

    async def get_proxy(self, name: str) -> ProxyInfo:
        """One proxy, with its toxics."""
        response = await self._request(
            "GET", f"/proxies/{name}", "get proxy", proxy=name
        )
        return ProxyInfo.from_json(response.json())

    async def create_proxy(
        self,
        name: str,
        upstream: str,
        *,
        listen: str = "127.0.0.1:0",
        enabled: bool = True,
    ) -> tuple[ProxyInfo, Undo]:
        """Create a proxy; the undo deletes it."""
        body = {
            "name": name,
            "listen": listen,
            "upstream": upstream,
            "enabled": enabled,
        }
        response = await self._request(
            "POST", "/proxies", "create proxy", body=body, proxy=name, ok=(201,)
        )
        return ProxyInfo.from_json(response.json()), Undo(
            f"delete proxy {name!r}", lambda: self.delete_proxy(name, missing_ok=True)
        )

    async def update_proxy(
        self,
        name: str,
        *,
        listen: str | None = None,
        upstream: str | None = None,
        enabled: bool | None = None,
    ) -> tuple[ProxyInfo, Undo]:
        """Change a proxy's listen, upstream or enabled state; undo restores them."""
        before = await self.get_proxy(name)
        body: dict[str, object] = {}
        if listen is not None:
            body["listen"] = listen
        if upstream is not None:
            body["upstream"] = upstream
        if enabled is not None:
            body["enabled"] = enabled
        # POST, not PATCH: every Toxiproxy version accepts it.
        response = await self._request(
            "POST", f"/proxies/{name}", "update proxy", body=body, proxy=name
        )

        async def restore() -> None:
            await self._request(
                "POST",
                f"/proxies/{name}",
                "restore proxy",
                body={
                    "listen": before.listen,
                    "upstream": before.upstream,
                    "enabled": before.enabled,
                },
                proxy=name,
            )

        return ProxyInfo.from_json(response.json()), Undo(
            f"restore proxy {name!r}", restore
        )

    async def disable(self, name: str) -> Undo:
        """Take a proxy down: refuse new connections, drop live ones; undo enables."""
        await self._request(
            "POST",
            f"/proxies/{name}",
            "disable proxy",
            body={"enabled": False},
            proxy=name,
        )
        return Undo(f"enable proxy {name!r}", lambda: self.enable(name))

    async def enable(self, name: str) -> None:
        """Bring a proxy back up (idempotent)."""
        await self._request(
            "POST",
            f"/proxies/{name}",
            "enable proxy",
            body={"enabled": True},
            proxy=name,
        )

    async def delete_proxy(self, name: str, *, missing_ok: bool = False) -> None:
        """Delete a proxy; with ``missing_ok`` a proxy already gone is fine."""
        ok = (204, 404) if missing_ok else (204,)
        await self._request(
            "DELETE", f"/proxies/{name}", "delete proxy", proxy=name, ok=ok
        )

    async def populate(self, proxies: list[dict[str, object]]) -> list[ProxyInfo]:
        """Create or replace proxies in one call; unchanged ones are left alone."""
        response = await self._request(
            "POST", "/populate", "populate", body=proxies, ok=(201,)
        )
        return [ProxyInfo.from_json(p) for p in response.json().get("proxies") or ()]

    # -- toxics ------------------------------------------------------------------

    async def toxics(self, proxy: str) -> list[ToxicInfo]:
        """A proxy's toxics: upstream chain, then downstream chain."""
        response = await self._request(
            "GET", f"/proxies/{proxy}/toxics", "list toxics", proxy=proxy
        )
        return [ToxicInfo.from_json(t) for t in response.json()]

    async def add_toxic(
        self,
        proxy: str,
        toxic_type: str,
        *,
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
        attributes: dict[str, int] | None = None,
    ) -> tuple[ToxicInfo, Undo]:
        """Add a toxic; it applies to live connections too. The undo removes it."""
        name = name or f"{toxic_type}_{stream}"
        body = {
            "name": name,
            "type": toxic_type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": attributes or {},
        }
        response = await self._request(
            "POST",
            f"/proxies/{proxy}/toxics",
            "add toxic",
            body=body,
            proxy=proxy,
            toxic=name,
        )
        return ToxicInfo.from_json(response.json()), Undo(
            f"remove toxic {name!r} from {proxy!r}",
            lambda: self.remove_toxic(proxy, name, missing_ok=True),
        )

    async def update_toxic(
        self,
        proxy: str,
        name: str,
        *,
        attributes: dict[str, int] | None = None,
        toxicity: float | None = None,
    ) -> tuple[ToxicInfo, Undo]:
        """Change a toxic's attributes (merged) or toxicity; the undo restores them."""
        response = await self._request(
            "GET",
            f"/proxies/{proxy}/toxics/{name}",
            "get toxic",
            proxy=proxy,
            toxic=name,
        )
        before = ToxicInfo.from_json(response.json())
        body: dict[str, object] = {"attributes": attributes or {}}
        if toxicity is not None:
            body["toxicity"] = toxicity
        response = await self._request(
            "POST",
            f"/proxies/{proxy}/toxics/{name}",
            "update toxic",
            body=body,
            proxy=proxy,
            toxic=name,
        )

        async def restore() -> None:
            await self._request(
                "POST",
                f"/proxies/{proxy}/toxics/{name}",
                "restore toxic",
                body={"attributes": before.attributes, "toxicity": before.toxicity},
                proxy=proxy,
                toxic=name,
                ok=(200, 404),  # gone already: nothing to restore
            )

        return ToxicInfo.from_json(response.json()), Undo(
            f"restore toxic {name!r} on {proxy!r}", restore
        )

    async def remove_toxic(
        self, proxy: str, name: str, *, missing_ok: bool = False
    ) -> None:
        """Remove a toxic; with ``missing_ok``, one already gone is fine."""
        ok = (204, 404) if missing_ok else (204,)
        await self._request(
            "DELETE",
            f"/proxies/{proxy}/toxics/{name}",
            "remove toxic",
            proxy=proxy,
            toxic=name,
            ok=ok,
        )

    # -- chaoskit extension ---------------------------------------------------------

    async def connections(
        self, proxy: str, *, since: int = 0, limit: int | None = None
    ) -> ConnectionPage:
        """Connection-log records changed after ``since`` (chaoskit's server only)."""
        if not await self.is_chaoskit():
            raise ToxiproxyError(
                "read connection log",
                "this server is not chaoskit's: the connection log is a chaoskit "
                "extension; run `chaoskit proxy` instead of toxiproxy-server",
                proxy=proxy,
                url=self.url,
            )
        params = {"since": since} if limit is None else {"since": since, "limit": limit}
        response = await self._request(
            "GET",
            f"/chaoskit/proxies/{proxy}/connections",
            "read connection log",
            proxy=proxy,
            params=params,
        )
        data = response.json()
        return ConnectionPage(
            cursor=int(data["cursor"]),
            evicted=int(data["evicted"]),
            monotonic_ns=int(data["clock"]["monotonic_ns"]),
            unix_ns=int(data["clock"]["unix_ns"]),
            connections=tuple(
                ConnectionRecord.from_json(c) for c in data["connections"]
            ),
        )

    async def _require_chaoskit(self, action: str, what: str, proxy: str) -> None:
        if not await self.is_chaoskit():
            raise ToxiproxyError(
                action,
                f"this server is not chaoskit's: {what} is a chaoskit extension "
                "(a real Toxiproxy answers 404); run `chaoskit proxy` instead of "
                "toxiproxy-server",
                proxy=proxy,
                url=self.url,
            )

    async def set_http(
        self,
        proxy: str,
        *,
        protocol: str = "http",
        request_id_header: str | None = None,
        record_headers: tuple[str, ...] = (),
    ) -> None:
        """Make a proxy parse HTTP (new connections), and say which headers to log."""
        await self._require_chaoskit("set protocol", 'protocol = "http"', proxy)
        body: dict[str, object] = {"protocol": protocol}
        if request_id_header:
            body["request_id_header"] = request_id_header
        if record_headers:
            body["record_headers"] = list(record_headers)
        await self._request(
            "POST",
            f"/chaoskit/proxies/{proxy}/http",
            "set protocol",
            body=body,
            proxy=proxy,
        )

    async def add_http_fault(self, proxy: str, fault: dict[str, object]) -> Undo:
        """Add an HTTP fault (chaoskit's server only); the undo removes it."""
        name = str(fault["name"])
        await self._require_chaoskit("add http fault", "an HTTP fault", proxy)
        await self._request(
            "POST",
            f"/chaoskit/proxies/{proxy}/http_faults",
            "add http fault",
            body=fault,
            proxy=proxy,
            toxic=name,
        )
        return Undo(
            f"remove http fault {name!r} from {proxy!r}",
            lambda: self.remove_http_fault(proxy, name),
        )

    async def remove_http_fault(self, proxy: str, name: str) -> None:
        """Remove an HTTP fault (idempotent: one already gone is fine)."""
        await self._request(
            "DELETE",
            f"/chaoskit/proxies/{proxy}/http_faults/{name}",
            "remove http fault",
            proxy=proxy,
            toxic=name,
            ok=(204, 404),
        )

    async def requests(
        self, proxy: str, *, since: int = 0, limit: int | None = None
    ) -> RequestPage:
        """Request-log records changed after ``since`` (chaoskit's server only)."""
        await self._require_chaoskit("read request log", "the request log", proxy)
        params = {"since": since} if limit is None else {"since": since, "limit": limit}
        response = await self._request(
            "GET",
            f"/chaoskit/proxies/{proxy}/requests",
            "read request log",
            proxy=proxy,
            params=params,
        )
        data = response.json()
        return RequestPage(
            cursor=int(data["cursor"]),
            evicted=int(data["evicted"]),
            monotonic_ns=int(data["clock"]["monotonic_ns"]),
            unix_ns=int(data["clock"]["unix_ns"]),
            requests=tuple(RequestRecord.from_json(r) for r in data["requests"]),
        )

    async def refuse(self, name: str, on: bool = True) -> Undo:
        """Down, observed (chaoskit's server only): reset and log every attempt.

        Unlike :meth:`disable` the listener stays open, so each attempt reaches
        the connection log (end ``refused``); clients see ECONNRESET instead of
        ECONNREFUSED. The undo turns it off.
        """
        if not await self.is_chaoskit():
            raise ToxiproxyError(
                "refuse connections",
                "this server is not chaoskit's: observed down is a chaoskit "
                "extension; run `chaoskit proxy` instead of toxiproxy-server",
                proxy=name,
                url=self.url,
            )
        await self._request(
            "POST",
            f"/chaoskit/proxies/{name}/refuse",
            "refuse connections",
            body={"refuse": on},
            proxy=name,
        )
        return Undo(f"accept on proxy {name!r}", lambda: self.accept(name))

    async def accept(self, name: str) -> None:
        """End observed down (idempotent; a missing proxy has nothing to undo)."""
        await self._request(
            "POST",
            f"/chaoskit/proxies/{name}/refuse",
            "accept connections",
            body={"refuse": False},
            proxy=name,
            ok=(200, 404),
        )


def _server_message(response: httpx.Response) -> str:
    """The ``error`` field of a Toxiproxy error body, else the body's text."""
    text = response.text.strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text or response.reason_phrase
    if isinstance(data, dict):
        # Toxiproxy before 2.1.0 used "title" for the message.
        return str(data.get("error") or data.get("title") or text)
    return text
