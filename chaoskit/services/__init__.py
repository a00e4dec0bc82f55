"""What an experiment starts: embedded PostgreSQL, processes, containers, external
services.

Every service starts, reports where it listens, and stops leaving nothing behind;
``base.Service`` is that contract.
"""

from __future__ import annotations

from chaoskit.services.base import Service, ServiceAddress
from chaoskit.services.container import ContainerService
from chaoskit.services.external import ExternalService
from chaoskit.services.health import Endpoint, HealthCheck
from chaoskit.services.postgres import (
    PostgresAddress,
    PostgresService,
    StopMode,
    find_postgres_bin,
)
from chaoskit.services.process import ProcessService, resume_leftover, stop_leftover

__all__ = [
    "ContainerService",
    "Endpoint",
    "ExternalService",
    "HealthCheck",
    "PostgresAddress",
    "PostgresService",
    "ProcessService",
    "Service",
    "ServiceAddress",
    "StopMode",
    "find_postgres_bin",
    "resume_leftover",
    "stop_leftover",
]
