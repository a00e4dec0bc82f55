"""Container services on a real Docker engine: run an image, attach by name or
labels, health checks, logs into the report directory, removal."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from chaoskit.containers import LABEL_RUN, LABEL_SERVICE, connect
from chaoskit.errors import ServiceError
from chaoskit.faults.base import LedgerEntry
from chaoskit.runner.ledger import Ledger, roll_back
from chaoskit.services.container import ContainerService, parse_volumes
from chaoskit.services.health import free_port
from chaoskit.spec.model import ContainerService as ContainerSpec
from tests.docker_support import SESSION, run_labelled

pytestmark = pytest.mark.docker


def spec(**settings: object) -> ContainerSpec:
    return ContainerSpec.model_validate(
        {"name": "web", "kind": "container", **settings}
    )


def httpd(image: str, port: int, **settings: object) -> ContainerSpec:
    return spec(
        image=image,
        command=["httpd", "-f", "-v", "-p", f"127.0.0.1:{port}", "-h", "/www"],
        health=f"http://127.0.0.1:{port}/health",
        **settings,
    )


async def start_only(settings: ContainerSpec, run_id: str, log_dir) -> None:
    """Start a service with a client of its own (closed whatever happens)."""
    client = await connect()
    try:
        service = ContainerService(settings, client, run_id=run_id, log_dir=log_dir)
        await service.start()
    finally:
        client.close()


async def _run_and_stop(image, tmp_path, docker_client, **settings):
    port = free_port()
    client = await connect()
    try:
        service = ContainerService(
            httpd(image, port, **settings), client, run_id="t1", log_dir=tmp_path
        )
        endpoint = await service.start()
        container = docker_client.containers.get(service.container_id)
        async with httpx.AsyncClient(trust_env=False) as http:
            answer = await http.get(f"http://{endpoint.address}/index.html")
        await service.stop()
        await service.stop()  # twice is harmless
        return container, answer, endpoint, port
    finally:
        client.close()


def test_an_image_runs_labelled_healthy_and_is_removed_with_its_logs_kept(
    busybox_image, docker_client, tmp_path
):
    container, answer, endpoint, port = asyncio.run(
        _run_and_stop(busybox_image, tmp_path, docker_client)
    )
    assert answer.status_code == 200
    assert answer.text == "ok\n"
    assert endpoint.address == f"127.0.0.1:{port}"
    assert container.labels[LABEL_RUN] == "t1"
    assert container.labels[LABEL_SERVICE] == "web"
    assert container.name == "chaoskit-t1-web"
    assert not docker_client.containers.list(all=True, filters={"id": container.id})
    log = (tmp_path / "web.container.log").read_text()
    assert log.count("response:200") >= 2  # the health check and the GET


def test_keep_leaves_the_container_after_stop(busybox_image, docker_client, tmp_path):
    container, _, _, _ = asyncio.run(
        _run_and_stop(busybox_image, tmp_path, docker_client, keep=True)
    )
    try:
        container.reload()
        assert container.status == "running"
    finally:
        container.remove(force=True)


def test_attach_by_name_and_by_labels_never_stops_the_container(
    busybox_image, docker_client, tmp_path
):
    app = f"attach-me-{SESSION}"
    other = run_labelled(docker_client, busybox_image, {"app": app}, "attach")

    async def attach() -> list[str]:
        client = await connect()
        try:
            ids = []
            for settings in (
                {"container": other.name},
                {"labels": {"app": app}},
            ):
                service = ContainerService(
                    spec(**settings), client, run_id="t2", log_dir=tmp_path
                )
                await service.start()
                ids.append(service.container_id)
                await service.stop()
            return ids
        finally:
            client.close()

    assert asyncio.run(attach()) == [other.id, other.id]
    assert (tmp_path / "web.container.log").exists()  # its logs since attaching
    other.reload()
    assert other.status == "running"


def test_attach_by_labels_needs_exactly_one_container(
    busybox_image, docker_client, tmp_path
):
    for index in range(2):
        run_labelled(
            docker_client, busybox_image, {"app": f"twin-{SESSION}"}, f"twin{index}"
        )

    twins = spec(labels={"app": f"twin-{SESSION}"})
    with pytest.raises(ServiceError, match=r"exactly one running container.*found 2"):
        asyncio.run(start_only(twins, "t3", tmp_path))


def test_a_missing_image_is_a_service_error_naming_it(docker_client, tmp_path):
    absent = spec(image="chaoskit-test/absent:none")
    with pytest.raises(ServiceError, match=r"chaoskit-test/absent:none"):
        asyncio.run(start_only(absent, "t4", tmp_path))


def test_an_unhealthy_container_is_removed_and_its_last_logs_shown(
    busybox_image, docker_client, tmp_path
):
    port = free_port()
    unhealthy = spec(
        image=busybox_image,
        command=["sh", "-c", "echo starting up; sleep 30"],
        health=f"tcp://127.0.0.1:{port}",
        health_timeout="1s",
    )

    with pytest.raises(ServiceError, match=r"(?s)not healthy within 1 s.*starting up"):
        asyncio.run(start_only(unhealthy, "t5", tmp_path))
    assert not docker_client.containers.list(
        all=True, filters={"label": f"{LABEL_RUN}=t5"}
    )


def test_volumes_are_parsed_as_docker_run_takes_them():
    assert parse_volumes(("/a:/b", "/c:/d:ro"), owner="x") == {
        "/a": {"bind": "/b", "mode": "rw"},
        "/c": {"bind": "/d", "mode": "ro"},
    }
    with pytest.raises(ServiceError, match=r"volume '/a' is not"):
        parse_volumes(("/a",), owner="x")


def test_the_ledger_removes_what_a_killed_run_created_and_only_that(
    busybox_image, docker_client, tmp_path
):
    """After a kill -9 of chaoskit, `container_remove` removes the container the
    run created; an entry whose run label does not match leaves it alone."""

    async def start() -> ContainerService:
        client = await connect()
        service = ContainerService(
            httpd(busybox_image, free_port()), client, run_id="t6", log_dir=tmp_path
        )
        await service.start()
        client.close()
        return service

    service = asyncio.run(start())
    data = dict(service.ledger_data())
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    Ledger(foreign, {}).add(
        LedgerEntry("container_remove", "not ours", {**data, "run": "another"})
    )
    asyncio.run(roll_back(foreign / "ledger.json"))
    assert docker_client.containers.get(data["container"]).status == "running"
    ours = tmp_path / "ours"
    ours.mkdir()
    Ledger(ours, {}).add(LedgerEntry("container_remove", "ours", data))
    results = asyncio.run(roll_back(ours / "ledger.json"))
    assert [r.ok for r in results] == [True]
    assert not docker_client.containers.list(
        all=True, filters={"id": data["container"]}
    )


def test_a_start_cancelled_while_waiting_for_health_leaves_nothing(
    busybox_image, docker_client, tmp_path
):
    """Ctrl-C during bring-up: the runner does not know the container yet, so
    the service removes it itself before the cancellation goes on."""
    never = spec(
        image=busybox_image,
        command=["sleep", "30"],
        health=f"tcp://127.0.0.1:{free_port()}",
        health_timeout="30s",
    )

    with pytest.raises(TimeoutError):
        asyncio.run(asyncio.wait_for(start_only(never, "t7", tmp_path), 1.0))
    assert not docker_client.containers.list(
        all=True, filters={"label": f"{LABEL_RUN}=t7"}
    )
