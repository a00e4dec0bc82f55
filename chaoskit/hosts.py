"""The safety rule on where traffic may go: loopback unless a user allows
remote targets. One definition, used by the spec checks, the load engine and the
fuzzer alike."""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback"]


def is_loopback(host: str) -> bool:
    """Whether a host name or address is on loopback (no name lookup)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
