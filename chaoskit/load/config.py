"""Typed, frozen configuration of a load: the model, the tasks, the user flow.

The spec module builds these from ``[load]`` and ``[[load.tasks]]``; each
constructor validates and raises :class:`~chaoskit.load.errors.LoadConfigError`
(a ``UsageError``, so a ``ValueError``) naming the field, the value and what is
allowed. Durations are seconds (floats); use ``chaoskit.units.parse_duration``
on text first. After construction nothing downstream validates again. Tasks
live in :mod:`chaoskit.load.taskspec` and are re-exported here.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from chaoskit.hosts import is_loopback
from chaoskit.load.errors import LoadConfigError
from chaoskit.load.shapes import Shape
from chaoskit.load.taskspec import METHODS, TaskSpec, Upload, parse_expect, parse_size
from chaoskit.load.templating import Template, TemplateError

__all__ = [
    "MAX_RATE",
    "METHODS",
    "ClosedModel",
    "Flow",
    "HotKeys",
    "LoadConfig",
    "OpenModel",
    "TaskSpec",
    "Think",
    "Upload",
    "UserClass",
    "parse_expect",
    "parse_size",
]


@dataclass(frozen=True, slots=True)
class Think:
    """Think time between a user's requests: fixed, or uniform in ``low..high``."""

    low: float = 0.0
    high: float = 0.0

    def __post_init__(self) -> None:
        if not (0 <= self.low <= self.high and math.isfinite(self.high)):
            raise LoadConfigError(
                "think", "needs 0 <= low <= high", (self.low, self.high)
            )

    def draw(self, rng: random.Random) -> float:
        """One think time in seconds: ``low``, or uniform in ``low..high``."""
        if self.high > self.low:
            return rng.uniform(self.low, self.high)
        return self.low

    @classmethod
    def parse(cls, text: str | float) -> Think:
        """From ``"1s"``, ``"0.5s..2s"`` or seconds.

        Raises:
            LoadConfigError: not a duration or a range of two.
        """
        from chaoskit.units import parse_duration

        try:
            if isinstance(text, str) and ".." in text.replace("...", ".."):
                low, high = text.replace("...", "..").split("..", 1)
                return cls(parse_duration(low.strip()), parse_duration(high.strip()))
            seconds = parse_duration(text)
        except ValueError as error:
            raise LoadConfigError(
                "think", str(error), text, allowed='"1s" or "0.5s..2s"'
            ) from None
        return cls(seconds, seconds)


@dataclass(frozen=True, slots=True)
class HotKeys:
    """Hot-key mode for ``{{ key() }}``: with probability ``ratio`` a key in
    ``1..hot``, else one in ``hot+1..space``, so many users write the same rows."""

    hot: int = 1
    ratio: float = 1.0
    space: int = 1_000_000

    def __post_init__(self) -> None:
        if self.hot < 1:
            raise LoadConfigError("hot_keys.hot", "must be at least 1", self.hot)
        if not 0 <= self.ratio <= 1:
            raise LoadConfigError("hot_keys.ratio", "must be in 0..1", self.ratio)
        if self.space <= self.hot:
            raise LoadConfigError("hot_keys.space", "must exceed hot", self.space)


@dataclass(frozen=True, slots=True)
class Flow:
    """What each user does around its weighted tasks (closed model).

    Args:
        on_start: steps run once, in order, when the user starts (register,
            login); their captures become the user's values.
        on_stop: steps run once when the user stops (logout, clean-up).
        bearer: a captured value sent as ``Authorization: Bearer <value>``.
        refresh: what a request that gets 401 runs before it is retried once
            with the new token: the name of an ``on_start`` step (a login run
            again), or a step of its own, run only then (a refresh-token
            exchange: ``POST /auth/refresh`` capturing the new access token).
        heartbeat: a request sent every ``heartbeat_every`` seconds.
        heartbeat_every: the heartbeat interval in seconds.
    """

    on_start: tuple[TaskSpec, ...] = ()
    on_stop: tuple[TaskSpec, ...] = ()
    bearer: str | None = None
    refresh: str | TaskSpec | None = None
    heartbeat: TaskSpec | None = None
    heartbeat_every: float = 0.0

    def __post_init__(self) -> None:
        steps = [step.name for step in self.on_start]
        if isinstance(self.refresh, str) and self.refresh not in steps:
            raise LoadConfigError(
                "flow.refresh", "is not an on_start step", self.refresh,
                allowed=", ".join(steps) or "(no on_start steps)",
            )  # fmt: skip
        if (self.heartbeat is None) != (self.heartbeat_every == 0):
            raise LoadConfigError(
                "flow.heartbeat_every", "needs a heartbeat task and an interval > 0",
                self.heartbeat_every,
            )  # fmt: skip
        if self.heartbeat_every < 0:
            raise LoadConfigError(
                "flow.heartbeat_every", "must be > 0", self.heartbeat_every
            )


