"""Cross-field checks: what one part of an experiment says about another.

pydantic checks each value on its own; these rules check that they fit
together: faults name declared routes and services and fit the timeline,
hypotheses name declared tasks, faults and phases, references name declared
things, and the target is on loopback unless remote targets are allowed.

They run even when some values are invalid (on the items that did validate,
and on the names as written), so one pass reports everything.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

from chaoskit.errors import SpecIssue
from chaoskit.records import BUILTIN_BODY_PATTERNS, PATTERN_PREFIX, ErrorClass
from chaoskit.spec import refs
from chaoskit.spec.addresses import check_loopback
from chaoskit.spec.containers import check_container_services
from chaoskit.spec.dbrules import check_acks, check_integrity, check_lock
from chaoskit.spec.httprules import (
    check_http_fault,
    check_request_backoff,
    http_routes,
)
from chaoskit.spec.model import (
    LATENCY_METRICS,
    METRICS,
    PHASES,
    BackoffHypothesis,
    Experiment,
    FallbackHypothesis,
    FuzzHypothesis,
    HttpFault,
    IntegrityHypothesis,
    LockFault,
    PayloadFault,
    RecoveryHypothesis,
    ReturnsHypothesis,
    SlaHypothesis,
    TaskSection,
    ThresholdHypothesis,
    bound_value,
)
from chaoskit.spec.parts import CLASS_TASKS, Parts, gather, items, valid
from chaoskit.spec.payloads import check_fuzz_hypothesis
from chaoskit.spec.probes import check_probes
from chaoskit.spec.retry_rules import retry_issues
from chaoskit.spec.rules import (
    check_faults,
    check_load,
    check_urls,
    close,
    remote_allowed,
    unknown,
)
from chaoskit.spec.streams import check_stream_task
from chaoskit.units import format_duration

__all__ = ["check"]

_BOUND_FORMS = {
    **dict.fromkeys(LATENCY_METRICS, 'a duration: "800ms", "2s"'),
    "error_rate": 'a ratio: "1%" or 0.01',
    "rps": "a number of requests per second",
    "count": "a number of requests",
}


def check(table: Mapping[str, Any], experiment: Experiment | None) -> list[SpecIssue]:
    """Every cross-field issue of the experiment (``table`` as written)."""
    parts = gather(table, experiment)
    issues = _duplicates(parts)
    issues += check_load(parts.load)
    issues += check_urls(table)
    issues += check_loopback(table, remote_allowed(table, parts.info))
    issues += _references(table, parts)
    issues += check_faults(
        parts.faults,
        parts.declared("routes"),
        parts.service_kinds,
        parts.info.duration if parts.info else None,
        {index for section, index in parts.partial if section == "faults"},
    )
    issues += check_container_services(table)
    issues += _hypotheses(parts, table)
    issues += _abort(parts)
    issues += check_probes(table, parts)
    located = _located_tasks(parts)
    tasks = [task for _, task in located]
    issues += check_acks(located)
    issues += _stream_tasks(table, parts)
    http_routes_declared = http_routes(table)
    for index, fault in parts.faults:
        if isinstance(fault, LockFault):
            issues += check_lock(f"faults[{index}]", fault, parts.service_kinds)
        elif isinstance(fault, HttpFault):
            issues += check_http_fault(f"faults[{index}]", fault, http_routes_declared)
    for index, hypothesis in parts.hypotheses:
        if isinstance(hypothesis, BackoffHypothesis):
            issues += check_request_backoff(
                f"hypotheses[{index}]", hypothesis, http_routes_declared
            )
    for index, hypothesis in parts.hypotheses:
        if isinstance(hypothesis, IntegrityHypothesis):
            where = f"hypotheses[{index}]"
            issues += check_integrity(
                where, hypothesis, tasks, parts.service_kinds,
                locustfile=_by_locustfile(parts),
            )  # fmt: skip
    return issues


# --- the rules ----------------------------------------------------------------------


def _located_tasks(parts: Parts) -> list[tuple[str, TaskSection]]:
    """The weighted tasks of ``[load]`` and of each ``[[load.users]]`` class,
    each with its key path."""
    load = parts.load
    if load is None:
        return []
    located = [(f"load.tasks[{i}]", task) for i, task in enumerate(load.tasks)]
    classes = load.users if isinstance(load.users, tuple) else ()
    for c, cls in enumerate(classes):
        located += [(f"load.users[{c}].tasks[{i}]", t) for i, t in enumerate(cls.tasks)]
    return located


def _by_locustfile(parts: Parts) -> bool:
    return parts.load is not None and parts.load.engine == "locust"


def _stream_tasks(table: Mapping[str, Any], parts: Parts) -> list[SpecIssue]:
    """Each task and flow step, of ``[load]`` and of every ``[[load.users]]``
    class, against its kind (:mod:`chaoskit.spec.streams`), one at a time: one
    invalid task does not hide the others' issues."""
    load = table.get("load")
    if not isinstance(load, dict):
        return []
    model = str(load.get("model", "open"))
    issues = []
    holders = [("load", load)] + [
        (f"load.users[{index}]", cls)
        for index, cls in items(table, "load", "users")
        if isinstance(cls, dict)
    ]
    for where, holder in holders:
        for path, raw, step in _task_tables(where, holder):
            task = valid(TaskSection, raw)
            if task is not None:
                issues += check_stream_task(path, task, raw, model=model, step=step)
    return issues


