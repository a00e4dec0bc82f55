"""The lock fault driver against real PostgreSQL and real SQLite files.

Every lock is released at teardown (undo, or the holder's process is killed by
PID); each PostgreSQL test works on a table of its own and drops it.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from chaoskit.errors import DriverError
from chaoskit.faults.base import Undo
from chaoskit.faults.locks import lock_changes, undo_lock_entry
from chaoskit.runner.ledger import roll_back
from chaoskit.services import PostgresAddress
from chaoskit.spec.model import LockFault

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _fault(**fields: object) -> LockFault:
    return LockFault.model_validate(
        {"name": "lock", "kind": "lock", "at": "1s", "for": "3s", **fields}
    )


@pytest.fixture
async def table(postgres: PostgresAddress) -> AsyncIterator[str]:
    name = f"locks_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(postgres.dsn)
    try:
        await conn.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, v int)")
        await conn.execute(f"INSERT INTO {name} VALUES (1, 0), (2, 0)")  # noqa: S608
        yield name
    finally:
        await conn.execute(f"DROP TABLE IF EXISTS {name}")
        await conn.close()


async def _apply(fault: LockFault, **target: object) -> list[Undo]:
    undos = []
    for change in lock_changes(fault, **target):  # type: ignore[arg-type]
        undos.append(await change.apply())
    return undos


async def _undo_all(undos: list[Undo]) -> None:
    for undo in reversed(undos):
        await undo()


async def _update(dsn: str, table: str, row: int | None = None) -> str:
    """An UPDATE with a 300 ms lock timeout: ``"ok"`` or the server's message."""
    sql = f"UPDATE {table} SET v = v + 1"  # noqa: S608 - the test's own table
    conn = await asyncpg.connect(dsn, server_settings={"lock_timeout": "300"})
    try:
        await conn.execute(sql + ("" if row is None else f" WHERE id = {row}"))
    except asyncpg.PostgresError as exc:
        return str(exc)
    finally:
        await conn.close()
    return "ok"


async def test_a_table_lock_blocks_writers_until_undone(postgres, table):
    undos = await _apply(_fault(service="db", table=table), dsn=postgres.dsn)
    try:
        blocked = await _update(postgres.dsn, table)
        assert blocked == "canceling statement due to lock timeout"
    finally:
        await _undo_all(undos)
    assert await _update(postgres.dsn, table) == "ok"


async def test_row_locks_block_only_the_rows_named(postgres, table):
    fault = _fault(service="db", table=table, where="id = 1")
    undos = await _apply(fault, dsn=postgres.dsn)
    try:
        row1 = await _update(postgres.dsn, table, 1)
        row2 = await _update(postgres.dsn, table, 2)
        assert row1 == "canceling statement due to lock timeout"
        assert row2 == "ok"
    finally:
        await _undo_all(undos)
    assert await _update(postgres.dsn, table, 1) == "ok"


async def test_a_missing_table_is_a_driver_error_and_leaves_nothing(postgres):
    fault = _fault(service="db", table="no_such_table")
    changes = lock_changes(fault, dsn=postgres.dsn)
    connect = next(changes)
    close = await connect.apply()
    lock = next(changes)
    assert lock.entry is not None
    assert lock.entry.kind == "pg_backend"
    with pytest.raises(DriverError, match="no_such_table"):
        await lock.apply()
    await close()


_HOLDER = """
import asyncio, sys
from pathlib import Path
from chaoskit.faults.locks import lock_changes
from chaoskit.runner.ledger import Ledger
from chaoskit.spec.model import LockFault

async def main():
    fault = LockFault.model_validate(json.loads(sys.argv[1]))
    ledger = Ledger(Path(sys.argv[2]), {"experiment": "holder"})
    target = json.loads(sys.argv[3])
    if "path" in target:
        target["path"] = Path(target["path"])
    for change in lock_changes(fault, **target):
        if change.entry is not None:
            ledger.add(change.entry)
        await change.apply()
    print("locked", flush=True)
    await asyncio.sleep(60)

import json
asyncio.run(main())
"""


def _holder(tmp_path: Path, fault: dict[str, object], target: dict[str, str]):
    """A separate chaoskit-like process that takes the lock and writes its ledger."""
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, json.dumps(fault), str(tmp_path),
         json.dumps(target)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    if process.stdout.readline().strip() != "locked":
        _end(process)
        pytest.fail("the lock holder did not take the lock")
    return process


