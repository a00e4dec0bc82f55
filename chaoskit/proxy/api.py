"""The Toxiproxy HTTP API, byte for byte where clients can tell, on Starlette.

Routes, status codes, JSON shapes and error bodies follow ``shared/TOXIPROXY.md``
section 2. Request bodies are decoded the way Go's ``encoding/json`` does it: only
the first JSON value is read, object keys match case-insensitively, ``null`` keeps
the default, and a value of the wrong type is a 400.

chaoskit's own extension lives under ``/chaoskit/`` and nowhere else.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chaoskit.proxy.httpfaults import HttpFaultError, parse_http_fault
from chaoskit.proxy.state import ApiError, Proxy, ProxyCollection
from chaoskit.proxy.toxics import json_kind

__all__ = ["TOXIPROXY_VERSION", "build_app"]

TOXIPROXY_VERSION = "2.12.0"
"""The Toxiproxy release whose API and semantics we match."""

Handler = Callable[[Request], Awaitable[Response]]


# --- wire format -----------------------------------------------------------------


def _json(body: object, status: int = 200) -> Response:
    # Go writes compact JSON with no trailing newline.
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return Response(text, status_code=status, media_type="application/json")


def _error(error: ApiError) -> Response:
    # Go's error helper sends the JSON as text/plain, with a newline.
    text = json.dumps(
        {"error": error.message, "status": error.status}, separators=(",", ":")
    )
    return Response(
        text + "\n",
        status_code=error.status,
        media_type="text/plain; charset=utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
    )


async def _body(request: Request, go_type: str, *, array: bool = False) -> Any:
    """The first JSON value of the body, checked to be an object (or an array)."""
    raw = (await request.body()).decode("utf-8", errors="replace").lstrip()
    if not raw:
        raise ApiError(400, "bad request body: EOF")
    try:
        value, _ = json.JSONDecoder().raw_decode(raw)
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"bad request body: {exc.msg.lower()}") from None
    wanted = list if array else dict
    if value is not None and not isinstance(value, wanted):
        raise ApiError(
            400,
            f"bad request body: json: cannot unmarshal {json_kind(value)} "
            f"into Go value of type {go_type}",
        )
    return value if value is not None else wanted()


def _field(obj: dict[str, Any], name: str, kind: type, go_struct: str) -> Any:
    """A field by case-insensitive key; None when missing or null."""
    if name in obj:
        value = obj[name]
    else:
        lowered = {k.lower(): k for k in obj}
        value = obj[lowered[name]] if name in lowered else None
    if value is None:
        return None
    if not _is_kind(value, kind):
        raise ApiError(
            400,
            f"bad request body: json: cannot unmarshal {json_kind(value)} "
            f"into Go struct field {go_struct}.{name} of type {_GO_KINDS[kind]}",
        )
    return float(value) if kind is float else value


_GO_KINDS = {
    str: "string",
    bool: "bool",
    float: "float32",
    dict: "map[string]interface {}",
}


def _is_kind(value: object, kind: type) -> bool:
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is bool:
        return isinstance(value, bool)
    return isinstance(value, kind)


# --- handlers ----------------------------------------------------------------------


class _Api:
    """Request handlers over one :class:`ProxyCollection`."""

    def __init__(self, proxies: ProxyCollection, seed: int) -> None:
        self.proxies = proxies
        self.seed = seed

    def _proxy(self, request: Request) -> Proxy:
        return self.proxies.get(request.path_params["proxy"])

    async def list_proxies(self, request: Request) -> Response:
        return _json({p.name: p.to_json() for p in self.proxies.sorted()})

    async def create_proxy(self, request: Request) -> Response:
        body = await _body(request, "proxy.Proxy")
        name, listen, upstream, enabled = self._proxy_fields(body)
        if not name:
            raise ApiError(400, "missing required field: name")
        if not upstream:
            raise ApiError(400, "missing required field: upstream")
        async with self.proxies.lock:
            proxy = await self.proxies.create(
                name, listen or "127.0.0.1:0", upstream, enabled is not False
            )
        return _json(proxy.to_json(), 201)

    @staticmethod
    def _proxy_fields(
        body: dict[str, Any],
    ) -> tuple[str | None, str | None, str | None, bool | None]:
        return (
            _field(body, "name", str, "Proxy"),
            _field(body, "listen", str, "Proxy"),
            _field(body, "upstream", str, "Proxy"),
            _field(body, "enabled", bool, "Proxy"),
        )

    async def populate(self, request: Request) -> Response:
        try:
            entries = await _body(request, "[]api.proxyJson", array=True)
            self._check_populate(entries)
        except ApiError as exc:
            body = {"error": exc.message, "status": exc.status, "proxies": None}
            return _json(body, exc.status)
        done: list[dict[str, object]] = []
        async with self.proxies.lock:
            for entry in entries:
                name, listen, upstream, enabled = self._proxy_fields(entry)
                try:
                    proxy = await self._populate_one(
                        str(name), listen, str(upstream), enabled
                    )
                except ApiError as exc:
                    body = {"error": exc.message, "status": exc.status, "proxies": done}
                    return _json(body, exc.status)
                done.append(proxy.to_json())
        return _json({"proxies": done}, 201)

    def _check_populate(self, entries: list[Any]) -> None:
        """Every entry is checked before anything is created (1-based indexes)."""
        for index, entry in enumerate(entries, start=1):
            if not isinstance(entry, dict):
                raise ApiError(
                    400,
                    f"bad request body: json: cannot unmarshal {json_kind(entry)} "
                    "into Go value of type api.proxyJson",
                )
            name, _, upstream, _ = self._proxy_fields(entry)
            if not name:
                raise ApiError(400, f"missing required field: name at proxy {index}")
            if not upstream:
                raise ApiError(
                    400, f"missing required field: upstream at proxy {index}"
                )

    async def _populate_one(
        self, name: str, listen: str | None, upstream: str, enabled: bool | None
    ) -> Proxy:
        listen = listen or "127.0.0.1:0"
        existing = self.proxies.proxies.get(name)
        if existing is not None:
            if existing.upstream == upstream and self.proxies.same_listen(
                existing, listen
            ):
                return existing  # unchanged: toxics, connections and state kept
            await self.proxies.delete(existing)
        return await self.proxies.create(name, listen, upstream, enabled is not False)

    async def get_proxy(self, request: Request) -> Response:
        return _json(self._proxy(request).to_json())

    async def update_proxy(self, request: Request) -> Response:
        proxy = self._proxy(request)
        body = await _body(request, "proxy.Proxy")
        _, listen, upstream, enabled = self._proxy_fields(body)
        async with self.proxies.lock:
            await self.proxies.update(proxy, listen, upstream, enabled)
        return _json(proxy.to_json())

    async def delete_proxy(self, request: Request) -> Response:
        proxy = self._proxy(request)
        async with self.proxies.lock:
            await self.proxies.delete(proxy)
        return Response(status_code=204)

    async def list_toxics(self, request: Request) -> Response:
        return _json(self._proxy(request).toxics_json())

    async def create_toxic(self, request: Request) -> Response:
        proxy = self._proxy(request)
        body = await _body(request, "toxics.ToxicWrapper")
        stream = _field(body, "stream", str, "ToxicWrapper")
        if stream == "":
            raise ApiError(
                400, "stream was invalid, can be either upstream or downstream"
            )
        attributes = _field(body, "attributes", dict, "ToxicWrapper") or {}
        async with self.proxies.lock:
            toxic = self.proxies.add_toxic(
                proxy,
                name=_field(body, "name", str, "ToxicWrapper"),
                toxic_type=_field(body, "type", str, "ToxicWrapper"),
                stream=stream,
                toxicity=_field(body, "toxicity", float, "ToxicWrapper"),
                attributes=attributes,
            )
        return _json(toxic.to_json())

    async def get_toxic(self, request: Request) -> Response:
        proxy = self._proxy(request)
        return _json(
            self.proxies.find_toxic(proxy, request.path_params["toxic"]).to_json()
        )

    async def update_toxic(self, request: Request) -> Response:
        proxy = self._proxy(request)
        toxic = self.proxies.find_toxic(proxy, request.path_params["toxic"])
        body = await _body(request, "toxics.ToxicWrapper")
        async with self.proxies.lock:
            updated = await self.proxies.update_toxic(
                proxy,
                toxic,
                toxicity=_field(body, "toxicity", float, "ToxicWrapper"),
                attributes=_field(body, "attributes", dict, "ToxicWrapper") or {},
            )
        return _json(updated.to_json())

    async def delete_toxic(self, request: Request) -> Response:
        proxy = self._proxy(request)
        toxic = self.proxies.find_toxic(proxy, request.path_params["toxic"])
        async with self.proxies.lock:
            await proxy.remove_toxic(toxic)
        return Response(status_code=204)

    async def reset(self, request: Request) -> Response:
        async with self.proxies.lock:
            await self.proxies.reset()
        return Response(status_code=204)

    async def get_version(self, request: Request) -> Response:
        body = json.dumps({"version": TOXIPROXY_VERSION}) + "\n"
        return Response(body, media_type="application/json;charset=utf-8")

    # -- chaoskit extension ---------------------------------------------------------

    async def info(self, request: Request) -> Response:
        try:
            ours = version("chaoskit")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            ours = "unknown"
        return _json(
            {
                "server": "chaoskit",
                "version": ours,
                "toxiproxy_api": TOXIPROXY_VERSION,
                "seed": self.seed,
                "pid": os.getpid(),
                "extensions": ["connections", "refuse", "http"],
            }
        )

    async def connections(self, request: Request) -> Response:
        proxy = self._proxy(request)
        since = _query_int(request, "since") or 0
        limit = _query_int(request, "limit")
        records = proxy.log.since(since, limit)
        out = []
        for record in records:
            conn = proxy.connections.get(record.id)
            live = conn is not None and record.end is None
            out.append(
                record.to_json(conn.up, conn.down)
                if live and conn
                else record.to_json()
            )
        return _json(
            {
                "proxy": proxy.name,
                "cursor": records[-1].cursor if records else since,
                "latest": proxy.log.cursor,
                "evicted": proxy.log.evicted,
                "refusing": proxy.refusing,
                "capacity": proxy.log.capacity,
                "clock": {
                    "monotonic_ns": time.monotonic_ns(),
                    "unix_ns": time.time_ns(),
                },
                "connections": out,
            }
        )

    async def get_http(self, request: Request) -> Response:
        proxy = self._proxy(request)
        return _json(_http_json(proxy))

    async def set_http(self, request: Request) -> Response:
        """Set a proxy's protocol (``tcp`` or ``http``) and request-log headers."""
        body = await _body(request, "HttpSettings")
        protocol = _field(body, "protocol", str, "HttpSettings")
        header = _field(body, "request_id_header", str, "HttpSettings")
        record = body.get("record_headers")
        if protocol is not None and protocol not in ("tcp", "http"):
            raise ApiError(400, f"protocol: {protocol!r} is not tcp or http")
        if record is not None and (
            not isinstance(record, list) or not all(isinstance(h, str) for h in record)
        ):
            raise ApiError(400, "record_headers: a list of header names")
        async with self.proxies.lock:
            proxy = self._proxy(request)
            if protocol is not None:
                # New connections only: a live one keeps the view it started with.
                proxy.protocol = protocol
            if header:
                proxy.http_options.request_id_header = header.lower()
                proxy.http_options.record(header)
            proxy.http_options.record(*(record or ()))
        return _json(_http_json(proxy))

    async def list_http_faults(self, request: Request) -> Response:
        proxy = self._proxy(request)
        return _json([f.to_json() for f in proxy.http_faults.faults])

    async def create_http_fault(self, request: Request) -> Response:
        body = await _body(request, "HttpFault")
        async with self.proxies.lock:
            proxy = self._proxy(request)
            if proxy.protocol != "http":
                raise ApiError(
                    409,
                    f"proxy {proxy.name} is not an http proxy: set its protocol "
                    "to http first (POST /chaoskit/proxies/{proxy}/http)",
                )
            try:
                fault = parse_http_fault(body)
                proxy.http_faults.add(fault)
            except HttpFaultError as exc:
                status = 409 if "already exists" in str(exc) else 400
                raise ApiError(status, str(exc)) from None
        return _json(fault.to_json())

    async def delete_http_fault(self, request: Request) -> Response:
        async with self.proxies.lock:
            proxy = self._proxy(request)
            if proxy.http_faults.remove(request.path_params["fault"]) is None:
                raise ApiError(404, "http fault not found")
        return Response(status_code=204)

    async def requests(self, request: Request) -> Response:
        """The request log (``protocol = "http"`` proxies), read by cursor."""
        proxy = self._proxy(request)
        since = _query_int(request, "since") or 0
        records = proxy.requests.since(since, _query_int(request, "limit"))
        return _json(
            {
                "proxy": proxy.name,
                "protocol": proxy.protocol,
                "cursor": records[-1].cursor if records else since,
                "latest": proxy.requests.cursor,
                "evicted": proxy.requests.evicted,
                "capacity": proxy.requests.capacity,
                "clock": {
                    "monotonic_ns": time.monotonic_ns(),
                    "unix_ns": time.time_ns(),
                },
                "requests": [r.to_json() for r in records],
            }
        )

    async def refuse(self, request: Request) -> Response:
        """Turn "down, observed" on or off (see :meth:`Proxy.refuse`)."""
        body = await _body(request, "RefuseRequest")
        on = _field(body, "refuse", bool, "RefuseRequest")
        async with self.proxies.lock:
            proxy = self._proxy(request)
            if on is None:
                raise ApiError(400, "refuse: a boolean is required")
            if on and not proxy.enabled:
                raise ApiError(409, f"proxy {proxy.name} is disabled: nothing listens")
            proxy.refuse(bool(on))
        return _json({"proxy": proxy.name, "refusing": proxy.refusing})


