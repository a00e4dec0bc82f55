"""Experiment -> Plan: the timeline the runner follows and the reports describe.

Pure: no clock, no I/O. Times are seconds from the start of the timeline; the
warm-up runs before it and is in no phase. The phases:

* ``before``: from 0 to the first fault's start (the baseline);
* ``during``: every fault window, merged where they overlap;
* ``during:<fault>``: that fault's windows (every occurrence of a schedule);
* ``after``: from the last fault's end to the end of the timeline;
* ``after:<fault>``: from each of that fault's windows' end to the next fault's
  start (or the end); ``during:<fault>#k`` / ``after:<fault>#k``: one occurrence;
* ``all``: the whole timeline.

The one impure thing is choosing a seed when neither ``--seed`` nor the file
gives one; the plan keeps it so every report can print it for a replay.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from chaoskit.redact import redact_text
from chaoskit.spec.classes import describe_classes, task_lines
from chaoskit.spec.httprules import toxicity_of
from chaoskit.spec.model import (
    BackoffHypothesis,
    ContainerFault,
    ContainerService,
    Experiment,
    FallbackHypothesis,
    Fault,
    FuzzHypothesis,
    HttpFault,
    Hypothesis,
    IntegrityHypothesis,
    LeakHypothesis,
    LoadSection,
    LockFault,
    PayloadFault,
    PostgresService,
    Probe,
    ProbeHypothesis,
    ProcessService,
    RecoveryHypothesis,
    ReturnsHypothesis,
    Service,
    SlaHypothesis,
    ThresholdHypothesis,
    ToxicFault,
    format_probe_value,
)
from chaoskit.spec.schedule import label as occurrence_label
from chaoskit.units import format_duration

__all__ = [
    "FaultWindow",
    "Plan",
    "Window",
    "build_plan",
    "container_target",
    "fault_settings",
]

_SETTINGS = {
    "latency": ("latency", "jitter"),
    "bandwidth": ("rate",),
    "slow_close": ("delay",),
    "timeout": ("timeout",),
    "reset_peer": ("timeout",),
    "slicer": ("average_size", "size_variation", "delay"),
    "limit_data": ("bytes",),
    "down": (),
}
_DURATIONS = {"latency", "jitter", "delay", "timeout"}


@dataclass(frozen=True, slots=True, order=True)
class Window:
    """A span of the timeline: ``start <= t < end``, in seconds."""

    start: float
    end: float

    @property
    def length(self) -> float:
        """Seconds in the window (0 when it is empty)."""
        return max(0.0, self.end - self.start)

    def contains(self, t: float) -> bool:
        """Whether ``t`` seconds into the timeline is inside the window."""
        return self.start <= t < self.end

    def __str__(self) -> str:
        return f"{_d(self.start)}..{_d(self.end)}"


@dataclass(frozen=True, slots=True)
class FaultWindow:
    """When one occurrence of a fault is applied and rolled back."""

    start: float
    end: float
    fault: Fault
    occurrence: int = 1
    occurrences: int = 1
    """How many windows the fault's schedule has (``every``)."""

    @property
    def window(self) -> Window:
        """The span the fault is active."""
        return Window(self.start, self.end)

    @property
    def label(self) -> str:
        """``flap#2`` for the second of several occurrences; else the fault's name."""
        return occurrence_label(self.fault.name, self.occurrence, self.occurrences)


