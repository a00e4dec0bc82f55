"""The parts of an experiment the cross-field checks read, even when invalid.

When the whole file validates, the parts are the model's. When it does not,
each item is validated on its own, and an item with bad values is validated
again without them (defaults standing in), so that its references to other
parts (a fault's route, a hypothesis's task) are still checked in the same
pass. Names are taken as written, so one invalid item does not make every
reference to it an error too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from chaoskit.spec.model import (
    SERVICE_KINDS,
    AbortCondition,
    Experiment,
    ExperimentInfo,
    Fault,
    FaultModel,
    Hypothesis,
    LoadSection,
)
from chaoskit.spec.streams import task_sample_names

__all__ = ["CLASS_TASKS", "Parts", "gather", "items", "valid"]


@dataclass
class Parts:
    """The experiment's parts that validated, and every name as written."""

    info: ExperimentInfo | None = None
    load: LoadSection | None = None
    faults: list[tuple[int, FaultModel]] = field(default_factory=list)
    hypotheses: list[tuple[int, Any]] = field(default_factory=list)
    abort: list[tuple[int, AbortCondition]] = field(default_factory=list)
    names: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """Section -> (TOML path of the name, name) for every item that has one."""
    service_kinds: dict[str, str] = field(default_factory=dict)
    """Service name -> kind; ``""`` when the kind is missing or unknown."""
    faults_valid: bool = True
    """Every ``[[faults]]`` entry validated (so phases can be judged)."""
    partial: set[tuple[str, int]] = field(default_factory=set)
    """(section, index) of items checked without their invalid keys: only
    their references to other parts are checked."""

    def declared(self, section: str) -> list[str]:
        """Names declared in a section (``services``, ``routes``, ``tasks``, ...)."""
        return list(dict.fromkeys(name for _, name in self.names.get(section, [])))


@cache
def _adapter(tp: Any) -> TypeAdapter[Any]:
    return TypeAdapter(tp)


def _valid(tp: Any, value: object) -> Any:
    try:
        return _adapter(tp).validate_python(value)
    except ValidationError:
        return None  # already reported with its key path by validate.translate


def valid(tp: Any, value: object) -> Any:
    """``value`` validated as ``tp``; None when it is not (reported elsewhere)."""
    return _valid(tp, value)


def _partial(tp: Any, value: object) -> Any:
    """The item validated without its invalid keys (defaults in their place).

    So a fault with a bad latency still has its route checked. None when
    that is not possible (a required key is missing or wrong, a wrong kind).
    """
    if not isinstance(value, dict):
        return None
    try:
        return _adapter(tp).validate_python(value)
    except ValidationError as error:
        bad = set()
        for detail in error.errors():
            keys = [part for part in detail["loc"] if part in value]
            if not keys or detail["type"] == "missing":
                return None
            bad.add(keys[0])
    return _valid(tp, {k: v for k, v in value.items() if k not in bad})


def items(table: Mapping[str, Any], *keys: str) -> Iterator[tuple[int, Any]]:
    """(index, item) of the array at ``keys`` in the raw table (none if absent)."""
    node: Any = table
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, list):
        yield from enumerate(node)


def gather(table: Mapping[str, Any], experiment: Experiment | None) -> Parts:
    parts = Parts()
    if experiment is not None:
        parts.info, parts.load = experiment.experiment, experiment.load
        parts.faults = list(enumerate(experiment.faults))
        parts.hypotheses = list(enumerate(experiment.hypotheses))
        parts.abort = list(enumerate(experiment.abort))
    else:
        parts.info = _partial(ExperimentInfo, table.get("experiment"))
        parts.load = _valid(LoadSection, table.get("load"))
        for section, tp, into in (
            ("faults", Fault, parts.faults),
            ("hypotheses", Hypothesis, parts.hypotheses),
            ("abort", AbortCondition, parts.abort),
        ):
            for index, item in items(table, section):
                model = _partial(tp, item)
                if model is not None:
                    into.append((index, model))
                if _valid(tp, item) is None:
                    parts.partial.add((section, index))
    parts.faults_valid = not any(s == "faults" for s, _ in parts.partial) and len(
        parts.faults
    ) == len(list(items(table, "faults")))
    for section, keys in (
        ("services", ("services",)),
        ("routes", ("proxy", "routes")),
        ("tasks", ("load", "tasks")),
        ("tasks", ("load", "flow", "on_start")),
        ("tasks", ("load", "flow", "on_stop")),
        ("users", ("load", "users")),
        ("faults", ("faults",)),
        ("hypotheses", ("hypotheses",)),
        ("probes", ("probes",)),
    ):
        for index, item in items(table, *keys):
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                path = f"{'.'.join(keys)}[{index}].name"
                # A stream task's own samples are named too (``feed.connect``).
                names = task_sample_names(item) if section == "tasks" else []
                for name in names or [item["name"]]:
                    parts.names.setdefault(section, []).append((path, name))
                if section == "services":
                    # "" when the kind is missing or wrong: that is reported
                    # on its own, and must not make every use of it an error.
                    kind = item.get("kind")
                    parts.service_kinds[item["name"]] = (
                        kind if kind in SERVICE_KINDS else ""
                    )
    flow = (
        table.get("load", {}).get("flow")
        if isinstance(table.get("load"), dict)
        else None
    )
    for step in ("heartbeat", "refresh"):
        found = flow.get(step) if isinstance(flow, dict) else None
        if isinstance(found, dict) and isinstance(found.get("name"), str):
            parts.names.setdefault("tasks", []).append(
                (f"load.flow.{step}.name", found["name"])
            )
    parts.names["class_tasks"] = list(_class_tasks(table))
    return parts


CLASS_TASKS = "class_tasks"
"""The names section of the tasks of ``[[load.users]]`` classes: a name may
repeat from class to class (each has its own ``login``), so it is not checked
for duplicates, only referred to."""


def _class_tasks(table: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(TOML path of the name, name) of every task and flow step of a class."""
    for index, cls in items(table, "load", "users"):
        if not isinstance(cls, dict):
            continue
        where = f"load.users[{index}]"
        raw_flow = cls.get("flow")
        flow: dict[str, Any] = raw_flow if isinstance(raw_flow, dict) else {}
        for at, steps in (
            (f"{where}.tasks", cls.get("tasks")),
            (f"{where}.flow.on_start", flow.get("on_start")),
            (f"{where}.flow.on_stop", flow.get("on_stop")),
        ):
            for position, task in enumerate(_list(steps)):
                # As ``[load]``'s: a stream task's own samples too.
                for name in task_sample_names(task):
                    yield f"{at}[{position}].name", name
        for step in ("heartbeat", "refresh"):
            found = flow.get(step)
            if isinstance(found, dict) and isinstance(found.get("name"), str):
                yield f"{where}.flow.{step}.name", found["name"]


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
