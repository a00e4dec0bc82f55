"""The pytest plugin's machinery: a chaoskit proxy route in front of any host:port.

The fixtures ``chaoskit_proxy`` and ``chaoskit_route`` live in the top-level
module ``_chaoskit_pytestplugin`` (the ``pytest11`` entry point), which imports
this module only when a test asks for one: pytest loads the entry point in every
run where chaoskit is installed, and importing ``chaoskit`` costs a third of a
second (pydantic, the experiment model). Hypothesis splits its plugin the same way. ::

    def test_client_backs_off(chaoskit_route):
        route = chaoskit_route("127.0.0.1:5432")   # -> route.host, route.port
        with route.down(), route.attempts() as a:
            call_my_client(route.port)
        assert a.count <= 5
        assert a.backs_off(factor=1.5)

On an HTTP route the proxy sees requests; HTTP faults are blocks too, and the
request log gives the attempts per request id::

    def test_client_retries_503(chaoskit_route):
        route = chaoskit_route("127.0.0.1:8000", protocol="http")
        with route.http_status(503, first=2), route.requests() as r:
            assert my_client(f"http://{route.listen}").status_code == 200
        assert r.attempts("job-1") == 3            # X-Request-Id: job-1
        assert r.honours_retry_after() is None     # or a Broken with figures

Every ``down()``, ``toxic()`` and HTTP fault is undone when its block exits,
also when the test body fails; routes are deleted after the test, the proxy
(in-process, on its own thread and event loop) after the session.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

    import httpx

    from chaoskit.checks.sequences import Broken, RetrySequence
    from chaoskit.proxy.server import ProxyServer

__all__ = ["Attempts", "ChaoskitProxy", "Requests", "Route"]


class ChaoskitProxy:
    """chaoskit's embedded proxy on a thread of this process, spoken to over HTTP."""

    def __init__(self) -> None:
        from chaoskit.proxy.server import (
            ProxyServer,
            ProxyServerConfig,
            new_event_loop,
        )

        self._loop: asyncio.AbstractEventLoop = new_event_loop()
        self._server: ProxyServer = ProxyServer(ProxyServerConfig(port=0))
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="chaoskit-proxy", daemon=True
        )
        self._client: httpx.Client | None = None
        self._names = itertools.count(1)

    def start(self) -> None:
        import asyncio

        import httpx

        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._server.start(), self._loop).result(30)
        self._client = httpx.Client(base_url=self._server.url, timeout=10)

    def close(self) -> None:
        import asyncio

        if self._client is not None:
            self._client.close()
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._server.stop(), self._loop).result(30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()

    @property
    def url(self) -> str:
        """The Toxiproxy-compatible API's base URL."""
        return self._server.url

    def request(self, method: str, path: str, body: object = None) -> Any:
        """One API call; raises on any status but 2xx (with the server's message)."""
        assert self._client is not None, "proxy not started"  # noqa: S101
        response = self._client.request(method, path, json=body)
        if response.status_code >= 300:
            raise RuntimeError(
                f"chaoskit proxy: {method} {path}: {response.status_code} "
                f"{response.text.strip()}"
            )
        return response.json() if response.content else None

    def unique(self, prefix: str) -> str:
        """A name no route or toxic of this proxy has had."""
        return f"{prefix}{next(self._names)}"

    def route(
        self,
        upstream: str,
        name: str | None = None,
        *,
        protocol: str = "tcp",
        request_id_header: str = "X-Request-Id",
    ) -> Route:
        """A new proxy in front of ``upstream`` (``host:port``), on a free port.

        ``protocol="http"``: the proxy parses HTTP/1.1 on it (HTTP faults and
        the request log, which records ``request_id_header`` per request).
        """
        name = name or self.unique("route")
        info = self.request(
            "POST",
            "/proxies",
            {"name": name, "listen": "127.0.0.1:0", "upstream": upstream},
        )
        if protocol != "tcp":
            self.request(
                "POST",
                f"/chaoskit/proxies/{name}/http",
                {"protocol": protocol, "request_id_header": request_id_header},
            )
        host, _, port = str(info["listen"]).rpartition(":")
        return Route(self, name, upstream, host, int(port))


class Route:
    """One proxy route: ``host:port`` to connect to instead of the upstream."""

    def __init__(
        self, proxy: ChaoskitProxy, name: str, upstream: str, host: str, port: int
    ) -> None:
        self.proxy = proxy
        self.name = name
        self.upstream = upstream
        self.host = host
        self.port = port

    @property
    def listen(self) -> str:
        return f"{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"<Route {self.name} {self.listen} -> {self.upstream}>"

    @contextlib.contextmanager
    def down(self, *, observe: bool = True) -> Iterator[Route]:
        """The dependency is down for the block.

        ``observe=True`` (default here, because observing attempts is what the
        plugin is for) keeps accepting and resets each attempt at once, so
        :meth:`attempts` sees it: clients get ECONNRESET. ``observe=False`` is
        Toxiproxy's ``enabled=false``: the kernel refuses (ECONNREFUSED) and no
        attempt is logged.
        """
        path = f"/proxies/{self.name}"
        if observe:
            self.proxy.request("POST", f"/chaoskit{path}/refuse", {"refuse": True})
        else:
            self.proxy.request("POST", path, {"enabled": False})
        try:
            yield self
        finally:
            if observe:
                self.proxy.request("POST", f"/chaoskit{path}/refuse", {"refuse": False})
            else:
                self.proxy.request("POST", path, {"enabled": True})

    @contextlib.contextmanager
    def toxic(
        self,
        kind: str,
        *,
        stream: str = "downstream",
        toxicity: float = 1.0,
        **attributes: int,
    ) -> Iterator[Route]:
        """A Toxiproxy toxic for the block (attributes in Toxiproxy's units: ms)."""
        name = self.proxy.unique(f"{kind}_{stream}_")
        self.proxy.request(
            "POST",
            f"/proxies/{self.name}/toxics",
            {
                "name": name,
                "type": kind,
                "stream": stream,
                "toxicity": toxicity,
                "attributes": attributes,
            },
        )
        try:
            yield self
        finally:
            self.proxy.request("DELETE", f"/proxies/{self.name}/toxics/{name}")

    @contextlib.contextmanager
    def _http_fault(
        self,
        kind: str,
        settings: dict[str, object],
        *,
        method: str | list[str] | None,
        path: str | None,
        headers_match: dict[str, str] | None,
        first: int | None = None,
        every: int | None = None,
        toxicity: float = 1.0,
    ) -> Iterator[Route]:
        match: dict[str, object] = {}
        if method is not None:
            match["method"] = method
        if path is not None:
            match["path"] = path
        if headers_match:
            match["headers"] = headers_match
        name = self.proxy.unique(f"http_{kind}_")
        body = {"name": name, "type": kind, "match": match, "toxicity": toxicity}
        if first is not None:
            body["first"] = first
        if every is not None:
            body["every"] = every
        self.proxy.request(
            "POST", f"/chaoskit/proxies/{self.name}/http_faults", body | settings
        )
        try:
            yield self
        finally:
            with contextlib.suppress(RuntimeError):  # gone already (a reset)
                self.proxy.request(
                    "DELETE", f"/chaoskit/proxies/{self.name}/http_faults/{name}"
                )

    def http_status(
        self,
        status: int = 503,
        *,
        first: int | None = None,
        every: int | None = None,
        toxicity: float = 1.0,
        body: str = "",
        headers: dict[str, str] | None = None,
        method: str | list[str] | None = None,
        path: str | None = None,
        headers_match: dict[str, str] | None = None,
    ) -> contextlib.AbstractContextManager[Route]:
        """Answer ``status`` instead of forwarding, for the block (HTTP routes).

        ``first=N``: the first N matched requests only; ``every=N``: every N-th;
        ``toxicity``: the share of matched requests (seeded per request).
        ``method``, ``path`` (a regex) and ``headers_match`` select requests.
        """
        return self._http_fault(
            "status",
            {"status": status, "body": body, "headers": headers or {}},
            method=method,
            path=path,
            headers_match=headers_match,
            first=first,
            every=every,
            toxicity=toxicity,
        )

    def http_delay(
        self,
        delay: float,
        *,
        jitter: float = 0.0,
        where: str = "request",
        first: int | None = None,
        every: int | None = None,
        toxicity: float = 1.0,
        method: str | list[str] | None = None,
        path: str | None = None,
        headers_match: dict[str, str] | None = None,
    ) -> contextlib.AbstractContextManager[Route]:
        """Hold matched requests (``where="request"``) or their responses, seconds."""
        return self._http_fault(
            "delay",
            {
                "delay_ms": round(delay * 1000),
                "jitter_ms": round(jitter * 1000),
                "where": where,
            },
            method=method,
            path=path,
            headers_match=headers_match,
            first=first,
            every=every,
            toxicity=toxicity,
        )

    def http_abort(
        self,
        abort: str = "reset",
        *,
        first: int | None = None,
        every: int | None = None,
        toxicity: float = 1.0,
        method: str | list[str] | None = None,
        path: str | None = None,
        headers_match: dict[str, str] | None = None,
    ) -> contextlib.AbstractContextManager[Route]:
        """Cut matched exchanges: ``"headers"``, ``"body"`` (a truncated response)
        or ``"reset"``."""
        return self._http_fault(
            "abort",
            {"abort": abort},
            method=method,
            path=path,
            headers_match=headers_match,
            first=first,
            every=every,
            toxicity=toxicity,
        )

    def http_throttle(
        self,
        rate: float,
        *,
        retry_after: int | None = None,
        method: str | list[str] | None = None,
        path: str | None = None,
        headers_match: dict[str, str] | None = None,
    ) -> contextlib.AbstractContextManager[Route]:
        """Above ``rate`` matched requests/s, answer 429 with ``Retry-After``."""
        settings: dict[str, object] = {"rate": rate}
        if retry_after is not None:
            settings["retry_after"] = retry_after
        return self._http_fault(
            "throttle",
            settings,
            method=method,
            path=path,
            headers_match=headers_match,
        )

    @contextlib.contextmanager
    def requests(self, *, header: str | None = None) -> Iterator[Requests]:
        """The requests made through an HTTP route during the block.

        Grouped by the route's request id header, or by ``header`` (which the
        proxy then records too).
        """
        if header is not None:
            self.proxy.request(
                "POST",
                f"/chaoskit/proxies/{self.name}/http",
                {"record_headers": [header]},
            )
        start = self.proxy.request(
            "GET", f"/chaoskit/proxies/{self.name}/requests?limit=0"
        )
        observed = Requests(self, int(start["latest"]), header)
        try:
            yield observed
        finally:
            observed.close()

    @contextlib.contextmanager
    def attempts(
        self, *, gap: float = 5.0, key: Callable[[str], str] | None = None
    ) -> Iterator[Attempts]:
        """The connection attempts made through the route during the block."""
        start = self.proxy.request(
            "GET", f"/chaoskit/proxies/{self.name}/connections?limit=0"
        )
        observed = Attempts(self, int(start["latest"]), gap, key)
        try:
            yield observed
        finally:
            observed.close()

    def delete(self) -> None:
        self.proxy.request("DELETE", f"/proxies/{self.name}")


def _read_log(
    route: Route, log: str, since: int, into: dict[int, dict[str, Any]]
) -> int:
    """Read a proxy log (``connections`` or ``requests``) after ``since`` into
    ``into`` (latest record wins); the cursor to read from next time."""
    while True:
        page = route.proxy.request(
            "GET", f"/chaoskit/proxies/{route.name}/{log}?since={since}&limit=1000"
        )
        for record in page[log]:
            into[int(record["id"])] = record
        if not page[log]:
            return since
        since = int(page["cursor"])


class Attempts:
    """Attempts seen at the proxy; grouped and judged by ``checks.sequences``."""

    def __init__(
        self,
        route: Route,
        since: int,
        gap: float,
        key: Callable[[str], str] | None,
    ) -> None:
        from chaoskit.checks.sequences import Attempt, client_host

        self._route = route
        self._since = since
        self._gap = gap
        self._key = key or client_host
        self._records: dict[int, dict[str, Any]] = {}
        self._closed = False
        self._attempt = Attempt

    def _collect(self) -> None:
        if not self._closed:
            self._since = _read_log(
                self._route, "connections", self._since, self._records
            )

    def close(self) -> None:
        """Stop observing (the block ended): what is known now is final."""
        self._collect()
        self._closed = True

    @property
    def _attempts(self) -> list[Any]:
        from chaoskit.checks.sequences import connection_attempts

        self._collect()
        out = []
        for record in self._records.values():
            for at_ns, ok in connection_attempts(
                accepted_ns=record["accepted_ns"],
                exchanges_ns=record["exchanges_ns"],
                bytes_down=record["bytes_down"],
                end=record["end"],
            ):
                out.append(self._attempt(at_ns / 1e9, self._key(record["client"]), ok))
        return sorted(out, key=lambda a: a.at_s)

    @property
    def count(self) -> int:
        """How many attempts reached the proxy."""
        return len(self._attempts)

    @property
    def times(self) -> list[float]:
        """Seconds from the first attempt to each attempt."""
        attempts = self._attempts
        return [a.at_s - attempts[0].at_s for a in attempts]

    @property
    def intervals(self) -> list[float]:
        """Seconds between consecutive attempts (all clients, in time order)."""
        times = self.times
        return [b - a for a, b in itertools.pairwise(times)]

    @property
    def max_interval(self) -> float:
        return max(self.intervals, default=0.0)

    @property
    def sequences(self) -> list[RetrySequence]:
        """Attempts grouped per client, split on gaps above ``gap`` and successes."""
        from chaoskit.checks.sequences import group_sequences

        return group_sequences(self._attempts, self._gap)

    def jitter(self) -> float | None:
        """Spread (CV) of same-position intervals across sequences; None below two."""
        from chaoskit.checks.sequences import jitter_cv

        return jitter_cv(self.sequences)

    def broken(self, **rules: Any) -> list[Broken]:
        """The backoff rules broken (keywords as ``BackoffRules``); empty: fine."""
        from chaoskit.checks.sequences import BackoffRules, judge_backoff

        return judge_backoff(self.sequences, BackoffRules(**rules))

    def backs_off(
        self,
        factor: float = 2.0,
        *,
        tolerance: float = 0.25,
        cap: float | None = None,
        min_first_wait: float | None = None,
        min_total_growth: float | None = None,
    ) -> bool:
        """Every interval is at least ``factor`` x the previous (within tolerance);
        with ``min_first_wait`` the first retry waits that long, and with
        ``min_total_growth`` the last wait is that many times the first."""
        return not self.broken(
            min_growth=factor,
            tolerance=tolerance,
            max_interval=cap,
            min_first_wait=min_first_wait,
            min_total_growth=min_total_growth,
        )

    def __repr__(self) -> str:
        shown = ", ".join(f"{t:.3f}" for t in self.times)
        return f"<Attempts count={self.count} times=[{shown}]>"


class Requests:
    """Requests seen at an HTTP route, per request id (``checks.sequences``)."""

    def __init__(self, route: Route, since: int, header: str | None) -> None:
        self._route = route
        self._since = since
        self._header = header.lower() if header else None
        self._records: dict[int, dict[str, Any]] = {}
        self._closed = False

    def _collect(self) -> None:
        if not self._closed:
            self._since = _read_log(self._route, "requests", self._since, self._records)

    def close(self) -> None:
        """Stop observing (the block ended): what is known now is final."""
        self._collect()
        self._closed = True

    @property
    def records(self) -> list[dict[str, Any]]:
        """Every request record (the ``/requests`` JSON), in start order."""
        self._collect()
        return sorted(self._records.values(), key=lambda r: int(r["start_ns"]))

    def _key(self, record: dict[str, Any]) -> str | None:
        if self._header is not None:
            value = record["headers"].get(self._header)
            return str(value) if value is not None else None
        rid = record.get("request_id")
        return str(rid) if rid is not None else None

    @property
    def per_request(self) -> dict[str | None, list[dict[str, Any]]]:
        """Request id -> its attempts, in order (None: requests without an id)."""
        out: dict[str | None, list[dict[str, Any]]] = {}
        for record in self.records:
            out.setdefault(self._key(record), []).append(record)
        return out

    def attempts(self, request_id: str) -> int:
        """How many attempts carried ``request_id``."""
        return len(self.per_request.get(request_id, []))

    def statuses(self, request_id: str) -> list[int | None]:
        """The status each attempt of ``request_id`` got (real or injected)."""
        return [r["status"] for r in self.per_request.get(request_id, [])]

    @property
    def count(self) -> int:
        return len(self.records)

    def _sequence_attempts(self) -> list[Any]:
        import time

        from chaoskit.checks.sequences import (
            Attempt,
            client_host,
            retry_after_seconds,
        )

        # The proxy runs in this process: its monotonic clock is ours.
        unix_offset_ns = time.time_ns() - time.monotonic_ns()
        out = []
        for record in self.records:
            status = record["status"]
            ok = record["outcome"] == "answered" and status is not None
            ok = ok and status < 500 and status != 429
            after = record["retry_after"]
            end = record["end_ns"]
            out.append(
                Attempt(
                    int(record["start_ns"]) / 1e9,
                    self._key(record) or client_host(record["client"]),
                    ok,
                    end_s=int(end) / 1e9 if end is not None else None,
                    retry_after_s=retry_after_seconds(
                        after,
                        (
                            int(record["response_ns"] or record["start_ns"])
                            + unix_offset_ns
                        )
                        / 1e9,
                    ),
                )
            )
        return out

    @property
    def sequences(self) -> list[RetrySequence]:
        """Attempts per request id (a success ends a sequence)."""
        from chaoskit.checks.sequences import group_sequences

        return group_sequences(self._sequence_attempts(), float("inf"))

    def honours_retry_after(self) -> Broken | None:
        """None when no attempt came before the ``Retry-After`` it was given."""
        from chaoskit.checks.sequences import judge_retry_after

        return judge_retry_after(self._sequence_attempts())

    def broken(self, **rules: Any) -> list[Broken]:
        """The backoff rules broken (keywords as ``BackoffRules``); empty: fine."""
        from chaoskit.checks.sequences import BackoffRules, judge_backoff

        return judge_backoff(self.sequences, BackoffRules(**rules))

    def __repr__(self) -> str:
        return f"<Requests count={self.count} ids={len(self.per_request)}>"
