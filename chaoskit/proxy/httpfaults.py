"""HTTP faults on a ``protocol = "http"`` proxy: what they are and which one answers.

A chaoskit extension (``/chaoskit/proxies/{p}/http_faults``), kept apart from the
Toxiproxy API. Four types:

* ``status``: answer ``status`` (``body``, ``headers``) instead of forwarding;
* ``delay``: hold the request (``where = "request"``) or its response
  (``"response"``) for ``delay_ms`` plus up to ``jitter_ms``;
* ``abort``: ``"reset"`` the connection, or forward and cut the response after its
  ``"headers"`` or in the middle of its ``"body"``;
* ``throttle``: above ``rate`` matched requests per second, answer 429 with
  ``Retry-After``.

A fault sees only the requests its ``match`` selects (method, path regex, header
regexes). It applies to the n-th of them (counted from when it was added) when
``first`` and ``every`` allow n and its ``toxicity`` roll wins; the roll for the
n-th request is drawn from ``seed/proxy/fault/n``, so it is reproducible.
"""

from __future__ import annotations

import collections
import math
import random
import re
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

__all__ = [
    "ABORT_MODES",
    "HTTP_FAULT_TYPES",
    "Decision",
    "HttpFault",
    "HttpFaultError",
    "HttpFaults",
    "RequestHead",
    "parse_http_fault",
]

HTTP_FAULT_TYPES = ("status", "delay", "abort", "throttle")
ABORT_MODES = ("headers", "body", "reset")
DELAY_WHERE = ("request", "response")


class HttpFaultError(ValueError):
    """An HTTP fault definition is invalid (the API answers 400 with this text)."""