def _end(process: subprocess.Popen[str]) -> None:
    """SIGKILL by PID (ends a stopped process too), reap, close the pipe."""
    process.kill()
    process.wait(10)
    if process.stdout is not None:
        process.stdout.close()


def _fault_table(**fields: object) -> dict[str, object]:
    return {"name": "lock", "kind": "lock", "at": "1s", "for": "3s", **fields}


async def test_rollback_from_the_ledger_ends_the_backend_of_a_frozen_run(
    postgres, table, tmp_path
):
    """chaoskit frozen (SIGSTOP: its connection stays open) or killed: the
    ledger alone lets ``chaoskit rollback`` end the backend holding the lock."""
    holder = _holder(
        tmp_path, _fault_table(service="db", table=table), {"dsn": postgres.dsn}
    )
    try:
        holder.send_signal(signal.SIGSTOP)
        blocked = await _update(postgres.dsn, table)
        assert blocked == "canceling statement due to lock timeout"
        (result,) = await roll_back(tmp_path / "ledger.json")
        assert result.ok, result.message
        assert await _update(postgres.dsn, table) == "ok"
        entries = json.loads((tmp_path / "ledger.json").read_text())["entries"]
        assert [e["state"] for e in entries] == ["done"]
    finally:
        _end(holder)


async def test_rollback_after_kill_9_finds_the_lock_gone_and_marks_it_done(
    postgres, table, tmp_path
):
    holder = _holder(
        tmp_path, _fault_table(service="db", table=table), {"dsn": postgres.dsn}
    )
    _end(holder)
    (result,) = await roll_back(tmp_path / "ledger.json")
    assert result.ok, result.message
    # The server noticed its client died: the lock is gone either way.
    for _ in range(50):
        if await _update(postgres.dsn, table) == "ok":
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the lock outlived its killed holder and the rollback")


async def test_rollback_leaves_a_reused_pid_alone(postgres):
    """The recorded pid now belongs to another backend (another start time)."""
    other = await asyncpg.connect(postgres.dsn)
    try:
        pid = await other.fetchval("SELECT pg_backend_pid()")
        entry = {"kind": "pg_backend", "dsn": postgres.dsn, "pid": pid,
                 "backend_start_us": 1}  # fmt: skip
        await undo_lock_entry(entry)
        assert await other.fetchval("SELECT 1") == 1  # still connected
    finally:
        await other.close()


def _write(path: Path) -> str:
    conn = sqlite3.connect(path, timeout=0.2, isolation_level=None)
    try:
        conn.execute("INSERT INTO t VALUES (1)")
    except sqlite3.OperationalError as exc:
        return str(exc)
    finally:
        conn.close()
    return "ok"


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (v int)")
    return path


async def test_sqlite_begin_exclusive_locks_the_file_until_undone(sqlite_file):
    (change,) = list(lock_changes(_fault(database="app.db"), path=sqlite_file))
    assert change.entry is not None
    assert change.entry.kind == "sqlite_lock"
    before = time.monotonic_ns()
    undo = await change.apply()
    after = time.monotonic_ns()
    try:
        assert await asyncio.to_thread(_write, sqlite_file) == "database is locked"
    finally:
        await undo()
    assert await asyncio.to_thread(_write, sqlite_file) == "ok"
    # Held from a moment the thread measured, which the run's phase starts at.
    assert undo.effective_ns is not None
    assert before <= undo.effective_ns <= after


async def test_an_sqlite_lock_dies_with_its_process_and_rollback_has_nothing_to_do(
    sqlite_file, tmp_path
):
    holder = _holder(
        tmp_path, _fault_table(database="app.db"), {"path": str(sqlite_file)}
    )
    try:
        assert await asyncio.to_thread(_write, sqlite_file) == "database is locked"
    finally:
        _end(holder)
    assert await asyncio.to_thread(_write, sqlite_file) == "ok"
    (result,) = await roll_back(tmp_path / "ledger.json")
    assert result.ok
    ledger = json.loads((tmp_path / "ledger.json").read_text())
    assert "ended with chaoskit" in ledger["entries"][0]["why"]


async def test_a_missing_sqlite_file_is_a_driver_error(tmp_path):
    (change,) = list(lock_changes(_fault(database="x.db"), path=tmp_path / "x.db"))
    with pytest.raises(DriverError, match="no such database file"):
        await change.apply()