@dataclass(frozen=True)
class Plan:
    """The timeline of one run.

    Attributes:
        experiment: the validated experiment.
        seed: the seed of the run (given, from the file, or chosen).
        seed_source: where the seed came from.
        warmup: seconds of load before the timeline, in no phase.
        duration: seconds of the timeline.
        faults: fault windows, sorted by start (then file order).
        phases: phase name -> its windows (merged, non-empty, sorted).
    """

    experiment: Experiment
    seed: int
    seed_source: Literal["given", "file", "random"]
    warmup: float
    duration: float
    faults: tuple[FaultWindow, ...]
    phases: Mapping[str, tuple[Window, ...]]

    def windows(self, phase: str) -> tuple[Window, ...]:
        """The windows of a hypothesis phase (``"during"``, ``"after:slow db"``).

        Raises:
            KeyError: not a phase of this plan (``spec.load`` refuses those).
        """
        try:
            return self.phases[phase]
        except KeyError:
            known = ", ".join(self.phases)
            raise KeyError(f"{phase!r} is not a phase of this plan ({known})") from None

    def phases_at(self, t: float) -> list[str]:
        """Every phase whose windows contain ``t`` seconds into the timeline."""
        return [
            name
            for name, windows in self.phases.items()
            if any(window.contains(t) for window in windows)
        ]

    def describe(self) -> str:
        """A readable timeline, for ``chaoskit validate`` and ``--dry-run``;
        the experiment's secrets are masked (commands, URLs, environment)."""
        return redact_text("\n".join(_describe(self)), self.experiment.secrets)


def build_plan(experiment: Experiment, seed: int | None = None) -> Plan:
    """The plan of an experiment.

    Args:
        experiment: a validated experiment (``chaoskit.spec.load``).
        seed: overrides ``experiment.seed``; when both are None a random seed
            is chosen and kept in the plan.
    """
    source: Literal["given", "file", "random"]
    if seed is not None:
        source = "given"
    elif experiment.experiment.seed is not None:
        seed, source = experiment.experiment.seed, "file"
    else:
        seed, source = secrets.randbelow(2**31), "random"
    duration = experiment.experiment.duration
    faults = tuple(
        sorted(
            (
                FaultWindow(w.start, w.end, f, w.index, w.of)
                for f in experiment.faults
                for w in f.windows(duration, seed)
            ),
            key=lambda w: w.start,
        )
    )
    return Plan(
        experiment=experiment,
        seed=seed,
        seed_source=source,
        warmup=experiment.experiment.warmup,
        duration=duration,
        faults=faults,
        phases=MappingProxyType(_phases(faults, duration)),
    )


def _phases(
    faults: tuple[FaultWindow, ...], duration: float
) -> dict[str, tuple[Window, ...]]:
    def span(start: float, end: float) -> tuple[Window, ...]:
        return (Window(start, end),) if end > start else ()

    first = min((f.start for f in faults), default=duration)
    last = max((f.end for f in faults), default=duration)
    phases = {
        "before": span(0.0, first),
        "during": _merge([f.window for f in faults]),
        "after": span(last, duration) if faults else (),
        "all": span(0.0, duration),
    }
    # A repeated fault: during:<name> is the union of its occurrences,
    # after:<name> the union of the stretches after each (to the next fault's
    # start); during:<name>#k and after:<name>#k are one occurrence's.
    union: dict[str, list[Window]] = {}
    for fault in faults:
        following = [f.start for f in faults if f.start >= fault.end and f is not fault]
        during = span(fault.start, fault.end)
        after = span(fault.end, min(following, default=duration))
        name = fault.fault.name
        union.setdefault(f"during:{name}", []).extend(during)
        union.setdefault(f"after:{name}", []).extend(after)
        if fault.occurrences > 1:
            phases[f"during:{fault.label}"] = during
            phases[f"after:{fault.label}"] = after
    phases |= {name: _merge(windows) for name, windows in union.items()}
    return phases


def _merge(windows: list[Window]) -> tuple[Window, ...]:
    merged: list[Window] = []
    for window in sorted(w for w in windows if w.length > 0):
        if merged and window.start <= merged[-1].end:
            last = merged.pop()
            window = Window(last.start, max(last.end, window.end))
        merged.append(window)
    return tuple(merged)


# --- describe() ---------------------------------------------------------------------


