"""Where the timeline meets the Docker API: the changes of container faults.

Container faults resolve their targets when they fire (which containers carry
the labels *then*), so the runner awaits their changes; the docker client is
the run's one client (:meth:`Environment.docker_client`).
"""

from __future__ import annotations

from chaoskit.faults.base import Change
from chaoskit.faults.docker import ContainerTarget, container_changes
from chaoskit.runner.environment import Environment
from chaoskit.services.container import ContainerService
from chaoskit.spec import model

__all__ = ["docker_changes"]


async def docker_changes(
    fault: model.ProcessFault | model.ContainerFault, env: Environment
) -> list[Change]:
    """The changes of a fault on containers (see :mod:`chaoskit.faults.docker`)."""
    services: dict[str, ContainerTarget] = {
        name: service
        for name, service in env.services.items()
        if isinstance(service, ContainerService)
    }
    client = await env.docker_client()
    return await container_changes(fault, client, services, seed=env.seed)
