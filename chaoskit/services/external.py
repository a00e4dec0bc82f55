"""Something already running that chaoskit only watches: ``kind = "external"``.

``start()`` waits until it is healthy; ``stop()`` does nothing, because we did
not start it. The health check is the one process services use (``health``),
or, when only ``address`` is given, a TCP connection to it::

    api = ExternalService("api", health="http://127.0.0.1:8000/health")
    await api.start()    # ServiceError if /health gives no 2xx within 30 s
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from chaoskit.errors import ServiceError, UsageError
from chaoskit.services.health import Endpoint, HealthCheck, wait_healthy

if TYPE_CHECKING:
    from chaoskit.services.base import Service

__all__ = ["ExternalService"]


class ExternalService:
    """A service someone else runs: health-checked, never started or stopped.

    Args:
        name: the service's name, used in every message.
        address: ``host:port`` where it listens; None: taken from ``health``.
        health: ``http(s)://...`` (healthy on 2xx) or ``tcp://host:port``; None:
            a TCP connection to ``address`` (with neither, nothing is checked
            and ``address`` is ``127.0.0.1:0``, meaning unknown).
        health_timeout: seconds ``start()`` waits for health.
    """

    def __init__(
        self,
        name: str,
        *,
        address: str | None = None,
        health: str | None = None,
        health_timeout: float = 30.0,
    ) -> None:
        if not name:
            raise UsageError("external service: name must not be empty")
        owner = f"external service {name!r}"
        if health_timeout <= 0:
            raise UsageError(f"{owner}: health_timeout must be positive")
        self.name = name
        self.health_timeout = health_timeout
        endpoint = Endpoint.parse(address, owner=owner) if address else None
        if health is not None:
            self.health: HealthCheck | None = HealthCheck.parse(health, owner=owner)
        elif endpoint is not None:
            self.health = HealthCheck(f"tcp://{endpoint.address}", "tcp", endpoint)
        else:
            self.health = None
        if endpoint is None:
            endpoint = self.health.endpoint if self.health else Endpoint("127.0.0.1", 0)
        self._endpoint = endpoint
        self._healthy_after: float | None = None

    @property
    def address(self) -> Endpoint:
        """Where it listens: ``address`` given, else the health check's host:port."""
        return self._endpoint

    @property
    def last_healthy_after_s(self) -> float | None:
        """Seconds the last ``start()`` waited until the health check passed."""
        return self._healthy_after

    async def start(self) -> Endpoint:
        """Wait until the health check passes.

        Raises:
            ServiceError: not healthy within ``health_timeout``; says what the
                health check last saw.
        """
        began = time.monotonic()
        if self.health is not None:
            result = await wait_healthy(self.health, began + self.health_timeout)
            if not result.healthy:
                raise ServiceError(
                    f"external service {self.name!r} was not healthy within "
                    f"{self.health_timeout:g} s; {self.health.url} last gave: "
                    f"{result.last_seen} (chaoskit does not start external "
                    "services: is it running?)"
                )
        self._healthy_after = time.monotonic() - began
        return self._endpoint

    async def stop(self) -> None:
        """Nothing to do: chaoskit did not start it and leaves it running."""

    def __repr__(self) -> str:
        return f"ExternalService(name={self.name!r}, {self._endpoint.address})"


if TYPE_CHECKING:

    def _is_a_service(service: ExternalService) -> Service:
        # mypy checks here that ExternalService satisfies the Service protocol.
        return service