@dataclass(frozen=True, slots=True)
class UserClass:
    """One class of users: its own tasks, share, think time and flow.

    Args:
        name: the class's name in statistics (``Sample.user_class``).
        tasks: the class's weighted tasks.
        weight: its share of the users (closed) or of the rate (open).
        fixed_count: closed model: exactly this many users, spawned first.
        think: closed model: its think time; ``None``: the model's.
        rate: open model: its own requests per second (following the load's
            shape, scaled); ``None``: a share of the model's rate by weight.
        flow: its flow; ``None``: the load's.
    """

    name: str
    tasks: tuple[TaskSpec, ...]
    weight: float = 1.0
    fixed_count: int | None = None
    think: Think | None = None
    rate: float | None = None
    flow: Flow | None = None

    def __post_init__(self) -> None:
        where = "users"  # the spec puts the class's key path in front
        if not self.name.strip():
            raise LoadConfigError("users.name", "must not be empty", self.name)
        if not self.tasks:
            raise LoadConfigError(f"{where}.tasks", "needs at least one task", [])
        names = [task.name for task in self.tasks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise LoadConfigError(f"{where}.tasks.name", "must be unique", duplicates)
        if not (math.isfinite(self.weight) and self.weight > 0):
            raise LoadConfigError(f"{where}.weight", "must be > 0", self.weight)
        if self.fixed_count is not None and self.fixed_count < 1:
            raise LoadConfigError(
                f"{where}.fixed_count", "must be at least 1", self.fixed_count
            )
        if self.rate is not None and not (math.isfinite(self.rate) and self.rate > 0):
            raise LoadConfigError(f"{where}.rate", "must be > 0", self.rate)

    def all_tasks(self) -> tuple[TaskSpec, ...]:
        """Its weighted tasks, then its own flow's steps and heartbeat."""
        return (*self.tasks, *(_flow_tasks(self.flow)))


def _flow_tasks(flow: Flow | None) -> tuple[TaskSpec, ...]:
    if flow is None:
        return ()
    beat = (flow.heartbeat,) if flow.heartbeat is not None else ()
    return (*flow.on_start, *flow.on_stop, *beat)


MAX_RATE = 10_000_000
"""Requests per second the open model accepts at most (peak of the shape)."""


@dataclass(frozen=True, slots=True)
class OpenModel:
    """Arrivals at a rate, whatever the server does (k6's arrival-rate executors).

    Args:
        rate: requests per second, or the base for ``shape``/a profile.
        shape: the rate over time; default constant ``rate``.
        max_in_flight: requests outstanding at most; a request due beyond this
            is counted as dropped, never sent late.
        users: how many user identities requests rotate through (``{{ user }}``).
        arrivals: ``"uniform"`` (evenly spaced) or ``"poisson"`` (random gaps).
    """

    rate: float
    shape: Shape | None = None
    max_in_flight: int = 256
    users: int = 100
    arrivals: Literal["uniform", "poisson"] = "uniform"
    kind: Literal["open"] = "open"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise LoadConfigError(
                "rate", "must be a number of requests/s > 0", self.rate
            )
        peak = self.target().peak
        if not peak <= MAX_RATE:
            raise LoadConfigError(
                "rate",
                f"asks for {peak:,.0f} requests/s at its peak (rate, profile, "
                "stages and bursts together): more than one machine can offer; "
                "spread such a load over several generators (Locust workers)",
                self.rate,
                allowed=f"at most {MAX_RATE:,} requests/s",
            )
        if not 1 <= self.max_in_flight <= 100_000:
            raise LoadConfigError(
                "max_in_flight",
                "is out of range",
                self.max_in_flight,
                allowed="1..100000",
            )
        if not 1 <= self.users <= 1_000_000:
            raise LoadConfigError("users", "is out of range", self.users,
                                  allowed="1..1000000")  # fmt: skip
        if self.arrivals not in ("uniform", "poisson"):
            raise LoadConfigError("arrivals", "is not known", self.arrivals,
                                  allowed="uniform, poisson")  # fmt: skip

    def target(self) -> Shape:
        """The rate over time."""
        return self.shape if self.shape is not None else Shape.constant(self.rate)


@dataclass(frozen=True, slots=True)
class ClosedModel:
    """``users`` virtual users, each sending, waiting for the answer, thinking.

    Args:
        users: how many users (or the base for ``shape``).
        think: think time after each response.
        spawn_rate: users started per second at most; default all at once.
        shape: users over time; default constant ``users``.
    """

    users: int
    think: Think = field(default_factory=Think)
    spawn_rate: float | None = None
    shape: Shape | None = None
    kind: Literal["closed"] = "closed"

    def __post_init__(self) -> None:
        if not 1 <= self.users <= 100_000:
            raise LoadConfigError("users", "is out of range", self.users,
                                  allowed="1..100000")  # fmt: skip
        if self.spawn_rate is not None and not self.spawn_rate > 0:
            raise LoadConfigError("spawn_rate", "must be > 0 users/s", self.spawn_rate)
        if self.shape is not None and self.shape.peak > 100_000:
            raise LoadConfigError(
                "shape", "asks for more than 100000 users", self.shape.peak
            )

    def target(self) -> Shape:
        """Users over time."""
        return self.shape if self.shape is not None else Shape.constant(self.users)


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """Everything the engine needs to run a load.

    Args:
        base_url: the target, ``http://host:port[/prefix]``.
        model: open (rate) or closed (users).
        tasks: the weighted tasks.
        duration: seconds to run (the engine stops by itself then).
        flow: per-user steps around the tasks (open model: ``on_start`` runs
            before a user identity's first request, ``on_stop`` at the end;
            heartbeats need the closed model).
        timeout: default per-request timeout in seconds (connect included).
        error_patterns: name -> regex; a response body that matches is the
            error ``body_pattern`` with that name (``"database is locked"``).
        hot_keys: enables ``{{ key() }}``.
        classes: user classes, each with its own tasks (then ``tasks`` is
            empty); none: every user runs ``tasks``.
        max_requests: stop after this many requests were due (a bound).
        seed: drives task choice and template values.
        allow_remote: allow a target that is not on loopback.
    """

    base_url: str
    model: OpenModel | ClosedModel
    tasks: tuple[TaskSpec, ...]
    duration: float
    flow: Flow | None = None
    timeout: float = 10.0
    error_patterns: Mapping[str, str] = field(default_factory=dict)
    hot_keys: HotKeys | None = None
    max_requests: int | None = None
    seed: int = 0
    allow_remote: bool = False
    classes: tuple[UserClass, ...] = ()

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise LoadConfigError(
                "base_url",
                "must be an http:// URL with a host",
                self.base_url,
                allowed="http://127.0.0.1:8000",
            )
        if not self.allow_remote and not is_loopback(parts.hostname):
            raise LoadConfigError(
                "base_url", "is not a loopback address; set allow_remote to load it",
                self.base_url, allowed="127.0.0.0/8, ::1, localhost",
            )  # fmt: skip
        if not self.tasks and not self.classes:
            raise LoadConfigError("tasks", "needs at least one task", [])
        if self.tasks and self.classes:
            raise LoadConfigError(
                "tasks", "cannot be combined with user classes (each has its tasks)",
                [t.name for t in self.tasks],
            )  # fmt: skip
        class_names = [c.name for c in self.classes]
        repeated = sorted({n for n in class_names if class_names.count(n) > 1})
        if repeated:
            raise LoadConfigError("users.name", "must be unique", repeated)
        self._check_class_models()
        names = [task.name for task in self.tasks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise LoadConfigError("tasks.name", "must be unique", duplicates)
        if not (math.isfinite(self.duration) and 0 < self.duration <= 7 * 86400):
            raise LoadConfigError("duration", "is out of range", self.duration,
                                  allowed="> 0 and at most 7 days")  # fmt: skip
        if not 0 < self.timeout <= 3600:
            raise LoadConfigError("timeout", "is out of range", self.timeout,
                                  allowed="> 0 and at most 1h")  # fmt: skip
        if self.max_requests is not None and self.max_requests < 1:
            raise LoadConfigError(
                "max_requests", "must be at least 1", self.max_requests
            )
        if self.model.kind == "open" and any(
            f is not None and f.heartbeat is not None for f in self.flows()
        ):
            raise LoadConfigError(
                "flow.heartbeat",
                "needs the closed model (users that live between requests)",
                allowed='model = "closed"',
            )
        for name, pattern in self.error_patterns.items():
            try:
                re.compile(pattern)
            except re.error as error:
                raise LoadConfigError(
                    f"error_patterns.{name}", f"is not a regex: {error}", pattern
                ) from None
        self._check_templates()

    def longest_timeout(self) -> float:
        """The longest any request may take, in seconds (a task's or the default)."""
        return max([self.timeout, *(t.timeout for t in self.all_tasks() if t.timeout)])

    def all_tasks(self) -> tuple[TaskSpec, ...]:
        """Weighted tasks, then flow steps and the heartbeat; then each class's."""
        own = (*self.tasks, *_flow_tasks(self.flow))
        return own + tuple(t for c in self.classes for t in c.all_tasks())

    def flows(self) -> tuple[Flow | None, ...]:
        """The load's flow and every class's own one."""
        return (self.flow, *(c.flow for c in self.classes))

    def _check_class_models(self) -> None:
        for cls in self.classes:
            where = f"users.{cls.name}"
            if self.model.kind == "open":
                if cls.fixed_count is not None or cls.think is not None:
                    raise LoadConfigError(
                        f"{where}.fixed_count", "is for the closed model only",
                        cls.fixed_count if cls.think is None else cls.think,
                    )  # fmt: skip
            elif cls.rate is not None:
                raise LoadConfigError(
                    f"{where}.rate", "is for the open model only", cls.rate
                )

    def captured_names(self) -> frozenset[str]:
        """Every value a task captures (names templates may use)."""
        return frozenset(n for task in self.all_tasks() for n in task.capture)

    def marker_headers(self) -> frozenset[bytes]:
        """Response headers some task's marker (or observed value) reads, lower
        case: the client keeps only these."""
        markers = {
            task.marker.header
            for task in self.all_tasks()
            if task.marker is not None and task.marker.header is not None
        }
        observed = {
            probe.removeprefix("header:")
            for task in self.all_tasks()
            for probe in task.observe
            if probe.startswith("header:")
        }
        return frozenset(h.lower().encode("latin-1") for h in markers | observed)

    def _check_templates(self) -> None:
        names = self.captured_names()
        for flow in self.flows():
            bearer = flow.bearer if flow is not None else None
            if bearer is not None and bearer not in names:
                raise LoadConfigError(
                    "flow.bearer",
                    "is not a captured value",
                    bearer,
                    allowed=", ".join(sorted(names)) or "(nothing is captured)",
                )
        for task in self.all_tasks():
            texts = [task.path, *task.query.values(), *task.headers.values()]
            texts += list((task.form or {}).values()) + _json_strings(task.json)
            if task.stream is not None:
                texts += [m.send for m in task.stream.messages]
                texts += [task.stream.subscribe] if task.stream.subscribe else []
            for text in texts:
                try:
                    Template(text, names)
                except TemplateError as error:
                    raise LoadConfigError(
                        f"tasks.{task.name}", str(error), text
                    ) from None
                if "key()" in text.replace(" ", "") and self.hot_keys is None:
                    raise LoadConfigError(
                        f"tasks.{task.name}", "key() needs hot_keys", text
                    )


def _json_strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _json_strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _json_strings(v)]
    return []