def _task_tables(
    where: str, holder: Mapping[str, Any]
) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """(key path, table, is a flow step) of the tasks and flow steps of
    ``[load]`` or of a class."""
    flow = holder.get("flow")
    flow = flow if isinstance(flow, dict) else {}
    for path, found, step in (
        (f"{where}.tasks", holder.get("tasks"), False),
        (f"{where}.flow.on_start", flow.get("on_start"), True),
        (f"{where}.flow.on_stop", flow.get("on_stop"), True),
    ):
        for index, raw in enumerate(found if isinstance(found, list) else []):
            if isinstance(raw, dict):
                yield f"{path}[{index}]", raw, step
    for name in ("heartbeat", "refresh"):
        table = flow.get(name)
        if isinstance(table, dict):
            yield f"{where}.flow.{name}", table, True


def _duplicates(parts: Parts) -> list[SpecIssue]:
    issues = []
    for section, named in parts.names.items():
        if section == CLASS_TASKS:
            continue  # each class has its own tasks (duplicates: the engine's)
        first: dict[str, str] = {}
        for path, name in named:
            if name in first:
                where = first[name].removesuffix(".name")
                issues.append(SpecIssue(path, f"duplicate name (also {where})", name))
            else:
                first[name] = path
    return issues


def _references(table: Mapping[str, Any], parts: Parts) -> list[SpecIssue]:
    texts: list[tuple[str, object]] = []
    for index, service in items(table, "services"):
        if not isinstance(service, dict):
            continue
        where = f"services[{index}]"
        command = service.get("command")
        for position, arg in enumerate(command if isinstance(command, list) else []):
            texts.append((f"{where}.command[{position}]", arg))
        env = service.get("env")
        for key, value in env.items() if isinstance(env, dict) else []:
            texts.append((f"{where}.env.{key}", value))
        for key in ("health", "address"):
            texts.append((f"{where}.{key}", service.get(key)))
        volumes = service.get("volumes")
        for position, volume in enumerate(volumes if isinstance(volumes, list) else []):
            texts.append((f"{where}.volumes[{position}]", volume))
    for index, route in items(table, "proxy", "routes"):
        if isinstance(route, dict):
            for key in ("upstream", "listen"):
                texts.append((f"proxy.routes[{index}].{key}", route.get(key)))
    target = table.get("target")
    if isinstance(target, dict):
        texts.append(("target.base_url", target.get("base_url")))
    issues = []
    services, routes = parts.declared("services"), parts.declared("routes")
    for path, text in texts:
        if not isinstance(text, str):
            continue
        for problem in refs.check(text, services=services, routes=routes):
            issues.append(
                SpecIssue(
                    path, problem.message, None, problem.allowed, problem.suggestion
                )
            )
    return issues


