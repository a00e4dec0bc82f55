"""``[load]`` (and ``[target]``) -> the load engine's :class:`LoadConfig`.

The spec speaks in the file's terms (``ramp = "5s"``, ``think = "0.5s..2s"``,
``size = "1MB"``); the engine takes typed values (a :class:`Shape`, a
:class:`Think`, bytes). The engine's constructors check their own rules and
raise :class:`LoadConfigError` naming the field relative to ``[load]``; here
each becomes a :class:`SpecIssue` under its TOML key path
(``load.tasks[0].path``), so ``chaoskit validate`` reports them like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

from chaoskit.errors import SpecError, SpecIssue
from chaoskit.load import (
    Burst,
    ClosedModel,
    Flow,
    HotKeys,
    LoadConfig,
    LoadConfigError,
    OpenModel,
    Shape,
    Stage,
    TaskSpec,
    Think,
    Upload,
    parse_size,
)
from chaoskit.load.config import UserClass
from chaoskit.load.streamspec import StreamMessage, StreamSpec, message_text
from chaoskit.load.taskspec import Marker
from chaoskit.locust import INSTALL_HINT, LocustConfig, locust_installed
from chaoskit.spec import refs
from chaoskit.spec.classes import selected
from chaoskit.spec.locust_rules import split_host_port
from chaoskit.spec.model import (
    Experiment,
    FlowSection,
    LoadSection,
    MarkerSection,
    TaskSection,
    ThresholdHypothesis,
    parse_think,
)

__all__ = [
    "build_load_config",
    "build_locust_config",
    "check_load_config",
    "observed_probes",
]

T = TypeVar("T")

# LoadConfigError fields that are not under [load] in the file.
_OUTSIDE_LOAD = {"base_url": "target.base_url", "duration": "experiment.duration"}


class _Issues:
    """Collects every LoadConfigError instead of stopping at the first."""

    def __init__(self) -> None:
        self.found: list[SpecIssue] = []

    def build(self, prefix: str, make: Callable[[], T]) -> T | None:
        """``make()``, or None with an issue under ``prefix`` when it refuses."""
        try:
            return make()
        except LoadConfigError as error:
            self.found.append(_issue(error, prefix))
            return None


def build_load_config(
    experiment: Experiment, seed: int, base_url: str, *, file: str | None = None
) -> LoadConfig:
    """The engine's configuration of an experiment's load.

    Args:
        experiment: the validated experiment.
        seed: the run's seed (``Plan.seed``).
        base_url: ``target.base_url`` with its references bound
            (:func:`chaoskit.spec.refs.bind`).
        file: the experiment file, named in the error.

    Returns:
        A LoadConfig running for the warm-up plus the timeline.

    Raises:
        SpecError: the engine refused settings; each issue has its key path.
    """
    load = experiment.load
    target = experiment.target
    total = experiment.experiment.warmup + experiment.experiment.duration
    issues = _Issues()
    probes = observed_probes(experiment)
    include, exclude = load.tags, load.exclude_tags
    tasks = [
        _task(issues, f"load.tasks[{i}]", task, target.headers, probes.get(task.name))
        for i, task in enumerate(load.tasks)
        if selected(task.tags, include, exclude)
    ]
    model = _model(issues, load, total)
    flow = _flow(issues, "load", load.flow, target.headers)
    classes = _classes(issues, load, target.headers, probes)
    if (load.tasks or load.classes) and not tasks and not classes:
        issues.found.append(
            SpecIssue(
                "load.tags" if include else "load.exclude_tags",
                "selects no task of the load",
                list(include or exclude),
                "tags that some task or [[load.users]] class carries",
            )
        )
    hot_keys = None
    if load.hot_keys is not None:
        keys = load.hot_keys
        hot_keys = issues.build(
            "load", lambda: HotKeys(keys.hot, keys.ratio, keys.space)
        )
    config = None
    ready = [t for t in tasks if t is not None]
    if not issues.found and model is not None and len(ready) == len(tasks):
        built_flow = flow
        config = issues.build(
            "load",
            lambda: LoadConfig(
                base_url=base_url,
                model=model,
                tasks=tuple(ready),
                duration=total,
                flow=built_flow,
                timeout=load.timeout or target.timeout,
                error_patterns=dict(load.error_patterns),
                hot_keys=hot_keys,
                max_requests=load.max_requests,
                seed=seed,
                allow_remote=experiment.experiment.allow_remote,
                classes=classes,
            ),
        )
    if config is None:
        _rename_task_issues(issues.found, load)
        raise SpecError(
            file or f"experiment {experiment.experiment.name}", issues.found
        )
    return config


def check_load_config(experiment: Experiment, *, file: str) -> list[SpecIssue]:
    """What the load engine would refuse, without starting anything.

    References in ``target.base_url`` are bound to loopback stand-ins.
    """
    if experiment.load.engine == "locust":
        return _locust_issues(experiment, Path(file).parent)
    url = experiment.target.base_url
    try:
        build_load_config(
            experiment, 0, refs.bind(url, refs.placeholders(url)), file=file
        )
    except SpecError as error:
        return list(error.issues)
    return []


def observed_probes(experiment: Experiment) -> dict[str, tuple[str, ...]]:
    """Task -> the numbers threshold hypotheses read from its responses
    (``header:<name>`` or a JSON path); tasks no hypothesis asks about read none."""
    probes: dict[str, tuple[str, ...]] = {}
    for h in experiment.hypotheses:
        if isinstance(h, ThresholdHypothesis) and h.probe and h.task:
            known = probes.get(h.task, ())
            if h.probe not in known:
                probes[h.task] = (*known, h.probe)
    return probes


def _task(
    issues: _Issues,
    where: str,
    task: TaskSection,
    base_headers: dict[str, str],
    observe: tuple[str, ...] | None = None,
) -> TaskSpec | None:
    files: dict[str, Upload] | None = None
    if task.files is not None:
        files = {}
        for field, upload in task.files.items():
            at = f"{where}.files.{field}"
            try:
                size = parse_size(upload.size)
            except ValueError as error:
                issues.found.append(SpecIssue(f"{at}.size", str(error), upload.size))
                return None
            make = partial(Upload, size, upload.filename, upload.content_type)
            built = issues.build(at, make)
            if built is None:
                return None
            files[field] = built
    stream = _stream(issues, where, task)
    return issues.build(
        where,
        lambda: TaskSpec(
            name=task.name,
            path=task.path,
            method=task.method,
            weight=task.weight,
            query=dict(task.query),
            headers={**base_headers, **task.headers},
            json=task.json_body,
            form=dict(task.form) if task.form is not None else None,
            files=files,
            expect=task.expect,
            capture=dict(task.capture),
            timeout=task.timeout,
            marker=_marker(task.marker),
            ack_id=task.ack.id if task.ack else None,
            ack_request=task.ack.request if task.ack else None,
            observe=observe or (),
            stream=stream,
        ),
    )


def _stream(issues: _Issues, where: str, task: TaskSection) -> StreamSpec | None:
    """A stream task's settings (None for an HTTP task or when refused)."""
    if task.kind == "http":
        return None
    kind = task.kind
    subscribe = None if task.subscribe is None else message_text(task.subscribe)
    return issues.build(
        where,
        lambda: StreamSpec(
            kind=kind,
            subscribe=subscribe,
            messages=tuple(StreamMessage.of(m.send, m.expect) for m in task.messages),
            sequence=task.sequence,
            hold=task.hold,
            reconnect=task.reconnect,
            idle=task.idle,
        ),
    )


