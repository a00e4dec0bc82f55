"""chaoskit: chaos and resilience experiments for HTTP services.

The public API lives here and only here; importing chaoskit has no side effects
and loads nothing but the errors: every other name is imported the first time
it is used. A load generator process (``chaoskit.load``) so starts without the
experiment model (pydantic) or the server libraries: 0.4 s of CPU less each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from chaoskit.checks.base import Verdict
    from chaoskit.faults.toxiproxy import Toxiproxy
    from chaoskit.plan import Plan, build_plan
    from chaoskit.proxy.server import ProxyServer, ProxyServerConfig
    from chaoskit.spec import load as load_experiment
    from chaoskit.spec.model import Experiment

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

# name -> (module, its name there)
_LAZY = {
    "Experiment": ("chaoskit.spec.model", "Experiment"),
    "Plan": ("chaoskit.plan", "Plan"),
    "ProxyServer": ("chaoskit.proxy.server", "ProxyServer"),
    "ProxyServerConfig": ("chaoskit.proxy.server", "ProxyServerConfig"),
    "Toxiproxy": ("chaoskit.faults.toxiproxy", "Toxiproxy"),
    "Verdict": ("chaoskit.checks.base", "Verdict"),
    "build_plan": ("chaoskit.plan", "build_plan"),
    "load_experiment": ("chaoskit.spec", "load"),
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value  # once: later lookups find it directly
        return value
    raise AttributeError(f"module 'chaoskit' has no attribute {name!r}")
