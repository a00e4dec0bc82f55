"""Container faults through the Docker API: ``restart``, ``stop``, ``kill``, ``pause``.

::

    changes = await container_changes(fault, client, services, seed=7)
    for change in changes:        # one per container the fault hits
        ledger.add(change.entry)  # written before the change is made
        undo = await change.apply()
    ...                           # the fault window
    await undo()                  # stop/kill: started again; pause: unpaused

* ``restart``: ``docker restart`` (SIGTERM, ``timeout`` seconds, SIGKILL, start)
  and, for a container service, its health check, all inside apply.
* ``stop``: ``docker stop``; the undo starts it and waits until it is healthy.
* ``kill``: ``fault.signal`` (SIGKILL by default); the undo starts it again
  (unless ``restart = false``) once it has stopped.
* ``pause``: ``docker pause`` (the cgroup freezer: connections stay open,
  nothing answers); the undo unpauses it.

A fault's target decides the driver: ``kill``/``restart``/``pause`` written on a
``container`` service come here as well as every :class:`ContainerFault`.
Targets are a container service (``service``), a container by name, or the
running containers carrying ``labels``: all of them, or ``count``/``percent``
of them chosen with the run's seed (the same seed hits the same containers).

Each change's ledger entry carries the container id and what to do
(``container_start`` or ``container_unpause``), so a stopped or paused container
is started or unpaused again by ``chaoskit rollback`` (or the next run) after a
kill -9 of chaoskit. Failures become :class:`DriverError` naming the fault and
the container, chained with ``from``.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from chaoskit.containers import (
    call,
    docker_host,
    find_labelled,
    start_if_down,
    unpause_if_paused,
)
from chaoskit.errors import ChaoskitError, DriverError
from chaoskit.faults.base import Change, LedgerEntry, Undo
from chaoskit.faults.process import parse_kill_signal
from chaoskit.spec.model import ContainerFault, ProcessFault

if TYPE_CHECKING:
    from docker import DockerClient

__all__ = ["ContainerTarget", "as_container_fault", "choose", "container_changes"]

_STOPPED_POLL_S = 0.05


class ContainerTarget(Protocol):
    """What the driver needs of a container service (``ContainerService`` has it)."""

    @property
    def name(self) -> str:
        """The service's name, for messages."""
        ...

    @property
    def container_id(self) -> str:
        """Its container's id while it is up."""
        ...

    async def wait_healthy(self) -> None:
        """Wait until it runs and its health check passes (ServiceError if not)."""
        ...


def as_container_fault(fault: ProcessFault | ContainerFault) -> ContainerFault:
    """A process-fault entry on a container service, as a container fault."""
    if isinstance(fault, ContainerFault):
        return fault
    return ContainerFault.model_validate(
        fault.model_dump(by_alias=True, exclude_unset=True)
    )


def choose(found: Sequence[Any], fault: ContainerFault, seed: int | str) -> list[Any]:
    """The blast radius: all of ``found``, or ``count``/``percent`` of them
    (at least one), chosen reproducibly from the seed and the fault's name."""
    if fault.count is None and fault.percent is None:
        return list(found)
    size = fault.count if fault.count is not None else (fault.percent or 0) * len(found)
    take = min(len(found), max(1, math.ceil(size)))
    rng = random.Random(f"{seed}:{fault.name}")
    return rng.sample(list(found), take)


