"""PostgreSQL probes: connections by state, lock waits, the longest query,
the share of ``max_connections`` in use, and commits/rollbacks/deadlocks per second.

The probe's own session is left out of what it reports (``pid <>
pg_backend_pid()``), and it connects to the server's own address (the runner
hands it the service's DSN, never a proxy route's), so a fault on the route
neither hides the server from the probe nor shows up as the probe's errors.
One query per sample; the session is opened on the first sample and again
after it breaks (a restart of the server is a gap, then data again).

Rates come from ``pg_stat_database`` counters between two samples. The probe's
own transactions (one per sample) are subtracted from the commits; the server
publishes its counters about once a second, so a rate over a shorter interval
is uneven, not wrong on average.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from chaoskit.probes.base import ReadError

__all__ = ["QUERY", "PostgresReader"]

QUERY = """
WITH clients AS (
    SELECT state, query_start
    FROM pg_stat_activity
    WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
), waits AS (
    SELECT waitstart FROM pg_locks WHERE NOT granted AND pid <> pg_backend_pid()
), totals AS (
    SELECT sum(xact_commit) AS commits, sum(xact_rollback) AS rollbacks,
           sum(deadlocks) AS deadlocks
    FROM pg_stat_database
)
SELECT
    (SELECT count(*) FROM clients) AS connections,
    (SELECT count(*) FROM clients WHERE state = 'active') AS active,
    (SELECT count(*) FROM clients WHERE state = 'idle') AS idle,
    (SELECT count(*) FROM clients WHERE state LIKE 'idle in transaction%')
        AS idle_in_transaction,
    current_setting('max_connections')::int AS max_connections,
    (SELECT count(*) FROM waits) AS locks_waiting,
    (SELECT coalesce(extract(epoch FROM max(clock_timestamp() - waitstart)), 0)
        FROM waits) AS lock_wait_max,
    (SELECT coalesce(extract(epoch FROM max(clock_timestamp() - query_start)), 0)
        FROM clients WHERE state = 'active') AS query_max,
    totals.commits, totals.rollbacks, totals.deadlocks
FROM totals
"""


class PostgresReader:
    """Samples one PostgreSQL server through a session of its own."""

    def __init__(self, dsn: str, *, connect_timeout: float = 5.0) -> None:
        self._dsn = dsn
        self._timeout = connect_timeout
        self._conn: Any = None
        self._previous: tuple[float, float, float, float] | None = None

    async def read(self) -> Mapping[str, float | None]:
        import asyncpg  # lazy: `import chaoskit` stays cheap

        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(
                    self._dsn,
                    timeout=self._timeout,
                    server_settings={"application_name": "chaoskit-probe"},
                )
            row = await self._conn.fetchrow(QUERY)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            await self._drop()
            raise ReadError(f"{type(exc).__name__}: {exc}") from None
        now = time.monotonic()
        return self._values(row, now)

    def _values(self, row: Any, now: float) -> dict[str, float | None]:
        connections = float(row["connections"])
        active, idle = float(row["active"]), float(row["idle"])
        in_transaction = float(row["idle_in_transaction"])
        limit = float(row["max_connections"])
        counters = (
            now,
            float(row["commits"] or 0),
            float(row["rollbacks"] or 0),
            float(row["deadlocks"] or 0),
        )
        rates: list[float | None] = [None, None, None]
        if self._previous is not None and counters[0] > self._previous[0]:
            elapsed = counters[0] - self._previous[0]
            deltas = [
                c - p for c, p in zip(counters[1:], self._previous[1:], strict=True)
            ]
            deltas[0] -= 1  # the probe's own transaction since the last sample
            rates = [max(0.0, d) / elapsed for d in deltas]
        self._previous = counters
        return {
            "connections": connections,
            "connections_active": active,
            "connections_idle": idle,
            "connections_idle_in_transaction": in_transaction,
            "connections_other": connections - active - idle - in_transaction,
            "connections_share": connections / limit if limit else None,
            "max_connections": limit,
            "locks_waiting": float(row["locks_waiting"]),
            "lock_wait_max_s": float(row["lock_wait_max"]),
            "query_max_s": float(row["query_max"]),
            "commits_per_s": rates[0],
            "rollbacks_per_s": rates[1],
            "deadlocks_per_s": rates[2],
        }

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._previous = None
        if conn is not None:
            conn.terminate()  # never waits on a broken server

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await conn.close(timeout=2)
            except Exception:  # noqa: BLE001 - closing; the server may be gone
                conn.terminate()
