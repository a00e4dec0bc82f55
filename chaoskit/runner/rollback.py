"""Everything a run changes, undone: last in, first out, each with its own deadline.

A change is written to the ledger *before* it is made (:meth:`RollbackStack.
before`), and its undo pushed as soon as it is made (:meth:`RollbackStack.
push`). Undos run when their fault window ends (:meth:`undo`) or, for whatever
is left, at teardown (:meth:`unwind`). An undo that fails or overruns its
deadline is recorded (event and ledger) and the others still run: one stuck
undo must not leave every other fault in place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from chaoskit.errors import ChaoskitError, RollbackError
from chaoskit.events import Event, event
from chaoskit.faults.base import LedgerEntry, Undo
from chaoskit.runner.ledger import Ledger

__all__ = ["RollbackStack"]

DEFAULT_DEADLINE_S = 30.0


@dataclass
class _Pending:
    undo: Undo
    ledger_id: int | None
    label: str


class RollbackStack:
    """The undos of one run, with their ledger entries."""

    def __init__(self, ledger: Ledger, emit: Callable[[Event], None]) -> None:
        self.ledger = ledger
        self._emit = emit
        self._stack: list[_Pending] = []
        self.failures: list[str] = []

    def before(self, entry: LedgerEntry | None) -> int | None:
        """Write a change to the ledger before making it."""
        return self.ledger.add(entry) if entry is not None else None

    def amend(self, ledger_id: int, data: Mapping[str, object]) -> None:
        """Add what became known while the change was being made (a PID)."""
        self.ledger.amend(ledger_id, data)

    def abandon(self, ledger_id: int | None, error: str) -> None:
        """The change was never made (applying it failed)."""
        if ledger_id is not None:
            self.ledger.settle(ledger_id, "done", error=f"not applied: {error}")

    def push(self, undo: Undo, ledger_id: int | None, label: str) -> _Pending:
        """The change is made; remember how to undo it."""
        pending = _Pending(undo, ledger_id, label)
        self._stack.append(pending)
        return pending

    async def undo(
        self, pending: _Pending, deadline_s: float = DEFAULT_DEADLINE_S
    ) -> bool:
        """Undo one change now (its window ended); True if it worked."""
        if pending in self._stack:
            self._stack.remove(pending)
        return await self._run(pending, deadline_s)

    async def unwind(self, deadline_s: float = DEFAULT_DEADLINE_S) -> None:
        """Undo everything left, newest first, whatever happens to each."""
        while self._stack:
            await self._run(self._stack.pop(), deadline_s)

    async def _run(self, pending: _Pending, deadline_s: float) -> bool:
        # Shielded: a cancellation of the run (Ctrl-C) must not cut an undo
        # short; the deadline bounds it instead.
        task = asyncio.ensure_future(pending.undo())
        error: str | None = None
        try:
            await asyncio.wait_for(asyncio.shield(task), deadline_s)
        except TimeoutError:
            task.cancel()
            error = f"did not finish within {deadline_s:.0f}s"
        except (ChaoskitError, OSError) as exc:
            error = str(exc)
        except asyncio.CancelledError:
            # Cancelled while waiting: let the undo finish, then go on cancelling.
            await asyncio.wait([task], timeout=deadline_s)
            ok = task.done() and not task.cancelled() and task.exception() is None
            self._settle(pending, None if ok else "interrupted")
            raise
        self._settle(pending, error)
        return error is None

    def _settle(self, pending: _Pending, error: str | None) -> None:
        if error is None:
            if pending.ledger_id is not None:
                self.ledger.settle(pending.ledger_id)
            self._emit(
                event(
                    "fault_rolled_back",
                    label=pending.label,
                    undo=pending.undo.description,
                )
            )
            return
        message = f"{pending.undo.description}: {error}"
        self.failures.append(message)
        if pending.ledger_id is not None:
            self.ledger.settle(pending.ledger_id, "failed", error=error)
        self._emit(event("rollback_failed", label=pending.label, error=message))

    def raise_failures(self) -> None:
        """After unwinding: fail loudly if anything could not be undone."""
        if self.failures:
            raise RollbackError(
                "could not undo: "
                + "; ".join(self.failures)
                + " - run `chaoskit rollback <report dir>` once the cause is fixed"
            )
