"""How users (closed model) and arrivals (open model) are spread over user classes.

One rule for both, so ``chaoskit validate`` prints the shares the engine runs:
classes with a ``fixed_count`` are filled first (as Locust spawns them), then
each next user goes to the weighted class with the highest Sainte-Laguë
quotient ``weight / (2 * seats + 1)``. The method is house-monotone: the
spread of ``n + 1`` users is the spread of ``n`` plus one, so any prefix of the
order matches the weights within one user per class, whatever the count; a
shape that adds users one by one, or stops the newest first, keeps the mix.
Arrivals of a shared rate are handed out in the same order.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chaoskit.errors import SpecIssue
from chaoskit.spec.streams import describe_stream_task
from chaoskit.units import format_duration

if TYPE_CHECKING:
    from chaoskit.spec.model import LoadSection, TaskSection, UserClassSection

__all__ = [
    "ClassShare",
    "Seats",
    "check_classes",
    "class_shares",
    "declared_shares",
    "describe_classes",
    "selected",
    "spread",
    "spread_order",
    "task_lines",
]


@dataclass(frozen=True, slots=True)
class ClassShare:
    """A class's claim: a relative ``weight``, or a ``fixed_count`` of users."""

    weight: float = 1.0
    fixed_count: int | None = None


class Seats:
    """The class of each next user (an index into ``shares``), forever.

    Args:
        shares: the classes in declaration order (ties go to the earlier one).
    """

    def __init__(self, shares: Sequence[ClassShare]) -> None:
        self._fixed = [
            (i, share.fixed_count)
            for i, share in enumerate(shares)
            if share.fixed_count is not None
        ]
        self._weights = {
            i: share.weight
            for i, share in enumerate(shares)
            if share.fixed_count is None and share.weight > 0
        }

    def __iter__(self) -> Iterator[int]:
        for index, count in self._fixed:
            yield from [index] * count
        # (-quotient, index, seats): the highest quotient first, then the
        # earliest class.
        heap = [(-weight, i, 0) for i, weight in self._weights.items()]
        heapq.heapify(heap)
        if not heap:
            return
        weights = self._weights
        while True:
            _, index, seats = heap[0]
            seats += 1
            heapq.heapreplace(heap, (-weights[index] / (2 * seats + 1), index, seats))
            yield index


def spread_order(shares: Sequence[ClassShare], count: int) -> list[int]:
    """The class of each of the first ``count`` users, in spawn order."""
    order: list[int] = []
    for index in Seats(shares):
        if len(order) >= count:
            break
        order.append(index)
    return order


def spread(shares: Sequence[ClassShare], count: int) -> list[int]:
    """How many of ``count`` users each class gets (fixed counts first; fewer
    users than the fixed counts: the earlier classes are filled)."""
    counts = [0] * len(shares)
    for index in spread_order(shares, count):
        counts[index] += 1
    return counts


def declared_shares(
    shares: Sequence[ClassShare],
    rates: Sequence[float | None],
    total: float,
    *,
    users: bool,
) -> list[float]:
    """Each class's declared share: of ``total`` users (``users``: the closed
    model), or of the requests (open: a class's own rate, or its weight's part
    of the shared rate ``total``)."""
    if users:
        count = max(1, round(total))
        return [n / count for n in spread(shares, count)]
    shared = sum(s.weight for s, r in zip(shares, rates, strict=True) if r is None)
    offered = [
        r if r is not None else total * s.weight / shared
        for s, r in zip(shares, rates, strict=True)
    ]
    whole = sum(offered)
    return [o / whole for o in offered]


def selected(
    tags: Sequence[str], include: Sequence[str], exclude: Sequence[str]
) -> bool:
    """Whether a task with ``tags`` runs under ``--tags``/``--exclude-tags``
    (Locust's rule: one of ``include`` if any is given, none of ``exclude``)."""
    if include and not set(tags) & set(include):
        return False
    return not set(tags) & set(exclude)


def class_shares(classes: Sequence[UserClassSection]) -> list[ClassShare]:
    """Each ``[[load.users]]`` class's claim (weight 1 when it says none)."""
    return [
        ClassShare(c.weight if c.weight is not None else 1.0, c.fixed_count)
        for c in classes
    ]


