"""Running PostgreSQL's programs: how each one starts, and initdb and psql.

Every PostgreSQL process, the server included, starts through :func:`popen`:
in a session of its own, in ``/``, with an English (``LC_ALL=C``) environment
free of ``PG*`` variables, and as the server's system user when asked.
:func:`run_tool` runs a short one (initdb, psql) to completion, with temp files
rather than pipes for its input and output.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, Self

from chaoskit.errors import ServiceError
from chaoskit.services._pg_layout import HOST, SUPERUSER, Layout
from chaoskit.services._proc import kill_group, tail, wait_exit

__all__ = ["Spawned", "initdb", "popen", "run_init_sql", "run_tool"]

Spawned = Callable[[subprocess.Popen[bytes]], None]
"""Told of each PostgreSQL program as soon as it runs (see :func:`popen`)."""


def popen(
    argv: list[str],
    account: tuple[int, int] | None,
    *,
    stdin: int | IO[bytes],
    stdout: IO[bytes],
    stderr: IO[bytes],
    on_spawn: Spawned | None = None,
) -> subprocess.Popen[bytes]:
    """Start a command in its own session, as ``account`` when given.

    ``on_spawn`` hears of the process at once (the rollback ledger records it:
    a run killed while initdb or the server starts leaves nothing running).
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    # English messages: the bind-failure check reads the server log.
    env["LC_ALL"] = "C"
    if account is None:
        ids: dict[str, Any] = {}
    else:
        ids = {"user": account[0], "group": account[1], "extra_groups": []}
    proc = subprocess.Popen(  # noqa: S603 - our own binaries, fixed arguments
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
    if on_spawn is not None:
        try:
            on_spawn(proc)
        except BaseException:
            kill_group(proc)
            raise
    return proc


async def run_tool(
    name: str,
    argv: list[str],
    deadline: float,
    account: tuple[int, int] | None,
    *,
    start_timeout: float,
    stdin: str | None = None,
    on_spawn: Spawned | None = None,
) -> tuple[int, str, str]:
    """Run initdb or psql to completion: (exit code, stdout, stderr).

    Args:
        name: the service's name, for messages.
        argv: the command.
        deadline: ``time.monotonic()`` by which it must have finished; past
            it, it is killed.
        account: (uid, gid) to run as; None runs it as us.
        start_timeout: the service's start timeout, named in the message.
        stdin: text for its standard input; None gives it none.

    Raises:
        ServiceError: it did not finish by ``deadline``.
    """
    with _ToolFiles(stdin) as files:
        proc = popen(
            argv, account, stdin=files.stdin, stdout=files.out, stderr=files.err,
            on_spawn=on_spawn,
        )  # fmt: skip
        try:
            code = await wait_exit(proc, deadline - time.monotonic())
        finally:
            if proc.returncode is None:
                kill_group(proc)
        if code is None:
            raise ServiceError(
                f"postgres service {name!r}: {Path(argv[0]).name} did not "
                f"finish within the start timeout ({start_timeout:g} s)"
            )
        return code, files.read(files.out), files.read(files.err)


async def initdb(
    name: str,
    layout: Layout,
    deadline: float,
    *,
    durable: bool,
    start_timeout: float,
    on_spawn: Spawned | None = None,
) -> None:
    """Create the cluster in ``layout.data_dir``, as the server's account."""
    argv = [
        str(layout.bin_dir / "initdb"),
        f"--pgdata={layout.data_dir}",
        "--auth=trust",
        f"--username={SUPERUSER}",
        "--encoding=UTF8",
        "--locale=C",
        "--no-instructions",
    ]
    if not durable:
        argv.append("--no-sync")
    code, output, errors = await run_tool(
        name, argv, deadline, layout.account, start_timeout=start_timeout,
        on_spawn=on_spawn,
    )  # fmt: skip
    if code != 0:
        raise ServiceError(
            f"postgres service {name!r}: initdb into {layout.data_dir} failed "
            f"(exit {code}):\n{tail(output + errors)}"
        )


async def run_init_sql(
    name: str,
    layout: Layout,
    port: int,
    items: Sequence[Path | str],
    deadline: float,
    *,
    start_timeout: float,
) -> None:
    """Run each init SQL item (a file, or SQL text) in order through psql.

    Raises:
        ServiceError: an item failed; the message names it and carries
            PostgreSQL's error.
    """
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
    for index, item in enumerate(items):
        if isinstance(item, Path):
            label = f"file {item}"
            argv, stdin = [*base, f"--file={item}"], None
        else:
            text = item
            first = text.strip().splitlines()[0] if text.strip() else ""
            label = f"init_sql[{index}] (SQL text {first[:60]!r})"
            argv, stdin = [*base, "--file=-"], text
        # psql is a client: it runs as us, root or not.
        code, _, errors = await run_tool(
            name, argv, deadline, None, start_timeout=start_timeout, stdin=stdin
        )
        if code != 0:
            raise ServiceError(
                f"postgres service {name!r}: init SQL {label} failed "
                f"(psql exit {code}):\n{errors.strip()}"
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
