"""The container probe against a real Docker engine (skipped without one,
except under CI=true)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chaoskit.probes import ContainerReader, ReadError
from tests.docker_support import run_labelled

pytestmark = pytest.mark.docker


def test_container_reader_reads_memory_cpu_pids_then_a_gap(
    docker_client, busybox_image
):
    container = run_labelled(docker_client, busybox_image, {}, "probe")

    async def current() -> Any:
        return container

    async def scenario() -> tuple[dict, dict]:  # type: ignore[type-arg]
        reader = ContainerReader(current)
        first = dict(await reader.read())
        await asyncio.sleep(0.5)
        second = dict(await reader.read())
        return first, second

    first, second = asyncio.run(scenario())
    assert first["memory_bytes"] is not None
    assert first["memory_bytes"] > 0
    assert first["pids"] is not None
    assert first["pids"] >= 1
    assert first["cpu_percent"] is None  # a rate needs two samples
    assert second["cpu_percent"] is not None
    container.kill()
    container.wait(timeout=10)
    with pytest.raises(ReadError):
        asyncio.run(ContainerReader(current).read())