def check_classes(load: LoadSection, *, locust: bool = False) -> list[SpecIssue]:
    """``[[load.users]]`` fits the model: closed classes have weights or fixed
    counts and a total; open classes share ``rate`` by weight or have their own.

    ``locust``: the classes name a locustfile's users (closed: Locust runs
    users), whose code makes the requests, so a class needs no tasks.
    """
    classes = load.classes
    if not classes:
        if load.user_count is not None:
            return [
                SpecIssue(
                    "load.user_count",
                    "counts the users of [[load.users]] classes, and none is declared",
                    load.user_count,
                    "users = N without classes",
                )
            ]
        return []
    issues = []
    if load.tasks:
        issues.append(
            SpecIssue(
                "load.tasks",
                "cannot be combined with [[load.users]]: each class has its tasks",
                None,
                "[[load.users.tasks]] inside each class",
            )
        )
    open_model = load.model == "open" and not locust
    for index, cls in enumerate(classes):
        where = f"load.users[{index}]"
        if not cls.tasks and not locust:
            issues.append(
                SpecIssue(
                    f"{where}.tasks", "needs at least one task", None,
                    "[[load.users.tasks]] with a name and a path",
                )
            )  # fmt: skip
        if cls.weight is not None and cls.fixed_count is not None:
            issues.append(
                SpecIssue(
                    f"{where}.fixed_count", "cannot be combined with weight",
                    cls.fixed_count, "one of weight, fixed_count",
                )
            )  # fmt: skip
        wrong = (
            [("fixed_count", "users"), ("think", "users"), ("flow", "users")]
            if open_model
            else [("rate", "arrivals")]
        )
        if locust and "rate" in cls.model_fields_set:
            issues.append(
                SpecIssue(
                    f"{where}.rate", "Locust runs users (a closed model) only",
                    cls.rate, "weight = N or fixed_count = N",
                )
            )  # fmt: skip
            wrong = []
        for key, _ in wrong:
            if key in cls.model_fields_set:
                model = "closed" if open_model else "open"
                issues.append(
                    SpecIssue(
                        f"{where}.{key}", f"is for the {model} model only", None,
                        f'model = "{model}"',
                    )
                )  # fmt: skip
    if open_model:
        shared = [c.name for c in classes if c.rate is None]
        if shared and load.rate is None and not load.stages and load.profile is None:
            issues.append(
                SpecIssue(
                    "load.rate",
                    f"is required: classes {', '.join(shared)} share it by weight",
                    None,
                    "rate = 100, or a rate in every class",
                )
            )
    elif isinstance(load.users, tuple) and "users" in load.model_fields_set:
        fixed = sum(c.fixed_count or 0 for c in classes)
        total = load.user_count
        if total is not None and fixed > total:
            issues.append(
                SpecIssue(
                    "load.user_count",
                    f"is below the classes' fixed counts ({fixed} users)",
                    total,
                    f">= {fixed}",
                )
            )
        weighted = any(c.fixed_count is None for c in classes)
        if total is not None and total > fixed and not weighted:
            issues.append(
                SpecIssue(
                    "load.user_count",
                    f"is above the classes' fixed counts ({fixed} users) and no "
                    "class takes the rest by weight",
                    total,
                    f"{fixed}, or a class with a weight",
                )
            )
    return issues


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"


def task_lines(
    tasks: Sequence[TaskSection], load: LoadSection, indent: str
) -> list[str]:
    """One line per task the tags select: its share of its class, the request."""
    chosen = [t for t in tasks if selected(t.tags, load.tags, load.exclude_tags)]
    total = sum(task.weight for task in chosen)
    lines = []
    for task in chosen:
        body = " (json)" if task.json_body is not None else ""
        body = " (form)" if task.form is not None else body
        body = " (files)" if task.files else body
        share = f"{task.weight / total:.0%}"
        request = f"{task.method} {task.path}{body}"
        if task.kind != "http":
            request = describe_stream_task(task)
        lines.append(f"{indent}task {task.name} ({share}): {request}")
    return lines


def describe_classes(load: LoadSection) -> list[str]:
    """The classes as they will run (those the tags select): each one's share
    of the users (closed) or of the rate (open), its think time and tasks."""
    running = [
        c
        for c in load.classes
        # The locustfile's @tag decides its tasks (a class may declare none).
        if load.engine == "locust"
        or any(
            selected((*c.tags, *t.tags), load.tags, load.exclude_tags) for t in c.tasks
        )
    ]
    if not running:
        return []
    lines = []
    if load.model == "closed":
        total = load.user_total
        counts = spread(class_shares(running), total) if total else None
        weights = sum(c.weight or 1.0 for c in running if c.fixed_count is None)
        for index, cls in enumerate(running):
            if counts is not None and total:
                share = (
                    f"{counts[index]} of {total} users ({counts[index] / total:.0%})"
                )
            elif cls.fixed_count is not None:
                share = f"{cls.fixed_count} users (fixed)"
            else:
                share = f"{(cls.weight or 1.0) / weights:.0%} of the users"
            think = cls.think if cls.think is not None else load.think
            waits = f", think {think}" if think is not None else ""
            lines.append(f"  class {cls.name}: {share}{waits}")
            lines += _class_tasks(cls, load)
        return lines
    shared = [c for c in running if c.rate is None]
    weights = sum(c.weight or 1.0 for c in shared)
    for cls in running:
        if cls.rate is not None:
            share = f"its own {_number(cls.rate)} requests/s"
        else:
            part = (cls.weight or 1.0) / weights
            rate = f" = {_number(load.rate * part)} requests/s" if load.rate else ""
            share = f"{part:.0%} of the rate{rate}"
        lines.append(f"  class {cls.name}: {share}")
        lines += _class_tasks(cls, load)
    return lines


def _class_tasks(cls: UserClassSection, load: LoadSection) -> list[str]:
    if load.engine == "locust":
        flow = cls.flow
        steps = (*flow.on_start, *flow.on_stop) if flow is not None else ()
        names = ", ".join(t.name for t in (*steps, *cls.tasks))
        return [f"    the locustfile's requests, named {names}"] if names else []
    tagged = [t.model_copy(update={"tags": (*cls.tags, *t.tags)}) for t in cls.tasks]
    lines = task_lines(tagged, load, "    ")
    flow = cls.flow
    if flow is not None and flow.heartbeat is not None:
        lines.append(
            f"    heartbeat {flow.heartbeat.name} every "
            f"{format_duration(flow.heartbeat_every)}"
        )
    return lines
