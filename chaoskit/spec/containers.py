"""Cross-field rules of ``kind = "container"`` services and container faults.

A container service either runs an ``image`` or attaches to an existing
container (by ``container`` name or by ``labels``); a container fault targets
exactly one of a container service, a container name, or a labelled set (with
an optional blast radius). Like :mod:`chaoskit.spec.rules`, every function
returns :class:`~chaoskit.errors.SpecIssue` lists and never raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from chaoskit.errors import SpecIssue
from chaoskit.spec.model import ContainerFault, ContainerService
from chaoskit.spec.parts import items

__all__ = ["check_container_fault", "check_container_services"]

_RUN_ONLY = ("command", "env", "volumes", "ports", "workdir", "user", "keep")
"""Settings that only mean something for a container chaoskit runs itself."""
_TARGETS = ("service", "container", "labels")
_FAULT_COMMON = {"name", "kind", "at", "for", *_TARGETS, "count", "percent", "jitter"}
_FAULT_SETTINGS = {
    "restart": {"timeout"},
    "stop": {"timeout"},
    "kill": {"signal", "restart"},
    "pause": set(),
}
_SERVICE_ADAPTER: TypeAdapter[ContainerService] = TypeAdapter(ContainerService)


def check_container_services(table: Mapping[str, Any]) -> list[SpecIssue]:
    """Each container service runs an image or attaches, and sets only what fits."""
    issues = []
    for index, raw in items(table, "services"):
        if not isinstance(raw, dict) or raw.get("kind") != "container":
            continue
        try:
            service = _SERVICE_ADAPTER.validate_python(raw)
        except ValidationError:
            continue  # reported with its key path by validate.translate
        where = f"services[{index}]"
        given = [k for k in ("image", "container") if getattr(service, k)]
        if service.labels and not service.image:
            given.append("labels")
        if len(given) != 1:
            message = (
                "needs one of image (run it), container or labels (attach to it)"
                if not given
                else f"sets {' and '.join(given)}; give only one"
            )
            issues.append(
                SpecIssue(
                    where,
                    message,
                    None,
                    'image = "name:tag", container = "name", labels = { app = "api" }',
                )
            )
        if not service.image:
            issues += [
                SpecIssue(
                    f"{where}.{key}",
                    "is only for a container chaoskit runs (with image); "
                    "an attached container is used as it is",
                )
                for key in _RUN_ONLY
                if key in service.model_fields_set
            ]
        if service.ports and service.network == "host":
            issues.append(
                SpecIssue(
                    f"{where}.ports",
                    "publishes ports, which host networking does not use",
                    None,
                    'network = "bridge" with ports, or host networking without',
                )
            )
    return issues


def check_container_fault(
    where: str, fault: ContainerFault, service_kinds: Mapping[str, str]
) -> tuple[list[SpecIssue], set[str]]:
    """A container fault's target and blast radius; returns (issues, allowed keys)."""
    issues = []
    targets = [
        key for key in _TARGETS if key in fault.model_fields_set and getattr(fault, key)
    ]
    containers = [n for n, k in service_kinds.items() if k == "container"]
    if len(targets) != 1:
        message = (
            "needs a target: service, container or labels"
            if not targets
            else f"sets {' and '.join(targets)}; give only one target"
        )
        allowed = 'service = "api", container = "name", labels = { app = "api" }'
        issues.append(SpecIssue(where, message, None, allowed))
    if fault.service is not None:
        kind = service_kinds.get(fault.service)
        if kind is None:
            issues.append(
                SpecIssue(
                    f"{where}.service",
                    "is not a declared service",
                    fault.service,
                    ", ".join(service_kinds) or "(no service is declared)",
                )
            )
        elif kind and kind != "container":  # "": a wrong kind, reported already
            issues.append(
                SpecIssue(
                    f"{where}.service",
                    f"is a {kind} service; a {fault.kind} fault with these "
                    "settings needs a container service",
                    fault.service,
                    ", ".join(containers) or "(no container service)",
                )
            )
    radius = [k for k in ("count", "percent") if getattr(fault, k) is not None]
    if radius and not fault.labels:
        issues.append(
            SpecIssue(
                f"{where}.{radius[0]}",
                "is a blast radius over a labelled set: it needs labels "
                "(how many times the fault happens is `occurrences` here)",
                None,
                'labels = { app = "api" }, or occurrences = 3 with every',
            )
        )
    if len(radius) == 2:
        issues.append(
            SpecIssue(
                f"{where}.percent",
                "sets the blast radius twice (count is given too); give one",
            )
        )
    if fault.percent is not None and fault.percent <= 0:
        issues.append(
            SpecIssue(
                f"{where}.percent", "must be above 0", fault.percent, '"50%" or 0.5'
            )
        )
    return issues, _FAULT_COMMON | _FAULT_SETTINGS[fault.kind]
