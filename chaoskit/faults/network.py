"""Network faults on a proxy route: Toxiproxy toxics, and ``down``.

Turns a :class:`~chaoskit.spec.model.ToxicFault` (in the units users write:
durations, KB/s, bytes) into Toxiproxy API calls (integers in Toxiproxy's units:
ms, KB/s, bytes, µs), one toxic per stream; ``stream = "both"`` makes two.
"""

from __future__ import annotations

import re

from chaoskit.faults.base import Change, LedgerEntry, Undo
from chaoskit.faults.toxiproxy import Toxiproxy
from chaoskit.spec.model import ToxicFault

__all__ = ["fault_slug", "network_changes", "toxic_attributes", "toxic_name"]


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def toxic_attributes(fault: ToxicFault) -> dict[str, int]:
    """The toxic's attributes in Toxiproxy's units."""
    match fault.kind:
        case "latency":
            return {"latency": _ms(fault.latency), "jitter": _ms(fault.jitter)}
        case "bandwidth":
            return {"rate": fault.rate}
        case "slow_close":
            return {"delay": _ms(fault.delay)}
        case "timeout" | "reset_peer":
            return {"timeout": _ms(fault.timeout)}
        case "slicer":
            return {
                "average_size": fault.average_size,
                "size_variation": fault.size_variation,
                "delay": round(fault.delay * 1_000_000),  # microseconds
            }
        case "limit_data":
            return {"bytes": fault.bytes}
    return {}


def fault_slug(name: str) -> str:
    """A fault's name as it may appear in a proxy URL path."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "fault"


def toxic_name(fault: ToxicFault, stream: str) -> str:
    """A toxic name that says who made it and for which fault."""
    return f"chaoskit-{fault_slug(fault.name)}-{stream}"


def network_changes(
    fault: ToxicFault, toxiproxy: Toxiproxy, proxy: str
) -> list[Change]:
    """The changes that apply ``fault`` to the proxy ``proxy``."""
    url = toxiproxy.url
    if fault.kind == "down" and fault.observe:

        async def refuse() -> Undo:
            return await toxiproxy.refuse(proxy)

        entry = LedgerEntry(
            "proxy_accept",
            f"accept on proxy {proxy!r}",
            {"url": url, "proxy": proxy},
        )
        return [Change(entry, refuse)]
    if fault.kind == "down":

        async def disable() -> Undo:
            return await toxiproxy.disable(proxy)

        entry = LedgerEntry(
            "proxy_enable", f"enable proxy {proxy!r}", {"url": url, "proxy": proxy}
        )
        return [Change(entry, disable)]

    streams = ("upstream", "downstream") if fault.stream == "both" else (fault.stream,)
    changes = []
    for stream in streams:
        name = toxic_name(fault, stream)

        async def add(stream: str = stream, name: str = name) -> Undo:
            _, undo = await toxiproxy.add_toxic(
                proxy,
                fault.kind,
                name=name,
                stream=stream,
                toxicity=fault.toxicity,
                attributes=toxic_attributes(fault),
            )
            return undo

        entry = LedgerEntry(
            "toxic",
            f"remove toxic {name!r} from proxy {proxy!r}",
            {"url": url, "proxy": proxy, "toxic": name},
        )
        changes.append(Change(entry, add))
    return changes
