"""The Docker engine, as container services and container faults both reach it.

``services/container`` and ``faults/docker`` are sibling layers and may not
import each other, so what they share lives here: connecting (with the one
message for a missing engine), calling the blocking docker SDK off the event
loop with its errors mapped, the labels chaoskit puts on what it creates, and
the undos ``chaoskit rollback`` runs from a ledger entry alone::

    client = await connect()                 # ServiceError (exit 3) without an engine
    container = await call("inspect", client.containers.get, "api")
    await start_leftover({"container": container.id, "docker_host": ...})

The SDK is imported lazily: ``import chaoskit`` stays cheap.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from chaoskit.errors import ChaoskitError, DriverError, ServiceError

if TYPE_CHECKING:
    from docker import DockerClient

__all__ = [
    "LABEL_RUN",
    "LABEL_SERVICE",
    "LEDGER_UNDOS",
    "MISSING_ENGINE",
    "call",
    "connect",
    "docker_host",
    "find_labelled",
    "remove_leftover",
    "start_if_down",
    "start_leftover",
    "unpause_if_paused",
    "unpause_leftover",
]

LABEL_RUN = "chaoskit.run"
"""Label on every container chaoskit creates: the run's id, so cleanup (and a
later run's) only ever touches its own containers."""
LABEL_SERVICE = "chaoskit.service"
"""Label on a container chaoskit creates: the service's name in the experiment."""

MISSING_ENGINE = (
    "no Docker engine answers at {host} ({reason}). Container services and "
    "faults need one: install it (Debian/Ubuntu: `apt-get install docker.io`), "
    "start it (`dockerd`, or `systemctl start docker`), or set DOCKER_HOST to "
    "an engine that runs (e.g. DOCKER_HOST=unix:///run/docker.sock)"
)

_T = TypeVar("_T")
_CALL_TIMEOUT_S = 60
"""The SDK's HTTP timeout: a stop waits out its grace period inside one call."""


def docker_host() -> str:
    """The engine chaoskit talks to: ``DOCKER_HOST``, else the default socket."""
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


async def connect(host: str | None = None) -> DockerClient:
    """A client for the engine at ``host`` (default :func:`docker_host`), which
    answered (its API version is the client's).

    Raises:
        ServiceError: nothing answers there; the message says what to install,
            start or set (exit 3, no traceback).
    """
    import docker  # lazy: only container experiments pay for it

    where = host or docker_host()

    def open_client() -> DockerClient:
        if where.startswith("unix://"):
            # The SDK's unix-socket connection leaks its socket when connecting
            # fails; find out first with one that is always closed.
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe_socket:
                probe_socket.settimeout(5)
                probe_socket.connect(where.removeprefix("unix://"))
        # Ask the engine its API version with a client we always close: the
        # SDK's own version="auto" asks inside its constructor and, when nothing
        # answers, leaves that client's connection pool open.
        probe = docker.APIClient(
            base_url=where,
            version=docker.constants.MINIMUM_DOCKER_API_VERSION,
            timeout=_CALL_TIMEOUT_S,
        )
        try:
            version = probe.version(api_version=False)["ApiVersion"]
        finally:
            probe.close()
        return docker.DockerClient(
            base_url=where, version=version, timeout=_CALL_TIMEOUT_S
        )

    try:
        return await asyncio.to_thread(open_client)
    except (docker.errors.DockerException, OSError, KeyError) as exc:
        # requests' ConnectionError is an OSError; the SDK wraps most in its own.
        reason = _engine_reason(exc)
        raise ServiceError(MISSING_ENGINE.format(host=where, reason=reason)) from exc


_ENGINE_REASONS = (
    ("No such file or directory", "no socket there"),
    ("Connection refused", "connection refused"),
    ("Permission denied", "permission denied: is your user in the docker group?"),
    ("timed out", "no answer in time"),
)


def _engine_reason(exc: BaseException) -> str:
    """What went wrong reaching the engine, in a few words."""
    text = str(exc)
    for needle, reason in _ENGINE_REASONS:
        if needle in text:
            return reason
    return _short(exc)


