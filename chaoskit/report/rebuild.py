"""A report for a run that never finished, rebuilt from its journal.

When a run crashes or is killed, its journal ends without a ``run_finished``
record. What it does hold is enough for an honest, partial report: which
services came up, which phases ran, which faults were applied and whether each
was rolled back (the most urgent question after a crash), the one-second
progress, and the last copy of the metrics.

Event data read here (extra keys are ignored, missing ones left empty):

A data key clashing with the record's own (``kind``) is journalled as
``fault_kind`` / ``service_kind`` (see :func:`~chaoskit.report.journal.event_record`).

* ``run_started``: name (or experiment), title, file, seed, command, plan, environment,
  hypotheses ([{name, kind, phase, expected}])
* ``phase``: name, and start_s or at_s (else timed from ``at_ns``)
* ``fault_applying`` / ``fault_applied`` / ``fault_failed``: fault (or name),
  kind (as ``fault_kind``), target, settings, planned_start_s, planned_end_s,
  declared, occurrence, occurrences (a scheduled fault's window: ``fault`` is
  its label, ``flap#2``), at_s (else timed from ``at_ns``), error
* ``fault_rolled_back`` / ``rollback_failed``: fault, or a label
  ``"fault <name>"`` (other labels, routes and services, are not faults), error
* ``service_ready``: service (or name), kind (as ``service_kind``), address,
  pid, ready_after_s
* ``progress``: elapsed_s, phase, rps, p95_ms, error_rate, dropped
* ``abort``: reason; ``interrupted``: signal
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from chaoskit.report.document import SCHEMA_VERSION, Document, iso
from chaoskit.report.fields import number, rollback
from chaoskit.report.probes import probes_from_events
from chaoskit.report.stats import num

__all__ = ["UNKNOWN_STATS", "rebuild_document"]

_NS_PER_S = 1_000_000_000
_STAT_KEYS = (
    "count", "errors", "dropped", "error_rate", "rps", "p50", "p90", "p95", "p99",
    "p999", "max", "mean", "service_p50", "service_p95", "service_p99", "lag_p50",
    "lag_p99", "bytes_received",
)  # fmt: skip
UNKNOWN_STATS: dict[str, object] = {
    **dict.fromkeys(_STAT_KEYS),
    "errors_by_class": {},
}
"""The ``total`` of a run whose metrics never reached the journal: every key of
the usual shape, each ``null`` (unknown, not zero)."""


def _str(value: object) -> str | None:
    return None if value is None else str(value)


class _Timeline:
    """Turns event times into seconds from the start of the timeline."""

    def __init__(self, events: Sequence[Mapping[str, object]]) -> None:
        # The timeline starts with the first phase after the warm-up; before
        # any phase, with the run itself.
        origin = next(
            (
                e.get("at_ns")
                for e in events
                if e.get("kind") == "phase" and e.get("name") != "warmup"
            ),
            None,
        )
        if origin is None:
            origin = next((e.get("at_ns") for e in events), None)
        self.origin = origin if isinstance(origin, int) else None

    def at(self, event: Mapping[str, object], *keys: str) -> float | None:
        for key in (*keys, "at_s"):
            given = number(event.get(key))
            if given is not None:
                return given
        at_ns = event.get("at_ns")
        if self.origin is None or not isinstance(at_ns, int):
            return None
        return (at_ns - self.origin) / _NS_PER_S


def _fault_name(event: Mapping[str, object]) -> str | None:
    if event.get("fault") or event.get("name"):
        return str(event.get("fault") or event.get("name"))
    label = str(event.get("label") or "")
    # The rollback stack labels its undos "fault <name>", "route <name>"...
    return label.removeprefix("fault ") if label.startswith("fault ") else None


def _faults(
    events: Sequence[Mapping[str, object]], timeline: _Timeline
) -> list[dict[str, object]]:
    faults: dict[str, dict[str, object]] = {}
    for e in events:
        kind = e.get("kind")
        if not isinstance(kind, str) or not (
            kind.startswith("fault_") or kind == "rollback_failed"
        ):
            continue
        name = _fault_name(e)
        if name is None:
            continue
        fault = faults.setdefault(
            name,
            {
                "name": name,
                "fault": name,
                "occurrence": 1,
                "occurrences": 1,
                "kind": None,
                "target": None,
                "settings": {},
                "planned_start_s": None,
                "planned_end_s": None,
                "actual_start_s": None,
                "actual_end_s": None,
                "actual_duration_s": None,
                "started_at": None,
                "ended_at": None,
                "rolled_back": False,
                "error": None,
            },
        )
        if e.get("fault_kind") is not None:  # the journal renames a fault's "kind"
            fault["kind"] = e["fault_kind"]
        if e.get("declared") is not None:  # a schedule's occurrence: its fault
            fault["fault"] = e["declared"]
        for key in (
            "target", "settings", "planned_start_s", "planned_end_s",
            "occurrence", "occurrences",
        ):  # fmt: skip
            if e.get(key) is not None:
                fault[key] = e[key]
        wall = number(e.get("wall"))
        if kind == "fault_applied":
            fault["actual_start_s"] = num(timeline.at(e))
            fault["started_at"] = iso(wall)
        elif kind == "fault_rolled_back":
            fault["actual_end_s"] = num(timeline.at(e))
            fault["ended_at"] = iso(wall)
            fault["rolled_back"] = True
        elif kind in ("fault_failed", "rollback_failed"):
            fault["error"] = _str(e.get("error")) or kind.replace("_", " ")
        start, end = number(fault["actual_start_s"]), number(fault["actual_end_s"])
        if start is not None and end is not None:
            fault["actual_duration_s"] = num(end - start)
    return list(faults.values())


def _phases(
    events: Sequence[Mapping[str, object]], timeline: _Timeline, end_s: float
) -> list[dict[str, object]]:
    starts = [
        (str(e.get("name")), timeline.at(e, "start_s"))
        for e in events
        if e.get("kind") == "phase" and e.get("name") != "warmup"
    ]
    phases: list[dict[str, object]] = []
    for i, (name, start) in enumerate(starts):
        end = starts[i + 1][1] if i + 1 < len(starts) else end_s
        phases.append({"name": name, "start_s": num(start), "end_s": num(end)})
    return phases


def _progress_series(
    events: Sequence[Mapping[str, object]], after_s: float
) -> list[dict[str, object]]:
    # Progress events are one-second summaries: rps stands in for the count.
    out: list[dict[str, object]] = []
    for e in events:
        t = number(e.get("elapsed_s"))
        if e.get("kind") != "progress" or t is None or t <= after_s:
            continue
        rps = number(e.get("rps")) or 0.0
        rate = number(e.get("error_rate")) or 0.0
        out.append(
            {
                "t": num(t),
                "phase": _str(e.get("phase")),
                "count": round(rps),
                "errors": round(rps * rate),
                "dropped": e.get("dropped") if isinstance(e.get("dropped"), int) else 0,
                "error_rate": num(rate, 6),
                "p50": None,
                "p95": num(number(e.get("p95_ms"))),
                "p99": None,
                "max": None,
                "tasks": {},
            }
        )
    return out


def _reason(
    events: Sequence[Mapping[str, object]],
    faults: Sequence[Mapping[str, object]],
    ended_at: str | None,
    records: int,
    report_dir: Path,
) -> str:
    parts = [
        f"the run did not finish: its journal ends at {ended_at or 'an unknown time'}"
        f" without a run_finished record (crash or kill); report rebuilt from"
        f" {records} records"
    ]
    for e in events:
        if e.get("kind") == "abort":
            parts.append(f"aborted: {e.get('reason') or 'abort condition'}")
        elif e.get("kind") == "interrupted":
            parts.append(f"interrupted by {e.get('signal') or 'a signal'}")
    left = [str(f["name"]) for f in faults if rollback(f) == "NO"]
    if left:
        parts.append(
            f"fault(s) possibly still applied: {', '.join(left)}"
            f" (run `chaoskit rollback {report_dir}`)"
        )
    return "; ".join(parts)


def rebuild_document(
    records: Sequence[Mapping[str, object]], report_dir: Path
) -> Document:
    """The partial, "aborted" document of a journal without ``run_finished``.

    Args:
        records: the journal's records, in order.
        report_dir: the directory the journal is in (named in the document).
    """
    events = [r for r in records if r.get("type") == "event"]
    started = next((e for e in events if e.get("kind") == "run_started"), {})
    metrics = next((r for r in reversed(records) if r.get("type") == "metrics"), None)
    walls = [w for r in records if (w := number(r.get("wall"))) is not None]
    timeline = _Timeline(events)
    ends = [timeline.at(e) for e in events] + [
        number(e.get("elapsed_s")) for e in events if e.get("kind") == "progress"
    ]
    duration = max((t for t in ends if t is not None), default=0.0)
    faults = _faults(events, timeline)
    ended_at = iso(max(walls)) if walls else None
    saved = metrics.get("series") if metrics is not None else None
    series = (
        [s for s in saved if isinstance(s, dict)] if isinstance(saved, list) else []
    )
    last_t = max((number(s.get("t")) or 0.0 for s in series), default=-1.0)
    series += _progress_series(events, last_t)
    hypotheses = [
        {
            "name": h.get("name"),
            "kind": h.get("kind"),
            "status": None,
            "passed": None,
            "observed": "not judged (the run did not finish)",
            "expected": h.get("expected", ""),
            "phase": h.get("phase", ""),
            "detail": "",
            "observed_value": None,
            "expected_value": None,
        }
        for h in started.get("hypotheses") or []  # type: ignore[attr-defined]
        if isinstance(h, Mapping)
    ]
    seed = started.get("seed")

    def section(key: str, empty: object) -> object:
        return metrics.get(key, empty) if metrics is not None else empty

    return {
        "schema": SCHEMA_VERSION,
        "partial": True,
        "experiment": {
            "name": started.get("name") or started.get("experiment") or "unknown",
            "title": started.get("title") or "",
            "file": started.get("file") or "",
            "seed": seed if isinstance(seed, int) else None,
            "environment": started.get("environment"),
        },
        "verdict": "aborted",
        "reason": _reason(events, faults, ended_at, len(records), report_dir),
        "exit_code": 3,
        "command": started.get("command") or "",
        "report_dir": str(report_dir),
        "started_at": iso(min(walls)) if walls else None,
        "ended_at": ended_at,
        "duration_s": num(duration),
        "summary": {
            "hypotheses": len(hypotheses),
            "passed": 0,
            "failed": 0,
            "inconclusive": 0,
            "faults": len(faults),
            "rolled_back": sum(1 for f in faults if f["rolled_back"]),
        },
        "hypotheses": hypotheses,
        "faults": faults,
        "phases": _phases(events, timeline, duration),
        "tasks": section("tasks", {}),
        "total": section("total", dict(UNKNOWN_STATS)),
        "phase_tasks": section("phase_tasks", {}),
        "classes": section("classes", {}),
        "series": series,
        "errors": section("errors", {}),
        "top_error_users": section("top_error_users", []),
        "top_error_users_by_class": section("top_error_users_by_class", {}),
        "services": [
            {
                "name": e.get("service") or e.get("name"),
                "kind": e.get("service_kind"),
                "address": e.get("address"),
                "pid": e.get("pid"),
                "ready_after_s": num(number(e.get("ready_after_s"))),
                "logs": e.get("logs") or [],
            }
            for e in events
            if e.get("kind") == "service_ready"
        ],
        "environment": started.get("environment") or {},
        "plan": started.get("plan") or "",
        "probes": probes_from_events(events),
    }
