"""Shared test helpers: free ports and waiting for them."""

from __future__ import annotations

import os
import signal
import socket
import time

import pytest

# Docker fixtures (the engine or a skip, the session's image) for every test tier.
from tests.docker_support import busybox_image, docker_client  # noqa: F401 - by name


def pytest_configure(config: pytest.Config) -> None:
    """Stop signals at their defaults in every process the tests start.

    chaoskit keeps a stop signal its parent ignored (a run under `nohup`, or a
    background job of a script, whose SIGINT the shell ignores), and an ignored
    signal is inherited across exec. A suite started that way (`make test &`,
    some CI runners) would hand every `chaoskit run` it spawns an ignored SIGINT,
    and the Ctrl-C tests would see a run that rightly does not stop. The tests
    that want an ignored signal (the `nohup` case) set it themselves.
    """
    del config
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        if signal.getsignal(sig) == signal.SIG_IGN:
            default = (
                signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
            )
            signal.signal(sig, default)


@pytest.hookimpl(tryfirst=True)  # before -m selects and pytest-xdist groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every Docker test is ``serial`` (and one xdist group).

    Their containers' names come from fixed run ids and ports within a session,
    and the engine is one per machine: tests that are safe one after another
    need not be safe side by side. ``serial`` keeps them apart even where
    xdist_group has no effect (pytest 9.2 with xdist 3.8).
    """
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if item.get_closest_marker("docker") or fixtures & {"docker_client"}:
            item.add_marker(pytest.mark.xdist_group("docker"))
            item.add_marker(pytest.mark.serial)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (bind 0, read, close)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Wait until something accepts connections on host:port."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Loopback requests must never be sent to a proxy from the environment.
    for name in list(os.environ):
        if name.lower() in {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}:
            monkeypatch.delenv(name)