def _http_json(proxy: Proxy) -> dict[str, object]:
    return {
        "proxy": proxy.name,
        "protocol": proxy.protocol,
        **proxy.http_options.to_json(),
        "faults": [f.to_json() for f in proxy.http_faults.faults],
    }


def _query_int(request: Request, name: str) -> int | None:
    text = request.query_params.get(name)
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise ApiError(400, f"bad query: {name}={text!r} is not an integer") from None
    if value < 0:
        raise ApiError(400, f"bad query: {name}={value} must be >= 0")
    return value


def _guarded(handler: Handler) -> Handler:
    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return _error(exc)

    run.__name__ = handler.__name__
    return run


class _ToxiproxyHeaders:
    """Browser block (403) and the request-id header on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._counter = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self._counter += 1
        request_id = f"{time.time_ns():x}{os.getpid():x}{self._counter:06x}".encode()
        headers = dict(scope["headers"])
        if headers.get(b"user-agent", b"").startswith(b"Mozilla/"):
            # Toxiproxy refuses browsers, so a web page cannot drive it (CSRF).
            # Its request-id middleware runs first, so the 403 carries an id too.
            response = Response(
                "User agent not allowed\n",
                403,
                media_type="text/plain; charset=utf-8",
                headers={"X-Toxiproxy-Request-Id": request_id.decode()},
            )
            await response(scope, receive, send)
            return

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-toxiproxy-request-id", request_id),
                ]
            await send(message)

        await self.app(scope, receive, send_with_id)


async def _not_found(request: Request, exc: Exception) -> Response:
    # gorilla/mux's defaults: a text 404 for unknown paths, an empty 405.
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        return Response(status_code=405)
    return Response("404 page not found\n", 404, media_type="text/plain; charset=utf-8")


def build_app(proxies: ProxyCollection, seed: int) -> ASGIApp:
    """The ASGI app serving the Toxiproxy API (plus ``/chaoskit/``) over ``proxies``."""
    api = _Api(proxies, seed)
    update = ["POST", "PATCH"]  # POST is deprecated upstream but clients still use it
    routes = [
        Route("/proxies", _guarded(api.list_proxies), methods=["GET"]),
        Route("/proxies", _guarded(api.create_proxy), methods=["POST"]),
        Route("/populate", _guarded(api.populate), methods=["POST"]),
        Route("/reset", _guarded(api.reset), methods=["POST"]),
        Route("/version", _guarded(api.get_version), methods=["GET"]),
        Route("/proxies/{proxy}", _guarded(api.get_proxy), methods=["GET"]),
        Route("/proxies/{proxy}", _guarded(api.update_proxy), methods=update),
        Route("/proxies/{proxy}", _guarded(api.delete_proxy), methods=["DELETE"]),
        Route("/proxies/{proxy}/toxics", _guarded(api.list_toxics), methods=["GET"]),
        Route("/proxies/{proxy}/toxics", _guarded(api.create_toxic), methods=["POST"]),
        Route(
            "/proxies/{proxy}/toxics/{toxic}", _guarded(api.get_toxic), methods=["GET"]
        ),
        Route(
            "/proxies/{proxy}/toxics/{toxic}",
            _guarded(api.update_toxic),
            methods=update,
        ),
        Route(
            "/proxies/{proxy}/toxics/{toxic}",
            _guarded(api.delete_toxic),
            methods=["DELETE"],
        ),
        Route("/chaoskit/info", _guarded(api.info), methods=["GET"]),
        Route(
            "/chaoskit/proxies/{proxy}/connections",
            _guarded(api.connections),
            methods=["GET"],
        ),
        Route(
            "/chaoskit/proxies/{proxy}/http", _guarded(api.get_http), methods=["GET"]
        ),
        Route(
            "/chaoskit/proxies/{proxy}/http", _guarded(api.set_http), methods=["POST"]
        ),
        Route(
            "/chaoskit/proxies/{proxy}/http_faults",
            _guarded(api.list_http_faults),
            methods=["GET"],
        ),
        Route(
            "/chaoskit/proxies/{proxy}/http_faults",
            _guarded(api.create_http_fault),
            methods=["POST"],
        ),
        Route(
            "/chaoskit/proxies/{proxy}/http_faults/{fault}",
            _guarded(api.delete_http_fault),
            methods=["DELETE"],
        ),
        Route(
            "/chaoskit/proxies/{proxy}/requests",
            _guarded(api.requests),
            methods=["GET"],
        ),
        Route(
            "/chaoskit/proxies/{proxy}/refuse",
            _guarded(api.refuse),
            methods=["POST"],
        ),
    ]
    for route in routes:
        # Starlette answers HEAD on every GET route; gorilla/mux gives 405.
        if route.methods is not None:
            route.methods.discard("HEAD")
    app = Starlette(
        routes=routes,
        exception_handlers={404: _not_found, 405: _not_found},
    )
    # "/proxies/" is a 404 for gorilla/mux, not a redirect to "/proxies".
    app.router.redirect_slashes = False
    return _ToxiproxyHeaders(app)