def _hypotheses(parts: Parts, table: Mapping[str, Any]) -> list[SpecIssue]:
    issues = []
    faults = parts.declared("faults")
    tasks = list(dict.fromkeys(parts.declared("tasks") + parts.declared(CLASS_TASKS)))
    user_classes = parts.declared("users")
    # A locustfile's request names are known once it runs, not here.
    locustfile = _by_locustfile(parts)
    load = table.get("load") if isinstance(table.get("load"), dict) else {}
    patterns = load.get("error_patterns") if isinstance(load, dict) else None
    classes = [c.value for c in ErrorClass] + list(
        patterns if isinstance(patterns, dict) else {}
    )
    classes += [name for name in BUILTIN_BODY_PATTERNS if name not in classes]
    # A pattern also as reports name it (``body_pattern:lock``).
    named = {c.value for c in ErrorClass}
    classes_too = {PATTERN_PREFIX + c for c in classes if c not in named}
    raw_tasks = [item for _, item in items(table, "load", "tasks")]
    for _, cls in items(table, "load", "users"):
        found = cls.get("tasks") if isinstance(cls, dict) else None
        raw_tasks += found if isinstance(found, list) else []
    groups = {
        item["group"]
        for item in raw_tasks
        if isinstance(item, dict) and isinstance(item.get("group"), str)
    }
    for index, hypothesis in parts.hypotheses:
        where = f"hypotheses[{index}]"
        partial = ("hypotheses", index) in parts.partial
        issues += _phase(where, hypothesis.phase, faults)
        if (
            not isinstance(hypothesis, RecoveryHypothesis | ReturnsHypothesis)
            and not partial
        ):
            # Recovery is judged after each fault whatever its phase says.
            issues += _empty_phase(f"{where}.phase", hypothesis.phase, parts)
        user_class = getattr(hypothesis, "user_class", None)
        if user_class is not None and locustfile and not user_classes:
            pass  # the locustfile's User classes: known once Locust runs
        elif user_class is not None and user_class not in user_classes:
            issues.append(
                unknown(f"{where}.user_class", "user class", user_class, user_classes)
            )
        elif (
            user_class is not None
            and isinstance(hypothesis, ThresholdHypothesis)
            and hypothesis.probe is not None
        ):
            issues.append(
                SpecIssue(
                    f"{where}.user_class",
                    "cannot narrow a header's or a JSON value's numbers (they are "
                    "read per task)",
                    user_class,
                    "a task of that class (task = ...), or a metric",
                )
            )
        task = getattr(hypothesis, "task", None)
        if task is not None and task not in tasks and not locustfile:
            issues.append(unknown(f"{where}.task", "task", task, tasks))
        error_class = getattr(hypothesis, "error_class", None)
        if (
            error_class is not None
            and error_class not in classes
            and error_class not in classes_too
        ):
            issues.append(
                SpecIssue(
                    f"{where}.error_class",
                    "is not an error class",
                    error_class,
                    ", ".join(classes) + " (or a key of load.error_patterns)",
                    close(error_class, classes),
                )
            )
        if isinstance(hypothesis, ThresholdHypothesis) and not partial:
            issues += _bound(where, hypothesis)
        elif isinstance(hypothesis, SlaHypothesis):
            for group, budget in hypothesis.budgets.items():
                at = f"{where}.budgets.{group}"
                for name in budget.tasks:
                    if name not in tasks and not locustfile:
                        issues.append(unknown(f"{at}.tasks", "task", name, tasks))
                if not budget.tasks and group not in groups:
                    issues.append(
                        SpecIssue(
                            at,
                            f"no task has group = {group!r}, and the budget names "
                            "no tasks",
                            None,
                            "a group of load.tasks, or tasks = [...]",
                        )
                    )
                if (
                    budget.p95 is None
                    and budget.p99 is None
                    and budget.error_rate is None
                ):
                    issues.append(
                        SpecIssue(at, "sets no budget", None, "p95, p99, error_rate")
                    )
        elif isinstance(hypothesis, RecoveryHypothesis):
            if not faults:
                issues.append(
                    SpecIssue(
                        where,
                        "a recovery hypothesis needs a fault",
                        None,
                        "at least one [[faults]] entry",
                    )
                )
            elif hypothesis.fault is not None and hypothesis.fault not in faults:
                issues.append(
                    unknown(f"{where}.fault", "fault", hypothesis.fault, faults)
                )
        elif isinstance(hypothesis, BackoffHypothesis | FallbackHypothesis):
            issues += retry_issues(where, hypothesis, parts, table, partial)
        elif isinstance(hypothesis, FuzzHypothesis):
            payload = [f.name for _, f in parts.faults if isinstance(f, PayloadFault)]
            issues += check_fuzz_hypothesis(where, hypothesis, payload)
    # error_budget has only error_class, task and phase: checked above.
    return issues


