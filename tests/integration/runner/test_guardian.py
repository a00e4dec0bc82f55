"""The guardian undoes a ledger when its run ends without doing it, and the
ledger's lock keeps two undoers from undoing one entry twice.

Real processes: a guardian spawned by :meth:`Guardian.start`, a "service" (a
sleeping Python in a session of its own) recorded in the ledger by PID and
start time, as a run records what it starts.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

from chaoskit.faults.base import LedgerEntry
from chaoskit.runner.guardian import GUARDIAN_LOG, Guardian
from chaoskit.runner.ledger import LEDGER_NAME, Ledger, roll_back
from chaoskit.services.process import process_identity


def sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"],
        start_new_session=True,
    )


def ledger_with(tmp_path: Path, proc: subprocess.Popen[bytes]) -> Ledger:
    ledger = Ledger(tmp_path, {"experiment": "x"})
    identity = {"pid": proc.pid, "start_time": process_identity(proc.pid)}
    ledger.add(LedgerEntry("process", "stop sleeper", {"name": "sleeper", **identity}))
    return ledger


def wait_exit(proc: subprocess.Popen[bytes], within: float = 30) -> int | None:
    deadline = time.monotonic() + within
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return proc.poll()


def test_the_guardian_undoes_what_a_dead_run_left(tmp_path: Path) -> None:
    service = sleeper()
    try:
        ledger = ledger_with(tmp_path, service)
        guardian = Guardian.start(ledger.path)
        ledger.note_run(guardian=guardian.identity)
        assert service.poll() is None  # the run lives: the guardian waits
        # The run dies without undoing anything: its end of the pipe closes.
        asyncio.run(guardian.release())
        assert wait_exit(service) is not None, "the guardian left the service"
        deadline = time.monotonic() + 30
        while guardian.returncode is None and time.monotonic() < deadline:
            time.sleep(0.02)
        doc = json.loads((tmp_path / LEDGER_NAME).read_text())
        assert doc["closed"] is True
        assert [e["state"] for e in doc["entries"]] == ["done"]
        assert doc["run"]["guardian"]["pid"] > 0
        assert "stop sleeper: undone" in (tmp_path / GUARDIAN_LOG).read_text()
    finally:
        service.kill()
        service.wait()


def test_the_guardian_of_a_settled_run_does_nothing(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path, {"experiment": "x"})
    ledger.close()
    before = (tmp_path / LEDGER_NAME).read_text()
    guardian = Guardian.start(ledger.path)
    asyncio.run(guardian.release())
    deadline = time.monotonic() + 30
    while guardian.returncode is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert guardian.returncode == 0
    assert (tmp_path / LEDGER_NAME).read_text() == before
    assert (tmp_path / GUARDIAN_LOG).read_text() == ""


def test_two_undoers_at_once_undo_each_entry_once(tmp_path: Path) -> None:
    service = sleeper()
    try:
        ledger = ledger_with(tmp_path, service)

        async def both() -> list[list[object]]:
            return list(
                await asyncio.gather(roll_back(ledger.path), roll_back(ledger.path))
            )

        first, second = asyncio.run(both())
        # One did the undo; the other, waiting on the lock, found it done.
        assert sorted([len(first), len(second)]) == [0, 1]
        assert wait_exit(service, 1) is not None
    finally:
        service.kill()
        service.wait()
