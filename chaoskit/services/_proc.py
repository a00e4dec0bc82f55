"""Process helpers shared by the services: exit polling, groups, identity, /proc.

Services start their processes with :class:`subprocess.Popen` in a session of
their own and wait for them by polling, never with asyncio subprocesses: a
service must outlive the event loop that started it (a session-scoped pytest
fixture starts it in one loop, tests run in others), and every failure path,
cancellation included, must be able to kill and reap synchronously.

Identity. A PID alone does not name a process: once reaped, the number can be
given to an unrelated one. A process is named here by its PID *and* its start
time (field 22 of ``/proc/<pid>/stat``, clock ticks since boot), which together
never repeat. Its process group is named by the same PID, because each service
process leads its own session and group. Linux does not hand out a number that
is still some group's ID, so while any member of our group lives, nobody else
can own a group with that ID; and a service keeps its leader unreaped (a
zombie) until the whole group is gone, so the number stays reserved until then.

Linux only (``/proc``); elsewhere the identity helpers return None, and
signalling a group verified by start time is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from chaoskit.errors import ServiceError

__all__ = [
    "POLL_S",
    "SignalOutcome",
    "children_of",
    "describe_exit",
    "group_alive",
    "group_members",
    "group_stopped",
    "kill_group",
    "ledger_identity",
    "peek_exit",
    "proc_entries",
    "read_lines",
    "read_pid_file",
    "remove_pid_file",
    "run_sync",
    "signal_verified_group",
    "start_time",
    "tail",
    "terminate_group",
    "wait_exit",
    "wait_group_gone",
    "write_pid_file",
]

POLL_S = 0.01
"""How often exits and readiness are polled: cheap next to a syscall or a read."""
_LOG_TAIL_LINES = 25
# /proc is scanned for group members at each poll: a few ms, so not every 10 ms.
_GROUP_POLL_S = 0.02
# SIGKILLed processes are gone in milliseconds unless stuck in the kernel.
_KILL_WAIT_S = 5.0
SignalOutcome = Literal["signalled", "gone", "not ours"]
"""What :func:`signal_verified_group` did."""
_T = TypeVar("_T")


# -- exits -----------------------------------------------------------------------


async def wait_exit(proc: subprocess.Popen[bytes], within: float) -> int | None:
    """The exit code once ``proc`` has exited (reaped), or None after ``within`` s."""
    deadline = time.monotonic() + within
    while (code := proc.poll()) is None:
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(POLL_S)
    return code


def peek_exit(proc: subprocess.Popen[bytes]) -> int | None:
    """``proc``'s exit code (minus the signal number) *without* reaping it.

    None while it runs (stopped counts as running). Leaving the exited process
    a zombie keeps its PID, and so its group's ID, from being reused.
    """
    if proc.returncode is not None:
        return proc.returncode
    try:
        info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        # Reaped behind our back (someone called waitpid(-1)): gone for good.
        # Popen.poll() then records it as exited with code 0.
        code = proc.poll()
        return 0 if code is None else code
    if info is None or info.si_pid == 0:
        return None
    if info.si_code == os.CLD_EXITED:
        return info.si_status
    return -info.si_status


def describe_exit(code: int) -> str:
    """``"exited with code 3"`` or ``"was killed by SIGKILL"``, from a returncode."""
    if code >= 0:
        return f"exited with code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    return f"was killed by {name}"


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL ``proc``'s process group and reap ``proc``.

    Only while ``proc`` is unreaped is its PID certainly still its group's ID.
    """
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    # Blocking, but SIGKILLed processes are gone in milliseconds.
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


# -- /proc -------------------------------------------------------------------------


