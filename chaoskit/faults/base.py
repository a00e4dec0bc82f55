"""What every fault driver gives back: an idempotent undo, and a ledger entry.

A driver applies one change and returns an :class:`Undo`. The runner writes the
change to the rollback ledger (a file in the report directory) *before* applying
it, so that if chaoskit itself is killed, ``chaoskit rollback`` can undo it from
another process: a :class:`LedgerEntry` says how, with nothing but plain data.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

__all__ = ["Change", "LedgerEntry", "Undo"]


class Undo:
    """Puts back one change; safe to await more than once.

    ``effective_ns`` (``time.monotonic_ns()``) is when the change took effect,
    for a driver that knows it better than the moment ``apply()`` returned
    (a lock taken in a worker thread: the event loop may notice it later).
    """

    def __init__(
        self,
        description: str,
        action: Callable[[], Awaitable[None]],
        effective_ns: int | None = None,
    ) -> None:
        self.description = description
        self._action = action
        self.effective_ns = effective_ns
        self.done = False

    async def __call__(self) -> None:
        if self.done:
            return
        await self._action()
        self.done = True

    def __repr__(self) -> str:
        state = "done" if self.done else "pending"
        return f"<Undo {self.description} ({state})>"


@dataclass(frozen=True)
class LedgerEntry:
    """How to undo a change from another process (plain JSON data).

    ``kind`` names the undo action; ``data`` is its arguments. Kinds:
    ``toxic`` (url, proxy, toxic): remove a toxic;
    ``proxy_enable`` (url, proxy): enable a proxy;
    ``proxy_accept`` (url, proxy): end a proxy's observed down (chaoskit's);
    ``proxy_delete`` (url, proxy): delete a proxy;
    ``http_fault`` (url, proxy, fault): remove an HTTP fault (chaoskit's proxy);
    ``process`` (pid, start_time): stop a process group chaoskit started;
    ``sigcont`` (pid, start_time): resume a paused process group;
    ``container_start`` (container, docker_host): start (or unpause) a container;
    ``container_unpause`` (container, docker_host): unpause a container;
    ``container_remove`` (container, run, docker_host): remove a container this
    run created (only while it carries the run's ``chaoskit.run`` label);
    ``pg_backend`` (dsn, pid, backend_start_us): end a lock fault's backend;
    ``sqlite_lock`` (path, why): nothing to do (see ``faults.locks``);
    ``payloads`` (fault, url): nothing (the sender died with its run).
    """

    kind: str
    description: str
    data: Mapping[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "description": self.description, **self.data}


@dataclass(frozen=True)
class Change:
    """One change a fault makes: how to undo it from elsewhere, and how to make it.

    The runner writes ``entry`` to the ledger, then awaits ``apply()``, then
    keeps the returned :class:`Undo`.
    """

    entry: LedgerEntry | None
    apply: Callable[[], Awaitable[Undo]]
