"""Read the proxy's connection log during the run, for ``backoff`` hypotheses.

The log is a bounded ring: a run that only read it at the end could find the
fault's attempts evicted, so routes a backoff hypothesis names are polled with
the cursor every ``interval_s``; each connection's latest record wins. The
records become :class:`~chaoskit.events.AttemptRecord` (seconds from the
timeline's start), which the checks read.
"""

from __future__ import annotations

import asyncio
import contextlib

from chaoskit.checks.sequences import connection_attempts
from chaoskit.errors import ChaoskitError
from chaoskit.events import AttemptRecord
from chaoskit.faults.toxiproxy import ConnectionRecord, Toxiproxy
from chaoskit.spec import model

__all__ = ["AttemptWatcher", "watched_routes"]

_NS = 1_000_000_000


def watched_routes(experiment: model.Experiment) -> list[str]:
    """Routes whose attempts some hypothesis judges, in file order."""
    routes = [
        h.route for h in experiment.hypotheses if isinstance(h, model.BackoffHypothesis)
    ]
    return list(dict.fromkeys(routes))


class AttemptWatcher:
    """Polls the connection log of some routes; :meth:`records` converts them."""

    def __init__(
        self,
        toxiproxy: Toxiproxy | None,
        routes: list[str],
        interval_s: float = 0.5,
    ) -> None:
        self.toxiproxy = toxiproxy
        self.routes = routes if toxiproxy is not None else []
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

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(ChaoskitError):
                await self.poll()
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        if self.routes:
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