def _describe(plan: Plan) -> list[str]:
    info = plan.experiment.experiment
    title = f": {info.title}" if info.title else ""
    source = {"given": "from --seed", "file": "from the file", "random": "chosen"}
    replay = f"; replay with --seed {plan.seed}" if plan.seed_source == "random" else ""
    warmup = f"a {_d(plan.warmup)} warm-up (not counted), then " if plan.warmup else ""
    chosen = plan.experiment.environment
    lines = [
        f"experiment {info.name}{title}",
        *([f"environment {chosen}"] if chosen else []),
        f"seed {plan.seed} ({source[plan.seed_source]}{replay})",
        f"runs {warmup}a {_d(plan.duration)} timeline",
        "",
        "starts",
    ]
    lines += [f"  service {s.name}: {_service(s)}" for s in plan.experiment.services]
    proxy = plan.experiment.proxy
    if proxy.routes:
        where = f"Toxiproxy at {proxy.url}" if proxy.url else "the embedded proxy"
        lines += [
            f"  route {r.name}: {r.listen} -> {r.upstream} (on {where}"
            + (
                f"; HTTP/1.1, requests logged by {r.request_id_header})"
                if r.protocol == "http"
                else ")"
            )
            for r in proxy.routes
        ]
        if proxy.busy_poll and not proxy.url:
            lines.append(
                f"  note: the embedded proxy spins up to {_d(proxy.busy_poll)} after "
                "traffic instead of sleeping (busy_poll): shorter round trips on a "
                "CPU of its own, paid for in that CPU's time"
            )
        if proxy.url and any(r.protocol == "http" for r in proxy.routes):
            lines.append(
                '  note: protocol = "http" routes and HTTP faults are chaoskit '
                f"proxy extensions: {proxy.url} must be `chaoskit proxy` (a real "
                "Toxiproxy answers 404 to them; checked when the run starts)"
            )
    if len(lines) == 5:
        lines.append("  nothing (the target is already running)")
    lines += ["", *_load(plan), "", "timeline", *_timeline(plan)]
    if plan.experiment.probes:
        lines += ["", "probes"]
        lines += [f"  {p.name}: {_probe(p)}" for p in plan.experiment.probes]
    lines += ["", "hypotheses"]
    lines += [
        f"  {h.name}{_of_class(h)}: {_hypothesis(plan, h)}"
        for h in plan.experiment.hypotheses
    ]
    if not plan.experiment.hypotheses:
        lines.append("  none (the run reports metrics only)")
    for condition in plan.experiment.abort:
        if condition.probe is not None:
            metric = f"{condition.probe}.{condition.metric}"
            bound = format_probe_value(condition.metric, condition.limit)
        else:
            metric, bound = condition.metric, _bound(condition.metric, condition.limit)
        held = f"stays above {bound} for {_d(condition.hold_s)}"
        if not condition.hold_s:
            held = f"is above {bound} at a sample"
        lines.append(f"abort when {metric} {held}")
    return lines


def _service(service: Service) -> str:
    if isinstance(service, PostgresService):
        port = f"port {service.port}" if service.port else "a free port"
        return f"embedded PostgreSQL on 127.0.0.1, {port}"
    if isinstance(service, ProcessService):
        health = f"; health {service.health}" if service.health else ""
        return f"process `{' '.join(service.command)}`{health}"
    if isinstance(service, ContainerService):
        return _container_service(service)
    health = f"health {service.health}" if service.health else "no health check"
    return f"external {service.address or ''} ({health})".replace("  ", " ")


def _locust(load: LoadSection) -> str:
    """The Locust engine's line: who runs the locustfile, and how many users."""
    named = load.user_classes or tuple(c.name for c in load.classes)
    classes = ", ".join(named) or "every user class"
    where = f"{load.workers} local workers" if load.workers else "the master alone"
    if load.master_bind:
        where += f", {load.expect_workers} in all on {load.master_bind}"
    tags = f", tags {', '.join(load.tags)}" if load.tags else ""
    tags += f", without {', '.join(load.exclude_tags)}" if load.exclude_tags else ""
    users = f"{load.user_total} users" if load.user_total else "users by stages"
    spawn = f" ({_n(load.spawn_rate)}/s)" if load.spawn_rate else ""
    return (
        f"Locust (closed model): {load.locustfile}, {classes}{tags}; {users}{spawn} "
        f"(or its LoadTestShape); {where}"
    )


