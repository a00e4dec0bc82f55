"""Cross-field rules of the database-facing parts: lock faults, integrity checks.

A ``lock`` fault targets a ``postgres`` service (a table or rows) or an SQLite
file; an ``integrity`` hypothesis reads back from a URL or with SQL, and needs
tasks that declare what they acknowledge. Like :mod:`chaoskit.spec.rules`,
these return :class:`~chaoskit.errors.SpecIssue` lists and never raise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from chaoskit.errors import SpecIssue
from chaoskit.spec.model import (
    LOCK_MODES,
    IntegrityHypothesis,
    LockFault,
    TaskSection,
)
from chaoskit.spec.rules import check_service_kind

__all__ = ["check_acks", "check_integrity", "check_lock"]

_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def _one_of(
    where: str, given: Mapping[str, object], what: str, allowed: str
) -> list[SpecIssue]:
    present = [key for key, value in given.items() if value is not None]
    if len(present) == 1:
        return []
    message = (
        f"{what} needs one of {', '.join(given)}"
        if not present
        else f"sets {' and '.join(present)}; {what} takes only one"
    )
    return [SpecIssue(where, message, None, allowed)]


def check_lock(
    where: str, fault: LockFault, service_kinds: Mapping[str, str]
) -> list[SpecIssue]:
    """A lock fault names a postgres service (with a table) or an SQLite file."""
    issues = _one_of(
        where,
        {"service": fault.service, "database": fault.database},
        "a lock fault",
        'service = "<a postgres service>" or database = "<an SQLite file>"',
    )
    if fault.service is not None:
        issues += check_service_kind(
            f"{where}.service", fault.service, "postgres", service_kinds,
            "a PostgreSQL lock",
        )  # fmt: skip
        if fault.table is None:
            issues.append(
                SpecIssue(
                    f"{where}.table",
                    "is required for a PostgreSQL lock",
                    None,
                    'a table name: "watch_history" or "schema.table"',
                )
            )
    elif fault.database is not None:
        for key in ("table", "mode", "where"):
            if key in fault.model_fields_set:
                issues.append(
                    SpecIssue(
                        f"{where}.{key}",
                        "is not a setting of an SQLite lock (it locks the whole "
                        "file with BEGIN EXCLUSIVE)",
                        None,
                        "name, kind, at, for, database (and the schedule: every, "
                        "count, jitter)",
                    )
                )
    if fault.table is not None and not _TABLE.match(fault.table):
        issues.append(
            SpecIssue(
                f"{where}.table",
                "is not a table name",
                fault.table,
                "letters, digits and '_', optionally schema.table",
            )
        )
    if fault.mode.upper() not in LOCK_MODES:
        issues.append(
            SpecIssue(f"{where}.mode", "is not a lock mode", fault.mode, _modes())
        )
    if fault.where is not None and "mode" in fault.model_fields_set:
        issues.append(
            SpecIssue(
                f"{where}.mode",
                "does not apply to row locks (where = ... takes FOR UPDATE)",
                fault.mode,
                "mode (a table lock) or where (row locks), not both",
            )
        )
    return issues


def _modes() -> str:
    return ", ".join(LOCK_MODES)


def check_integrity(
    where: str,
    hypothesis: IntegrityHypothesis,
    tasks: Sequence[TaskSection],
    service_kinds: Mapping[str, str],
    *,
    locustfile: bool = False,
) -> list[SpecIssue]:
    """The read-back is one URL or one SQL query, and some task acknowledges
    (with a locustfile, its requests acknowledge through ``chaoskit_locust.ack``)."""
    issues: list[SpecIssue] = []
    read = hypothesis.read_back
    at = f"{where}.read_back"
    issues += _one_of(
        at,
        {"url": read.url, "service": read.service, "database": read.database},
        "a read-back",
        'url = "http://..." (GET, ids = a JSON path), or query = "SELECT id ..." '
        'with service = "<postgres service>" or database = "<SQLite file>"',
    )
    if read.url is None and read.query is None:
        issues.append(
            SpecIssue(
                f"{at}.query",
                "is required for an SQL read-back",
                None,
                'SQL whose first column is the id: "SELECT write_id FROM writes"',
            )
        )
    if read.url is not None and read.query is not None:
        issues.append(
            SpecIssue(f"{at}.query", "is not a setting of an HTTP read-back", None)
        )
    if not read.ids.startswith("$"):
        issues.append(
            SpecIssue(f"{at}.ids", "is not a JSON path", read.ids, "$.ids, $[*]")
        )
    if read.service is not None:
        issues += check_service_kind(
            f"{at}.service", read.service, "postgres", service_kinds, "an SQL read-back"
        )
    if read.counts:
        return issues + _counter(where, hypothesis, tasks)
    acking = [t.name for t in tasks if t.ack is not None]
    if hypothesis.task is not None:
        if hypothesis.task in {t.name for t in tasks} and (
            hypothesis.task not in acking
        ):
            issues.append(
                SpecIssue(
                    f"{where}.task",
                    "acknowledges nothing: give the task an ack",
                    hypothesis.task,
                    'ack = { id = "$.id" } or ack = { request = "$.write_id" }',
                )
            )
    elif not acking and not locustfile:
        issues.append(
            SpecIssue(
                where,
                "no task acknowledges anything; an integrity check needs a task "
                "with ack",
                None,
                'load.tasks[...].ack = { id = "$.id" } or { request = "$.key" }',
            )
        )
    return issues


def _counter(
    where: str, hypothesis: IntegrityHypothesis, tasks: Sequence[TaskSection]
) -> list[SpecIssue]:
    """A counter read-back: a number, against one task's acknowledged writes."""
    read, at = hypothesis.read_back, f"{where}.read_back"
    issues = []
    if read.count is not None and read.url is None:
        issues.append(
            SpecIssue(
                f"{at}.count",
                "is a JSON path in an HTTP read-back's answer: it needs url "
                '(SQL: query = "SELECT sum(...)" with expect = "acknowledged")',
                read.count,
            )
        )
    if read.count is not None and not read.count.startswith("$"):
        issues.append(
            SpecIssue(f"{at}.count", "is not a JSON path", read.count, "$.total")
        )
    if read.url is not None and read.count is None:
        issues.append(
            SpecIssue(
                f"{at}.count",
                "is required for an HTTP counter read-back (expect is set)",
                None,
                'the JSON path of the number: "$.total"',
            )
        )
    if hypothesis.task is None:
        writes = [t.name for t in tasks if t.method.upper() != "GET"]
        issues.append(
            SpecIssue(
                f"{where}.task",
                "is required with a counter read-back: whose acknowledged writes "
                "the number counts",
                None,
                ", ".join(writes) or "a task of load.tasks",
            )
        )
    return issues


def check_acks(tasks: Sequence[tuple[str, TaskSection]]) -> list[SpecIssue]:
    """Each task's ``ack`` names an id by a JSON path (tasks with key paths)."""
    issues = []
    for where, task in tasks:
        if task.ack is None:
            continue
        at = f"{where}.ack"
        if task.ack.id is None and task.ack.request is None:
            issues.append(
                SpecIssue(
                    at,
                    "names no id",
                    None,
                    'id = "$.id" (in the answer) or request = "$.key" (in the '
                    "request's JSON body)",
                )
            )
        for key in ("id", "request"):
            path = getattr(task.ack, key)
            if path is not None and not path.startswith("$"):
                issues.append(
                    SpecIssue(f"{at}.{key}", "is not a JSON path", path, "$.a.b[0]")
                )
    return issues
