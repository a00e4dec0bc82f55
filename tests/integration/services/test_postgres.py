"""The embedded PostgreSQL service: a real server from the wheel, over TCP loopback.

Every test talks to a real server with asyncpg. The shared session server (the
``postgres`` fixture) serves the read-only checks; tests that stop, kill or
break a server start their own (about 0.7 s each, mostly initdb).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from chaoskit.errors import ServiceError, UsageError
from chaoskit.services import PostgresAddress, PostgresService
from chaoskit.services import postgres as postgres_module
from chaoskit.services.process import stop_leftover

pytestmark = pytest.mark.postgres


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not reaped, does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in "ZX"


def _our_children() -> set[int]:
    """Live processes whose parent is this test process."""
    me = str(os.getpid())
    children = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[1] == me and fields[0] not in "ZX":
                children.add(int(entry.name))
    return children


def _run_dirs() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("chaoskit-pg-*"))


@pytest.fixture
def own_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A temp directory of this test's own for run directories: other tests
    (pytest-xdist workers) and runs on the machine create and remove
    chaoskit-pg-* in the shared one meanwhile, and _run_dirs() would see them.
    Under /tmp, not pytest's 0700 tree: as root, PostgreSQL runs as its own
    system user, which must be able to enter it."""
    del tmp_path  # pytest's own temp tree first: it is found through tempdir too
    private = Path(tempfile.mkdtemp(prefix="chaoskit-test-tmp-"))
    private.chmod(0o755)
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    yield
    shutil.rmtree(private, ignore_errors=True)


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


async def _fetchval(dsn: str, query: str) -> object:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