def _processes(processes: int | str) -> str:
    """``[load] processes`` in words (the engine runs no more than the users)."""
    if processes == "auto":
        cores = len(os.sched_getaffinity(0))
        return f"generator processes: one per core ({cores} here), load shared"
    return f"generator processes: {processes}, load shared"


def _load(plan: Plan) -> list[str]:
    load = plan.experiment.load
    lines = [f"load against {plan.experiment.target.base_url}"]
    if load.engine == "locust":
        model = _locust(load)
    elif load.model == "open":
        size = f": {_n(load.rate)} requests/s" if load.rate else ""
        model = f"open model{size}, {load.arrivals} arrivals"
    else:
        think = f", think {load.think}" if load.think is not None else ""
        users = f"{load.user_total} users" if load.user_total else "users by stages"
        model = f"closed model: {users}{think}"
    if load.ramp:
        model += f", ramped up over {_d(load.ramp)}"
    if load.profile:
        model += f", profile {load.profile}"
    if load.stages:
        model += ", stages " + ", ".join(
            f"{_n(s.target)} over {_d(s.duration)}" for s in load.stages
        )
    for burst in load.bursts:
        every = f", every {_d(burst.every)}" if burst.every else ""
        model += (
            f", burst x{_n(burst.factor)} for {_d(burst.length)} "
            f"at {_d(burst.at)}{every}"
        )
    if load.max_requests:
        model += f", at most {load.max_requests} requests"
    if load.engine == "native" and (load.tags or load.exclude_tags):
        model += f", tags {', '.join(load.tags) or 'any'}"
        if load.exclude_tags:
            model += f", without {', '.join(load.exclude_tags)}"
    lines.append(f"  {model}")
    if load.engine == "native" and load.processes != 1:
        lines.append(f"  {_processes(load.processes)}")
    lines += describe_classes(load)
    lines += task_lines(load.tasks, load, "  ")
    return lines


def _timeline(plan: Plan) -> list[str]:
    rows: list[tuple[float, str]] = []
    for name in ("before", "after"):
        rows += [(w.start, f"{w!s:<10}  {name}") for w in plan.phases[name]]
    for fault in plan.faults:
        span = Window(fault.start, fault.end) if fault.end > fault.start else None
        when = f"{str(span) if span else _d(fault.start):<10}"
        which = (
            f" ({fault.occurrence} of {fault.occurrences})"
            if fault.occurrences > 1
            else ""
        )
        schedule = _schedule(fault) if fault.occurrence == 1 else ""
        rows.append(
            (
                fault.start,
                f"{when}  fault {fault.fault.name!r}{which}: "
                f"{_fault(fault.fault, fault.end)}{schedule}",
            )
        )
    rows.sort(key=lambda row: row[0])
    return [f"  {text}" for _, text in rows] or ["  no faults"]


def _schedule(window: FaultWindow) -> str:
    """How the windows were drawn, shown with the first occurrence."""
    fault = window.fault
    low, high = fault.start_range
    parts = []
    if high > low:
        parts.append(f"start drawn from {_d(low)}..{_d(high)}")
    if fault.repeat_every is not None:
        times = (
            f"{window.occurrences} times"
            if fault.repeat_count is not None
            else f"until the end ({window.occurrences} times)"
        )
        parts.append(f"every {_d(fault.repeat_every)}, {times}")
    if fault.schedule_jitter:
        parts.append(f"each start up to {_d(fault.schedule_jitter)} later")
    return f" [{'; '.join(parts)}, by the seed]" if parts else ""


