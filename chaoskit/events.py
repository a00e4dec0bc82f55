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

__all__ = ["EVENT_KINDS", "Event", "EventSink", "event"]

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