async def _execute(dsn: str, script: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(script)
    finally:
        await conn.close()


@pytest.mark.anyio
async def test_shared_server_answers_over_tcp_on_loopback(postgres: PostgresAddress):
    assert postgres.host == "127.0.0.1"
    assert postgres.address == f"127.0.0.1:{postgres.port}"
    assert postgres.dsn == f"postgresql://postgres@127.0.0.1:{postgres.port}/postgres"
    conn = await asyncpg.connect(postgres.dsn)
    try:
        assert await conn.fetchval("select 40 + 2") == 42
        # Really TCP (not the Unix socket), to the port we were told.
        assert str(await conn.fetchval("select inet_server_addr()")) == "127.0.0.1"
        assert await conn.fetchval("select inet_server_port()") == postgres.port
        assert await conn.fetchval("show listen_addresses") == "127.0.0.1"
        # The fixture opts out of durability; PostgreSQL's default is on.
        assert await conn.fetchval("show fsync") == "off"
        assert (await conn.fetchval("show server_version")).split(".")[0] >= "17"
    finally:
        await conn.close()


def test_shared_server_is_our_own_child(postgres_service: PostgresService):
    pid = postgres_service.pid
    assert pid is not None
    assert pid in _our_children()
    assert postgres_service.running


@pytest.mark.anyio
async def test_init_sql_files_and_text_run_in_order(tmp_path: Path):
    schema = tmp_path / "01-schema.sql"
    schema.write_text("create table steps (id serial primary key, label text);\n")
    more = tmp_path / "02-more.sql"
    more.write_text("insert into steps (label) values ('third');\n")
    service = PostgresService(
        "init",
        durable=False,
        init_sql=[
            schema,
            "insert into steps (label) values ('second')",
            more,
        ],
    )
    async with service:
        conn = await asyncpg.connect(service.address.dsn)
        try:
            rows = await conn.fetch("select label from steps order by id")
        finally:
            await conn.close()
    assert [row["label"] for row in rows] == ["second", "third"]


@pytest.mark.anyio
async def test_stop_leaves_no_process_and_removes_the_temp_dir():
    service = PostgresService("stop", durable=False)
    address = await service.start()
    pid = service.pid
    assert pid is not None
    backends = postgres_module._children_of(pid)
    assert backends, "a running server has background processes"
    run_dir = service.run_dir
    assert run_dir is not None
    assert address.data_dir.is_relative_to(run_dir)
    assert (address.data_dir / "PG_VERSION").is_file()

    await service.stop()

    assert not _alive(pid)
    assert not [child for child in backends if _alive(child)]
    assert not run_dir.exists()
    assert service.pid is None
    await service.stop()  # a second stop is harmless
    with pytest.raises(ServiceError, match="has not been started"):
        _ = service.address


@pytest.mark.anyio
async def test_the_ledger_alone_stops_the_server_and_removes_its_data():
    """What `chaoskit rollback` does after a kill -9 of chaoskit: from the
    ledger entry alone, the postmaster is stopped and its cluster removed."""
    service = PostgresService("orphan", durable=False)
    await service.start()
    pid, run_dir = service.pid, service.run_dir
    assert pid is not None
    assert run_dir is not None
    entry = service.ledger_data()
    assert entry["remove_dir"] == str(run_dir)
    try:
        assert await stop_leftover(entry) == "stopped"
        assert not _alive(pid)
        assert not run_dir.exists()
    finally:
        await service.stop()


@pytest.mark.anyio
async def test_keep_leaves_the_data_and_a_new_service_reuses_it():
    first = PostgresService(
        "keep",
        durable=False,
        keep=True,
        init_sql=["create table kept (x int); insert into kept values (7)"],
    )
    address = await first.start()
    run_dir = first.run_dir
    assert run_dir is not None
    try:
        await first.stop()
        assert (address.data_dir / "PG_VERSION").is_file()
        assert "database system is shut down" in address.log_path.read_text()

        # An existing cluster is reused as is: no initdb, no init SQL (this
        # one would fail), and a given data_dir is never deleted.
        second = PostgresService(
            "reuse", durable=False, data_dir=address.data_dir, init_sql=["select 1/0"]
        )
        async with second:
            assert await _fetchval(second.address.dsn, "select x from kept") == 7
        assert (address.data_dir / "PG_VERSION").is_file()
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.mark.anyio
@pytest.mark.usefixtures("own_tempdir")
async def test_bad_init_sql_names_the_file_and_leaves_nothing_running(tmp_path: Path):
    bad = tmp_path / "broken.sql"
    bad.write_text("create table fine (x int);\nselect * from no_such_table;\n")
    children, run_dirs = _our_children(), _run_dirs()
    service = PostgresService("bad-init", durable=False, init_sql=[bad])

    with pytest.raises(ServiceError) as caught:
        await service.start()

    message = str(caught.value)
    assert str(bad) in message
    assert 'relation "no_such_table" does not exist' in message
    assert "'bad-init'" in message
    assert _our_children() == children
    assert _run_dirs() == run_dirs
    assert service.pid is None


@pytest.mark.usefixtures("own_tempdir")
def test_a_missing_init_file_fails_before_anything_starts(tmp_path: Path):
    run_dirs = _run_dirs()
    service = PostgresService("missing", init_sql=[tmp_path / "nope.sql"])
    with pytest.raises(ServiceError, match=r"init SQL file .*nope\.sql does not exist"):
        service.start_sync()
    assert _run_dirs() == run_dirs


@pytest.mark.skipif(
    os.geteuid() != 0, reason="only root hands the server to a system user"
)
@pytest.mark.usefixtures("own_tempdir")
def test_a_data_dir_the_server_user_cannot_reach_is_a_clear_error(tmp_path: Path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    run_dirs = _run_dirs()
    service = PostgresService("locked", data_dir=locked / "data")
    with pytest.raises(ServiceError) as caught:
        service.start_sync()
    message = str(caught.value)
    assert f"cannot enter {locked} (mode 0700)" in message
    assert f"chmod o+x {locked}" in message
    assert _run_dirs() == run_dirs


def test_a_str_that_looks_like_a_file_name_is_refused():
    with pytest.raises(UsageError, match=r"pathlib\.Path\('schema\.sql'\)"):
        PostgresService("typo", init_sql=["schema.sql"])


@pytest.mark.anyio
async def test_two_servers_run_side_by_side_with_their_own_settings(
    postgres: PostgresAddress,
):
    other_service = PostgresService("second", settings={"max_connections": 42})
    async with other_service as other:
        assert other.address.port != postgres.port
        assert await _fetchval(other.address.dsn, "show max_connections") == "42"
        assert await _fetchval(other.address.dsn, "show fsync") == "on"
        await _execute(other.address.dsn, "create table only_here (x int)")
        assert await _fetchval(other.address.dsn, "select to_regclass('only_here')")
        assert await _fetchval(postgres.dsn, "select to_regclass('only_here')") is None


@pytest.mark.anyio
async def test_kill_9_then_restart_keeps_port_and_committed_rows():
    async with PostgresService("crash", durable=False) as service:
        address = service.address
        await _execute(
            address.dsn, "create table acked (x int); insert into acked values (1), (2)"
        )
        old_pid = service.pid
        assert old_pid is not None

        assert await service.kill() == -signal.SIGKILL
        assert service.pid is None
        assert not _alive(old_pid)
        with pytest.raises(OSError):
            await asyncpg.connect(address.dsn)

        restarted = await service.restart()
        assert restarted.port == address.port
        assert service.pid not in (None, old_pid)
        assert await _fetchval(address.dsn, "select sum(x) from acked") == 3
        assert "database system was interrupted" in address.log_path.read_text()

        # Killed behind the service's back (as a fault driver would): start()
        # notices, waits for the orphaned backends, and recovers again.
        crashed_pid = service.pid
        assert crashed_pid is not None
        os.kill(crashed_pid, signal.SIGKILL)
        for _ in range(500):  # SIGKILL takes effect within milliseconds
            if not service.running:
                break
            await asyncio.sleep(0.01)
        await service.start()
        assert await _fetchval(address.dsn, "select sum(x) from acked") == 3


@pytest.mark.anyio
async def test_sigstop_on_all_processes_hangs_queries_until_sigcont():
    async with PostgresService("pause", durable=False) as service:
        conn = await asyncpg.connect(service.address.dsn)
        try:
            service.send_signal(signal.SIGSTOP, children=True)
            try:
                # 0.3 s: far longer than a local "select 1" (about 0.1 ms) takes.
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(conn.fetchval("select 1"), 0.3)
            finally:
                service.send_signal(signal.SIGCONT, children=True)
        finally:
            conn.terminate()
        assert await _fetchval(service.address.dsn, "select 1") == 1


@pytest.mark.anyio
@pytest.mark.usefixtures("own_tempdir")
async def test_a_given_port_already_in_use_is_a_clear_error():
    children, run_dirs = _our_children(), _run_dirs()
    with _listening_socket() as taken:
        port = taken.getsockname()[1]
        service = PostgresService("taken", durable=False, port=port)
        with pytest.raises(ServiceError, match=f"port {port} on 127.0.0.1 is already"):
            await service.start()
    assert _our_children() == children
    assert _run_dirs() == run_dirs


@pytest.mark.anyio
async def test_a_picked_port_taken_before_the_server_binds_is_picked_again(
    monkeypatch: pytest.MonkeyPatch,
):
    # Recreate the race: the first port handed to the server is already taken.
    with _listening_socket() as taken:
        picks = iter([taken.getsockname()[1]])
        real_pick = postgres_module.free_port
        monkeypatch.setattr(
            postgres_module,
            "free_port",
            lambda host: next(picks, None) or real_pick(host),
        )
        async with PostgresService("race", durable=False) as service:
            assert service.address.port != taken.getsockname()[1]
            assert await _fetchval(service.address.dsn, "select 1") == 1


@pytest.mark.anyio
@pytest.mark.usefixtures("own_tempdir")
async def test_a_cancelled_start_leaves_nothing_running():
    children, run_dirs = _our_children(), _run_dirs()
    service = PostgresService("cancelled", durable=False)
    task = asyncio.create_task(service.start())
    # initdb takes about 0.6 s here, so 0.2 s cancels it half-way.
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _our_children() == children
    assert _run_dirs() == run_dirs
    assert service.pid is None


@pytest.mark.anyio
async def test_start_sync_refuses_to_run_inside_an_event_loop():
    with pytest.raises(RuntimeError, match="await start"):
        PostgresService("sync").start_sync()