def fault_settings(fault: Fault) -> dict[str, str]:
    """A fault's settings in the user's terms ("300ms", "500 KB/s", "50%")."""
    if isinstance(fault, ToxicFault):
        settings = {key: _setting(fault, key) for key in _SETTINGS[fault.kind]}
        if fault.kind == "bandwidth":
            settings["rate"] = f"{fault.rate} KB/s"
        if fault.kind == "down" and fault.observe:
            settings["observe"] = "yes: attempts reset and logged"
        if fault.kind != "down":
            settings["stream"] = fault.stream
            settings["toxicity"] = f"{fault.toxicity:.0%}"
        return settings
    if isinstance(fault, PayloadFault):
        return _payload_settings(fault)
    if isinstance(fault, LockFault):
        return _lock_settings(fault)
    if isinstance(fault, HttpFault):
        return _http_settings(fault)
    settings = {}
    if isinstance(fault, ContainerFault):
        if fault.count is not None:
            settings["count"] = str(fault.count)
        if fault.percent is not None:
            settings["percent"] = f"{fault.percent:.0%}"
        if fault.kind in ("stop", "restart"):
            settings["timeout"] = _d(fault.timeout)
    if fault.kind == "kill":
        settings["signal"] = fault.signal
        settings["restart"] = "yes" if fault.restart else "no"
    return settings


def container_target(fault: ContainerFault) -> str:
    """``service api``, ``container web-1`` or ``containers labelled app=api``."""
    if fault.service is not None:
        return f"service {fault.service}"
    if fault.container is not None:
        return f"container {fault.container}"
    labels = ", ".join(f"{k}={v}" if v else k for k, v in fault.labels.items())
    radius = (
        f" ({fault.count} of them)"
        if fault.count is not None
        else f" ({fault.percent:.0%} of them)"
        if fault.percent is not None
        else ""
    )
    return f"containers labelled {labels}{radius}"


def _container_service(service: ContainerService) -> str:
    health = f"; health {service.health}" if service.health else ""
    if service.image:
        command = f" `{' '.join(service.command)}`" if service.command else ""
        kept = ", kept after the run" if service.keep else ""
        return f"container from image {service.image}{command}{kept}{health}"
    if service.container:
        return f"existing container {service.container}{health}"
    labels = ", ".join(f"{k}={v}" if v else k for k, v in service.labels.items())
    return f"existing container labelled {labels}{health}"


def _lock_settings(fault: LockFault) -> dict[str, str]:
    if fault.database is not None:
        return {"database": fault.database, "lock": "BEGIN EXCLUSIVE"}
    held = f"rows WHERE {fault.where} FOR UPDATE" if fault.where else fault.mode.upper()
    return {"table": fault.table or "", "lock": held}


def _payload_settings(fault: PayloadFault) -> dict[str, str]:
    source = (
        {"schema": fault.schema_}
        if fault.schema_
        else {"examples": f"{fault.examples}"}
    )
    settings = {"rate": f"{_n(fault.rate)}/s", "path": fault.path, **source}
    if fault.url:
        settings["url"] = fault.url
    if fault.seed is not None:
        settings["seed"] = str(fault.seed)
    if fault.rules:
        settings["rules"] = ", ".join(fault.rules)
    return settings | {
        "valid": f"{fault.valid:.0%}",
        "allowed": ", ".join(str(s) for s in fault.allowed),
        "budget": _d(fault.budget),
    }