def _marker(section: MarkerSection | None) -> Marker | None:
    if section is None:
        return None
    return Marker(
        header=section.header,
        json_path=section.json_path,
        equals=section.equals,
        status=section.status,
    )


def _model(
    issues: _Issues, load: LoadSection, total: float
) -> OpenModel | ClosedModel | None:
    if load.model == "open":
        base = load.rate or max((s.target for s in load.stages), default=1.0) or 1.0
    else:
        stages = max((s.target for s in load.stages), default=1.0)
        base = float(load.user_total or stages)
    shape = _shape(issues, load, base, total)
    if load.model == "open":
        return issues.build(
            "load",
            lambda: OpenModel(
                rate=base,
                shape=shape,
                max_in_flight=load.max_in_flight,
                users=load.user_total or 100,
                arrivals=load.arrivals,
            ),
        )
    think = Think()
    if load.think is not None:
        parsed = issues.build("load", lambda: Think.parse(load.think or 0))
        think = parsed if parsed is not None else think
    return issues.build(
        "load",
        lambda: ClosedModel(
            users=max(1, round(base)),
            think=think,
            spawn_rate=load.spawn_rate,
            shape=shape,
        ),
    )


def _shape(
    issues: _Issues, load: LoadSection, base: float, total: float
) -> Shape | None:
    shape: Shape | None = None
    if load.profile is not None:
        profile = load.profile
        shape = issues.build("load", lambda: Shape.preset(profile, base, total))
    elif load.stages:
        stages = [
            issues.build(f"load.stages[{i}]", partial(Stage, s.duration, s.target))
            for i, s in enumerate(load.stages)
        ]
        ready = [stage for stage in stages if stage is not None]
        shape = Shape(tuple(ready)) if len(ready) == len(stages) else None
    elif load.ramp:
        ramp = load.ramp
        shape = issues.build("load", lambda: Shape.ramp(base, ramp))
    if load.bursts:
        bursts = [
            issues.build(
                f"load.bursts[{i}]", partial(Burst, b.factor, b.length, b.at, b.every)
            )
            for i, b in enumerate(load.bursts)
        ]
        ready_bursts = [burst for burst in bursts if burst is not None]
        shape = (shape or Shape.constant(base)).with_bursts(*ready_bursts)
    return shape