async def call(
    what: str,
    fn: Callable[..., _T],
    *args: Any,
    error: type[ChaoskitError] = DriverError,
    **kwargs: Any,
) -> _T:
    """``fn(*args, **kwargs)`` in a worker thread; SDK failures become ``error``.

    ``what`` says what was being done ("stop container 'api'"), for the message.
    """
    import docker  # lazy, as in connect()

    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except docker.errors.DockerException as exc:
        raise error(f"{what}: {_short(exc)}") from exc
    except OSError as exc:
        raise error(f"{what}: {_short(exc)}") from exc


async def find_labelled(
    client: DockerClient, labels: Mapping[str, str], *, running_only: bool = True
) -> list[Any]:
    """Containers carrying every label in ``labels`` (``""``: the key is present),
    sorted by name so a seeded choice among them is reproducible."""
    filters = {"label": [f"{k}={v}" if v else k for k, v in labels.items()]}
    found = await call(
        f"list containers labelled {_labels_text(labels)}",
        client.containers.list,
        all=not running_only,
        filters=filters,
    )
    return sorted(found, key=lambda c: str(c.name))


def _labels_text(labels: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" if v else k for k, v in labels.items())


def _short(exc: BaseException) -> str:
    """The SDK's message without its request dump: the first line, bounded."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def start_if_down(container: Any) -> None:
    """Start (or unpause) a container unless it runs: an undo may run twice.
    Blocking: run it through :func:`call`."""
    container.reload()
    state = container.attrs.get("State", {})
    if state.get("Paused"):
        container.unpause()
    elif not state.get("Running"):
        container.start()


def unpause_if_paused(container: Any) -> None:
    """Unpause a container if it is paused (blocking, like :func:`start_if_down`)."""
    container.reload()
    if container.attrs.get("State", {}).get("Paused"):
        container.unpause()


# --- undos from a ledger entry (another process, after a crash) ----------------------


async def _leftover(entry: Mapping[str, object]) -> tuple[DockerClient, Any] | None:
    """The client and the container an entry names; None if the container is gone."""
    import docker  # lazy, as in connect()

    host = entry.get("docker_host")
    client = await connect(str(host) if host else None)
    try:
        container = await asyncio.to_thread(
            client.containers.get, str(entry["container"])
        )
    except docker.errors.NotFound:
        client.close()
        return None
    except docker.errors.DockerException as exc:
        client.close()
        raise DriverError(f"container {entry['container']}: {_short(exc)}") from exc
    return client, container


async def start_leftover(entry: Mapping[str, object]) -> None:
    """Ledger kind ``container_start``: run the container again if it is not running
    (unpause it if it is paused). Gone already: nothing to do."""
    found = await _leftover(entry)
    if found is None:
        return
    client, container = found
    try:
        await call(f"start container {container.name!r}", start_if_down, container)
    finally:
        client.close()


async def unpause_leftover(entry: Mapping[str, object]) -> None:
    """Ledger kind ``container_unpause``: unpause the container if it is paused."""
    found = await _leftover(entry)
    if found is None:
        return
    client, container = found
    try:
        what = f"unpause container {container.name!r}"
        await call(what, unpause_if_paused, container)
    finally:
        client.close()


async def remove_leftover(entry: Mapping[str, object]) -> None:
    """Ledger kind ``container_remove``: remove a container chaoskit created, only
    if it still carries the run's label (a reused name is someone else's)."""
    found = await _leftover(entry)
    if found is None:
        return
    client, container = found
    try:
        labels = container.attrs.get("Config", {}).get("Labels") or {}
        if labels.get(LABEL_RUN) != entry.get("run"):
            return
        await call(f"remove container {container.name!r}", container.remove, force=True)
    finally:
        client.close()


LEDGER_UNDOS: Mapping[str, Callable[[Mapping[str, object]], Awaitable[None]]] = {
    "container_start": start_leftover,
    "container_unpause": unpause_leftover,
    "container_remove": remove_leftover,
}
"""Ledger entry kind -> its undo, run by ``chaoskit rollback`` after a crash."""