@dataclass(frozen=True)
class RequestHead:
    """What a fault can match on: the request line and headers (names lowercased)."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass
class HttpFault:
    """One HTTP fault and its counters (reset when the fault is added again)."""

    name: str
    type: str
    methods: tuple[str, ...] = ()
    path: re.Pattern[str] | None = None
    header_match: dict[str, re.Pattern[str]] = field(default_factory=dict)
    toxicity: float = 1.0
    first: int | None = None
    every: int | None = None
    status: int = 503
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay_ms: int = 0
    jitter_ms: int = 0
    where: str = "request"
    abort: str = "reset"
    rate: float = 0.0
    retry_after: int | None = None
    matched: int = 0
    applied: int = 0
    admitted: collections.deque[float] = field(default_factory=collections.deque)

    def matches(self, head: RequestHead) -> bool:
        if self.methods and head.method not in self.methods:
            return False
        if self.path is not None and self.path.search(head.path) is None:
            return False
        for name, pattern in self.header_match.items():
            value = head.headers.get(name)
            if value is None or pattern.search(value) is None:
                return False
        return True

    def to_json(self) -> dict[str, object]:
        match: dict[str, object] = {}
        if self.methods:
            match["method"] = list(self.methods)
        if self.path is not None:
            match["path"] = self.path.pattern
        if self.header_match:
            match["headers"] = {k: p.pattern for k, p in self.header_match.items()}
        out: dict[str, object] = {
            "name": self.name,
            "type": self.type,
            "match": match,
            "toxicity": self.toxicity,
            "first": self.first,
            "every": self.every,
            "matched": self.matched,
            "applied": self.applied,
        }
        if self.type == "status":
            out |= {"status": self.status, "body": self.body, "headers": self.headers}
        elif self.type == "delay":
            out |= {
                "delay_ms": self.delay_ms,
                "jitter_ms": self.jitter_ms,
                "where": self.where,
            }
        elif self.type == "abort":
            out["abort"] = self.abort
        else:
            out |= {"rate": self.rate, "retry_after": self.retry_after}
        return out


def _get(body: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) and bool not in (
        kind if isinstance(kind, tuple) else (kind,)
    ):
        raise HttpFaultError(f"{key}: expected {_kind_name(kind)}, got a boolean")
    if not isinstance(value, kind):
        raise HttpFaultError(
            f"{key}: expected {_kind_name(kind)}, got {type(value).__name__}"
        )
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "an integer", float: "a number", str: "a string", dict: "an object"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _regex(text: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
        raise HttpFaultError(f"{where}: not a regular expression: {exc}") from None


def _positive(body: dict[str, Any], key: str) -> int | None:
    value = _get(body, key, int)
    if value is not None and value < 1:
        raise HttpFaultError(f"{key}: must be >= 1, got {value}")
    return value  # type: ignore[no-any-return]


def parse_http_fault(body: dict[str, Any]) -> HttpFault:
    """An :class:`HttpFault` from its JSON definition, or :class:`HttpFaultError`."""
    known = {
        "name",
        "type",
        "match",
        "toxicity",
        "first",
        "every",
        "status",
        "body",
        "headers",
        "delay_ms",
        "jitter_ms",
        "where",
        "abort",
        "rate",
        "retry_after",
    }
    unknown = sorted(set(body) - known)
    if unknown:
        raise HttpFaultError(
            f"unknown key {unknown[0]!r}; allowed: {', '.join(sorted(known))}"
        )
    name = _get(body, "name", str)
    if not name:
        raise HttpFaultError("name: required")
    kind = _get(body, "type", str)
    if kind not in HTTP_FAULT_TYPES:
        raise HttpFaultError(
            f"type: {kind!r} is not one of {', '.join(HTTP_FAULT_TYPES)}"
        )
    fault = HttpFault(name=name, type=kind)
    match = _get(body, "match", dict) or {}
    for key in match:
        if key not in ("method", "path", "headers"):
            raise HttpFaultError(
                f"match.{key}: unknown; allowed: method, path, headers"
            )
    methods = match.get("method")
    if isinstance(methods, str):
        methods = [methods]
    if methods is not None:
        if not isinstance(methods, list) or not all(
            isinstance(m, str) for m in methods
        ):
            raise HttpFaultError("match.method: a method or a list of methods")
        fault.methods = tuple(m.upper() for m in methods)
    if match.get("path") is not None:
        if not isinstance(match["path"], str):
            raise HttpFaultError("match.path: a regular expression (string)")
        fault.path = _regex(match["path"], "match.path")
    headers = match.get("headers") or {}
    if not isinstance(headers, dict):
        raise HttpFaultError("match.headers: an object of header name -> regex")
    for hname, pattern in headers.items():
        if not isinstance(pattern, str):
            raise HttpFaultError(f"match.headers.{hname}: a regular expression")
        fault.header_match[hname.lower()] = _regex(pattern, f"match.headers.{hname}")
    toxicity = _get(body, "toxicity", (int, float))
    if toxicity is not None:
        if not 0 <= toxicity <= 1:
            raise HttpFaultError(f"toxicity: must be in [0, 1], got {toxicity}")
        fault.toxicity = float(toxicity)
    fault.first = _positive(body, "first")
    fault.every = _positive(body, "every")
    if kind == "status":
        status = _get(body, "status", int)
        if status is not None:
            if not 200 <= status <= 599:
                raise HttpFaultError(f"status: must be 200..599, got {status}")
            fault.status = status
        fault.body = _get(body, "body", str) or ""
        extra = _get(body, "headers", dict) or {}
        if not all(isinstance(v, str | int) for v in extra.values()):
            raise HttpFaultError("headers: values must be strings")
        fault.headers = {str(k): str(v) for k, v in extra.items()}
    elif kind == "delay":
        fault.delay_ms = _get(body, "delay_ms", int) or 0
        fault.jitter_ms = _get(body, "jitter_ms", int) or 0
        if fault.delay_ms < 0 or fault.jitter_ms < 0:
            raise HttpFaultError("delay_ms, jitter_ms: must be >= 0")
        fault.where = _get(body, "where", str) or "request"
        if fault.where not in DELAY_WHERE:
            raise HttpFaultError(f"where: {fault.where!r} is not request or response")
    elif kind == "abort":
        fault.abort = _get(body, "abort", str) or "reset"
        if fault.abort not in ABORT_MODES:
            raise HttpFaultError(
                f"abort: {fault.abort!r} is not one of {', '.join(ABORT_MODES)}"
            )
    else:
        rate = _get(body, "rate", (int, float))
        if rate is None or rate <= 0:
            raise HttpFaultError("rate: requests per second > 0 required")
        fault.rate = float(rate)
        fault.retry_after = _positive(body, "retry_after")
    return fault


@dataclass(frozen=True)
class Decision:
    """What happens to one request: forwarded (maybe delayed), answered or cut."""

    by: str | None = None
    """The fault that answers or cuts it (None: the upstream answers)."""
    response: bytes | None = None
    """An injected response, written instead of forwarding."""
    abort: str | None = None
    delay_request_s: float = 0.0
    delay_response_s: float = 0.0
    delayed_by: tuple[str, ...] = ()


PASS = Decision()


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def render_response(
    status: int, body: str, headers: dict[str, str], *, fault: str
) -> bytes:
    """An HTTP/1.1 response; it keeps the connection open for the next request."""
    payload = body.encode()
    lines = [f"HTTP/1.1 {status} {_reason(status)}"]
    names = {k.lower() for k in headers}
    if "content-type" not in names:
        lines.append("Content-Type: text/plain; charset=utf-8")
    lines.extend(
        f"{k}: {v}" for k, v in headers.items() if k.lower() != "content-length"
    )
    lines.append(f"Content-Length: {len(payload)}")
    lines.append(f"X-Chaoskit-Fault: {fault}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


class HttpFaults:
    """The HTTP faults of one proxy, in the order they were added."""

    def __init__(self, seed: int, proxy: str) -> None:
        self.seed = seed
        self.proxy = proxy
        self.faults: list[HttpFault] = []

    def __bool__(self) -> bool:
        return bool(self.faults)

    def add(self, fault: HttpFault) -> None:
        if any(f.name == fault.name for f in self.faults):
            raise HttpFaultError(f"http fault {fault.name!r} already exists")
        self.faults.append(fault)

    def remove(self, name: str) -> HttpFault | None:
        for fault in self.faults:
            if fault.name == name:
                self.faults.remove(fault)
                return fault
        return None

    def _roll(self, fault: HttpFault, n: int) -> random.Random:
        return random.Random(f"{self.seed}/{self.proxy}/{fault.name}/{n}")

    def decide(self, head: RequestHead, now_s: float) -> Decision:
        """Which fault (if any) acts on this request; counters advance."""
        delays_req = 0.0
        delays_resp = 0.0
        delayed_by: list[str] = []
        for fault in self.faults:
            if not fault.matches(head):
                continue
            fault.matched += 1
            n = fault.matched
            if fault.type == "throttle":
                answer = self._throttle(fault, now_s)
                if answer is not None:
                    fault.applied += 1
                    return Decision(
                        by=fault.name,
                        response=answer,
                        delay_request_s=delays_req,
                        delayed_by=tuple(delayed_by),
                    )
                continue
            if fault.first is not None and n > fault.first:
                continue
            if fault.every is not None and n % fault.every != 0:
                continue
            rng = self._roll(fault, n)
            if fault.toxicity < 1.0 and rng.random() >= fault.toxicity:
                continue
            fault.applied += 1
            if fault.type == "delay":
                seconds = (fault.delay_ms + rng.uniform(0, fault.jitter_ms)) / 1000
                if fault.where == "request":
                    delays_req += seconds
                else:
                    delays_resp += seconds
                delayed_by.append(fault.name)
                continue
            if fault.type == "status":
                response = render_response(
                    fault.status, fault.body, fault.headers, fault=fault.name
                )
                return Decision(
                    by=fault.name,
                    response=response,
                    delay_request_s=delays_req,
                    delayed_by=tuple(delayed_by),
                )
            return Decision(
                by=fault.name,
                abort=fault.abort,
                delay_request_s=delays_req,
                delay_response_s=delays_resp,
                delayed_by=tuple(delayed_by),
            )
        if delayed_by:
            return Decision(
                delay_request_s=delays_req,
                delay_response_s=delays_resp,
                delayed_by=tuple(delayed_by),
            )
        return PASS

    @staticmethod
    def _throttle(fault: HttpFault, now_s: float) -> bytes | None:
        """A 429 when ``rate`` requests were admitted in the last second."""
        window = fault.admitted
        while window and now_s - window[0] >= 1.0:
            window.popleft()
        if len(window) < fault.rate:
            window.append(now_s)
            return None
        wait = fault.retry_after or max(1, math.ceil(1.0 - (now_s - window[0])))
        return render_response(
            429,
            "Too Many Requests\n",
            {"Retry-After": str(wait)},
            fault=fault.name,
        )
