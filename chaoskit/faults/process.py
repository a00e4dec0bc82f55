"""Process faults on a ``process`` service: ``kill``, ``restart``, ``pause``.

::

    undo, entry = await apply_process_fault(fault, api)
    ...                      # the fault window
    await undo()             # kill: start again; pause: SIGCONT; restart: nothing
    undo.outage_s            # how long the service was down or frozen

* ``kill``: ``fault.signal`` (SIGKILL by default) goes to the service's whole
  process group, and apply returns once it has exited. The undo starts it
  again and waits until it is healthy (only when ``fault.restart``).
* ``restart``: a graceful stop, a start, and health, all inside apply; the
  undo has nothing to do. The window is the time that took.
* ``pause``: SIGSTOP to the group (connections stay open, nothing answers);
  the undo sends SIGCONT. Its ledger entry (kind ``sigcont``) lets
  ``chaoskit rollback`` resume it after a crash of chaoskit itself.

The driver talks to the service through :class:`ProcessTarget`, the part of
``chaoskit.services.ProcessService`` it uses: faults and services are sibling
layers and do not import each other. Failures become :class:`DriverError`
naming the fault, the service and what went wrong, chained with ``from``.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from chaoskit.errors import ChaoskitError, DriverError
from chaoskit.faults.base import Change, LedgerEntry, Undo

if TYPE_CHECKING:
    from chaoskit.spec.model import ProcessFault

__all__ = [
    "KILL_SIGNALS",
    "ProcessFaultUndo",
    "ProcessTarget",
    "apply_process_fault",
    "parse_kill_signal",
    "process_changes",
    "process_fault_ledger_entry",
    "process_ledger_entry",
]

KILL_SIGNALS = (
    signal.SIGKILL,
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGABRT,
)
"""Signals a ``kill`` fault may send: each is meant to end the process. SIGHUP and
SIGUSR1/2 are left out (many servers reload on them), SIGSTOP is ``pause``."""


class ProcessTarget(Protocol):
    """What the driver needs of a process service (``ProcessService`` has it)."""

    @property
    def name(self) -> str:
        """The service's name, for messages."""
        ...

    @property
    def pid(self) -> int | None:
        """The leader's PID while it runs."""
        ...

    @property
    def running(self) -> bool:
        """Whether it runs (paused included)."""
        ...

    async def start(self) -> object:
        """Start and wait until healthy."""
        ...

    async def restart(self) -> object:
        """Graceful stop, then start and wait until healthy."""
        ...

    async def kill(self, sig: int = ...) -> int | None:
        """Signal the group; for an ending signal, wait until it is gone."""
        ...

    def pause(self) -> None:
        """SIGSTOP the group."""
        ...

    def resume(self) -> None:
        """SIGCONT the group."""
        ...

    def ledger_data(self) -> Mapping[str, object]:
        """``{pid, start_time, name}`` naming the running process group."""
        ...


class ProcessFaultUndo(Undo):
    """The undo of a process fault, which also tells how long the service was out.

    ``outage_s``: for ``restart``, the seconds from the stop to healthy again
    (known when apply returns); for ``kill`` with restart, from the signal to
    healthy again; for ``pause``, from SIGSTOP to SIGCONT (both known once the
    undo has run). None until known, and for a kill that is not restarted.
    """

    def __init__(
        self,
        description: str,
        action: Callable[[], Awaitable[None]],
        *,
        outage_s: float | None = None,
    ) -> None:
        super().__init__(description, action)
        self.outage_s = outage_s


def parse_kill_signal(text: str) -> signal.Signals:
    """``"SIGKILL"``, ``"KILL"``, ``"kill"`` or ``"9"`` to a signal a kill may send.

    Raises:
        DriverError: not one of :data:`KILL_SIGNALS` (the message lists them).
    """
    name = text.strip().upper()
    sig: signal.Signals | None
    if name.isdigit():
        try:
            sig = signal.Signals(int(name))
        except ValueError:
            sig = None
    else:
        sig = signal.Signals.__members__.get(f"SIG{name.removeprefix('SIG')}")
    if sig is None or sig not in KILL_SIGNALS:
        allowed = ", ".join(f"{s.name} ({s.value})" for s in KILL_SIGNALS)
        raise DriverError(
            f"signal {text!r} cannot be used by a kill fault; allowed: {allowed}"
        )
    return sig


