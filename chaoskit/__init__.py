"""chaoskit: chaos and resilience experiments for HTTP services.

The public API lives here and only here; importing chaoskit has no side effects
and loads no network or server library: the Toxiproxy client and the embedded
proxy server are imported the first time they are used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chaoskit.checks.base import Verdict
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
from chaoskit.plan import Plan, build_plan
from chaoskit.spec import load as load_experiment
from chaoskit.spec.model import Experiment

if TYPE_CHECKING:
    from chaoskit.faults.toxiproxy import Toxiproxy
    from chaoskit.proxy.server import ProxyServer, ProxyServerConfig

__all__ = [
    "ChaoskitError",
    "DriverError",
    "Experiment",
    "Plan",
    "ProxyServer",
    "ProxyServerConfig",
    "RollbackError",
    "RunAborted",
    "ServiceError",
    "SpecError",
    "SpecIssue",
    "Toxiproxy",
    "ToxiproxyError",
    "UsageError",
    "Verdict",
    "build_plan",
    "load_experiment",
]

_LAZY = {
    "Toxiproxy": "chaoskit.faults.toxiproxy",
    "ProxyServer": "chaoskit.proxy.server",
    "ProxyServerConfig": "chaoskit.proxy.server",
}


def __getattr__(name: str) -> object:
    # Imported on first use: they pull in httpx, Starlette, uvicorn and uvloop.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'chaoskit' has no attribute {name!r}")
