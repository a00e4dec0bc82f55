"""The rollback ledger: every change a run makes, written down before it is made.

``ledger.json`` in the report directory lists each change as plain data (a
:class:`~chaoskit.faults.base.LedgerEntry`) with its state: ``pending`` until
it is undone, then ``done`` (or ``failed``). The file is rewritten atomically
(write, fsync, rename) at every change, so a run killed at any moment leaves a
ledger that says exactly what may still be in place. ``chaoskit rollback DIR``
and the next ``chaoskit run`` read it and undo what is pending, from a new
process: toxics are removed and proxies enabled over the Toxiproxy API,
processes chaoskit started are stopped, and paused ones resumed (each only if
its PID still belongs to the same process); a PostgreSQL backend holding a
lock fault's lock is ended (only if it is still the same backend); fuzzed
payloads stopped with the run that sent them (``payloads`` entries are marked done).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from chaoskit.containers import LEDGER_UNDOS
from chaoskit.errors import ChaoskitError
from chaoskit.faults.base import LedgerEntry
from chaoskit.faults.locks import LOCK_LEDGER_KINDS, undo_lock_entry
from chaoskit.faults.toxiproxy import Toxiproxy
from chaoskit.services.process import process_identity, resume_leftover, stop_leftover

__all__ = [
    "LEDGER_NAME",
    "Ledger",
    "RollbackResult",
    "find_open_ledgers",
    "roll_back",
    "run_is_live",
]

LEDGER_NAME = "ledger.json"


class Ledger:
    """The ledger file of one run."""

    def __init__(self, report_dir: Path, run: dict[str, object]) -> None:
        self.path = report_dir / LEDGER_NAME
        self._doc: dict[str, object] = {
            "run": {
                **run,
                "pid": os.getpid(),
                "pid_started": process_identity(os.getpid()),
                "started": time.time(),
            },
            "closed": False,
            "entries": [],
        }
        self._write()

    @property
    def entries(self) -> list[dict[str, object]]:
        entries = self._doc["entries"]
        assert isinstance(entries, list)  # noqa: S101 - our own document
        return entries

    def add(self, entry: LedgerEntry) -> int:
        """Record a change about to be made; returns its id."""
        number = len(self.entries) + 1
        self.entries.append({"id": number, "state": "pending", **entry.to_json()})
        self._write()
        return number

    def settle(
        self, number: int, state: str = "done", error: str | None = None
    ) -> None:
        """Mark a change undone (``done``), or ``failed`` with the reason."""
        for item in self.entries:
            if item["id"] == number:
                item["state"] = state
                if error:
                    item["error"] = error
        self._write()

    def close(self) -> None:
        """The run ended and tried every undo."""
        self._doc["closed"] = True
        self._write()

    def _write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w") as handle:
            json.dump(self._doc, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(self.path)


def find_open_ledgers(root: Path, *, skip_live: bool = False) -> Iterator[Path]:
    """Ledgers under ``root`` (a report directory or a directory of them) with
    changes still pending.

    ``skip_live`` leaves out the ledgers of runs still going: a new run sharing
    the parent directory must not undo the faults of a run beside it.
    """
    candidates = [root / LEDGER_NAME, *root.glob(f"*/{LEDGER_NAME}")]
    for path in candidates:
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if skip_live and run_is_live(doc.get("run", {})):
            continue
        if any(e.get("state") == "pending" for e in doc.get("entries", [])):
            yield path


def run_is_live(run: object) -> bool:
    """Whether the run that wrote a ledger is still running (same PID and start)."""
    if not isinstance(run, dict):
        return False
    pid, started = run.get("pid"), run.get("pid_started")
    if not isinstance(pid, int) or not isinstance(started, int):
        return False  # an older ledger without the start time: treat as dead
    return pid != os.getpid() and process_identity(pid) == started


@dataclass(frozen=True)
class RollbackResult:
    """What undoing one ledger entry did."""

    description: str
    ok: bool
    message: str = ""


async def _toxiproxy_undo(entry: Mapping[str, object]) -> None:
    kind, proxy = entry["kind"], str(entry["proxy"])
    async with Toxiproxy(str(entry["url"]), timeout=5) as toxiproxy:
        if kind == "toxic":
            await toxiproxy.remove_toxic(proxy, str(entry["toxic"]), missing_ok=True)
        elif kind == "proxy_enable":
            await toxiproxy.enable(proxy)
        elif kind == "proxy_accept":
            await toxiproxy.accept(proxy)
        elif kind == "http_fault":
            await toxiproxy.remove_http_fault(proxy, str(entry["fault"]))
        else:
            await toxiproxy.delete_proxy(proxy, missing_ok=True)


async def _nothing(entry: Mapping[str, object]) -> None:
    """``payloads``: the sender was a thread of the run that died."""


_UNDOS: Mapping[str, Callable[[Mapping[str, object]], Awaitable[object]]] = {
    **dict.fromkeys(
        ("toxic", "proxy_enable", "proxy_delete", "proxy_accept", "http_fault"),
        _toxiproxy_undo,
    ),
    "process": stop_leftover,
    "sigcont": resume_leftover,
    "payloads": _nothing,
    **dict.fromkeys(LOCK_LEDGER_KINDS, undo_lock_entry),
    **LEDGER_UNDOS,
}
"""Ledger entry kind -> what undoes it from the entry alone (another process)."""


async def _undo(entry: dict[str, object]) -> None:
    kind = entry["kind"]
    undo = _UNDOS.get(kind) if isinstance(kind, str) else None
    if undo is None:
        raise ChaoskitError(f"unknown ledger entry kind {kind!r}")
    await undo(entry)


async def roll_back(path: Path) -> list[RollbackResult]:
    """Undo every pending change of a ledger, newest first; mark what was done."""
    doc = json.loads(await asyncio.to_thread(path.read_text))
    results = []
    for entry in reversed(doc.get("entries", [])):
        if entry.get("state") != "pending":
            continue
        description = str(entry.get("description", entry.get("kind")))
        try:
            await _undo(entry)
        except (ChaoskitError, OSError) as exc:
            entry["state"] = "failed"
            entry["error"] = str(exc)
            results.append(RollbackResult(description, ok=False, message=str(exc)))
        else:
            entry["state"] = "done"
            results.append(RollbackResult(description, ok=True))
    doc["closed"] = True
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    tmp.replace(path)
    return results
