"""Read the proxy's connection and request logs during the run, for ``backoff``.

The log is a bounded ring: a run that only read it at the end could find the
fault's attempts evicted, so routes a backoff hypothesis names are polled with
the cursor every ``interval_s``; each connection's latest record wins. The
records become :class:`~chaoskit.events.AttemptRecord` (seconds from the
timeline's start), which the checks read. Hypotheses judged on requests
(``group_by = "header:..."``, ``honours_retry_after``) read the request log of
their ``protocol = "http"`` route the same way into
:class:`~chaoskit.events.RequestAttempt`.
"""

from __future__ import annotations

import asyncio
import contextlib

from chaoskit.checks.sequences import connection_attempts, retry_after_seconds
from chaoskit.errors import ChaoskitError
from chaoskit.events import AttemptRecord, RequestAttempt
from chaoskit.faults.toxiproxy import ConnectionRecord, RequestRecord, Toxiproxy
from chaoskit.spec import model

__all__ = [
    "AttemptWatcher",
    "recorded_headers",
    "request_attempts",
    "request_routes",
    "watched_routes",
]

_NS = 1_000_000_000


def watched_routes(experiment: model.Experiment) -> list[str]:
    """Routes whose attempts some hypothesis judges, in file order."""
    routes = [
        h.route for h in experiment.hypotheses if isinstance(h, model.BackoffHypothesis)
    ]
    return list(dict.fromkeys(routes))


def request_routes(experiment: model.Experiment) -> list[str]:
    """Routes whose requests some hypothesis judges (from the request log)."""
    routes = [
        h.route
        for h in experiment.hypotheses
        if isinstance(h, model.BackoffHypothesis) and h.uses_requests
    ]
    return list(dict.fromkeys(routes))


def recorded_headers(experiment: model.Experiment, route: str) -> tuple[str, ...]:
    """Request headers the proxy must log on ``route`` for the hypotheses."""
    names = [
        h.group_header
        for h in experiment.hypotheses
        if isinstance(h, model.BackoffHypothesis)
        and h.route == route
        and h.group_header is not None
    ]
    return tuple(dict.fromkeys(names))


def request_attempts(
    route: str,
    records: list[RequestRecord],
    t0_ns: int,
    unix_offset_ns: int = 0,
) -> tuple[RequestAttempt, ...]:
    """Request-log records as attempts in time order (seconds from ``t0_ns``).

    ``unix_offset_ns`` maps the proxy's monotonic clock to Unix time (for a
    ``Retry-After`` written as an HTTP-date).
    """
    out = []
    for r in records:
        answered_ns = r.response_ns or r.end_ns or r.start_ns
        out.append(
            RequestAttempt(
                route=route,
                client=r.client,
                at_s=(r.start_ns - t0_ns) / _NS,
                end_s=(r.end_ns - t0_ns) / _NS if r.end_ns is not None else None,
                method=r.method,
                path=r.path,
                status=r.status,
                ok=r.outcome == "answered"
                and r.status is not None
                and r.status < 500
                and r.status != 429,
                headers=dict(r.headers),
                retry_after_s=retry_after_seconds(
                    r.retry_after, (answered_ns + unix_offset_ns) / _NS
                ),
                fault=r.fault,
            )
        )
    return tuple(sorted(out, key=lambda a: a.at_s))


class AttemptWatcher:
    """Polls the connection log of some routes; :meth:`records` converts them."""

    def __init__(
        self,
        toxiproxy: Toxiproxy | None,
        routes: list[str],
        interval_s: float = 0.5,
        http_routes: list[str] | None = None,
    ) -> None:
        self.toxiproxy = toxiproxy
        self.routes = routes if toxiproxy is not None else []
        self.http_routes = (http_routes or []) if toxiproxy is not None else []
        self._req_cursor = dict.fromkeys(self.http_routes, 0)
        self._requests: dict[str, dict[int, RequestRecord]] = {
            r: {} for r in self.http_routes
        }
        self._unix_offset_ns = 0
        self.interval_s = interval_s
        self._cursor = dict.fromkeys(self.routes, 0)
        self._seen: dict[str, dict[int, ConnectionRecord]] = {
            r: {} for r in self.routes
        }
        self._task: asyncio.Task[None] | None = None
        self.evicted: dict[str, int] = {}
        """Records the proxy evicted before they were read (attempts undercounted)."""

    async def poll(self) -> None:
        """Read every new change of every watched route."""
        assert self.toxiproxy is not None  # noqa: S101 - no routes without it
        for route in self.routes:
            while True:
                page = await self.toxiproxy.connections(
                    route, since=self._cursor[route], limit=2000
                )
                for record in page.connections:
                    self._seen[route][record.id] = record
                if page.evicted and page.evicted != self.evicted.get(route):
                    self.evicted[route] = page.evicted
                if not page.connections:
                    break
                self._cursor[route] = page.cursor
        for route in self.http_routes:
            while True:
                reqs = await self.toxiproxy.requests(
                    route, since=self._req_cursor[route], limit=2000
                )
                for request in reqs.requests:
                    self._requests[route][request.id] = request
                if reqs.evicted and reqs.evicted != self.evicted.get(route):
                    self.evicted[route] = reqs.evicted
                self._unix_offset_ns = reqs.unix_ns - reqs.monotonic_ns
                if not reqs.requests:
                    break
                self._req_cursor[route] = reqs.cursor

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(ChaoskitError):
                await self.poll()
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        if self.routes or self.http_routes:
            self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        """Stop polling, then read what is left (the proxy may be gone: best effort)."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        with contextlib.suppress(ChaoskitError):
            await self.poll()

    def records(self, t0_ns: int) -> dict[str, tuple[AttemptRecord, ...]]:
        """Every attempt seen, per route, in time order."""
        out: dict[str, tuple[AttemptRecord, ...]] = {}
        for route, seen in self._seen.items():
            attempts = [
                AttemptRecord(route, r.client, (at - t0_ns) / _NS, ok, r.end)
                for r in seen.values()
                for at, ok in connection_attempts(
                    accepted_ns=r.accepted_ns,
                    exchanges_ns=r.exchanges_ns,
                    bytes_down=r.bytes_down,
                    end=r.end,
                )
            ]
            out[route] = tuple(sorted(attempts, key=lambda a: a.at_s))
        return out

    def request_records(self, t0_ns: int) -> dict[str, tuple[RequestAttempt, ...]]:
        """Every request seen, per HTTP route, in time order."""
        return {
            route: request_attempts(
                route, list(seen.values()), t0_ns, self._unix_offset_ns
            )
            for route, seen in self._requests.items()
        }
