"""The process fault driver (kill, restart, pause) against real child processes.

The service is ``tests/integration/services/child_server.py``; every process
a test starts is stopped by PID at teardown, also when the test fails.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
import pytest

from chaoskit.errors import DriverError, ServiceError
from chaoskit.faults.process import (
    apply_process_fault,
    parse_kill_signal,
    process_changes,
    process_ledger_entry,
)
from chaoskit.services import ProcessService, resume_leftover
from chaoskit.spec.model import ProcessFault
from tests.integration.services.children import Children, alive, state

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _fault(kind: str, **fields: object) -> ProcessFault:
    return ProcessFault.model_validate(
        {"name": f"{kind} api", "kind": kind, "service": "api", "at": "1s", **fields}
    )


async def _status(service: ProcessService, within: float = 2.0) -> int:
    async with httpx.AsyncClient(trust_env=False, timeout=within) as client:
        response = await client.get(f"http://{service.address.address}/info")
        return response.status_code


async def test_kill_9_then_undo_starts_it_again_with_a_new_pid(children: Children):
    service = children.server()
    await service.start()
    old_pid = service.pid
    assert old_pid is not None
    undo, entry = await apply_process_fault(_fault("kill", signal="9"), service)
    assert entry is None  # the service's own "process" entry covers a crash
    assert not service.running
    assert not alive(old_pid)
    with pytest.raises(httpx.ConnectError):
        await _status(service)
    assert undo.outage_s is None
    await undo()
    assert service.pid not in (None, old_pid)
    assert await _status(service) == 200
    assert undo.outage_s is not None
    assert undo.outage_s > 0
    await undo()  # idempotent: a second call starts nothing
    assert "start 3 of" not in service.stdout_path.read_text()


async def test_kill_without_restart_leaves_it_down(children: Children):
    service = children.server()
    await service.start()
    undo, _ = await apply_process_fault(
        _fault("kill", signal="SIGTERM", restart=False), service
    )
    assert not service.running
    await undo()
    assert not service.running


async def test_kill_with_a_signal_that_ends_nothing_is_refused(children: Children):
    service = children.server()
    await service.start()
    with pytest.raises(DriverError) as caught:
        await apply_process_fault(_fault("kill", signal="SIGHUP"), service)
    message = str(caught.value)
    assert message.startswith("process fault 'kill api' (kill) on service 'api': ")
    assert "signal 'SIGHUP' cannot be used by a kill fault" in message
    assert "SIGKILL (9), SIGTERM (15)" in message
    assert service.running


def test_signal_names_numbers_and_short_names_are_accepted():
    assert parse_kill_signal("SIGKILL") == signal.SIGKILL
    assert parse_kill_signal("term") == signal.SIGTERM
    assert parse_kill_signal("2") == signal.SIGINT
    for bad in ("SIGSTOP", "999", "", "NOPE"):
        with pytest.raises(DriverError):
            parse_kill_signal(bad)


async def test_kill_of_a_process_ignoring_the_signal_is_a_chained_driver_error(
    children: Children,
):
    service = children.server("--ignore-term", stop_timeout=0.3)
    await service.start()
    with pytest.raises(DriverError, match=r"still runs 0\.3 s after SIGTERM") as caught:
        await apply_process_fault(_fault("kill", signal="TERM"), service)
    assert isinstance(caught.value.__cause__, ServiceError)


async def test_restart_happens_inside_apply_and_measures_the_window(
    children: Children,
):
    service = children.server()
    await service.start()
    old_pid = service.pid
    undo, entry = await apply_process_fault(_fault("restart"), service)
    assert entry is None
    assert service.pid not in (None, old_pid)
    assert await _status(service) == 200
    assert undo.outage_s is not None
    assert 0 < undo.outage_s < 5
    assert "restarted, healthy after" in undo.description
    await undo()
    assert service.running


async def test_pause_hangs_requests_until_the_undo_resumes(children: Children):
    service = children.server()
    await service.start()
    pid = service.pid
    undo, entry = await apply_process_fault(_fault("pause"), service)
    assert entry is not None
    assert entry.kind == "sigcont"
    assert entry.data["pid"] == pid
    assert state(pid or 0) == "T"
    with pytest.raises(httpx.TimeoutException):
        await _status(service, within=0.3)
    await undo()
    assert await _status(service) == 200
    assert undo.outage_s is not None
    # The window spans the 0.3 s request timeout waited inside it.
    assert undo.outage_s >= 0.3


async def test_a_crashed_runs_pause_is_resumed_from_its_ledger_entry(
    children: Children,
):
    service = children.server()
    await service.start()
    [change] = process_changes(_fault("pause"), service)
    # The entry is known before the change is applied: the ledger gets it first.
    assert change.entry is not None
    await change.apply()
    assert state(service.pid or 0) == "T"
    # As `chaoskit rollback` does it: from the JSON the ledger holds.
    assert await resume_leftover(change.entry.to_json()) == "resumed"
    assert await _status(service) == 200


async def test_a_fault_on_a_stopped_service_is_a_driver_error(children: Children):
    service = children.server()
    with pytest.raises(DriverError, match="the service is not running"):
        await apply_process_fault(_fault("pause"), service)


async def test_cancelled_restart_leaves_no_process_behind(
    children: Children, tmp_path: Path
):
    service = children.server()
    await service.start()
    old_pid = service.pid
    # The new start never becomes healthy: cancel the fault while it waits.
    service.health = service.health.__class__.parse(
        f"http://{service.address.address}/missing", owner="test"
    )
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(apply_process_fault(_fault("restart"), service), 1.0)
    assert not alive(old_pid or 0)
    assert not service.running
    assert service._proc is None  # nothing left to stop, nothing left running


def test_the_process_ledger_entry_names_pid_and_start_time(children: Children):
    service = children.server()
    service.start_sync()
    entry = process_ledger_entry(service)
    assert entry.kind == "process"
    assert entry.data["pid"] == service.pid
    assert isinstance(entry.data["start_time"], int)
    assert entry.data["name"] == "api"
    service.stop_sync()
