"""Proxies and their toxics: the state behind the Toxiproxy API.

Every operation the HTTP API offers is a method here, raising :class:`ApiError`
with Toxiproxy's status code and message. Operations on the collection are
serialised by one lock, as Toxiproxy serialises them with a mutex.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import random
import socket
from dataclasses import dataclass

from chaoskit.proxy.addr import AddressError, join_hostport, split_hostport
from chaoskit.proxy.connlog import ConnectionLog
from chaoskit.proxy.http import HttpOptions, HttpSession
from chaoskit.proxy.httpfaults import HttpFaults
from chaoskit.proxy.link import Connection
from chaoskit.proxy.reqlog import RequestLog
from chaoskit.proxy.toxics import (
    ATTRIBUTES,
    STREAMS,
    Toxic,
    ToxicError,
    check_attributes,
)

__all__ = ["ApiError", "Proxy", "ProxyCollection", "ProxySettings"]


class ApiError(Exception):
    """A Toxiproxy API error: HTTP status and the exact message clients expect."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ProxySettings:
    """Server-wide settings every proxy shares."""

    seed: int
    log_capacity: int = 10_000
    dial_timeout: float = 10.0
    busy_poll_us: int = 0
    """Spin up to this many µs after traffic instead of sleeping (busypoll.py)."""


def _resolve(host: str) -> str | None:
    """The IP a listen host binds; None for a wildcard (every interface)."""
    if host in ("", "0.0.0.0", "::"):  # a wildcard: only when the client asks
        return None
    if host == "localhost":
        return "127.0.0.1"
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(host))
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ApiError(500, f"listen tcp: lookup {host}: {exc.strerror}") from None
    # Prefer IPv4, as Go's resolver does for a "tcp" listen with both families.
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    return str(infos[0][4][0])


def _wildcard_socket(port: int) -> socket.socket:
    """One socket on every interface, dual-stack where IPv6 exists, as Go opens.

    Letting asyncio bind the wildcard would open one socket per address family,
    and with port 0 each would get a different port.
    """
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:  # no IPv6 on this host
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if sock.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind(("::", port))
        else:
            sock.bind(("0.0.0.0", port))
    except OSError:
        sock.close()
        raise
    return sock


