"""Run events: what happened when, for the journal, the console and the checks.

A leaf module, like :mod:`chaoskit.records` for samples: the runner produces
events and hands them to sinks it was given; it never imports a report.
``at_ns`` is ``CLOCK_MONOTONIC`` (the same clock as samples and the proxy's
connection log); ``wall`` is Unix time, for people.
"""

from __future__ import annotations

import math
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
    "ProbeSeries",
    "RequestAttempt",
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
    "probe",  # one probe sample: probe, t_s, values (or error: a gap)
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


@dataclass(frozen=True)
class RequestAttempt:
    """One request at an HTTP route, from the proxy's request log.

    ``at_s`` and ``end_s`` count from the timeline's start; ``retry_after_s`` is
    the response's ``Retry-After`` in seconds (real or injected), if any.
    """

    route: str
    client: str
    at_s: float
    end_s: float | None
    method: str
    path: str
    status: int | None
    ok: bool
    """Answered whole with a status below 500 other than 429."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """The request headers the proxy recorded (names lowercased)."""
    retry_after_s: float | None = None
    fault: str | None = None


@dataclass
class ProbeSeries:
    """One probe's samples over the run: every metric at each time, or a gap.

    Filled while the run goes (by the probe sampler, on the event loop) and
    read once it has ended (checks, reports). ``t`` counts seconds from the
    timeline's start, like phases and faults (negative in the warm-up).
    """

    name: str
    kind: str
    target: str
    """What the probe watches: ``service api (pid 4242)``, a URL..."""
    every_s: float
    metrics: tuple[str, ...]
    t: list[float] = field(default_factory=list)
    values: dict[str, list[float | None]] = field(default_factory=dict)
    gaps: list[tuple[float, str]] = field(default_factory=list)
    """(time, why): a sample that failed (process gone, query refused, timeout)."""

    def add(self, t: float, values: Mapping[str, float | None]) -> None:
        """One sample; a metric missing from ``values`` (or NaN) is unknown then."""
        self.t.append(t)
        for metric in self.metrics:
            value = values.get(metric)
            ok = value is not None and math.isfinite(value)
            self.values.setdefault(metric, []).append(value if ok else None)

    def gap(self, t: float, error: str) -> None:
        """A sample that could not be taken."""
        self.gaps.append((t, error))

    def points(
        self, metric: str, start: float = -math.inf, end: float = math.inf
    ) -> list[tuple[float, float]]:
        """(t, value) of ``metric`` with ``start <= t < end``, known values only."""
        values = self.values.get(metric, [])
        return [
            (t, v)
            for t, v in zip(self.t, values, strict=False)
            if v is not None and start <= t < end
        ]

    def to_json(self) -> dict[str, object]:
        """The report.json shape (``probes`` list)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "target": self.target,
            "every_s": self.every_s,
            "metrics": list(self.metrics),
            "t": [round(t, 3) for t in self.t],
            "values": {m: list(self.values.get(m, [])) for m in self.metrics},
            "gaps": [{"t": round(t, 3), "error": e} for t, e in self.gaps],
        }