def _fault(fault: Fault, end: float) -> str:
    if isinstance(fault, ContainerFault):
        return _container_fault(fault, end)
    if isinstance(fault, ToxicFault):
        settings = fault_settings(fault)
        stream = settings.pop("stream", None)
        toxicity = settings.pop("toxicity", None)
        parts = [f"{key} {value}" for key, value in settings.items()]
        if fault.toxicity < 1:
            parts.append(f"toxicity {toxicity}")
        text = f"{fault.kind} on route {fault.route}"
        if stream:
            text += f" ({stream})"
        return text + (": " + ", ".join(parts) if parts else "")
    if isinstance(fault, LockFault):
        settings = _lock_settings(fault)
        where = (
            f"database {fault.database}"
            if fault.database
            else f"table {fault.table} of service {fault.service}"
        )
        return f"lock {where}: {settings['lock']}"
    if isinstance(fault, HttpFault):
        shown = ", ".join(f"{k} {v}" for k, v in _http_settings(fault).items())
        return f"{fault.kind} on route {fault.route}: {shown}"
    if fault.kind == "kill":
        then = f", restarted at {_d(end)}" if fault.restart else ""
        return f"kill service {fault.service} with {fault.signal}{then}"
    if isinstance(fault, PayloadFault):
        settings = _payload_settings(fault)
        where = f"{fault.url or 'the target'} {settings.pop('path')}"
        rate = settings.pop("rate")
        shown = ", ".join(f"{key} {value}" for key, value in settings.items())
        return f"fuzzed payloads at {rate} to POST {where}: {shown}"
    if fault.kind == "pause":
        return f"pause service {fault.service} (SIGSTOP, then SIGCONT)"
    return f"restart service {fault.service}"


def _http_settings(fault: HttpFault) -> dict[str, str]:
    """An HTTP fault's settings as a user reads them."""
    out: dict[str, str] = {}
    match fault.kind:
        case "http_status":
            out["status"] = str(fault.status)
            out |= {f"header {k}": v for k, v in fault.headers.items()}
        case "http_delay":
            out["delay"] = _d(fault.delay)
            if fault.jitter:
                out["jitter"] = _d(fault.jitter)
            out["where"] = f"before the {fault.where}"
        case "http_abort":
            out["abort"] = {
                "headers": "after the response headers",
                "body": "mid-body (a truncated response)",
                "reset": "reset the connection",
            }[fault.abort]
        case _:
            out["rate"] = f"{fault.rate} req/s, then 429"
            if fault.retry_after is not None:
                out["Retry-After"] = _d(fault.retry_after)
    if fault.first is not None:
        out["first"] = f"{fault.first} matched requests"
    if fault.every is not None:
        out["every"] = f"1 in {fault.every} matched requests"
    share = toxicity_of(fault)
    if share < 1:
        out["toxicity"] = f"{share:.0%} of requests"
    m = fault.match
    if m.method is not None:
        out["method"] = m.method if isinstance(m.method, str) else "|".join(m.method)
    if m.path is not None:
        out["path"] = f"/{m.path}/"
    out |= {f"header {k} ~": f"/{v}/" for k, v in m.headers.items()}
    return out


def _container_fault(fault: ContainerFault, end_s: float) -> str:
    target = container_target(fault)
    end = _d(end_s)
    if fault.kind == "kill":
        then = f", started again at {end}" if fault.restart else ""
        return f"kill {target} with {fault.signal}{then}"
    if fault.kind == "stop":
        return f"stop {target}, started again at {end}"
    if fault.kind == "pause":
        return f"pause {target}: docker pause, then unpause at {end}"
    return f"restart {target}: docker restart"


def _of_class(hypothesis: Hypothesis) -> str:
    """`` [class Admin]`` for a hypothesis on one user class's requests."""
    user_class = getattr(hypothesis, "user_class", None)
    return f" [class {user_class}]" if user_class else ""


