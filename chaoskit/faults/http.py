"""HTTP faults on a ``protocol = "http"`` route of chaoskit's proxy.

Turns an :class:`~chaoskit.spec.model.HttpFault` (in the units users write) into
one ``/chaoskit/proxies/{route}/http_faults`` definition (milliseconds, whole
seconds for ``Retry-After``). A real Toxiproxy has no such endpoint; the driver
says so (:meth:`Toxiproxy.add_http_fault`).
"""

from __future__ import annotations

import math

from chaoskit.faults.base import Change, LedgerEntry, Undo
from chaoskit.faults.network import fault_slug
from chaoskit.faults.toxiproxy import Toxiproxy
from chaoskit.spec.httprules import toxicity_of
from chaoskit.spec.model import HttpFault

__all__ = ["http_changes", "http_fault_body", "http_fault_name"]

_TYPES = {
    "http_status": "status",
    "http_delay": "delay",
    "http_abort": "abort",
    "http_throttle": "throttle",
}


def http_fault_name(fault: HttpFault) -> str:
    """The name on the proxy: says who made it and for which fault."""
    return f"chaoskit-{fault_slug(fault.name)}"


def http_fault_body(fault: HttpFault, name: str | None = None) -> dict[str, object]:
    """The proxy's JSON definition of ``fault``."""
    match: dict[str, object] = {}
    if fault.match.method is not None:
        match["method"] = fault.match.method
    if fault.match.path is not None:
        match["path"] = fault.match.path
    if fault.match.headers:
        match["headers"] = dict(fault.match.headers)
    body: dict[str, object] = {
        "name": name or http_fault_name(fault),
        "type": _TYPES[fault.kind],
        "match": match,
        "toxicity": toxicity_of(fault),
    }
    if fault.first is not None:
        body["first"] = fault.first
    if fault.every is not None:
        body["every"] = fault.every
    match fault.kind:
        case "http_status":
            body |= {
                "status": fault.status,
                "body": fault.body,
                "headers": dict(fault.headers),
            }
        case "http_delay":
            body |= {
                "delay_ms": round(fault.delay * 1000),
                "jitter_ms": round(fault.jitter * 1000),
                "where": fault.where,
            }
        case "http_abort":
            body["abort"] = fault.abort
        case _:
            body["rate"] = float(fault.rate or 0)
            if fault.retry_after is not None:
                body["retry_after"] = max(1, math.ceil(fault.retry_after))
    return body


def http_changes(fault: HttpFault, toxiproxy: Toxiproxy, proxy: str) -> list[Change]:
    """The change that applies ``fault`` to the proxy ``proxy``."""
    name = http_fault_name(fault)

    async def add() -> Undo:
        return await toxiproxy.add_http_fault(proxy, http_fault_body(fault, name))

    entry = LedgerEntry(
        "http_fault",
        f"remove http fault {name!r} from proxy {proxy!r}",
        {"url": toxiproxy.url, "proxy": proxy, "fault": name},
    )
    return [Change(entry, add)]