def proc_entries() -> list[Path]:
    """/proc/<pid> for every process; empty where there is no /proc (not Linux)."""
    try:
        return [entry for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    except OSError:
        return []


def _stat_fields(pid: int | str) -> list[str] | None:
    """The fields of /proc/<pid>/stat after "(comm)": state, ppid, pgrp, sid, ..."""
    try:
        line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    return line[line.rfind(")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot; None if there is no such PID.

    Together with the PID, it names one process for the life of the machine.
    """
    fields = _stat_fields(pid)
    # Field 22 of stat is fields[19] here (fields[0] is field 3, the state).
    if fields is None or len(fields) < 20:
        return None
    return int(fields[19])


def children_of(parent: int) -> list[int]:
    """Live (not zombie) child processes of ``parent``."""
    children: list[int] = []
    for entry in proc_entries():
        fields = _stat_fields(entry.name)
        if (
            fields
            and len(fields) > 1
            and fields[1] == str(parent)
            and fields[0] not in "ZX"
        ):
            children.append(int(entry.name))
    return children


def group_members(pgid: int, *, states: str = "") -> dict[int, int]:
    """Live (not zombie) processes in the group and session ``pgid`` leads.

    Returns {pid: start time}; with ``states``, only members in one of those
    states (e.g. ``"Tt"``: stopped). Requiring the session too leaves out a
    process that moved to a group of that number in some other session.
    """
    members: dict[int, int] = {}
    for entry in proc_entries():
        fields = _stat_fields(entry.name)
        if fields is None or len(fields) < 20 or fields[0] in "ZX":
            continue
        if states and fields[0] not in states:
            continue
        if fields[2] == str(pgid) and fields[3] == str(pgid):
            members[int(entry.name)] = int(fields[19])
    return members


def group_stopped(pid: int, started: int) -> bool:
    """Whether every live member of the group is stopped (SIGSTOP has landed)."""
    members = group_members(pid)
    stopped = group_members(pid, states="Tt")
    return all(
        member in stopped for member, start in members.items() if start >= started
    )


def signal_verified_group(pid: int, started: int, sig: int) -> SignalOutcome:
    """Send ``sig`` to the group that process (``pid``, ``started``) leads.

    For processes we did not start ourselves (another chaoskit process did, and
    may have crashed). Returns what happened: ``"signalled"``; ``"gone"`` when
    neither the leader nor any member is left; ``"not ours"`` when the PID now
    belongs to another process (its start time differs), which is left alone.

    When the leader has exited and been reaped, its group ID stays reserved
    while members live; those are signalled one by one, and only the ones that
    started after the leader did (any member of its group must have).
    """
    leader_start = start_time(pid)
    if leader_start is not None:
        if leader_start != started:
            return "not ours"
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
            return "signalled"
        return "gone"
    members = {
        member: member_start
        for member, member_start in group_members(pid).items()
        if member_start >= started
    }
    for member in members:
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, sig)
    return "signalled" if members else "gone"


def group_alive(pid: int, started: int) -> bool:
    """Whether any process of the group that process (``pid``, ``started``) leads lives.

    Zombies do not count. When the PID now names another process, our group is
    gone: Linux gives out no number that is still some group's ID.
    """
    leader_start = start_time(pid)
    if leader_start is not None and leader_start != started:
        return False
    return any(member >= started for member in group_members(pid).values())


async def wait_group_gone(pid: int, started: int, within: float) -> bool:
    """Wait up to ``within`` s until :func:`group_alive` is false; whether it is."""
    deadline = time.monotonic() + within
    while group_alive(pid, started):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(_GROUP_POLL_S)
    return True


async def terminate_group(pid: int, started: int, within: float) -> SignalOutcome:
    """SIGTERM the group (SIGCONT too: a paused process acts on SIGTERM only once
    continued), SIGKILL what is left after ``within`` s, and wait until it is gone.

    Every signal only while the group is still the one (``pid``, ``started``)
    leads. Returns "signalled" once it is gone, "gone" when nothing was left,
    "not ours" when the PID names another process.

    Raises:
        ServiceError: members survive SIGKILL (stuck in the kernel, or not ours).
    """
    if not group_alive(pid, started):
        return "not ours" if start_time(pid) not in (None, started) else "gone"
    signal_verified_group(pid, started, signal.SIGTERM)
    signal_verified_group(pid, started, signal.SIGCONT)
    if await wait_group_gone(pid, started, within):
        return "signalled"
    signal_verified_group(pid, started, signal.SIGKILL)
    if await wait_group_gone(pid, started, _KILL_WAIT_S):
        return "signalled"
    raise ServiceError(
        f"processes {sorted(group_members(pid))} of group {pid} survive SIGKILL"
    )


# -- identity records: PID files and ledger entries ---------------------------------


def write_pid_file(path: Path, pid: int, started: int) -> None:
    """Record a group's identity (``{pid, start_time}``) in ``path``."""
    # Replaced in one step: a reader sees the old identity or the new one.
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(json.dumps({"pid": pid, "start_time": started}))
    temp.replace(path)


def read_pid_file(path: object) -> tuple[int, int] | None:
    """(pid, start time) from a :func:`write_pid_file` file; None if unreadable."""
    try:
        data = json.loads(Path(str(path)).read_text())
        pid, started = data["pid"], data["start_time"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if isinstance(pid, int) and isinstance(started, int):
        return pid, started
    return None


def ledger_identity(entry: object, kind: str) -> tuple[int, int, object]:
    """(pid, start time, PID file) from a ledger entry or its JSON dict."""
    data = getattr(entry, "data", entry)
    entry_kind = getattr(entry, "kind", None)
    if entry_kind is None and isinstance(data, Mapping):
        entry_kind = data.get("kind")
    if entry_kind not in (None, kind):
        raise ServiceError(
            f"ledger entry of kind {entry_kind!r} is not a {kind!r} entry"
        )
    if isinstance(data, Mapping):
        pid, started = data.get("pid"), data.get("start_time")
        if isinstance(pid, int) and isinstance(started, int) and pid > 0:
            return pid, started, data.get("pid_file")
    raise ServiceError(
        f"ledger entry {data!r} lacks the pid and start_time that name a process"
    )


def remove_pid_file(path: object) -> None:
    """Remove a PID file; fine if it is already gone."""
    Path(str(path)).unlink(missing_ok=True)


# -- text ----------------------------------------------------------------------------


def read_lines(path: Path) -> list[str]:
    """A text file's lines; empty when it cannot be read."""
    try:
        return path.read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return []


def tail(text: str, lines: int = _LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of ``text``, stripped."""
    return "\n".join(text.strip().splitlines()[-lines:])


def run_sync(factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine to completion from synchronous code, in a fresh event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    raise RuntimeError(
        "start_sync()/stop_sync() cannot run inside an event loop: await "
        "start()/stop() instead"
    )
