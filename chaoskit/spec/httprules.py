"""Rules for HTTP faults and HTTP routes that one field cannot check alone.

An HTTP fault names a route declared with ``protocol = "http"`` (the message names
both key paths), sets only its kind's keys, and its regexes compile; ``rate`` is
requests per second for ``http_throttle`` and a share elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from chaoskit.errors import SpecIssue
from chaoskit.spec.model import BackoffHypothesis, HttpFault
from chaoskit.units import parse_ratio

__all__ = [
    "HTTP_SETTINGS",
    "check_http_fault",
    "check_request_backoff",
    "http_routes",
    "toxicity_of",
]

_COMMON = {"name", "kind", "at", "for", "route", "match", "toxicity", "rate"}
HTTP_SETTINGS = {
    "http_status": _COMMON | {"first", "every", "status", "body", "headers"},
    "http_delay": _COMMON | {"first", "every", "delay", "jitter", "where"},
    "http_abort": _COMMON | {"first", "every", "abort"},
    "http_throttle": _COMMON | {"retry_after"},
}
"""The keys each HTTP fault kind accepts."""


def http_routes(table: Mapping[str, Any]) -> dict[str, tuple[int, str]]:
    """Route name -> (index in ``proxy.routes``, protocol as written)."""
    proxy = table.get("proxy")
    routes = proxy.get("routes") if isinstance(proxy, dict) else None
    out: dict[str, tuple[int, str]] = {}
    for index, route in enumerate(routes if isinstance(routes, list) else []):
        if isinstance(route, dict) and isinstance(route.get("name"), str):
            out[route["name"]] = (index, str(route.get("protocol", "tcp")))
    return out


def check_request_backoff(
    where: str, hypothesis: BackoffHypothesis, routes: Mapping[str, tuple[int, str]]
) -> list[SpecIssue]:
    """A backoff judged on the request log needs an HTTP route."""
    declared = routes.get(hypothesis.route)
    if not hypothesis.uses_requests or declared is None or declared[1] == "http":
        return []
    key = "group_by" if hypothesis.group_header else "honours_retry_after"
    return [
        SpecIssue(
            f"{where}.{key}",
            f"needs the request log of route {hypothesis.route!r}, which is not an "
            f'HTTP route: set proxy.routes[{declared[0]}].protocol = "http"',
            hypothesis.group_by if key == "group_by" else "true",
            'client or route (connection log), or protocol = "http" on the route',
        )
    ]


def _regex(path: str, text: str) -> list[SpecIssue]:
    try:
        re.compile(text)
    except re.error as exc:
        return [SpecIssue(path, f"is not a regular expression: {exc}", text)]
    return []


def check_http_fault(
    where: str,
    fault: HttpFault,
    routes: Mapping[str, tuple[int, str]],
) -> list[SpecIssue]:
    """What is wrong with one HTTP fault beyond its fields' own checks."""
    issues: list[SpecIssue] = []
    declared = routes.get(fault.route)
    if declared is not None and declared[1] != "http":
        index = declared[0]
        issues.append(
            SpecIssue(
                f"{where}.route",
                f"names route {fault.route!r}, which is not an HTTP route: an "
                f'{fault.kind} fault needs proxy.routes[{index}].protocol = "http"',
                fault.route,
                'a route with protocol = "http"',
            )
        )
    if fault.match.path is not None:
        issues += _regex(f"{where}.match.path", fault.match.path)
    for name, pattern in fault.match.headers.items():
        issues += _regex(f"{where}.match.headers.{name}", pattern)
    if fault.kind == "http_throttle":
        if not isinstance(fault.rate, int | float) or fault.rate <= 0:
            issues.append(
                SpecIssue(
                    f"{where}.rate",
                    "is required for http_throttle (requests per second let through)",
                    None if fault.rate is None else str(fault.rate),
                    "a number > 0: 5",
                )
            )
    elif fault.rate is not None:
        try:
            parse_ratio(fault.rate)
        except ValueError:
            issues.append(
                SpecIssue(
                    f"{where}.rate",
                    "is the share of matched requests hit (as toxicity)",
                    str(fault.rate),
                    'a fraction from 0 to 1 or a percentage: 0.5, "50%"',
                )
            )
        if "toxicity" in fault.model_fields_set:
            issues.append(
                SpecIssue(
                    f"{where}.rate",
                    "and toxicity say the same thing: set one",
                    str(fault.rate),
                )
            )
    if fault.kind == "http_delay" and fault.delay <= 0 and fault.jitter <= 0:
        issues.append(
            SpecIssue(f"{where}.delay", "is required (> 0)", None, 'a duration: "2s"')
        )
    return issues


def toxicity_of(fault: HttpFault) -> float:
    """The share of matched requests hit: ``rate`` (not a throttle) or ``toxicity``."""
    if fault.kind != "http_throttle" and fault.rate is not None:
        return parse_ratio(fault.rate)
    return fault.toxicity
