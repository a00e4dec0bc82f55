"""Process and external services against real child processes on loopback.

The child is ``child_server.py`` (http.server on a free port). Every process a
test starts is stopped by PID at teardown, also when the test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from chaoskit.errors import ServiceError, UsageError
from chaoskit.faults.base import LedgerEntry
from chaoskit.services import (
    ExternalService,
    PostgresService,
    ProcessService,
    _proc,
    resume_leftover,
    stop_leftover,
)
from tests.conftest import free_port
from tests.integration.services.children import Children, alive, state

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _get(url: str, within: float = 2.0) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False, timeout=within) as client:
        return await client.get(url)


def _info_url(service: ProcessService) -> str:
    return f"http://{service.address.address}/info"


async def test_start_waits_for_http_health_and_captures_stdout_and_stderr(
    children: Children,
):
    service = children.server()
    endpoint = await service.start()
    assert endpoint == service.address
    assert endpoint.host == "127.0.0.1"
    info = (await _get(_info_url(service))).json()
    assert info["pid"] == service.pid
    # Its own group and session: the PID is the group's ID.
    assert info["pgid"] == service.pid
    assert service.running
    assert service.started_at is not None
    assert abs(service.started_at - time.time()) < 10
    assert 0 < (service.last_healthy_after_s or 0) < 10
    await service.stop()
    out = service.stdout_path.read_text()
    err = service.stderr_path.read_text()
    assert service.stdout_path == children.log_dir / "api.stdout.log"
    assert out.startswith("--- chaoskit: start 1 of 'api' at ")
    assert "child: starting pid=" in out
    assert err.startswith("--- chaoskit: start 1 of 'api' at ")
    assert "child: hello on stderr" in err
    assert "GET /info" in err  # http.server logs requests on stderr


async def test_tcp_health_check_passes_once_the_port_accepts(children: Children):
    service = children.server(health="tcp")
    await service.start()
    assert (await _get(f"http://{service.address.address}/health")).status_code == 200


async def test_env_is_merged_over_ours_and_cwd_is_applied(
    children: Children, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("CHILD_INHERITED", "from-parent")
    monkeypatch.setenv("CHILD_OVERRIDDEN", "parent")
    workdir = tmp_path / "work"
    workdir.mkdir()
    service = children.server(
        env={"CHILD_OVERRIDDEN": "service", "CHILD_NEW": "x"}, cwd=workdir
    )
    await service.start()
    info = (await _get(_info_url(service))).json()
    assert info["env"] == {
        "CHILD_INHERITED": "from-parent",
        "CHILD_OVERRIDDEN": "service",
        "CHILD_NEW": "x",
    }
    assert info["cwd"] == str(workdir)


async def test_without_health_it_is_healthy_once_running_a_moment(children: Children):
    service = children.service(
        "sleeper", ["sleep", "30"], log_dir=children.log_dir, stop_timeout=2
    )
    await service.start()
    assert service.running
    assert 0.2 <= (service.last_healthy_after_s or 0) < 2
    assert service.address.port == 0  # nothing says where it would listen
    await service.stop()
    assert not service.running


async def test_a_process_that_exits_early_gives_its_exit_code_and_stderr(
    children: Children,
):
    service = children.server("--exit", "3", name="early")
    with pytest.raises(ServiceError) as caught:
        await service.start()
    message = str(caught.value)
    assert "process service 'early' exited with code 3 before it was healthy" in message
    assert str(service.stderr_path) in message
    assert "fatal: DATABASE_URL is not set" in message
    assert not service.running


async def test_a_process_killed_before_health_names_the_signal(children: Children):
    service = children.service(
        "suicide",
        [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), 9)"],
        log_dir=children.log_dir,
        # Never healthy, so it dies first however slowly the interpreter starts.
        health=f"tcp://127.0.0.1:{free_port()}",
    )
    with pytest.raises(
        ServiceError, match="was killed by SIGKILL before it was healthy"
    ):
        await service.start()


async def test_never_healthy_is_stopped_and_says_what_health_saw(
    children: Children, tmp_path: Path
):
    pid_file = tmp_path / "child.pid"
    service = children.server(
        "--health-status", "503", "--pid-file", str(pid_file), health_timeout=0.6,
        stop_timeout=30,
    )  # fmt: skip
    began = time.monotonic()
    with pytest.raises(ServiceError) as caught:
        await service.start()
    # 0.6 s of probing plus a prompt SIGTERM stop. A stop that waited for the
    # SIGKILL would take over 30 s: the bound is far from both, so a loaded
    # machine cannot trip it.
    assert time.monotonic() - began < 15
    message = str(caught.value)
    assert "was not healthy within 0.6 s and was stopped" in message
    assert "last gave: HTTP 503" in message
    assert "GET /health" in message  # the stderr tail
    assert not alive(int(pid_file.read_text()))
    assert not service.running


async def test_never_listening_reports_connection_refused(children: Children):
    # Long enough for a probe on a loaded machine (0.4 s once gave "not probed yet").
    service = children.server("--no-listen", health_timeout=3)
    with pytest.raises(ServiceError, match="last gave: connection refused"):
        await service.start()


async def test_stop_ends_the_whole_group_grandchild_included(
    children: Children, tmp_path: Path
):
    service = children.server("--grandchild", str(tmp_path / "grandchild.pid"))
    await service.start()
    pid = service.pid
    assert pid is not None
    grandchild = children.read_pid(tmp_path / "grandchild.pid")
    assert alive(pid)
    assert alive(grandchild)
    await service.stop()
    assert not alive(pid)
    assert not alive(grandchild)
    assert not service.pid_path.exists()
    await service.stop()  # idempotent


async def test_sigterm_ignored_means_sigkill_after_stop_timeout(children: Children):
    service = children.server("--ignore-term", stop_timeout=0.4)
    await service.start()
    pid = service.pid
    assert pid is not None
    began = time.monotonic()
    await service.stop()
    took = time.monotonic() - began
    # SIGKILL only once stop_timeout has passed (exact); then gone at once. The
    # upper bound only catches a gross bug (waiting again), not a loaded machine.
    assert 0.4 <= took < 10
    assert not alive(pid)


async def test_cancelled_stop_still_kills_the_group(children: Children):
    service = children.server("--ignore-term", stop_timeout=5)
    await service.start()
    pid = service.pid
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(service.stop(), 0.2)
    assert not alive(pid or 0)
    assert not service.running


async def test_kill_sigterm_waits_for_the_exit_and_returns_the_code(children: Children):
    service = children.server()
    await service.start()
    pid = service.pid
    assert await service.kill(signal.SIGTERM) == -signal.SIGTERM
    assert not alive(pid or 0)
    assert not service.running
    assert await service.kill() is None  # nothing runs any more


async def test_kill_raises_when_the_signal_is_ignored(children: Children):
    service = children.server("--ignore-term", stop_timeout=0.3)
    await service.start()
    with pytest.raises(ServiceError, match=r"still runs 0.3 s after SIGTERM"):
        await service.kill(signal.SIGTERM)
    assert service.running


async def test_restart_appends_to_the_logs_with_a_marker_and_a_new_pid(
    children: Children,
):
    service = children.server()
    await service.start()
    first = service.pid
    await service.restart()
    assert service.pid not in (None, first)
    assert (await _get(_info_url(service))).json()["pid"] == service.pid
    out = service.stdout_path.read_text()
    assert "--- chaoskit: start 1 of 'api'" in out
    assert "--- chaoskit: start 2 of 'api'" in out
    assert out.count("child: starting pid=") == 2


async def test_pause_freezes_answers_and_resume_brings_them_back(children: Children):
    service = children.server()
    await service.start()
    service.pause()
    assert service.paused
    assert state(service.pid or 0) == "T"
    with pytest.raises(httpx.TimeoutException):
        await _get(_info_url(service), within=0.3)
    service.resume()
    assert not service.paused
    assert (await _get(_info_url(service))).status_code == 200


async def test_stop_of_a_paused_service_is_prompt(children: Children):
    service = children.server(stop_timeout=30)
    await service.start()
    service.pause()
    began = time.monotonic()
    await service.stop()
    # SIGCONT follows SIGTERM, so it exits at once rather than at stop_timeout:
    # the bound sits far under 30 s and far over a stall of a loaded machine.
    assert time.monotonic() - began < 15
    assert not service.running


async def test_cancelled_start_leaves_nothing_running(
    children: Children, tmp_path: Path
):
    pid_file = tmp_path / "child.pid"
    service = children.server("--health-status", "503", "--pid-file", str(pid_file))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(service.start(), 0.5)
    assert not alive(children.read_pid(pid_file))
    assert not service.running


async def test_a_health_check_that_passes_before_the_start_is_refused(
    children: Children,
):
    first = children.server()
    await first.start()
    second = children.service(
        "second", ["sleep", "30"], health=first.health.url, log_dir=children.log_dir
    )
    with pytest.raises(ServiceError, match="already answers before the service"):
        await second.start()
    assert second.pid is None
    assert first.running


async def test_a_missing_command_is_a_service_error(children: Children, tmp_path: Path):
    service = children.service("ghost", [str(tmp_path / "no-such-binary")])
    with pytest.raises(ServiceError, match="process service 'ghost' cannot run"):
        await service.start()


def test_bad_settings_are_usage_errors():
    with pytest.raises(UsageError, match="command must be a non-empty list"):
        ProcessService("api", [])
    with pytest.raises(UsageError, match="is not supported; allowed:"):
        ProcessService("api", ["true"], health="ftp://127.0.0.1:21")
    with pytest.raises(UsageError, match="needs a port"):
        ProcessService("api", ["true"], health="tcp://127.0.0.1")
    with pytest.raises(UsageError, match="without '/'"):
        ProcessService("../api", ["true"])


# -- leftovers: acting on ledger data from another process ----------------------------


async def test_stop_leftover_refuses_a_pid_whose_start_time_differs(
    children: Children,
):
    proc = children.popen(["sleep", "30"])
    started = _proc.start_time(proc.pid)
    assert started is not None
    wrong = LedgerEntry("process", "stop", {"pid": proc.pid, "start_time": started - 1})
    assert await stop_leftover(wrong) == "not ours"
    assert await resume_leftover(LedgerEntry("sigcont", "", wrong.data)) == "not ours"
    assert alive(proc.pid)
    right = {"kind": "process", "pid": proc.pid, "start_time": started}
    assert await stop_leftover(right) == "stopped"
    assert proc.wait(timeout=5) == -signal.SIGTERM
    assert await stop_leftover(right) == "gone"


async def test_stop_leftover_finds_a_service_restarted_after_its_entry(
    children: Children,
):
    service = children.server()
    await service.start()
    entry = LedgerEntry("process", "stop api", service.ledger_data())
    await service.restart()
    new_pid = service.pid
    assert new_pid is not None
    assert new_pid != entry.data["pid"]
    assert await stop_leftover(entry) == "stopped"
    assert not alive(new_pid)


async def test_resume_leftover_continues_a_paused_group(children: Children):
    service = children.server()
    await service.start()
    service.pause()
    entry = LedgerEntry("sigcont", "resume api", service.ledger_data())
    assert await resume_leftover(entry) == "resumed"
    assert (await _get(_info_url(service))).status_code == 200


@pytest.mark.postgres
async def test_stop_leftover_stops_an_embedded_postgres_from_its_ledger_data():
    service = PostgresService("leftover", durable=False, stop_timeout=2)
    await service.start()
    try:
        pid = service.pid
        entry = LedgerEntry("process", "stop leftover", service.ledger_data())
        assert await stop_leftover(entry, stop_timeout=2) == "stopped"
        assert not alive(pid or 0)
    finally:
        await service.stop()


async def test_an_entry_written_before_the_start_finds_the_process(
    children: Children,
):
    """The runner writes the entry before start() (no PID yet), and on_launch
    adds the PID as soon as the process runs, before the health wait."""
    service = children.server("--health-status", "503")
    planned = service.planned_ledger_data()
    assert "pid" not in planned
    assert await stop_leftover(LedgerEntry("process", "stop", planned)) == "gone"
    launched: list[dict[str, object]] = []
    told = asyncio.Event()

    def on_launch(data: object) -> None:
        launched.append(dict(data))  # type: ignore[call-overload]
        told.set()

    service.on_launch = on_launch
    starting = asyncio.ensure_future(service.start())
    await asyncio.wait_for(told.wait(), 30)
    assert not starting.done()  # still waiting for health
    (data,) = launched
    assert data["pid"] == service.pid
    # From the entry as first written (PID file only), as after a kill -9:
    assert await stop_leftover(LedgerEntry("process", "stop", planned)) == "stopped"
    assert not alive(int(str(data["pid"])))
    starting.cancel()
    with contextlib.suppress(asyncio.CancelledError, ServiceError):
        await starting


@pytest.mark.postgres
async def test_a_postgres_entry_written_before_the_start_names_its_directory():
    service = PostgresService("planned", durable=False, stop_timeout=2)
    planned = service.planned_ledger_data()
    run_dir = Path(str(planned["remove_dir"]))
    assert not await asyncio.to_thread(run_dir.exists)
    spawned: list[dict[str, object]] = []
    service.on_launch = lambda data: spawned.append(dict(data))
    await service.start()
    try:
        assert service.run_dir == run_dir
        # initdb first, then the server: each named as soon as it runs.
        assert len(spawned) >= 2
        assert spawned[-1]["pid"] == service.pid
        assert all(entry["remove_dir"] == str(run_dir) for entry in spawned)
        entry = LedgerEntry("process", "stop", spawned[-1])
        assert await stop_leftover(entry, stop_timeout=2) == "stopped"
        assert not await asyncio.to_thread(run_dir.exists)
    finally:
        await service.stop()


async def test_a_ledger_entry_without_identity_is_refused():
    with pytest.raises(ServiceError, match="lacks the pid and start_time"):
        await stop_leftover({"kind": "process", "pid": "12"})
    with pytest.raises(ServiceError, match="is not a 'process' entry"):
        await stop_leftover(LedgerEntry("toxic", "", {"pid": 1, "start_time": 1}))


# -- external services ----------------------------------------------------------------


async def test_external_service_waits_for_health_and_stop_leaves_it_running(
    children: Children,
):
    running = children.server()
    await running.start()
    url = f"http://{running.address.address}/health"
    external = ExternalService("ext", health=url, health_timeout=2)
    assert await external.start() == running.address
    await external.stop()
    assert running.running


async def test_external_service_with_only_an_address_checks_tcp(children: Children):
    running = children.server()
    await running.start()
    external = ExternalService("ext", address=running.address.address)
    assert (await external.start()).port == running.address.port


async def test_external_service_not_running_is_a_clear_error():
    port = free_port()
    external = ExternalService(
        "ext", health=f"http://127.0.0.1:{port}/health", health_timeout=0.3
    )
    with pytest.raises(ServiceError) as caught:
        await external.start()
    message = str(caught.value)
    assert "external service 'ext' was not healthy within 0.3 s" in message
    assert "connection refused" in message


async def test_a_planned_entry_kills_what_writes_into_its_directory(
    children: Children, tmp_path: Path
):
    # A run killed just after it spawned initdb never recorded initdb's PID:
    # the rollback finds it by the run directory in its command line, so the
    # directory is not written again once removed.
    run_dir = tmp_path / "chaoskit-pg-0123abcd"
    run_dir.mkdir()
    writer = children.popen(
        [sys.executable, "-c", "import time; time.sleep(30)", "-D", str(run_dir / "d")]
    )
    bystander = children.popen(["sleep", "30"])
    planned = LedgerEntry(
        "process", "stop db", {"name": "db", "remove_dir": str(run_dir)}
    )
    assert await stop_leftover(planned) == "gone"
    assert writer.wait(timeout=5) == -signal.SIGKILL
    assert not run_dir.exists()
    assert alive(bystander.pid)