def process_ledger_entry(service: ProcessTarget) -> LedgerEntry:
    """The ledger entry (kind ``process``) that stops ``service`` after a crash."""
    return LedgerEntry(
        "process", f"stop process service {service.name!r}", service.ledger_data()
    )


def process_fault_ledger_entry(
    fault: ProcessFault, service: ProcessTarget
) -> LedgerEntry | None:
    """What a crashed run must undo for ``fault``, known *before* it is applied.

    Only ``pause`` leaves something (a frozen group: kind ``sigcont``). A killed
    or restarted service is stopped by the service's own ``process`` entry.
    """
    if fault.kind != "pause" or not service.running:
        return None
    return LedgerEntry(
        "sigcont",
        f"resume process service {service.name!r} (paused by fault {fault.name!r})",
        service.ledger_data(),
    )


def process_changes(fault: ProcessFault, service: ProcessTarget) -> list[Change]:
    """``fault`` as the runner's changes: the ledger entry first, then apply.

    One change; its ``apply()`` returns the :class:`ProcessFaultUndo`.
    """

    async def apply() -> Undo:
        undo, _ = await apply_process_fault(fault, service)
        return undo

    return [Change(process_fault_ledger_entry(fault, service), apply)]


async def apply_process_fault(
    fault: ProcessFault, service: ProcessTarget
) -> tuple[ProcessFaultUndo, LedgerEntry | None]:
    """Apply ``fault`` to ``service``; return its undo and its ledger entry.

    Raises:
        DriverError: the signal is not allowed, the service is not running, or
            signalling, stopping or starting it failed (chained).
    """
    where = f"process fault {fault.name!r} ({fault.kind}) on service {service.name!r}"
    try:
        sig = parse_kill_signal(fault.signal) if fault.kind == "kill" else None
        if not service.running:
            raise DriverError("the service is not running")
        if sig is not None:
            return await _kill(fault, sig, service, where), None
        if fault.kind == "restart":
            return await _restart(service), None
        if fault.kind == "pause":
            return _pause(fault, service), process_fault_ledger_entry(fault, service)
        raise DriverError(f"unknown process fault kind {fault.kind!r}")
    except (ChaoskitError, OSError) as exc:
        raise DriverError(f"{where}: {exc}") from exc


async def _kill(
    fault: ProcessFault, sig: signal.Signals, service: ProcessTarget, where: str
) -> ProcessFaultUndo:
    pid = service.pid
    killed_at = time.monotonic()
    await service.kill(sig)
    if not fault.restart:
        return ProcessFaultUndo(
            f"nothing: {sig.name} sent to {service.name!r} (pid {pid})", _nothing
        )

    async def start_again() -> None:
        if service.running:
            return  # started by someone else meanwhile: nothing to put back
        try:
            await service.start()
        except ChaoskitError as exc:
            raise DriverError(
                f"{where}: starting the service again failed: {exc}"
            ) from exc
        undo.outage_s = time.monotonic() - killed_at

    undo = ProcessFaultUndo(
        f"start {service.name!r} again after {sig.name} (was pid {pid})", start_again
    )
    return undo


async def _restart(service: ProcessTarget) -> ProcessFaultUndo:
    began = time.monotonic()
    await service.restart()
    took = time.monotonic() - began
    return ProcessFaultUndo(
        f"nothing: {service.name!r} restarted, healthy after {took:.3f} s",
        _nothing,
        outage_s=took,
    )


def _pause(fault: ProcessFault, service: ProcessTarget) -> ProcessFaultUndo:
    pid = service.pid
    service.pause()
    paused_at = time.monotonic()

    async def resume() -> None:
        service.resume()
        undo.outage_s = time.monotonic() - paused_at

    undo = ProcessFaultUndo(f"SIGCONT {service.name!r} (pid {pid})", resume)
    return undo


async def _nothing() -> None:
    """The undo of a fault that left nothing to put back."""