def _phase(where: str, phase: str, faults: Sequence[str]) -> list[SpecIssue]:
    allowed = (
        ", ".join(PHASES) + ", during:<fault name>, after:<fault name> "
        "(one occurrence of a repeated fault: during:<fault name>#2)"
    )
    prefix, _, name = phase.partition(":")
    choices = [*PHASES, *(f"{p}:{f}" for p in ("during", "after") for f in faults)]
    named = name in faults or _declared(name, faults) != name
    if phase not in PHASES and not (prefix in ("during", "after") and named):
        message = (
            f"names no declared fault ({name!r})"
            if prefix in ("during", "after") and name
            else "is not a phase"
        )
        return [
            SpecIssue(f"{where}.phase", message, phase, allowed, close(phase, choices))
        ]
    return []


def _empty_phase(where: str, phase: str, parts: Parts) -> list[SpecIssue]:
    """A phase with no time in it gives a verdict on no data: refuse it."""
    declared = parts.declared("faults")
    name = phase.partition(":")[2]
    known = phase in PHASES or _declared(name, declared) in declared
    if parts.info is None or not parts.faults_valid or phase == "all" or not known:
        return []
    duration = parts.info.duration
    # Every occurrence, at its earliest start and latest end (any seed).
    windows = {f.name: f.envelopes(duration) for _, f in parts.faults}
    prefix, _, name = phase.partition(":")
    name = _declared(name, windows)
    every = [span for spans in windows.values() for span in spans]
    spans = windows.get(name, every)
    if name and name not in windows:
        return []  # the fault itself is invalid and reported already
    if prefix == "before":
        empty, why = (
            bool(spans) and min(s for s, _ in spans) <= 0,
            "a fault starts at 0s",
        )
    elif prefix == "during":
        lengths = [f.for_ for _, f in parts.faults if not name or f.name == name]
        empty, why = all(x <= 0 for x in lengths), "no fault lasts any time"
    else:
        empty = bool(spans) and max(e for _, e in spans) >= duration
        why = "the fault window ends at the end of the timeline"
    if not spans and prefix != "before":
        empty, why = True, "the experiment has no faults"
    if empty:
        return [
            SpecIssue(
                where,
                f"the {phase!r} phase is empty: {why}",
                None,
                'a phase with time in it, e.g. "all"',
            )
        ]
    return []


def _declared(name: str, faults: Collection[str]) -> str:
    """The fault an occurrence label names (``flap#2`` -> ``flap``), else ``name``."""
    base, mark, index = name.rpartition("#")
    if name not in faults and mark and base in faults and index.isdigit():
        return base
    return name


