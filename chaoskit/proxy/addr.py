"""``host:port`` strings as Toxiproxy (Go) reads and writes them."""

from __future__ import annotations

__all__ = ["AddressError", "join_hostport", "split_hostport"]


class AddressError(ValueError):
    """Not a ``host:port`` address; the message is Go's wording."""


def split_hostport(text: str) -> tuple[str, int]:
    """``"host:port"`` or ``"[v6]:port"`` to its parts, as Go's SplitHostPort."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        raise AddressError(f"address {text}: missing port in address")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise AddressError(f"address {text}: too many colons in address")
    try:
        port = int(port_text) if port_text else 0
    except ValueError:
        raise AddressError(f"lookup port {port_text}: unknown port") from None
    if not 0 <= port <= 65535:
        raise AddressError(f"address {port}: invalid port")
    return host, port


def join_hostport(host: str, port: int) -> str:
    """The inverse of :func:`split_hostport`; IPv6 hosts get brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
