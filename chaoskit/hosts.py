"""The safety rule on where traffic may go: loopback unless a user allows
remote targets. One definition, used by the spec checks, the load engine and the
fuzzer alike.

Loopback is 127.0.0.0/8, ``::1`` (and IPv4-mapped ``::ffff:127.x``), and the
name ``localhost``. Any other name counts as remote: no name is looked up to
decide, so ``example.com`` is remote even if it resolves to 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["LOOPBACK", "host_of", "is_loopback"]

LOOPBACK = "127.0.0.0/8, ::1, localhost"
"""The loopback rule in one line, for messages."""


def is_loopback(host: str) -> bool:
    """Whether a host name or address is on loopback (no name lookup)."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def host_of(address: str) -> str | None:
    """The host of a URL (``http://h:1/x``, ``tcp://h:1``, ``postgresql://u:p@h``)
    or of ``host:port`` / ``[v6]:port`` / a bare host; None when there is none."""
    text = address.strip()
    if "://" in text:
        try:
            return urlsplit(text).hostname or None
        except ValueError:  # an invalid IPv6 literal or port
            return None
    if text.startswith("["):
        end = text.find("]")
        return text[1:end] if end > 0 else None
    if text.count(":") > 1:  # a bare IPv6 address
        return text
    # "" for ":8000": no host means every interface, which is not loopback.
    return text.rpartition(":")[0] if ":" in text else text
