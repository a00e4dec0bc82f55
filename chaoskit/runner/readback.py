"""Read-backs of ``integrity`` hypotheses: what the system holds after the run.

Run once the load has ended and every fault is undone (a killed service is
back), before anything is stopped: a GET whose JSON has the ids at a path, or
an SQL query (first column) on a ``postgres`` service or an SQLite file. A
failure is recorded, not raised: the verdict says the read-back failed.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import httpx

from chaoskit.load.tasks import extract
from chaoskit.records import ReadBack
from chaoskit.runner.environment import Environment
from chaoskit.spec import model, refs

__all__ = ["read_back", "read_backs"]


async def read_backs(
    experiment: model.Experiment, env: Environment
) -> dict[str, ReadBack]:
    """Each integrity hypothesis's read-back, by hypothesis name."""
    return {
        h.name: await read_back(h.read_back, env)
        for h in experiment.hypotheses
        if isinstance(h, model.IntegrityHypothesis)
    }


async def read_back(section: model.ReadBackSection, env: Environment) -> ReadBack:
    """The ids ``section`` reads, or the reason it could not."""
    if section.url is not None:
        url = refs.bind(section.url, env.values)
        if url.startswith("/"):
            url = env.base_url.rstrip("/") + url
        return await _http(url, section.ids, section.timeout)
    query = section.query or ""
    if section.service is not None:
        dsn = env.values.get(f"services.{section.service}.dsn", "")
        return await _postgres(dsn, query, section.service, section.timeout)
    path = env.base_dir / refs.bind(section.database or "", env.values)
    return await asyncio.to_thread(_sqlite, path, query, section.timeout)


def _text(values: object) -> tuple[str, ...]:
    if not isinstance(values, list):
        raise TypeError(f"not a list of ids: {json.dumps(values)[:80]}")
    return tuple(str(v) for v in values if v is not None)


async def _http(url: str, path: str, limit_s: float) -> ReadBack:
    try:
        async with httpx.AsyncClient(timeout=limit_s, trust_env=False) as client:
            response = await client.get(url)
            response.raise_for_status()
            return ReadBack(url, _text(extract(response.json(), path)))
    except (httpx.HTTPError, ValueError, TypeError) as exc:
        return ReadBack(url, error=f"{type(exc).__name__}: {exc}")


async def _postgres(dsn: str, query: str, service: str, limit_s: float) -> ReadBack:
    import asyncpg  # here: only SQL read-backs need a PostgreSQL client

    source = f"{query!r} on service {service}"
    try:
        connection = await asyncpg.connect(dsn, timeout=limit_s)
        try:
            rows = await connection.fetch(query, timeout=limit_s)
        finally:
            await connection.close(timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return ReadBack(source, error=f"{type(exc).__name__}: {exc}")
    return ReadBack(source, tuple(str(r[0]) for r in rows if r[0] is not None))


def _sqlite(path: Path, query: str, timeout: float) -> ReadBack:
    source = f"{query!r} on {path}"
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout)
        try:
            rows = connection.execute(query).fetchall()
        finally:
            connection.close()
    except sqlite3.Error as exc:
        return ReadBack(source, error=f"{type(exc).__name__}: {exc}")
    return ReadBack(source, tuple(str(r[0]) for r in rows if r[0] is not None))
