"""Cross-field rules of ``[load]`` and ``[[faults]]``, and where traffic may go.

Split from :mod:`chaoskit.spec.consistency` to keep each module readable; both
return :class:`~chaoskit.errors.SpecIssue` lists and never raise.
"""

from __future__ import annotations

import difflib
import re
import signal
from collections.abc import Collection, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from chaoskit.errors import SpecIssue
from chaoskit.spec import refs
from chaoskit.spec.classes import check_classes
from chaoskit.spec.containers import check_container_fault
from chaoskit.spec.httprules import HTTP_SETTINGS
from chaoskit.spec.locust_rules import LOCUST_ONLY, check_locust_load
from chaoskit.spec.model import (
    ContainerFault,
    ExperimentInfo,
    FaultModel,
    HttpFault,
    LoadSection,
    LockFault,
    PayloadFault,
    ToxicFault,
)
from chaoskit.spec.parts import items
from chaoskit.spec.payloads import PAYLOAD_KEYS, check_payload_fault
from chaoskit.spec.windows import SCHEDULE_KEYS, check_overlaps, check_schedule
from chaoskit.units import format_duration

__all__ = [
    "check_faults",
    "check_load",
    "check_service_kind",
    "check_urls",
    "close",
    "remote_allowed",
    "unknown",
]

_CLOSED_ONLY = ("think", "spawn_rate", "flow")


def check_load(load: LoadSection | None) -> list[SpecIssue]:
    """The load model's settings fit together (open: a rate; closed: users)."""
    if load is None:
        return []
    if load.engine == "locust":
        return check_locust_load(load)
    issues = check_classes(load)
    if not load.tasks and not load.classes:
        issues.append(
            SpecIssue(
                "load.tasks",
                "needs at least one task",
                None,
                '[[load.tasks]] with a path, or engine = "locust" with a locustfile',
            )
        )
    issues += [
        SpecIssue(f"load.{key}", "is a setting of the Locust engine", None,
                  'engine = "locust"')
        for key in LOCUST_ONLY if key in load.model_fields_set
    ]  # fmt: skip
    given = load.model_fields_set
    if load.model == "open":
        if load.rate is None and not load.stages:
            issues.append(
                SpecIssue(
                    "load.rate",
                    "is required for the open model",
                    None,
                    "requests per second, e.g. rate = 100 (or stages)",
                )
            )
        for key in _CLOSED_ONLY:
            if key in given:
                issues.append(
                    SpecIssue(
                        f"load.{key}",
                        "is for the closed model only",
                        None,
                        'model = "closed"',
                    )
                )
    else:
        if load.user_total is None and not load.stages:
            issues.append(
                SpecIssue(
                    "load.user_count" if load.classes else "load.users",
                    "is required for the closed model",
                    None,
                    "a number of users, e.g. users = 50 (or stages)",
                )
            )
        if load.rate is not None:
            issues.append(
                SpecIssue(
                    "load.rate",
                    "is for the open model; the closed model runs users",
                    load.rate,
                    'users = N, or model = "open"',
                )
            )
    shapes = [key for key in ("ramp", "profile", "stages") if key in given]
    if len(shapes) > 1:
        issues.append(
            SpecIssue(
                f"load.{shapes[1]}",
                f"cannot be combined with load.{shapes[0]}",
                None,
                "one of ramp, profile, stages",
            )
        )
    for name, pattern in load.error_patterns.items():
        try:
            re.compile(pattern)
        except re.error as error:
            issues.append(
                SpecIssue(
                    f"load.error_patterns.{name}",
                    f"is not a regular expression ({error})",
                    pattern,
                )
            )
    keys = load.hot_keys
    if keys is not None and keys.space <= keys.hot:
        issues.append(
            SpecIssue(
                "load.hot_keys.space",
                "must be larger than hot",
                keys.space,
                f"> {keys.hot}",
            )
        )
    return issues


