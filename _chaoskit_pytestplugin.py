"""chaoskit's pytest fixtures (the ``pytest11`` entry point).

A top-level module so that pytest can load it without importing chaoskit:
this file runs in every pytest session where chaoskit is installed, and the
machinery (``chaoskit.pytest_plugin``: the embedded proxy, the sequence judge)
is imported only when a test asks for a fixture. Usage is documented there and
in the README ("pytest plugin").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from chaoskit.pytest_plugin import ChaoskitProxy, Route

__all__ = ["chaoskit_proxy", "chaoskit_route"]


@pytest.fixture(scope="session")
def chaoskit_proxy() -> Iterator[ChaoskitProxy]:
    """chaoskit's embedded proxy, in this process, for the whole session."""
    from chaoskit.pytest_plugin import ChaoskitProxy

    proxy = ChaoskitProxy()
    try:
        proxy.start()
        yield proxy
    finally:
        proxy.close()


@pytest.fixture
def chaoskit_route(chaoskit_proxy: ChaoskitProxy) -> Iterator[Callable[..., Route]]:
    """``chaoskit_route("host:port")``: a route in front of it, gone after the test.

    ``chaoskit_route("host:port", protocol="http")``: the proxy parses HTTP on it,
    for ``route.http_status(...)`` and the other HTTP faults, and ``route.requests()``.
    """
    made: list[Route] = []

    def make(
        upstream: str,
        name: str | None = None,
        *,
        protocol: str = "tcp",
        request_id_header: str = "X-Request-Id",
    ) -> Route:
        route = chaoskit_proxy.route(
            upstream, name, protocol=protocol, request_id_header=request_id_header
        )
        made.append(route)
        return route

    yield make
    for route in made:
        route.delete()
