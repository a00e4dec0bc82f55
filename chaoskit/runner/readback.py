"""Read-backs of ``integrity`` hypotheses: what the system holds after the run.

Run once the load has ended and every fault is undone (a killed service is
back), before anything is stopped: a GET whose JSON has the ids at a path, or
an SQL query (first column) on a ``postgres`` service or an SQLite file; for
a counter, one number (at a JSON path, or the query's first value). A
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
        return await _http(
            url, section.count or section.ids, section.timeout, section.counts
        )
    query = section.query or ""
    if section.service is not None:
        dsn = env.values.get(f"services.{section.service}.dsn", "")
        back = await _postgres(dsn, query, section.service, section.timeout)
    else:
        path = env.base_dir / refs.bind(section.database or "", env.values)
        back = await asyncio.to_thread(_sqlite, path, query, section.timeout)
    return _number(back, section.counts)


def _number(back: ReadBack, counts: bool) -> ReadBack:
    """A counter read-back's value: the first value read (a SQL sum is one row)."""
    if not counts or back.error is not None:
        return back
    if not back.ids:
        return ReadBack(back.source, error="the query returned no row (or NULL)")
    try:
        return ReadBack(back.source, value=float(back.ids[0]))
    except ValueError:
        return ReadBack(back.source, error=f"not a number: {back.ids[0][:80]!r}")


def _float(found: object, path: str) -> float:
    if isinstance(found, bool) or not isinstance(found, int | float | str):
        raise TypeError(f"not a number at {path}: {json.dumps(found)[:80]}")
    return float(found)


def _text(values: object) -> tuple[str, ...]:
    if not isinstance(values, list):
        raise TypeError(f"not a list of ids: {json.dumps(values)[:80]}")
    return tuple(str(v) for v in values if v is not None)


async def _http(url: str, path: str, limit_s: float, counts: bool) -> ReadBack:
    source = f"{url} ({path})" if counts else url
    try:
        async with httpx.AsyncClient(timeout=limit_s, trust_env=False) as client:
            response = await client.get(url)
            response.raise_for_status()
            found = extract(response.json(), path)
            if not counts:
                return ReadBack(url, _text(found))
            return ReadBack(source, value=_float(found, path))
    except (httpx.HTTPError, ValueError, TypeError) as exc:
        return ReadBack(source, error=f"{type(exc).__name__}: {exc}")


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