def remote_allowed(table: Mapping[str, Any], info: ExperimentInfo | None) -> bool:
    """``experiment.allow_remote``; as written when [experiment] is invalid (a
    wrong allow_remote is reported there, and must not add issues elsewhere)."""
    raw_info = table.get("experiment")
    return (
        info.allow_remote
        if info is not None
        else not isinstance(raw_info, dict)
        or raw_info.get("allow_remote", False) is not False
    )


def check_urls(table: Mapping[str, Any]) -> list[SpecIssue]:
    """``target.base_url``, ``proxy.url``, fuzz and read-back URLs are http URLs
    with a host (the loopback rule is :mod:`chaoskit.spec.addresses`')."""
    issues = []
    target, proxy = table.get("target"), table.get("proxy")
    urls = [
        (
            "target.base_url",
            target.get("base_url") if isinstance(target, dict) else None,
        ),
        ("proxy.url", proxy.get("url") if isinstance(proxy, dict) else None),
    ]
    hypotheses = table.get("hypotheses")
    for index, item in enumerate(hypotheses if isinstance(hypotheses, list) else []):
        read = item.get("read_back") if isinstance(item, dict) else None
        url = read.get("url") if isinstance(read, dict) else None
        if isinstance(url, str) and not url.startswith("/"):  # a path: the target's
            urls.append((f"hypotheses[{index}].read_back.url", url))
    urls += [
        (f"faults[{index}].url", fault.get("url"))
        for index, fault in items(table, "faults")
        if isinstance(fault, dict) and fault.get("kind") == "invalid-payloads"
    ]
    if isinstance(proxy, dict) and proxy.get("url") and proxy.get("busy_poll"):
        issues.append(
            SpecIssue(
                "proxy.busy_poll",
                "applies to the embedded proxy only, and proxy.url names another",
                str(proxy["busy_poll"]),
                "remove proxy.busy_poll, or proxy.url to use the embedded proxy",
            )
        )
    for path, url in urls:
        if not isinstance(url, str):
            continue
        bound = refs.bind(url, refs.placeholders(url))
        try:
            split = urlsplit(bound)
            scheme, host = split.scheme, split.hostname
        except ValueError:  # e.g. an invalid port or IPv6 literal
            scheme, host = "", None
        if scheme != "http" or not host:
            issues.append(
                SpecIssue(
                    path,
                    "is not an http:// URL with a host",
                    url,
                    "http://127.0.0.1:8000",
                )
            )
    return issues


_TOXIC_COMMON = {"name", "kind", "at", "for", "route", "stream", "toxicity"}
_TOXIC_SETTINGS = {
    "latency": {"latency", "jitter"},
    "bandwidth": {"rate"},
    "slow_close": {"delay"},
    "timeout": {"timeout"},
    "reset_peer": {"timeout"},
    "slicer": {"average_size", "size_variation", "delay"},
    "limit_data": {"bytes"},
    "down": {"observe"},
}
_LOCK_SETTINGS = {"name", "kind", "at", "for", "service", "database", "table"}
_LOCK_SETTINGS |= {"mode", "where"}


