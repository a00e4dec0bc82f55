"""Integrity read-backs against a real PostgreSQL, a real SQLite file and HTTP."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import asyncpg
import pytest

from chaoskit.runner.environment import Environment
from chaoskit.runner.readback import read_back
from chaoskit.services.health import free_port
from chaoskit.spec.model import ReadBackSection

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_sql_on_postgres_reads_the_first_column(postgres):
    table = f"writes_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(postgres.dsn)
    try:
        await conn.execute(f"CREATE TABLE {table} (id text, n int)")
        await conn.execute(f"INSERT INTO {table} VALUES ('a', 1), ('b', 2), ('a', 3)")  # noqa: S608
        env = Environment(values={"services.db.dsn": postgres.dsn})
        query = f"SELECT id FROM {table} ORDER BY n"  # noqa: S608
        section = ReadBackSection(service="db", query=query)
        back = await read_back(section, env)
    finally:
        await conn.execute(f"DROP TABLE {table}")
        await conn.close()
    assert (back.ids, back.error) == (("a", "b", "a"), None)


async def test_sql_on_an_sqlite_file_relative_to_the_experiment(tmp_path: Path):
    with sqlite3.connect(tmp_path / "app.db") as conn:
        conn.execute("CREATE TABLE w (id int)")
        conn.executemany("INSERT INTO w VALUES (?)", [(1,), (2,)])
    conn.close()
    section = ReadBackSection(database="app.db", query="SELECT id FROM w")
    back = await read_back(section, Environment(base_dir=tmp_path))
    assert back.ids == ("1", "2")


async def test_a_failed_read_back_is_recorded_not_raised(tmp_path: Path):
    port = free_port()  # nothing listens there
    http = ReadBackSection(url=f"http://127.0.0.1:{port}/writes", ids="$.ids")
    back = await read_back(http, Environment())
    assert back.ids == ()
    assert back.error is not None
    assert back.error.startswith("ConnectError")
    missing = ReadBackSection(database="none.db", query="SELECT 1")
    back = await read_back(missing, Environment(base_dir=tmp_path))
    assert back.error is not None
    assert "unable to open database file" in back.error
