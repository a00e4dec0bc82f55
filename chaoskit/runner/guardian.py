"""The guardian: undoes a run's ledger when the run dies without undoing it.

``kill -9``, the OOM killer or a crash of the interpreter ends ``chaoskit run``
without its teardown: the embedded proxy, the services, PostgreSQL, and faults
on an external proxy would stay, and the next run would find its ports taken.
So each run starts one guardian process right after its ledger is created::

    python -P .../chaoskit/runner/guardian.py REPORT_DIR/ledger.json   # stdin: a pipe

in a session of its own (a terminal's Ctrl-C, a ``kill`` of the run's process
group or a closed terminal do not reach it), with the read end of a pipe as its
stdin. The run holds the write end, which nothing it starts inherits (the file
descriptor is not inheritable and every child is spawned with ``close_fds``).
However the run ends, the kernel closes that end; the guardian reads EOF and
undoes whatever the ledger still lists as pending, newest first, exactly as
``chaoskit rollback`` would (:func:`chaoskit.runner.ledger.roll_back`): each
process only while its PID still has the recorded start time, so a reused PID
is never signalled. After a run that tore down by itself there is nothing
pending and the guardian just exits. What it did goes to ``guardian.log`` in
the report directory; its PID and start time are in the ledger (``run.guardian``).

Why not ``PR_SET_PDEATHSIG`` in each child: it reaches only the direct child,
not the rest of its process group (initdb's helpers, PostgreSQL's backends, a
shell's pipeline); it fires when the *thread* that spawned the child ends, not
the process; and it cannot remove a toxic from an external Toxiproxy or end a
lock fault's backend. The ledger already says how to undo each of these from
another process, so one process acting on it covers them all.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

# Only the standard library at the top: the guardian process imports chaoskit
# (about 0.6 s of CPU) only when its run left something to undo.

__all__ = ["GUARDIAN_LOG", "Guardian"]

GUARDIAN_LOG = "guardian.log"
# At the end of a run, how long to wait for the guardian to see the pipe close
# and exit (it only reads a settled ledger then).
_REAP_S = 2.0


class Guardian:
    """The guardian process of one run; :meth:`release` at the end of the run."""

    def __init__(self, proc: subprocess.Popen[bytes], pipe: int) -> None:
        self._proc = proc
        self._pipe: int | None = pipe

    @classmethod
    def start(cls, ledger_path: Path) -> Guardian:
        """Spawn the guardian of the ledger at ``ledger_path``.

        Raises:
            OSError: it could not be spawned.
        """
        read_end, write_end = os.pipe()  # neither end is inheritable
        package_root = str(Path(__file__).resolve().parents[2])
        path = os.environ.get("PYTHONPATH")
        env = {
            **os.environ,
            "PYTHONPATH": package_root + (os.pathsep + path if path else ""),
        }
        log = ledger_path.parent / GUARDIAN_LOG
        try:
            with log.open("ab") as out:
                proc = subprocess.Popen(  # noqa: S603 - our own module
                    # The file as a script, not ``-m``: ``-m`` would import the
                    # chaoskit package (over a second of start-up) for a
                    # guardian that most often has nothing to do. ``-P``: its
                    # directory is not put on sys.path (its modules would
                    # shadow others).
                    [sys.executable, "-P", __file__, str(ledger_path)],
                    stdin=read_end,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                    close_fds=True,
                )
        except BaseException:
            os.close(write_end)
            raise
        finally:
            os.close(read_end)
        return cls(proc, write_end)

    @property
    def identity(self) -> dict[str, object]:
        """``{pid, start_time}``: what names the guardian process."""
        from chaoskit.services.process import process_identity

        return {"pid": self._proc.pid, "start_time": process_identity(self._proc.pid)}

    async def release(self) -> None:
        """The run has settled its ledger: close the pipe, let the guardian exit.

        Waits up to two seconds to reap it; one still starting is reaped by a
        daemon thread once it has found nothing pending.
        """
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
        deadline = time.monotonic() + _REAP_S
        # A process exit: no event to wait on.
        while self._proc.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        if self._proc.returncode is None:
            threading.Thread(target=self._proc.wait, daemon=True).start()

    @property
    def returncode(self) -> int | None:
        """The guardian's exit status once reaped, else None."""
        return self._proc.poll()


def _wait_for_eof() -> None:
    """Block until every write end of stdin is closed: the run has ended."""
    while True:
        try:
            if not os.read(0, 4096):
                return
        except InterruptedError:  # pragma: no cover - PEP 475 retries
            continue


def _pending(ledger: Path) -> bool:
    """Whether the ledger lists a change not undone (unreadable: say so later)."""
    try:
        doc = json.loads(ledger.read_text())
        entries = doc["entries"]
    except (OSError, ValueError, TypeError, KeyError):
        return True
    return not doc.get("closed") or any(
        isinstance(e, dict) and e.get("state") == "pending" for e in entries
    )


def main(argv: list[str] | None = None) -> int:
    """Wait for the run to end, then undo what its ledger lists as pending."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -P guardian.py LEDGER", file=sys.stderr)
        return 2
    ledger = Path(args[0])
    # Only the end of the run ends the guardian (SIGTERM and SIGKILL still do).
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_IGN)
    _wait_for_eof()
    if not _pending(ledger):
        return 0  # the run undid everything itself
    from chaoskit.redact import redact_text
    from chaoskit.runner.ledger import roll_back

    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    try:
        results = asyncio.run(roll_back(ledger))
    except (OSError, ValueError) as exc:  # the report directory went away
        print(f"{stamp} cannot read the ledger {ledger}: {exc}", flush=True)
        return 1
    if results:
        print(f"{stamp} the run ended without undoing everything; undoing:")
    for result in results:
        mark = "undone" if result.ok else f"FAILED: {result.message}"
        # Credentials in a URL an undo failed on are masked, as everywhere.
        print(redact_text(f"  {result.description}: {mark}"), flush=True)
    return 1 if any(not r.ok for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