def _hypothesis(plan: Plan, hypothesis: Hypothesis) -> str:
    windows = ", ".join(str(w) for w in plan.phases.get(hypothesis.phase, ()))
    phase = f"{hypothesis.phase} ({windows or 'empty'})"
    if isinstance(hypothesis, ThresholdHypothesis):
        metric = hypothesis.metric
        scope = f" of {hypothesis.task}" if hypothesis.task else ""
        if metric is None:
            return (
                f"{hypothesis.measure} in each response{scope} "
                f"{hypothesis.direction} {_n(hypothesis.limit)}, {phase}"
            )
        errors = f" ({hypothesis.error_class} only)" if hypothesis.error_class else ""
        return (
            f"{metric}{scope}{errors} {hypothesis.direction} "
            f"{_bound(metric, hypothesis.limit)}, {phase}"
        )
    if isinstance(hypothesis, SlaHypothesis):
        budgets = "; ".join(
            f"{group}: "
            + ", ".join(
                f"{key} {_d(v) if key != 'error_rate' else f'{v:.2%}'}"
                for key, v in (
                    ("p95", b.p95),
                    ("p99", b.p99),
                    ("error_rate", b.error_rate),
                )
                if v is not None
            )
            for group, b in hypothesis.budgets.items()
        )
        return f"SLA budgets ({budgets}), {phase}"
    if isinstance(hypothesis, RecoveryHypothesis):
        which = f"fault {hypothesis.fault!r}" if hypothesis.fault else "each fault"
        return (
            f"after {which}, back within +{hypothesis.tolerance:.0%} p95 "
            f"(at least +{_d(hypothesis.slack)}) and "
            f"+{hypothesis.error_tolerance:.1%} errors of the before phase "
            f"(for {_d(hypothesis.stable_for)}) within {_d(hypothesis.within)}"
        )
    if isinstance(hypothesis, IntegrityHypothesis):
        read = hypothesis.read_back
        source = read.url or f"{read.query!r} on {read.service or read.database}"
        scope = f" of {hypothesis.task}" if hypothesis.task else ""
        if read.counts:
            where = f"{read.count} of {source}" if read.count else source
            return (
                f"the counter {where} equals the acknowledged writes{scope} "
                "(timeouts and errors: may count or not)"
            )
        return (
            f"every write{scope} acknowledged is read back once from {source} "
            "(timeouts and errors: indeterminate)"
        )
    if isinstance(
        hypothesis,
        BackoffHypothesis
        | FallbackHypothesis
        | ProbeHypothesis
        | LeakHypothesis
        | ReturnsHypothesis,
    ):
        return f"{hypothesis.rules_text()}, {phase}"
    if isinstance(hypothesis, FuzzHypothesis):
        which = (
            f"fault {hypothesis.fault!r}" if hypothesis.fault else "every payload fault"
        )
        return (
            f"fuzzed requests of {which}: invalid refused with an allowed 4xx, valid "
            f"accepted, no 5xx or dropped connection, within budget "
            f"(at most {hypothesis.max_failures} wrong)"
        )
    scope = f" of {hypothesis.task}" if hypothesis.task else ""
    share = f"{hypothesis.max:.2%}"
    return f"at most {share}{scope} fail with {hypothesis.error_class}, {phase}"


def _probe(probe: Probe) -> str:
    """What a probe watches, how often."""
    what = {
        "service": f"service {probe.service}",
        "pid": f"pid {probe.pid}",
        "dsn": "a DSN",
        "url": f"{probe.url}"
        + (f" {probe.json_path}" if probe.json_path else f" metric {probe.metric}"),
    }
    target = next(text for key, text in what.items() if getattr(probe, key))
    return (
        f"{probe.kind} {target}, every {_d(probe.every)} ({', '.join(probe.metrics)})"
    )


def _bound(metric: str, value: float) -> str:
    if metric == "error_rate":
        return f"{value:.2%}"
    if metric in ("rps", "count"):
        return _n(value)
    return _d(value)


def _n(value: float | None) -> str:
    if value is None:
        return "-"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _setting(fault: ToxicFault, key: str) -> str:
    value = getattr(fault, key)
    return _d(value) if key in _DURATIONS else str(value)


def _d(seconds: float) -> str:
    return "0s" if seconds == 0 else format_duration(seconds)