def _flow(
    issues: _Issues, where: str, flow: FlowSection | None, headers: dict[str, str]
) -> Flow | None:
    if flow is None:
        return None
    on_start = [
        _task(issues, f"{where}.flow.on_start[{i}]", t, headers)
        for i, t in enumerate(flow.on_start)
    ]
    on_stop = [
        _task(issues, f"{where}.flow.on_stop[{i}]", t, headers)
        for i, t in enumerate(flow.on_stop)
    ]
    heartbeat = (
        _task(issues, f"{where}.flow.heartbeat", flow.heartbeat, headers)
        if flow.heartbeat is not None
        else None
    )
    refresh = (
        _task(issues, f"{where}.flow.refresh", flow.refresh, headers)
        if isinstance(flow.refresh, TaskSection)
        else flow.refresh
    )
    if (
        None in on_start
        or None in on_stop
        or (flow.heartbeat and heartbeat is None)
        or (flow.refresh is not None and refresh is None)
    ):
        return None
    return issues.build(
        where,
        lambda: Flow(
            on_start=tuple(t for t in on_start if t is not None),
            on_stop=tuple(t for t in on_stop if t is not None),
            bearer=flow.bearer,
            refresh=refresh,
            heartbeat=heartbeat,
            heartbeat_every=flow.heartbeat_every,
        ),
    )


def _classes(
    issues: _Issues,
    load: LoadSection,
    headers: dict[str, str],
    probes: dict[str, tuple[str, ...]],
) -> tuple[UserClass, ...]:
    """The ``[[load.users]]`` classes that have a task under the tags, built
    (their tasks with the same task spec as ``[load]``'s)."""
    built: list[UserClass] = []
    for index, section in enumerate(load.classes):
        where = f"load.users[{index}]"
        tasks = [
            _task(issues, f"{where}.tasks[{i}]", t, headers, probes.get(t.name))
            for i, t in enumerate(section.tasks)
            if selected((*section.tags, *t.tags), load.tags, load.exclude_tags)
        ]
        if not tasks:
            continue  # every task deselected: the class does not run (as Locust)
        flow = _flow(issues, where, section.flow, headers)
        think = None
        if section.think is not None:
            think = issues.build(where, partial(Think.parse, section.think))
        ready = tuple(t for t in tasks if t is not None)
        made = issues.build(
            where,
            partial(
                UserClass,
                name=section.name,
                tasks=ready,
                weight=section.weight if section.weight is not None else 1.0,
                fixed_count=section.fixed_count,
                think=think,
                rate=section.rate,
                flow=flow,
            ),
        )
        if made is not None and len(ready) == len(tasks):
            built.append(made)
    return tuple(built)


def _issue(error: LoadConfigError, prefix: str) -> SpecIssue:
    """The engine's error under its TOML key path."""
    field = error.field
    if prefix != "load":
        # Raised by one task, stage or burst: drop the engine's section name
        # (``tasks.path``, ``stages.duration``) and put the item's path in front.
        rest = field.partition(".")[2]
        if ".files." in prefix:
            rest = rest.removeprefix("files.")
        path = f"{prefix}.{rest}" if rest else prefix
    elif field in _OUTSIDE_LOAD:
        path = _OUTSIDE_LOAD[field]
    else:
        path = f"load.{field}"
    return SpecIssue(path, error.reason, error.value, error.allowed)