class Proxy:
    """One proxy: a listener, an upstream, a toxic chain and its live connections."""

    def __init__(
        self, name: str, listen: str, upstream: str, settings: ProxySettings
    ) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.refusing = False
        """chaoskit extension: "down, observed" (see :meth:`refuse`)."""
        self.settings = settings
        self.toxics: list[Toxic] = []
        self.log = ConnectionLog(settings.log_capacity)
        self.protocol = "tcp"
        """chaoskit extension: ``http`` parses requests (see :mod:`.http`)."""
        self.http_options = HttpOptions()
        self.http_faults = HttpFaults(settings.seed, name)
        self.requests = RequestLog(settings.log_capacity)
        self.connections: dict[int, Connection] = {}
        self._server: asyncio.Server | None = None
        self._next_id = 0

    # -- JSON ------------------------------------------------------------------------

    def toxics_json(self) -> list[dict[str, object]]:
        """Upstream toxics in chain order, then downstream toxics in chain order."""
        ordered = [t for t in self.toxics if t.direction == "upstream"]
        ordered += [t for t in self.toxics if t.direction == "downstream"]
        return [t.to_json() for t in ordered]

    def to_json(self) -> dict[str, object]:
        """The API shape, keys in Toxiproxy's order (``Logger`` included)."""
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "Logger": {},
            "toxics": self.toxics_json(),
        }

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the listen address; the stored listen becomes the bound address."""
        try:
            host, port = split_hostport(self.listen)
        except AddressError as exc:
            raise ApiError(500, f"listen tcp: {exc}") from None
        ip = _resolve(host)
        loop = asyncio.get_running_loop()
        try:
            if ip is None:
                self._server = await loop.create_server(
                    self._accept, sock=_wildcard_socket(port), backlog=1024
                )
            else:
                self._server = await loop.create_server(
                    self._accept, host=ip, port=port, reuse_address=True, backlog=1024
                )
        except OSError as exc:
            # asyncio and uvloop wrap the bind error in their own sentence; Go
            # shows the bare OS reason, e.g. "bind: address already in use".
            reason = (os.strerror(exc.errno) if exc.errno else str(exc)).lower()
            shown = join_hostport(ip or "", port) if ip else f":{port}"
            raise ApiError(500, f"listen tcp {shown}: bind: {reason}") from None
        bound_ip, bound_port = self._server.sockets[0].getsockname()[:2]
        # A wildcard listen reads "[::]:P", as Go reports its dual-stack socket.
        self.listen = join_hostport(ip if ip is not None else bound_ip, bound_port)
        self.enabled = True

    async def stop(self, reason: str) -> None:
        """Close the listener and every live connection."""
        self.enabled = False
        self.refusing = False
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for conn in list(self.connections.values()):
            conn.close(reason, graceful=False)
        if server is not None:
            await server.wait_closed()

    def refuse(self, on: bool) -> None:
        """Down, but observed: keep the listener, reset every attempt, log it.

        Toxiproxy's ``enabled=false`` closes the listener, so the kernel refuses
        attempts (ECONNREFUSED) and they never reach the connection log. While
        refusing, each attempt is accepted, logged (end ``refused``) and reset
        at once without dialling the upstream: clients see ECONNRESET instead.
        Live connections are dropped, as ``down`` drops them.
        """
        self.refusing = on
        if on:
            for conn in list(self.connections.values()):
                conn.close("disabled", graceful=False)

    def _accept(self) -> asyncio.BaseProtocol:
        self._next_id += 1
        conn_id = self._next_id
        conn = Connection(
            owner=self,
            conn_id=conn_id,
            upstream=self.upstream,
            record=self.log.open(conn_id),
            dial_timeout=self.settings.dial_timeout,
            refuse=self.refusing,
            busy_poll_us=self.settings.busy_poll_us,
        )
        if self.protocol == "http":
            conn.http = HttpSession(
                conn, self.http_faults, self.requests, self.http_options
            )
        self.connections[conn_id] = conn
        return conn.client_side

    # -- the Owner protocol used by connections ---------------------------------------

    def stage_rng(
        self, conn_id: int, direction: str, toxic: str, gen: int
    ) -> random.Random:
        # A string seed is hashed with SHA-512: stable across runs and processes.
        key = f"{self.settings.seed}/{self.name}/{conn_id}/{direction}/{toxic}/{gen}"
        return random.Random(key)

    def connection_closed(self, conn: Connection) -> None:
        self.connections.pop(conn.id, None)

    # -- toxics on live connections ----------------------------------------------------

    def add_toxic(self, toxic: Toxic) -> None:
        self.toxics.append(toxic)
        for conn in list(self.connections.values()):
            if conn.server is not None:  # still dialling: it picks up the list later
                conn.link(toxic.direction).add(toxic)

    async def update_toxic(self, toxic: Toxic) -> None:
        self.toxics = [toxic if t.name == toxic.name else t for t in self.toxics]
        await asyncio.gather(
            *(
                c.link(toxic.direction).update(toxic)
                for c in list(self.connections.values())
            )
        )

    async def remove_toxic(self, toxic: Toxic) -> None:
        self.toxics = [t for t in self.toxics if t.name != toxic.name]
        conns = list(self.connections.values())
        active = await asyncio.gather(
            *(c.link(toxic.direction).remove(toxic.name) for c in conns)
        )
        if toxic.type == "timeout":
            # Data the timeout toxic dropped leaves the stream corrupt: close the
            # connections it was active on (not those that lost the roll).
            for conn, was_active in zip(conns, active, strict=True):
                if was_active:
                    conn.close("toxic", by=toxic.name)


class ProxyCollection:
    """Every proxy of one server, by name."""

    def __init__(self, settings: ProxySettings) -> None:
        self.settings = settings
        self.proxies: dict[str, Proxy] = {}
        self.lock = asyncio.Lock()

    def get(self, name: str) -> Proxy:
        try:
            return self.proxies[name]
        except KeyError:
            raise ApiError(404, "proxy not found") from None

    def sorted(self) -> list[Proxy]:
        return [self.proxies[name] for name in sorted(self.proxies)]

    async def create(
        self, name: str, listen: str, upstream: str, enabled: bool
    ) -> Proxy:
        if name in self.proxies:
            raise ApiError(409, "proxy already exists")
        proxy = Proxy(name, listen, upstream, self.settings)
        if enabled:
            await proxy.start()
        self.proxies[name] = proxy
        return proxy

    async def update(
        self,
        proxy: Proxy,
        listen: str | None,
        upstream: str | None,
        enabled: bool | None,
    ) -> Proxy:
        new_listen = listen if listen else proxy.listen
        new_upstream = upstream if upstream else proxy.upstream
        moved = new_upstream != proxy.upstream or not self.same_listen(
            proxy, new_listen
        )
        want_enabled = proxy.enabled if enabled is None else enabled
        if moved:
            was_enabled = proxy.enabled
            if was_enabled:
                await proxy.stop("disabled")
            proxy.listen, proxy.upstream = new_listen, new_upstream
            if want_enabled:
                await proxy.start()
        elif want_enabled and not proxy.enabled:
            await proxy.start()
        elif not want_enabled and proxy.enabled:
            await proxy.stop("disabled")
        return proxy

    def same_listen(self, proxy: Proxy, listen: str) -> bool:
        """Is ``listen`` the proxy's address, after resolution (Toxiproxy #631)?"""
        if listen == proxy.listen:
            return True
        try:
            host, port = split_hostport(listen)
            ip = _resolve(host)
        except (AddressError, ApiError):
            return False
        return ip is not None and port != 0 and join_hostport(ip, port) == proxy.listen

    async def delete(self, proxy: Proxy) -> None:
        await proxy.stop("deleted")
        self.proxies.pop(proxy.name, None)

    async def reset(self) -> None:
        """Re-enable every proxy and remove every toxic (the order Toxiproxy uses)."""
        for proxy in self.sorted():
            proxy.refusing = False
            proxy.http_faults.faults.clear()  # chaoskit's faults go with the toxics
            if not proxy.enabled:
                await proxy.start()
            for toxic in list(proxy.toxics):
                await proxy.remove_toxic(toxic)

    async def shutdown(self) -> None:
        for proxy in list(self.proxies.values()):
            await proxy.stop("shutdown")

    # -- toxics ------------------------------------------------------------------------

    @staticmethod
    def find_toxic(proxy: Proxy, name: str) -> Toxic:
        for toxic in proxy.toxics:
            if toxic.name == name:
                return toxic
        raise ApiError(404, "toxic not found")

    def add_toxic(
        self,
        proxy: Proxy,
        *,
        name: str | None,
        toxic_type: str | None,
        stream: str | None,
        toxicity: float | None,
        attributes: dict[str, object],
    ) -> Toxic:
        # Toxiproxy's order: stream, default name, type, name conflict, attributes.
        stream = "downstream" if stream is None else stream
        if stream.lower() not in STREAMS:
            raise ApiError(
                400, "stream was invalid, can be either upstream or downstream"
            )
        name = name or f"{toxic_type}_{stream}"
        if toxic_type not in ATTRIBUTES:
            raise ApiError(400, "invalid toxic type")
        if any(t.name == name for t in proxy.toxics):
            raise ApiError(409, "toxic already exists")
        try:
            attrs = check_attributes(toxic_type, attributes)
        except ToxicError as exc:
            raise ApiError(exc.status, str(exc)) from None
        toxic = Toxic(
            name=name,
            type=toxic_type,
            stream=stream,
            toxicity=1.0 if toxicity is None else toxicity,
            attributes=attrs,
        )
        proxy.add_toxic(toxic)
        return toxic

    async def update_toxic(
        self,
        proxy: Proxy,
        toxic: Toxic,
        *,
        toxicity: float | None,
        attributes: dict[str, object],
    ) -> Toxic:
        try:
            attrs = check_attributes(toxic.type, attributes, base=toxic.attributes)
        except ToxicError as exc:
            raise ApiError(exc.status, str(exc)) from None
        updated = Toxic(
            name=toxic.name,
            type=toxic.type,
            stream=toxic.stream,
            toxicity=toxic.toxicity if toxicity is None else toxicity,
            attributes=attrs,
        )
        await proxy.update_toxic(updated)
        return updated
