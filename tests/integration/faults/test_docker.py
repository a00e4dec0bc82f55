"""Container faults on a real Docker engine: each kind applied and undone, the
seeded blast radius over a labelled set, and the undo from the ledger file alone
(what `chaoskit rollback` runs after a kill -9 of chaoskit)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaoskit.containers import connect
from chaoskit.errors import DriverError
from chaoskit.faults.docker import container_changes
from chaoskit.runner.ledger import Ledger, find_open_ledgers, roll_back
from chaoskit.spec.model import ContainerFault
from tests.docker_support import SESSION, TEST_LABEL, run_labelled

pytestmark = pytest.mark.docker


def fault(kind: str, **settings: object) -> ContainerFault:
    return ContainerFault.model_validate(
        {"name": f"{kind} it", "kind": kind, "at": "0s", "for": "1s", **settings}
    )


def state(container: Any) -> str:
    container.reload()
    return "paused" if container.attrs["State"]["Paused"] else container.status


async def apply(spec: ContainerFault, ledger: Ledger | None = None, seed: int = 1):
    client = await connect()
    try:
        changes = await container_changes(spec, client, {}, seed=seed)
        undos = []
        for change in changes:
            if ledger is not None and change.entry is not None:
                ledger.add(change.entry)
            undos.append(await change.apply())
        return undos
    finally:
        client.close()


@pytest.fixture
def group(busybox_image, docker_client, request) -> Iterator[list[Any]]:
    """Four running containers labelled with this test's own group."""
    tag = f"{SESSION}-{request.node.name[-20:]}".replace("[", "-").replace("]", "")
    containers = [
        run_labelled(docker_client, busybox_image, {"group": tag}, f"{tag}-{i}")
        for i in range(4)
    ]
    yield containers
    for container in containers:
        container.remove(force=True)


def labels_of(group: list[Any]) -> dict[str, str]:
    return {"group": group[0].labels["group"], TEST_LABEL: SESSION}


@pytest.mark.parametrize(
    ("kind", "during"),
    [("stop", "exited"), ("kill", "exited"), ("pause", "paused")],
)
def test_a_fault_holds_for_its_window_and_its_undo_puts_the_container_back(
    group, kind, during
):
    target = group[0]
    undos = asyncio.run(apply(fault(kind, container=target.name, timeout="0s")))
    assert state(target) == during
    assert [state(c) for c in group[1:]] == ["running"] * 3  # only the target

    async def undo_twice() -> None:
        for undo in undos:
            await undo()
            await undo()  # idempotent

    asyncio.run(undo_twice())
    assert state(target) == "running"


def test_restart_is_over_when_apply_returns(group):
    target = group[0]
    started = target.attrs["State"]["StartedAt"]
    undos = asyncio.run(apply(fault("restart", container=target.name, timeout="0s")))
    assert state(target) == "running"
    assert target.attrs["State"]["StartedAt"] != started
    assert "restarted" in undos[0].description


def test_kill_without_restart_leaves_it_stopped(group):
    target = group[0]
    spec = fault("kill", container=target.name, restart=False)
    undos = asyncio.run(apply(spec))
    asyncio.run(undos[0]())
    assert state(target) == "exited"


def test_the_blast_radius_is_seeded_over_the_labelled_set(group):
    spec = fault("pause", labels=labels_of(group), count=2)
    chosen = []
    for _ in range(2):
        undos = asyncio.run(apply(spec, seed=5))
        chosen.append({c.name for c in group if state(c) == "paused"})
        asyncio.run(undo_all_of(undos))
        assert all(state(c) == "running" for c in group)
    assert len(chosen[0]) == 2
    assert chosen[0] == chosen[1]  # the same seed hits the same containers


async def undo_all_of(undos) -> None:
    for undo in undos:
        await undo()


@pytest.mark.parametrize(("kind", "during"), [("stop", "exited"), ("pause", "paused")])
def test_the_ledger_alone_undoes_it_after_a_crash(group, tmp_path: Path, kind, during):
    target = group[0]
    ledger = Ledger(tmp_path, {"experiment": "crash"})
    asyncio.run(apply(fault(kind, container=target.name, timeout="0s"), ledger))
    assert state(target) == during
    # The run "died" here: its ledger says what is pending, nothing else is known.
    assert list(find_open_ledgers(tmp_path)) == [ledger.path]
    results = asyncio.run(roll_back(ledger.path))
    assert [r.ok for r in results] == [True]
    assert state(target) == "running"
    assert list(find_open_ledgers(tmp_path)) == []


def test_no_container_with_the_labels_is_a_driver_error(docker_client):
    spec = fault("stop", labels={"chaoskit.test.none": SESSION})
    with pytest.raises(DriverError, match=r"stop it.*no running container carries"):
        asyncio.run(apply(spec))


def test_an_unknown_container_name_is_a_driver_error(docker_client):
    with pytest.raises(DriverError, match=r"find container 'chaoskit-test-absent'"):
        asyncio.run(apply(fault("pause", container="chaoskit-test-absent")))
