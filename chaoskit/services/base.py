"""What every service an experiment starts looks like to the runner.

A service is started before the load and stopped after it, whatever happens in
between. The runner only needs three things from it: ``start()`` (returns where
it listens), ``stop()`` (idempotent, leaves nothing running) and ``address``.
Kinds add their own extras (PostgreSQL adds a DSN, ``restart()`` and ``kill()``).
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Service", "ServiceAddress"]


class ServiceAddress(Protocol):
    """Where a running service listens; ``address`` is ``"host:port"``."""

    @property
    def host(self) -> str:
        """The IP address the service listens on, e.g. ``"127.0.0.1"``."""
        ...

    @property
    def port(self) -> int:
        """The TCP port the service listens on."""
        ...

    @property
    def address(self) -> str:
        """``"host:port"``, the form experiment files refer to."""
        ...


class Service(Protocol):
    """A service an experiment starts and stops."""

    @property
    def name(self) -> str:
        """The service's name in the experiment, used in every error message."""
        ...

    @property
    def address(self) -> ServiceAddress:
        """Where the service listens; a ServiceError before the first start."""
        ...

    async def start(self) -> ServiceAddress:
        """Start, wait until healthy; on failure leave nothing running."""
        ...

    async def stop(self) -> None:
        """Stop the service and everything it started; calling it twice is harmless."""
        ...
