"""Docker containers as services: ``kind = "container"``.

A container service either runs an image (the container is labelled with the
run's id, ``chaoskit.run=<id>``, so cleanup only ever touches chaoskit's own,
and removed at the end unless ``keep``) or attaches to a container someone else
runs, by name or by labels (health-checked, never started, stopped or removed)::

    client = await chaoskit.containers.connect()
    api = ContainerService.from_spec(spec, client, run_id="3f2a", log_dir=report_dir)
    await api.start()     # created, started, healthy; ServiceError otherwise
    ...
    await api.stop()      # logs to <report dir>/api.container.log, then removed

Health checks are the ones process services use (:mod:`chaoskit.services.health`);
without one, running is healthy. Host networking is the default: it is what a
dockerd without a bridge (CI) supports, and loopback addresses mean the same
inside and outside the container.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaoskit.containers import LABEL_RUN, LABEL_SERVICE, call, docker_host
from chaoskit.containers import find_labelled as _find_labelled
from chaoskit.errors import ServiceError
from chaoskit.services.health import Endpoint, HealthCheck, wait_healthy

if TYPE_CHECKING:
    from docker import DockerClient

    from chaoskit.services.base import Service
    from chaoskit.spec.model import ContainerService as ContainerSpec

__all__ = ["ContainerService", "parse_volumes"]

_RUNNING_POLL_S = 0.05


def parse_volumes(volumes: tuple[str, ...], *, owner: str) -> dict[str, dict[str, str]]:
    """``"src:dst[:ro|rw]"`` strings as the SDK's ``volumes`` mapping.

    Raises:
        ServiceError: a volume is not ``source:destination[:mode]``.
    """
    mapping = {}
    for text in volumes:
        parts = text.split(":")
        mode = parts.pop() if len(parts) == 3 and parts[2] in ("ro", "rw") else "rw"
        if len(parts) != 2 or not all(parts):
            raise ServiceError(
                f"{owner}: volume {text!r} is not 'source:destination[:ro]'"
            )
        mapping[parts[0]] = {"bind": parts[1], "mode": mode}
    return mapping


class ContainerService:
    """One container service of an experiment (see the module docstring).

    Args:
        spec: the validated ``[[services]]`` entry, references already bound.
        client: a connected docker client (:func:`chaoskit.containers.connect`).
        run_id: the run's id, put on created containers as ``chaoskit.run``.
        log_dir: where ``<name>.container.log`` is written at ``stop()``.
    """

    def __init__(
        self, spec: ContainerSpec, client: DockerClient, *, run_id: str, log_dir: Path
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.client = client
        self.run_id = run_id
        self.log_path = log_dir / f"{spec.name}.container.log"
        self._owner = f"container service {spec.name!r}"
        self.health = (
            HealthCheck.parse(spec.health, owner=self._owner) if spec.health else None
        )
        if spec.address:
            self._endpoint = Endpoint.parse(spec.address, owner=self._owner)
        elif self.health is not None:
            self._endpoint = self.health.endpoint
        else:
            self._endpoint = Endpoint("127.0.0.1", 0)
        self.container: Any = None
        self.created = False
        """True when chaoskit created the container (and so removes it)."""
        self._attached_at: datetime | None = None
        self._healthy_after: float | None = None
        self.on_launch: Callable[[Mapping[str, object]], None] | None = None
        """Called with :meth:`ledger_data` once the container exists, before it
        is started: the runner updates its ledger entry there."""

    # -- what the runner and the fault driver read ------------------------------------

    @property
    def address(self) -> Endpoint:
        """Where it serves: ``address``, else the health check's host:port."""
        return self._endpoint

    @property
    def container_id(self) -> str:
        """The container's id (a ServiceError before ``start()``)."""
        if self.container is None:
            raise ServiceError(f"{self._owner} has not been started")
        return str(self.container.id)

    @property
    def container_name(self) -> str:
        """The container's name, as ``docker ps`` shows it."""
        return str(self.container.name) if self.container is not None else ""

    @property
    def last_healthy_after_s(self) -> float | None:
        """Seconds the last start (or fault recovery) waited for health."""
        return self._healthy_after

    @property
    def planned_name(self) -> str:
        """The name a container run from the image gets (known before it exists)."""
        return f"chaoskit-{self.run_id}-{self.spec.name}"

    def planned_ledger_data(self) -> Mapping[str, object] | None:
        """The ledger entry written *before* the container is created: found by
        its planned name (and removed only if it carries the run's label); None
        when attaching to an existing container, which is never removed."""
        if not self.spec.image or self.spec.keep:
            return None
        return {
            "container": self.planned_name,
            "name": self.planned_name,
            "run": self.run_id,
            "docker_host": docker_host(),
        }

    def ledger_data(self) -> Mapping[str, object]:
        """``{container, name, run, docker_host}``: enough to undo from a ledger."""
        return {
            "container": self.container_id,
            "name": self.container_name,
            "run": self.run_id,
            "docker_host": docker_host(),
        }

    # -- start and stop ---------------------------------------------------------------

    async def start(self) -> Endpoint:
        """Run the image (or find the container to attach to) and wait until healthy.

        Raises:
            ServiceError: the engine refused (image missing, name taken), the
                container to attach to is missing or not running, or it was
                not healthy in time (a created container is removed again).
        """
        if self.spec.image:
            await self._run()
        else:
            await self._attach()
        try:
            await self.wait_healthy()
        except BaseException:
            # Unhealthy, or the run was interrupted (Ctrl-C) while waiting: the
            # runner does not know this container yet, so remove it here.
            if self.created:
                await self.stop()
            raise
        return self._endpoint

    async def _run(self) -> None:
        spec = self.spec
        labels = {**spec.labels, LABEL_RUN: self.run_id, LABEL_SERVICE: spec.name}
        options: dict[str, Any] = {
            "name": self.planned_name,
            "labels": labels,
            "environment": dict(spec.env),
            "volumes": parse_volumes(spec.volumes, owner=self._owner),
            "network_mode": spec.network,
            "detach": True,
        }
        if spec.ports:
            options["ports"] = dict(spec.ports)
        if spec.workdir:
            options["working_dir"] = spec.workdir
        if spec.user:
            options["user"] = spec.user
        command = list(spec.command) or None
        self._attached_at = datetime.now(UTC)
        created = await call(
            f"{self._owner}: create a container from image {spec.image!r}",
            self.client.containers.create,
            spec.image,
            command,
            error=ServiceError,
            **{k: v for k, v in options.items() if k != "detach"},
        )
        self.container, self.created = created, True
        try:
            if self.on_launch is not None and not spec.keep:
                self.on_launch(self.ledger_data())
            await call(
                f"{self._owner}: start container {created.name!r}",
                created.start,
                error=ServiceError,
            )
        except BaseException:
            await self.stop()
            raise

    async def _attach(self) -> None:
        spec = self.spec
        if spec.container:
            self.container = await call(
                f"{self._owner}: find container {spec.container!r} (is it running?)",
                self.client.containers.get,
                spec.container,
                error=ServiceError,
            )
        else:
            found = await _find_labelled(self.client, spec.labels)
            if len(found) != 1:
                labels = ", ".join(f"{k}={v}" for k, v in spec.labels.items())
                names = ", ".join(str(c.name) for c in found) or "none"
                raise ServiceError(
                    f"{self._owner}: exactly one running container must carry "
                    f"the labels {labels}; found {len(found)} ({names})"
                )
            self.container = found[0]
        self._attached_at = datetime.now(UTC)
        if self.container.status != "running":
            raise ServiceError(
                f"{self._owner}: container {self.container.name!r} is "
                f"{self.container.status}; chaoskit does not start containers "
                "it attaches to"
            )

    async def wait_healthy(self) -> None:
        """Wait until the container runs and its health check (if any) passes.

        Raises:
            ServiceError: not within ``health_timeout``; says what the check saw,
                the container's state and its last log lines.
        """
        began = time.monotonic()
        deadline = began + self.spec.health_timeout
        state = await self._wait_running(deadline)
        if state == "running" and self.health is not None:
            result = await wait_healthy(self.health, deadline)
            if result.healthy:
                state = "healthy"
            else:
                state = f"running but {self.health.url} last gave: {result.last_seen}"
        if state not in ("running", "healthy"):
            tail = await self._log_tail()
            raise ServiceError(
                f"{self._owner} was not healthy within "
                f"{self.spec.health_timeout:g} s: {state}{tail}"
            )
        self._healthy_after = time.monotonic() - began

    async def _wait_running(self, deadline: float) -> str:
        while True:
            await call(f"{self._owner}: inspect", self.container.reload)
            status = str(self.container.status)
            if status == "running":
                return status
            if status in ("exited", "dead") or time.monotonic() >= deadline:
                code = self.container.attrs.get("State", {}).get("ExitCode")
                return f"container {status} (exit code {code})"
            await asyncio.sleep(_RUNNING_POLL_S)

    async def _log_tail(self) -> str:
        try:
            raw = await call("logs", self.container.logs, tail=5)
        except ServiceError:
            return ""
        text = bytes(raw).decode(errors="replace").strip()
        return f"; its last log lines:\n{text}" if text else ""

    async def stop(self) -> None:
        """Write its logs to the report directory; remove it if chaoskit created
        it (and ``keep`` is off). Harmless twice; an attached one is left as is."""
        container, self.container = self.container, None
        if container is None:
            return
        try:
            raw = await call(
                f"{self._owner}: read its logs",
                container.logs,
                since=self._attached_at if not self.created else None,
                error=ServiceError,
            )
            await asyncio.to_thread(self.log_path.write_bytes, bytes(raw))
        except (ServiceError, OSError):
            pass  # the container may be gone already; removing it matters more
        if self.created and not self.spec.keep:
            await call(
                f"{self._owner}: remove container {container.name!r}",
                container.remove,
                force=True,
                error=ServiceError,
            )
            self.created = False

    def __repr__(self) -> str:
        return f"ContainerService(name={self.name!r}, {self._endpoint.address})"


if TYPE_CHECKING:

    def _is_a_service(service: ContainerService) -> Service:
        # mypy checks here that ContainerService satisfies the Service protocol.
        return service