def _rename_task_issues(issues: list[SpecIssue], load: LoadSection) -> None:
    """``load.tasks.browse`` (the engine names a task) -> ``load.tasks[0]``
    (or ``load.users[2].tasks[0]`` for a class's own task)."""
    names: dict[str, str] = {}
    for where, tasks, flow in (
        ("load", load.tasks, load.flow),
        *((f"load.users[{i}]", c.tasks, c.flow) for i, c in enumerate(load.classes)),
    ):
        names |= _task_paths(where, tasks, flow)
    for position, issue in enumerate(issues):
        name = issue.path.removeprefix("load.tasks.")
        if issue.path.startswith("load.tasks.") and name in names:
            issues[position] = SpecIssue(
                names[name], issue.message, issue.value, issue.allowed, issue.suggestion
            )


def _task_paths(
    where: str, tasks: tuple[TaskSection, ...], flow: FlowSection | None
) -> dict[str, str]:
    """Task name -> its TOML path, for the tasks and flow steps under ``where``."""
    names = {task.name: f"{where}.tasks[{i}]" for i, task in enumerate(tasks)}
    if flow is not None:
        names |= {
            t.name: f"{where}.flow.on_start[{i}]" for i, t in enumerate(flow.on_start)
        }
        names |= {
            t.name: f"{where}.flow.on_stop[{i}]" for i, t in enumerate(flow.on_stop)
        }
        if flow.heartbeat is not None:
            names[flow.heartbeat.name] = f"{where}.flow.heartbeat"
        if isinstance(flow.refresh, TaskSection):
            names[flow.refresh.name] = f"{where}.flow.refresh"
    return names


def _locust_issues(experiment: Experiment, base_dir: Path) -> list[SpecIssue]:
    """Locust is installed and the locustfile is there."""
    issues = []
    if not locust_installed():
        issues.append(
            SpecIssue(
                "load.engine",
                f"needs Locust, which is not installed: {INSTALL_HINT}",
                "locust",
                'engine = "native" (the default), or install the extra',
            )
        )
    name = experiment.load.locustfile
    if name is not None and not (base_dir / name).is_file():
        issues.append(
            SpecIssue(
                "load.locustfile",
                f"is not a file (looked for {(base_dir / name).resolve()})",
                name,
                "a path relative to the experiment file",
            )
        )
    return issues


def build_locust_config(
    experiment: Experiment, base_url: str, *, base_dir: Path
) -> LocustConfig:
    """The Locust engine's configuration of an experiment's ``[load]``.

    Args:
        experiment: the validated experiment (``engine = "locust"``).
        base_url: ``target.base_url`` with its references bound.
        base_dir: the experiment file's directory (the locustfile is relative).

    Raises:
        SpecError: chaoskit's stages, profile or bursts do not make a shape.
    """
    load = experiment.load
    total = experiment.experiment.warmup + experiment.experiment.duration
    stages = max((s.target for s in load.stages), default=1.0)
    base = float(load.user_total or stages)
    issues = _Issues()
    shape = _shape(issues, load, base, total)
    if issues.found:
        raise SpecError(f"experiment {experiment.experiment.name}", issues.found)
    bind = split_host_port(load.master_bind) if load.master_bind else None
    markers = {
        name: {"header": m.header, "equals": m.equals, "status": list(m.status)}
        for name, m in load.markers.items()
    }
    classes = {
        c.name: {
            key: value
            for key, value in (
                ("weight", c.weight),
                ("fixed_count", c.fixed_count),
                ("think", None if c.think is None else list(parse_think(c.think))),
            )
            if value is not None
        }
        for c in load.classes
    }
    return LocustConfig(
        locustfile=(base_dir / (load.locustfile or "locustfile.py")).resolve(),
        base_url=base_url,
        duration=total,
        users=max(1, round(base)),
        spawn_rate=load.spawn_rate,
        shape=shape,
        user_classes=load.user_classes or tuple(classes),
        class_settings={k: v for k, v in classes.items() if v},
        tags=load.tags,
        exclude_tags=load.exclude_tags,
        workers=load.workers,
        master_bind=bind,
        expect_workers=load.expect_workers or load.workers,
        expect_timeout=load.expect_workers_timeout,
        stop_timeout=min(load.timeout or experiment.target.timeout, 10.0),
        error_patterns=dict(load.error_patterns),
        markers=markers,
    )
