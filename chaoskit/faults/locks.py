"""The ``lock`` fault: a database lock held by an open transaction for the window.

* PostgreSQL: a connection of its own (asyncpg), ``BEGIN``, then ``LOCK TABLE
  <table> IN <mode> MODE`` or row locks (``SELECT 1 FROM <table> WHERE <where>
  FOR UPDATE``). The undo rolls back and closes. Two changes: the connection
  (no ledger entry: a connection dies with its client), then the lock, whose
  ledger entry (kind ``pg_backend``) records the backend's pid and start time
  so ``chaoskit rollback`` can ``pg_terminate_backend`` it, only if that pid
  is still the same backend. The session also sets
  ``idle_in_transaction_session_timeout``, so the server ends a lock its
  client forgot, whatever happened to chaoskit.
* SQLite: ``BEGIN EXCLUSIVE`` on a connection in a worker thread; the undo
  rolls back and closes. An SQLite lock lives in chaoskit's own process and
  dies with it: the ledger entry (kind ``sqlite_lock``) says so and needs no
  action.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaoskit.errors import ChaoskitError, DriverError
from chaoskit.faults.base import Change, LedgerEntry, Undo

if TYPE_CHECKING:
    from chaoskit.spec.model import LockFault

__all__ = ["LOCK_LEDGER_KINDS", "lock_changes", "undo_lock_entry"]

LOCK_LEDGER_KINDS = ("pg_backend", "sqlite_lock")
_ACQUIRE_TIMEOUT_S = 10.0
"""How long taking the lock may wait for others (then the fault fails)."""
_SAFETY_MARGIN_S = 30.0
"""The server ends our idle transaction this long after the window at the latest."""
_BACKEND = """
SELECT pid, (extract(epoch FROM backend_start) * 1000000)::bigint AS started
FROM pg_stat_activity WHERE pid = pg_backend_pid()
"""
_TERMINATE = """
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE pid = $1 AND (extract(epoch FROM backend_start) * 1000000)::bigint = $2
"""


def _quote(table: str) -> str:
    # The spec allows only identifiers (schema.table), so quoting is exact.
    return ".".join(f'"{part}"' for part in table.split("."))


def lock_statement(fault: LockFault) -> str:
    """The SQL that takes the lock (PostgreSQL)."""
    table = _quote(fault.table or "")
    if fault.where is not None:
        return f"SELECT 1 FROM {table} WHERE {fault.where} FOR UPDATE"  # noqa: S608 - the experiment's own SQL
    return f"LOCK TABLE {table} IN {fault.mode.upper()} MODE"


def lock_changes(
    fault: LockFault, *, dsn: str | None = None, path: Path | None = None
) -> Iterator[Change]:
    """``fault`` as the runner's changes, in order (lazily: the lock's ledger
    entry names a backend that exists only once the first change is applied).

    Args:
        fault: the lock fault.
        dsn: the PostgreSQL service's DSN (``service = ...``).
        path: the SQLite file (``database = ...``), resolved.
    """
    if path is not None:
        yield _sqlite_change(fault, path)
        return
    if dsn is None:
        raise DriverError(f"lock fault {fault.name!r}: no database to lock")
    yield from _postgres_changes(fault, dsn)


def _postgres_changes(fault: LockFault, dsn: str) -> Iterator[Change]:
    import asyncpg  # here: only lock faults need a PostgreSQL client

    where = f"lock fault {fault.name!r} on {fault.table!r}"
    session: dict[str, Any] = {}

    async def connect() -> Undo:
        try:
            connection = await asyncpg.connect(
                dsn,
                timeout=_ACQUIRE_TIMEOUT_S,
                server_settings={
                    "application_name": f"chaoskit lock {fault.name}"[:63],
                    "idle_in_transaction_session_timeout": str(
                        int((fault.for_ + _SAFETY_MARGIN_S) * 1000)
                    ),
                    "lock_timeout": str(int(_ACQUIRE_TIMEOUT_S * 1000)),
                },
            )
            row = await connection.fetchrow(_BACKEND)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            raise DriverError(f"{where}: cannot connect: {exc}") from exc
        session.update(connection=connection, pid=row["pid"], started=row["started"])
        return Undo(f"close the lock connection (backend {row['pid']})", _close)

    async def _close() -> None:
        with contextlib.suppress(OSError, asyncpg.PostgresError, TimeoutError):
            await session["connection"].close(timeout=5)

    async def lock() -> Undo:
        connection = session["connection"]
        try:
            await connection.execute("BEGIN")
            await connection.execute(lock_statement(fault))
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            raise DriverError(f"{where}: cannot take the lock: {exc}") from exc
        return Undo(f"release {where} (ROLLBACK)", release)

    async def release() -> None:
        connection = session["connection"]
        if connection.is_closed():
            return  # the server ended the session: the lock went with it
        try:
            await connection.execute("ROLLBACK", timeout=5)
        except (asyncpg.InterfaceError, asyncpg.PostgresConnectionError):
            return  # the connection broke: so did the transaction
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            raise DriverError(f"{where}: ROLLBACK failed: {exc}") from exc

    yield Change(None, connect)
    entry = LedgerEntry(
        "pg_backend",
        f"end the backend holding {where} (pid {session['pid']})",
        {"dsn": dsn, "pid": session["pid"], "backend_start_us": session["started"]},
    )
    yield Change(entry, lock)


def _sqlite_change(fault: LockFault, path: Path) -> Change:
    where = f"lock fault {fault.name!r} on {path}"
    entry = LedgerEntry(
        "sqlite_lock",
        f"nothing: {where} was held by chaoskit's own process",
        {
            "path": str(path),
            "why": "an SQLite lock belongs to the process that holds the file "
            "open; it ended with chaoskit",
        },
    )

    def begin() -> tuple[sqlite3.Connection, int]:
        if not path.exists():
            raise DriverError(f"{where}: no such database file")
        connection = sqlite3.connect(
            path, timeout=_ACQUIRE_TIMEOUT_S, isolation_level=None,
            check_same_thread=False,
        )  # fmt: skip
        try:
            connection.execute("BEGIN EXCLUSIVE")
        except sqlite3.Error:
            connection.close()
            raise
        return connection, time.monotonic_ns()  # held from this moment

    async def apply() -> Undo:
        try:
            connection, held_ns = await asyncio.to_thread(begin)
        except sqlite3.Error as exc:
            raise DriverError(f"{where}: BEGIN EXCLUSIVE failed: {exc}") from exc

        def end() -> None:
            try:
                connection.rollback()
            finally:
                connection.close()

        async def release() -> None:
            await asyncio.to_thread(end)

        return Undo(f"release {where} (ROLLBACK)", release, effective_ns=held_ns)

    return Change(entry, apply)


async def undo_lock_entry(entry: Mapping[str, object]) -> None:
    """Undo a lock from its ledger entry, in another process (``chaoskit rollback``).

    Raises:
        ChaoskitError: the backend could not be checked or ended.
    """
    if entry["kind"] == "sqlite_lock":
        return  # see the entry's "why": nothing outlives chaoskit's process
    import asyncpg  # here: only lock faults need a PostgreSQL client

    pid, started = entry["pid"], entry["backend_start_us"]
    try:
        connection = await asyncpg.connect(str(entry["dsn"]), timeout=10)
        try:
            await connection.fetchval(_TERMINATE, pid, started)
        finally:
            await connection.close(timeout=5)
    except OSError as exc:
        # The server is gone, and every lock with it.
        if isinstance(exc, ConnectionRefusedError):
            return
        raise ChaoskitError(f"backend {pid}: {exc}") from exc
    except (asyncpg.PostgresError, TimeoutError) as exc:
        raise ChaoskitError(f"backend {pid}: {exc}") from exc