def _measure(where: str, hypothesis: ThresholdHypothesis) -> list[SpecIssue]:
    """One thing measured: a metric, or a header or JSON value of one task."""
    h = hypothesis
    given = [k for k in ("metric", "header", "value") if getattr(h, k) is not None]
    forms = (
        f"metric = {' | '.join(METRICS)}, or a number in each response of a task: "
        'metric = "header:X-Upstream-Attempts" or value = "$.attempts"'
    )
    if not given:
        return [SpecIssue(f"{where}.metric", "is required", None, forms)]
    if len(given) > 1:
        return [
            SpecIssue(
                f"{where}.{given[1]}",
                f"cannot be combined with {given[0]}: give one thing to measure",
                None,
                forms,
            )
        ]
    issues = []
    if h.probe is None:
        if h.stat is not None:
            issues.append(
                SpecIssue(
                    f"{where}.stat",
                    f"summarises a header or value, not {h.metric}",
                    None,
                    'with metric = "header:<name>" or value = "$.path"',
                )
            )
        return issues
    if h.value is not None and not h.value.startswith("$"):
        issues.append(SpecIssue(f"{where}.value", "is not a JSON path", h.value, "$.a"))
    if h.task is None:
        issues.append(
            SpecIssue(
                f"{where}.task",
                f"is required: {h.measure} is read from the responses of one task",
                None,
                "a task of load.tasks",
            )
        )
    if h.error_class is not None:
        issues.append(
            SpecIssue(
                f"{where}.error_class",
                "does not apply to a header or value",
                None,
                "metric = error_rate or count",
            )
        )
    for key in ("below", "above"):
        raw = getattr(h, key)
        if raw is not None and (
            isinstance(raw, bool) or not isinstance(raw, int | float)
        ):
            issues.append(
                SpecIssue(f"{where}.{key}", "is not a number", raw, "e.g. 4 or 2.5")
            )
    return issues


def _bound(where: str, hypothesis: ThresholdHypothesis) -> list[SpecIssue]:
    issues = _measure(where, hypothesis)
    return issues + _metric_bound(where, hypothesis, hypothesis.metric)


def _metric_bound(
    where: str, hypothesis: ThresholdHypothesis, metric: str | None
) -> list[SpecIssue]:
    """One bound, of the metric's form (a number for a header or value)."""
    form = _BOUND_FORMS[metric] if metric else "a number"
    if hypothesis.below is not None and hypothesis.above is not None:
        return [
            SpecIssue(
                f"{where}.above",
                "cannot be combined with below",
                None,
                "exactly one of below and above",
            )
        ]
    if hypothesis.below is None and hypothesis.above is None:
        return [SpecIssue(f"{where}.below", "is required (or above)", None, form)]
    if metric is None:  # a header or value: its bound's type is checked by _measure
        return []
    issues = []
    key = hypothesis.direction
    value = hypothesis.below if hypothesis.below is not None else hypothesis.above
    try:
        bound_value(metric, value if value is not None else "")
    except ValueError:
        issues.append(
            SpecIssue(
                f"{where}.{key}",
                f"does not fit the metric {metric}",
                value,
                _BOUND_FORMS[metric],
            )
        )
    if hypothesis.error_class is not None and metric not in ("error_rate", "count"):
        issues.append(
            SpecIssue(
                f"{where}.error_class",
                f"does not apply to {metric}",
                None,
                "metric = error_rate or count",
            )
        )
    return issues


def _abort(parts: Parts) -> list[SpecIssue]:
    issues = []
    for index, condition in parts.abort:
        if ("abort", index) in parts.partial or condition.probe is not None:
            continue  # probe conditions: spec.probes
        if condition.metric not in _ABORT_METRICS:
            issues.append(
                SpecIssue(
                    f"abort[{index}].metric",
                    "is not one of the allowed values",
                    condition.metric,
                    ", ".join(_ABORT_METRICS) + " (or probe = NAME and its metric)",
                    close(condition.metric, _ABORT_METRICS),
                )
            )
            continue
        try:
            bound_value(condition.metric, condition.above)
        except ValueError:
            issues.append(
                SpecIssue(
                    f"abort[{index}].above",
                    f"does not fit the metric {condition.metric}",
                    condition.above,
                    _BOUND_FORMS[condition.metric],
                )
            )
        if condition.for_ is not None and condition.for_ <= 0:
            issues.append(
                SpecIssue(
                    f"abort[{index}].for", "must be > 0", None, 'a duration: "10s"'
                )
            )
    return issues


_ABORT_METRICS = ("error_rate", "p95", "p99")


def _d(seconds: float) -> str:
    return format_duration(seconds)
