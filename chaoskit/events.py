"""Run events: what happened when, for the journal, the console and the checks.

A leaf module, like :mod:`chaoskit.records` for samples: the runner produces
events and hands them to sinks it was given; it never imports a report.
``at_ns`` is ``CLOCK_MONOTONIC`` (the same clock as samples and the proxy's
connection log); ``wall`` is Unix time, for people.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = [
    "EVENT_KINDS",
    "AttemptRecord",
    "Event",
    "EventSink",
    "FaultRecord",
    "PhaseRecord",
    "ServiceRecord",
    "event",
]

EVENT_KINDS = (
    "run_started",  # plan, seed, command
    "service_starting",
    "service_ready",  # address, pid, seconds to healthy
    "service_stopped",
    "route_created",  # route, listen, upstream
    "phase",  # name: warmup, before, during:<fault>, after:<fault>
    "fault_applying",  # written before the change (the ledger has it too)
    "fault_applied",
    "fault_failed",  # could not be applied
    "fault_rolled_back",
    "rollback_failed",
    "progress",  # one-second summary: rps, p95, error rate, active faults
    "abort",  # reason
    "interrupted",  # signal
    "run_finished",  # the report document
)


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened during a run."""

    kind: str
    at_ns: int
    wall: float
    data: Mapping[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """The journal's shape for an event."""
        return {"type": "event", "kind": self.kind, "at_ns": self.at_ns,
                "wall": self.wall, **self.data}  # fmt: skip


def event(kind: str, **data: object) -> Event:
    """An event stamped now."""
    return Event(kind, time.monotonic_ns(), time.time(), data)


@runtime_checkable
class EventSink(Protocol):
    """Consumer of events; called on the event loop, must not block for long."""

    def emit(self, event: Event) -> None:
        """Take one event."""


# --- what a run leaves behind, as records (for checks and reports) -------------


@dataclass(frozen=True)
class FaultRecord:
    """One fault window (one occurrence of a scheduled fault): planned window,
    what really happened, and whether it was undone."""

    name: str
    kind: str
    target: str
    """``route db`` or ``service api``."""
    settings: Mapping[str, object]
    """The fault's own settings in the units the user wrote (latency "300ms"...)."""
    planned_start_s: float
    planned_end_s: float
    started_s: float | None = None
    ended_s: float | None = None
    started_at: str | None = None
    ended_at: str | None = None
    rolled_back: bool = False
    error: str | None = None
    fault: str = ""
    """The declared fault's name; ``name`` is this occurrence's label
    (``flap#2`` when the fault's schedule has several windows)."""
    occurrence: int = 1
    occurrences: int = 1

    @property
    def declared(self) -> str:
        """The name of the ``[[faults]]`` entry this window belongs to."""
        return self.fault or self.name


@dataclass(frozen=True)
class PhaseRecord:
    """A labelled stretch of the timeline (``before``, ``during:slow db``...)."""

    name: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class ServiceRecord:
    """A service the run started or watched."""

    name: str
    kind: str
    address: str | None = None
    pid: int | None = None
    logs: tuple[str, ...] = ()
    ready_after_s: float | None = None


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt at a route's upstream, from the proxy's connection log.

    A connection, or one keep-alive exchange on it; ``at_s`` counts from the
    timeline's start, like phases and faults.
    """

    route: str
    client: str
    """The client's address as the proxy saw it (``127.0.0.1:51234``)."""
    at_s: float
    ok: bool
    """The upstream answered (see ``checks.sequences.connection_attempts``)."""
    end: str | None = None
