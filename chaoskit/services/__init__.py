"""What an experiment starts: embedded PostgreSQL (processes and containers to come).

Every service starts, reports where it listens, and stops leaving nothing behind;
``base.Service`` is that contract.
"""

from __future__ import annotations

from chaoskit.services.base import Service, ServiceAddress
from chaoskit.services.postgres import (
    PostgresAddress,
    PostgresService,
    StopMode,
    find_postgres_bin,
)

__all__ = [
    "PostgresAddress",
    "PostgresService",
    "Service",
    "ServiceAddress",
    "StopMode",
    "find_postgres_bin",
]
