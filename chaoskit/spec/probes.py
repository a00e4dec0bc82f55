"""Cross-field checks of ``[[probes]]`` and of what names a probe (hypotheses of
kind ``probe``, ``leak`` and ``returns``; ``[[abort]]`` entries with ``probe``).

A probe names what it watches in the way its kind needs (a service of the
right kind, a pid, a DSN, a URL on loopback); a hypothesis or an abort names a
declared probe and one of the metrics that probe's kind records, with a bound
in the metric's unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from chaoskit.errors import SpecIssue
from chaoskit.hosts import is_loopback
from chaoskit.spec import refs
from chaoskit.spec.model import (
    PROBE_METRICS,
    LeakHypothesis,
    Probe,
    ProbeHypothesis,
    ReturnsHypothesis,
    probe_value,
)
from chaoskit.spec.parts import Parts, items
from chaoskit.spec.rules import close, unknown
from chaoskit.units import parse_rate

__all__ = ["check_probes", "probe_forms"]

_TARGETS = {
    "process": ("service", "pid"),
    "container": ("service",),
    "postgres": ("service", "dsn"),
    "http": ("url",),
}
_SERVICE_KIND = {"process": "process", "container": "container", "postgres": "postgres"}


def probe_forms(metric: str) -> str:
    """What a bound on ``metric`` is written as (for messages)."""
    if metric.endswith("_bytes"):
        return 'a size: "512MB", "10KB", or bytes'
    if metric.endswith("_share"):
        return 'a ratio: "80%" or 0.8'
    if metric.endswith("_s") and not metric.endswith("_per_s"):
        return 'a duration: "500ms", "2s"'
    return "a number"


def check_probes(table: Mapping[str, Any], parts: Parts) -> list[SpecIssue]:
    """Every issue with probes and with what refers to them."""
    probes: dict[str, Probe] = {}
    issues: list[SpecIssue] = []
    allow_remote = parts.info.allow_remote if parts.info is not None else False
    for index, raw in items(table, "probes"):
        probe = _valid(raw)
        if probe is None:
            continue
        probes[probe.name] = probe
        issues += _target(f"probes[{index}]", probe, parts, raw, allow_remote)
    declared = parts.declared("probes")
    for index, hypothesis in parts.hypotheses:
        if isinstance(hypothesis, ProbeHypothesis | LeakHypothesis | ReturnsHypothesis):
            issues += _refers(f"hypotheses[{index}]", hypothesis, probes, declared)
        if isinstance(hypothesis, ProbeHypothesis):
            issues += _bound(f"hypotheses[{index}]", hypothesis)
        elif isinstance(hypothesis, LeakHypothesis):
            try:
                parse_rate(hypothesis.max_growth)
            except ValueError as exc:
                issues.append(
                    SpecIssue(
                        f"hypotheses[{index}].max_growth",
                        "is not a growth rate",
                        hypothesis.max_growth,
                        str(exc).split("; use ")[-1],
                    )
                )
        elif isinstance(hypothesis, ReturnsHypothesis):
            issues += _tolerance(f"hypotheses[{index}]", hypothesis)
            faults = parts.declared("faults")
            if not faults:
                issues.append(
                    SpecIssue(
                        f"hypotheses[{index}]",
                        "a returns hypothesis needs a fault",
                        None,
                        "at least one [[faults]] entry",
                    )
                )
            elif hypothesis.fault is not None and hypothesis.fault not in faults:
                issues.append(
                    unknown(
                        f"hypotheses[{index}].fault", "fault", hypothesis.fault, faults
                    )
                )
    for index, condition in parts.abort:
        if condition.probe is None:
            continue
        where = f"abort[{index}]"
        issues += _refers(where, condition, probes, declared)
        probe = probes.get(condition.probe)
        if probe is not None and condition.metric in probe.metrics:
            try:
                probe_value(condition.metric, condition.above)
            except ValueError:
                issues.append(
                    SpecIssue(
                        f"{where}.above",
                        f"does not fit the metric {condition.metric}",
                        condition.above,
                        probe_forms(condition.metric),
                    )
                )
    return issues


def _valid(raw: object) -> Probe | None:
    from pydantic import ValidationError

    try:
        return Probe.model_validate(raw)
    except ValidationError:
        return None  # reported with its key path by validate.translate


def _target(
    where: str, probe: Probe, parts: Parts, raw: object, allow_remote: bool
) -> list[SpecIssue]:
    keys = _TARGETS[probe.kind]
    given = [k for k in ("service", "pid", "dsn", "url") if getattr(probe, k)]
    wrong = [k for k in given if k not in keys]
    if wrong:
        return [
            SpecIssue(
                f"{where}.{wrong[0]}",
                f"is not a setting of a {probe.kind} probe",
                None,
                " or ".join(keys),
            )
        ]
    if len(given) != 1:
        return [
            SpecIssue(
                where,
                f"a {probe.kind} probe needs exactly one of {', '.join(keys)}",
                None,
                " or ".join(keys),
            )
        ]
    issues: list[SpecIssue] = []
    if probe.service is not None:
        services = parts.declared("services")
        kind = parts.service_kinds.get(probe.service)
        if probe.service not in services:
            issues.append(
                unknown(f"{where}.service", "service", probe.service, services)
            )
        elif kind != _SERVICE_KIND[probe.kind]:
            issues.append(
                SpecIssue(
                    f"{where}.service",
                    f"is a {kind} service; a {probe.kind} probe watches a "
                    f"{_SERVICE_KIND[probe.kind]} service",
                    probe.service,
                    ", ".join(
                        name
                        for name, k in parts.service_kinds.items()
                        if k == _SERVICE_KIND[probe.kind]
                    )
                    or f"a {_SERVICE_KIND[probe.kind]} service",
                )
            )
    for key in ("url", "dsn"):
        text = getattr(probe, key)
        if text is None:
            continue
        services, routes = parts.declared("services"), parts.declared("routes")
        for problem in refs.check(text, services=services, routes=routes):
            issues.append(
                SpecIssue(
                    f"{where}.{key}",
                    problem.message,
                    None,
                    problem.allowed,
                    problem.suggestion,
                )
            )
    if probe.dsn is not None:
        issues += _dsn(f"{where}.dsn", probe.dsn, allow_remote)
    if probe.url is not None:
        bound = refs.bind(probe.url, refs.placeholders(probe.url))
        try:
            split = urlsplit(bound)
            scheme, host = split.scheme, split.hostname
        except ValueError:
            scheme, host = "", None
        if scheme != "http" or not host:
            issues.append(
                SpecIssue(
                    f"{where}.url",
                    "is not an http:// URL with a host",
                    probe.url,
                    "http://127.0.0.1:8000/metrics",
                )
            )
        if (probe.json_path is None) == (probe.metric is None):
            issues.append(
                SpecIssue(
                    where,
                    "an http probe reads exactly one of json_path and metric",
                    None,
                    'json_path = "$.pool.in_use", or metric = "http_requests_total"',
                )
            )
        elif probe.json_path is not None and not probe.json_path.startswith("$"):
            issues.append(
                SpecIssue(
                    f"{where}.json_path",
                    "is not a JSON path",
                    probe.json_path,
                    '"$.a.b[0]"',
                )
            )
    elif probe.json_path is not None or probe.metric is not None or probe.labels:
        key = "json_path" if probe.json_path is not None else "metric"
        key = "labels" if probe.labels and key == "metric" and not probe.metric else key
        issues.append(
            SpecIssue(
                f"{where}.{key}", f"is not a setting of a {probe.kind} probe", None
            )
        )
    return issues


def _dsn(where: str, dsn: str, allow_remote: bool) -> list[SpecIssue]:
    """A DSN reaches the server itself (never a proxy route), on loopback."""
    if any(ref.key.startswith("routes.") for ref in refs.find(dsn)):
        return [
            SpecIssue(
                where,
                "goes through a proxy route: a fault on the route would hide the "
                "server from its probe",
                None,
                "service = NAME, or postgresql://postgres@{services.NAME.address}/postgres",
            )
        ]
    bound = refs.bind(dsn, refs.placeholders(dsn))
    try:
        split = urlsplit(bound)
        scheme, host = split.scheme, split.hostname
    except ValueError:
        scheme, host = "", None
    if scheme not in ("postgresql", "postgres") or not host:
        return [
            SpecIssue(
                where,
                "is not a postgresql:// DSN with a host",
                None,  # a DSN may hold a password: never echoed
                "postgresql://user@127.0.0.1:5432/dbname",
            )
        ]
    if not allow_remote and not is_loopback(host) and bound == dsn:
        return [
            SpecIssue(
                where,
                "is not on loopback; set experiment.allow_remote = true to probe "
                "another host",
                None,
                "127.0.0.0/8, ::1, localhost",
            )
        ]
    return []


def _refers(
    where: str, item: Any, probes: Mapping[str, Probe], declared: list[str]
) -> list[SpecIssue]:
    if item.probe not in declared:
        return [unknown(f"{where}.probe", "probe", item.probe, declared)]
    probe = probes.get(item.probe)
    if probe is None:  # invalid itself, reported already
        return []
    if item.metric not in probe.metrics:
        return [
            SpecIssue(
                f"{where}.metric",
                f"is not a metric of a {probe.kind} probe",
                item.metric,
                ", ".join(PROBE_METRICS[probe.kind]),
                close(item.metric, probe.metrics),
            )
        ]
    return []


def _bound(where: str, hypothesis: ProbeHypothesis) -> list[SpecIssue]:
    if (hypothesis.below is None) == (hypothesis.above is None):
        return [
            SpecIssue(
                f"{where}.below",
                "needs exactly one of below and above",
                None,
                probe_forms(hypothesis.metric),
            )
        ]
    try:
        hypothesis.limit  # noqa: B018 - parsed to check it
    except ValueError:
        key = hypothesis.direction
        return [
            SpecIssue(
                f"{where}.{key}",
                f"does not fit the metric {hypothesis.metric}",
                getattr(hypothesis, key),
                probe_forms(hypothesis.metric),
            )
        ]
    return []


def _tolerance(where: str, hypothesis: ReturnsHypothesis) -> list[SpecIssue]:
    try:
        hypothesis.band(1.0)
    except ValueError:
        return [
            SpecIssue(
                f"{where}.tolerance",
                f"does not fit the metric {hypothesis.metric}",
                hypothesis.tolerance,
                probe_forms(hypothesis.metric) + ', or "10%" of the level before',
            )
        ]
    return []