async def container_changes(
    fault: ProcessFault | ContainerFault,
    client: DockerClient,
    services: Mapping[str, ContainerTarget],
    *,
    seed: int | str,
) -> list[Change]:
    """``fault`` as the runner's changes: one per container it hits.

    Raises:
        DriverError: the target cannot be found (no container by that name,
            none running with the labels) or the signal is not allowed.
    """
    fault = as_container_fault(fault)
    where = f"container fault {fault.name!r} ({fault.kind})"
    try:
        sig = parse_kill_signal(fault.signal) if fault.kind == "kill" else None
        targets: list[tuple[Any, ContainerTarget | None]]
        if fault.service is not None:
            service = services[fault.service]
            container = await call(
                f"find the container of service {service.name!r}",
                client.containers.get,
                service.container_id,
            )
            targets = [(container, service)]
        elif fault.container is not None:
            container = await call(
                f"find container {fault.container!r}",
                client.containers.get,
                fault.container,
            )
            targets = [(container, None)]
        else:
            found = await find_labelled(client, fault.labels)
            if not found:
                labels = ", ".join(f"{k}={v}" for k, v in fault.labels.items())
                raise DriverError(f"no running container carries the labels {labels}")
            targets = [(c, None) for c in choose(found, fault, seed)]
    except ChaoskitError as exc:
        raise DriverError(f"{where}: {exc}") from exc
    return [_change(fault, sig, c, service, where) for c, service in targets]


def _change(
    fault: ContainerFault,
    sig: int | None,
    container: Any,
    service: ContainerTarget | None,
    where: str,
) -> Change:
    label = f"container {container.name!r}" + (
        f" (service {service.name!r})" if service else ""
    )
    data = {"container": str(container.id), "name": str(container.name)}
    data["docker_host"] = docker_host()
    entry: LedgerEntry | None
    if fault.kind == "pause":
        entry = LedgerEntry(
            "container_unpause", f"unpause {label} (paused by {fault.name!r})", data
        )
    elif fault.kind == "kill" and not fault.restart:
        entry = None  # left stopped on purpose; a service's own entry removes it
    else:
        entry = LedgerEntry(
            "container_start", f"start {label} again (fault {fault.name!r})", data
        )

    async def apply() -> Undo:
        try:
            return await _apply(fault, sig, container, service, label)
        except ChaoskitError as exc:
            raise DriverError(f"{where} on {label}: {exc}") from exc

    return Change(entry, apply)


async def _apply(
    fault: ContainerFault,
    sig: int | None,
    container: Any,
    service: ContainerTarget | None,
    label: str,
) -> Undo:
    timeout = math.ceil(fault.timeout)
    if fault.kind == "restart":
        began = time.monotonic()
        await call(f"restart {label}", container.restart, timeout=timeout)
        await _back(container, service, label)
        took = time.monotonic() - began
        return Undo(f"nothing: {label} restarted, up after {took:.3f} s", _nothing)
    if fault.kind == "pause":
        await call(f"pause {label}", container.pause)
        return Undo(
            f"unpause {label}",
            lambda: call(f"unpause {label}", unpause_if_paused, container),
        )
    if fault.kind == "stop":
        await call(f"stop {label}", container.stop, timeout=timeout)
    else:
        await call(f"kill {label}", container.kill, signal=sig)
        await _stopped(container, label, fault.timeout)
        if not fault.restart:
            return Undo(f"nothing: {label} killed, not started again", _nothing)

    async def start_again() -> None:
        await call(f"start {label} again", start_if_down, container)
        await _back(container, service, label)

    return Undo(f"start {label} again", start_again)


async def _back(container: Any, service: ContainerTarget | None, label: str) -> None:
    """Healthy again: the service's health check, or running for a bare container."""
    if service is not None:
        await service.wait_healthy()
        return
    await call(f"inspect {label}", container.reload)
    if container.status != "running":
        raise DriverError(f"{label} is {container.status} after it was started")


async def _stopped(container: Any, label: str, within: float) -> None:
    """Wait until a killed container has stopped (a SIGTERM may take a while)."""
    deadline = time.monotonic() + max(within, 1.0)
    while True:
        await call(f"inspect {label}", container.reload)
        if container.status != "running" or time.monotonic() >= deadline:
            return
        await asyncio.sleep(_STOPPED_POLL_S)


async def _nothing() -> None:
    """The undo of a fault that left nothing to put back."""
