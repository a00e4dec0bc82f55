"""The rollback ledger: every change a run makes, written down before it is made.

``ledger.json`` in the report directory lists each change as plain data (a
:class:`~chaoskit.faults.base.LedgerEntry`) with its state: ``pending`` until
it is undone, then ``done`` (or ``failed``). The file is rewritten atomically
(write, fsync, rename) at every change, so a run killed at any moment leaves a
ledger that says exactly what may still be in place. The run's guardian (as
soon as the run dies: :mod:`chaoskit.runner.guardian`), ``chaoskit rollback
DIR`` and the next ``chaoskit run`` read it and undo what is pending, from
another process, one at a time (a lock file beside it): toxics are removed
and proxies enabled over the Toxiproxy API, processes chaoskit started are
stopped, and paused ones resumed (each only if
its PID still belongs to the same process); a PostgreSQL backend holding a
lock fault's lock is ended (only if it is still the same backend); fuzzed
payloads stopped with the run that sent them (``payloads`` entries are marked done).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
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
    "live_owner",
    "roll_back",
    "run_is_live",
]

LEDGER_NAME = "ledger.json"
_LOCK_POLL_S = 0.05


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

    def note_run(self, **data: object) -> None:
        """Add to what the ledger says about the run (its guardian, say)."""
        run = self._doc["run"]
        assert isinstance(run, dict)  # noqa: S101 - our own document
        run.update(data)
        self._write()

    def add(self, entry: LedgerEntry) -> int:
        """Record a change about to be made; returns its id."""
        number = len(self.entries) + 1
        self.entries.append({"id": number, "state": "pending", **entry.to_json()})
        self._write()
        return number

    def amend(self, number: int, data: Mapping[str, object]) -> None:
        """Add what became known about a change being made (a PID once the
        process runs): the entry was written before, with what was known then."""
        for item in self.entries:
            if item["id"] == number:
                item.update({**data, "id": number, "state": item["state"]})
        self._write()

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


def live_owner(path: Path) -> int | None:
    """The PID of the run still going that writes the ledger at ``path``, or None
    (the run ended or was killed: its pending changes are leftovers)."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    run = doc.get("run") if isinstance(doc, dict) else None
    if isinstance(run, dict) and run_is_live(run):
        pid = run.get("pid")
        return pid if isinstance(pid, int) else None
    return None


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


@contextlib.asynccontextmanager
async def _locked(path: Path) -> AsyncIterator[None]:
    """Hold the ledger's lock (``.ledger.lock`` beside it): one undoer at a time.

    The run's guardian, ``chaoskit rollback`` and the next run may all find the
    same leftovers at once after a kill; the second waits, then finds them done.
    Polled without blocking, so a wait can be cancelled.
    """
    with (path.parent / ".ledger.lock").open("a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                await asyncio.sleep(_LOCK_POLL_S)
            else:
                break
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


async def roll_back(path: Path) -> list[RollbackResult]:
    """Undo every pending change of a ledger, newest first; mark what was done.

    Under the ledger's lock, read once it is held: what another undoer settled
    meanwhile is not undone twice.
    """
    async with _locked(path):
        return await _roll_back_locked(path)


async def _roll_back_locked(path: Path) -> list[RollbackResult]:
    doc = json.loads(await asyncio.to_thread(path.read_text))
    pending = [e for e in doc.get("entries", []) if e.get("state") == "pending"]
    if not pending and doc.get("closed"):
        return []  # settled already: leave the file as it is
    results = []
    for entry in reversed(pending):
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
