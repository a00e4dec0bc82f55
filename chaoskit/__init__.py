"""chaoskit: chaos and resilience experiments for HTTP services.

The public API lives here and only here; importing chaoskit has no side effects.
"""

from __future__ import annotations

from chaoskit.errors import (
    ChaoskitError,
    DriverError,
    RollbackError,
    RunAborted,
    ServiceError,
    SpecError,
    SpecIssue,
    ToxiproxyError,
    UsageError,
)

__all__ = [
    "ChaoskitError",
    "DriverError",
    "RollbackError",
    "RunAborted",
    "ServiceError",
    "SpecError",
    "SpecIssue",
    "ToxiproxyError",
    "UsageError",
]
