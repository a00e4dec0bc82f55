"""Metrics as JSON: the ``tasks``, ``series`` and ``errors`` parts of a report.

Shared by the report document and the journal's periodic ``metrics`` records
(which let a crashed run's report keep its per-task numbers), so both speak the
same shape. Latencies are milliseconds rounded to microseconds; rates keep six
decimals; non-finite numbers become ``null`` because JSON has no NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from chaoskit.metrics.model import Snapshot, TaskStats, WindowStats

__all__ = [
    "ERRORS_NOTE",
    "TOP_ERROR_USERS",
    "classes_section",
    "error_table",
    "ms",
    "num",
    "series",
    "snapshot_sections",
    "task_json",
    "top_error_users",
    "top_error_users_by_class",
]

ERRORS_NOTE = (
    'A request can carry several classes (a 500 saying "database is locked" '
    "is http_5xx and body_pattern:lock): the counts may overlap."
)
"""Said wherever error classes are listed with counts."""

TOP_ERROR_USERS = 10
"""How many users the "who hit the errors" view lists."""


def num(value: float | None, digits: int = 3) -> float | None:
    """``value`` rounded for a report; ``None`` for missing or non-finite values."""
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)


def ms(value: float) -> float | None:
    """Milliseconds to three decimals (microsecond resolution)."""
    return num(value, 3)


def task_json(stats: TaskStats) -> dict[str, object]:
    """One task's (or the total's) statistics over a span of time.

    ``p*``, ``max`` and ``mean`` are latencies from the intended start
    (coordinated-omission safe); ``service_*`` from the actual send; ``lag_*``
    how late requests were sent.
    """
    latency, service, lag = stats.latency, stats.service, stats.lag
    return {
        "count": stats.count,
        "errors": stats.errors,
        "dropped": stats.dropped,
        "error_rate": num(stats.error_rate, 6),
        "rps": num(stats.rps, 3),
        "p50": ms(latency.p50),
        "p90": ms(latency.p90),
        "p95": ms(latency.p95),
        "p99": ms(latency.p99),
        "p999": ms(latency.p999),
        "max": ms(latency.max),
        "mean": ms(latency.mean),
        "service_p50": ms(service.p50),
        "service_p95": ms(service.p95),
        "service_p99": ms(service.p99),
        "lag_p50": ms(lag.p50),
        "lag_p99": ms(lag.p99),
        "bytes_received": stats.bytes_received,
        "errors_by_class": dict(
            sorted(stats.errors_by_class.items(), key=lambda kv: (-kv[1], kv[0]))
        ),
    }


def _phase_at(t: float, phases: Sequence[tuple[str, float, float]]) -> str | None:
    label = None
    for name, start, end in phases:
        if start <= t < end:
            label = name  # the innermost (latest starting) phase wins
    return label


def series(
    windows: Sequence[WindowStats],
    phases: Sequence[tuple[str, float, float]] = (),
) -> list[dict[str, object]]:
    """One entry per second of the run, in time order, for charts.

    Args:
        windows: the recorder's closed one-second windows.
        phases: ``(name, start_s, end_s)`` to label each second with the phase
            its middle falls in (``None`` outside every phase).
    """
    out: list[dict[str, object]] = []
    for window in windows:
        latency = window.latency
        out.append(
            {
                "t": num(window.start_s, 3),
                "phase": _phase_at(window.start_s + 0.5, phases),
                "count": window.count,
                "errors": window.errors,
                "dropped": window.dropped,
                "error_rate": num(window.error_rate, 6),
                "p50": ms(latency.p50),
                "p95": ms(latency.p95),
                "p99": ms(latency.p99),
                "max": ms(latency.max),
                "tasks": {
                    task: {"count": count, "errors": errors}
                    for task, (count, errors) in sorted(window.tasks.items())
                },
                **(
                    {
                        "classes": {
                            name: {"count": count, "errors": errors}
                            for name, (count, errors) in sorted(window.classes.items())
                        }
                    }
                    if window.classes
                    else {}
                ),
            }
        )
    return out


def error_table(
    errors: dict[str, int], examples: dict[str, list[str]], failed: int | None = None
) -> dict[str, dict[str, object]]:
    """Error key -> count, share of the failed requests and sample details;
    most first. A request can carry several keys, so shares may add up to more
    than 1 (``failed``: the failed requests; by default the sum of counts)."""
    total = sum(errors.values()) if failed is None else failed
    return {
        key: {
            "count": count,
            "share": num(count / total, 6) if total else 0.0,
            "samples": list(examples.get(key, [])),
        }
        for key, count in sorted(errors.items(), key=lambda kv: (-kv[1], kv[0]))
    }


def _who(user: int, user_classes: Mapping[int, str]) -> dict[str, object]:
    """A user, with its ``[[load.users]]`` class when it has one."""
    known = user_classes.get(user)
    return {"user": user} | ({"user_class": known} if known else {})


def top_error_users(
    user_errors: dict[int, dict[str, int]],
    limit: int = TOP_ERROR_USERS,
    user_classes: Mapping[int, str] | None = None,
) -> list[dict[str, object]]:
    """The users with the most errors, with their counts by error key (and
    each user's class, with ``[[load.users]]``).

    This is the "which users hit the lock errors" view: with hot keys or
    per-user rows, errors concentrate on a few users, and the list shows who.
    """
    ranked = sorted(user_errors.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    return [
        _who(user, user_classes or {})
        | {
            "errors": sum(by_key.values()),
            "by_class": dict(sorted(by_key.items(), key=lambda kv: (-kv[1], kv[0]))),
        }
        for user, by_key in ranked[:limit]
    ]


def top_error_users_by_class(
    user_errors: dict[int, dict[str, int]],
    limit: int = TOP_ERROR_USERS,
    user_classes: Mapping[int, str] | None = None,
) -> dict[str, list[dict[str, object]]]:
    """Per error key (``body_pattern:lock``...), the users with the most of it.

    The per-class view of :func:`top_error_users`: who hit the lock errors,
    not only who had the most errors of any kind. Classes with most errors first.
    """
    by_class: dict[str, dict[int, int]] = {}
    for user, by_key in user_errors.items():
        for key, count in by_key.items():
            by_class.setdefault(key, {})[user] = count
    ranked = sorted(by_class.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    return {
        key: [
            _who(user, user_classes or {}) | {"errors": count}
            for user, count in sorted(users.items(), key=lambda kv: (-kv[1], kv[0]))[
                :limit
            ]
        ]
        for key, users in ranked
    }


def classes_section(
    snapshot: Snapshot, declared: Mapping[str, float]
) -> dict[str, dict[str, object]]:
    """Class -> its stats (a task's fields), ``declared_share`` and
    ``request_share``; in the declared order, then any other class seen."""
    total = sum(stats.count for stats in snapshot.classes.values())
    names = [*declared, *(n for n in sorted(snapshot.classes) if n not in declared)]
    out: dict[str, dict[str, object]] = {}
    for name in names:
        stats = snapshot.classes.get(name)
        row: dict[str, object] = task_json(stats) if stats is not None else {}
        count = stats.count if stats is not None else 0
        out[name] = {
            "declared_share": num(declared.get(name), 6),
            "request_share": num(count / total, 6) if total else 0.0,
            **row,
        }
    return out


def snapshot_sections(
    snapshot: Snapshot,
    phases: Sequence[tuple[str, float, float]] = (),
    declared: Mapping[str, float] | None = None,
) -> dict[str, object]:
    """The metrics part of a report document, from a recorder's snapshot.

    Returns:
        ``tasks``, ``total``, ``phase_tasks``, ``classes`` (with the classes'
        ``declared`` shares when known), ``series``, ``errors`` (with
        ``errors_note``: the counts may overlap), ``top_error_users`` and
        ``top_error_users_by_class``, in the document's shape.
    """
    return {
        "tasks": {name: task_json(s) for name, s in sorted(snapshot.tasks.items())},
        "total": task_json(snapshot.total),
        "phase_tasks": {
            phase: {name: task_json(s) for name, s in sorted(tasks.items())}
            for phase, tasks in snapshot.phases.items()
        },
        "classes": classes_section(snapshot, declared or {}),
        "series": series(snapshot.windows, phases),
        "errors": error_table(
            snapshot.errors, snapshot.error_examples, snapshot.total.errors
        ),
        "errors_note": ERRORS_NOTE,
        "top_error_users": top_error_users(
            snapshot.user_errors, user_classes=snapshot.user_classes
        ),
        "top_error_users_by_class": top_error_users_by_class(
            snapshot.user_errors, user_classes=snapshot.user_classes
        ),
    }