def check_faults(
    faults: Sequence[tuple[int, FaultModel]],
    routes: Sequence[str],
    service_kinds: Mapping[str, str],
    duration: float | None,
    partial: Collection[int] = (),
) -> list[SpecIssue]:
    """Faults name declared routes and process services, set only their kind's
    settings, and fit the timeline; ``down`` windows on a route do not overlap.

    Args:
        faults: (index, fault) for each fault that validated.
        routes: declared proxy route names.
        service_kinds: declared service name -> its kind.
        duration: ``experiment.duration``, when it validated.
        partial: indexes of faults validated without their invalid keys:
            only the route or service they name is checked.
    """
    issues: list[SpecIssue] = []
    for index, fault in faults:
        where = f"faults[{index}]"
        if isinstance(fault, ToxicFault):
            if fault.route not in routes:
                issues.append(
                    unknown(f"{where}.route", "proxy route", fault.route, routes)
                )
            allowed = _TOXIC_SETTINGS[fault.kind] | _TOXIC_COMMON
        elif isinstance(fault, ContainerFault):
            found, allowed = check_container_fault(where, fault, service_kinds)
            issues += found
            if fault.kind == "kill":
                issues += _signal(where, fault.signal)
        elif isinstance(fault, LockFault):
            allowed = _LOCK_SETTINGS  # its targets: spec.dbrules.check_lock
        elif isinstance(fault, HttpFault):
            if fault.route not in routes:
                issues.append(
                    unknown(f"{where}.route", "proxy route", fault.route, routes)
                )
            allowed = HTTP_SETTINGS[fault.kind]
        elif isinstance(fault, PayloadFault):
            allowed = set(PAYLOAD_KEYS)
            issues += check_payload_fault(where, fault)
        else:
            issues += check_service_kind(
                f"{where}.service",
                fault.service,
                ("process", "container"),
                service_kinds,
                fault.kind,
            )
            allowed = {"name", "kind", "at", "for", "service"}
            if fault.kind == "kill":
                allowed |= {"signal", "restart"}
                issues += _signal(where, fault.signal)
        allowed |= _schedule_keys(fault)
        for name in sorted(fault.model_fields_set):
            key = type(fault).model_fields[name].alias or name
            if key not in allowed:
                issues.append(
                    SpecIssue(
                        f"{where}.{key}",
                        f"is not a setting of a {fault.kind} fault",
                        None,
                        ", ".join(sorted(allowed)),
                    )
                )
        if index in partial:
            continue  # its values are reported already; defaults stand in
        if fault.kind == "latency" and fault.latency == 0 and fault.jitter == 0:
            issues.append(
                SpecIssue(
                    f"{where}.latency", "is required (> 0)", None, 'a duration: "300ms"'
                )
            )
        issues += check_schedule(where, fault, duration)
    issues += check_overlaps([(i, f) for i, f in faults if i not in partial], duration)
    return issues


def _schedule_keys(fault: FaultModel) -> set[str]:
    """``every``... on every kind; ``count``/``jitter`` where they mean the schedule."""
    keys = set(SCHEDULE_KEYS)
    if fault._EVERY_IS_SCHEDULE:
        keys.add("every")
    if fault._COUNT_IS_SCHEDULE:
        keys.add("count")
    if fault._JITTER_IS_SCHEDULE:
        keys.add("jitter")
    return keys


def _signal(where: str, name: str) -> list[SpecIssue]:
    if name in signal.Signals.__members__:
        return []
    names = [s.name for s in signal.Signals if s.name.startswith("SIG")]
    return [
        SpecIssue(
            f"{where}.signal",
            "is not a signal",
            name,
            "SIGKILL, SIGTERM, SIGINT, ...",
            close(name, names),
        )
    ]


def check_service_kind(
    path: str,
    name: str,
    wanted: str | tuple[str, ...],
    service_kinds: Mapping[str, str],
    what: str,
) -> list[SpecIssue]:
    """``name`` is a declared service of a ``wanted`` kind (``what`` needs it)."""
    kinds = (wanted,) if isinstance(wanted, str) else wanted
    kind = service_kinds.get(name)
    if kind is None:
        return [unknown(path, "service", name, list(service_kinds))]
    if kind and kind not in kinds:  # "": its kind is wrong, and reported as such
        text = " or ".join(kinds)
        matching = [n for n, k in service_kinds.items() if k in kinds]
        return [
            SpecIssue(
                path,
                f"is a {kind} service; {what} needs a {text} service",
                name,
                ", ".join(matching) or f"(no {text} service)",
            )
        ]
    return []


def unknown(path: str, noun: str, value: str, declared: Sequence[str]) -> SpecIssue:
    return SpecIssue(
        path,
        f"is not a declared {noun}",
        value,
        ", ".join(declared) or f"(no {noun} is declared)",
        close(value, declared),
    )


def close(word: str, choices: Sequence[str]) -> str | None:
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def _d(seconds: float) -> str:
    return format_duration(seconds)
