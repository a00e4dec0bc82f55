"""Tasks as configured: method, path, query, headers, body, uploads, expectations.

Frozen values built by the spec module from ``[[load.tasks]]``; see
:mod:`chaoskit.load.config` for the rest of the load.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from chaoskit.load.errors import LoadConfigError
from chaoskit.load.streamspec import StreamSpec
from chaoskit.units import parse_size

__all__ = ["METHODS", "Marker", "TaskSpec", "Upload", "parse_expect", "parse_size"]

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
"""HTTP methods a task may use (HEAD is left out: its responses carry no body)."""

_STATUS_CLASS = re.compile(r"^([1-5])xx$")
_MAX_UPLOAD = 256 * 1024**2  # generated in memory, once per task and field


def parse_expect(values: tuple[int | str, ...]) -> frozenset[int]:
    """The statuses a task accepts, from codes and classes like ``"2xx"``.

    Raises:
        LoadConfigError: an entry is neither a status code nor a class.
    """
    statuses: set[int] = set()
    for value in values:
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and 100 <= value <= 599
        ):
            statuses.add(value)
            continue
        match = _STATUS_CLASS.match(value) if isinstance(value, str) else None
        if match is None:
            raise LoadConfigError(
                "tasks.expect",
                "is not a status",
                value,
                allowed='100..599 or "2xx".."5xx"',
            )
        first = int(match[1]) * 100
        statuses.update(range(first, first + 100))
    return frozenset(statuses)


@dataclass(frozen=True, slots=True)
class Upload:
    """A generated file sent as one multipart part: ``size`` seeded random bytes."""

    size: int
    filename: str = "upload.bin"
    content_type: str = "application/octet-stream"

    def __post_init__(self) -> None:
        if not 0 <= self.size <= _MAX_UPLOAD:
            raise LoadConfigError(
                "tasks.files.size", "is out of range", self.size, allowed="0..256MiB"
            )


@dataclass(frozen=True, slots=True)
class Marker:
    """What marks a response (e.g. served by a fallback); any one part matches.

    Args:
        header: a response header that is present (or equals ``equals``).
        json_path: a JSON path (``$.fallback``) whose value is present and not
            null (or equals ``equals``, compared as text: ``true``, ``cache``).
        equals: the value ``header`` or ``json_path`` must have.
        status: statuses that mark a response on their own.
    """

    header: str | None = None
    json_path: str | None = None
    equals: str | None = None
    status: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.header is None and self.json_path is None and not self.status:
            raise LoadConfigError(
                "tasks.marker",
                "matches nothing",
                None,
                allowed="header, json_path, status",
            )
        if self.json_path is not None and not self.json_path.startswith("$"):
            raise LoadConfigError(
                "tasks.marker.json_path",
                "is not a JSON path",
                self.json_path,
                allowed="$.a.b[0]",
            )


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One kind of request. String values may hold ``{{ ... }}`` templates.

    Args:
        name: the task's name in statistics.
        path: the request path (and query) after the target's base URL.
        method: one of :data:`METHODS`.
        weight: relative frequency among weighted tasks (> 0).
        query: query parameters added to the path.
        headers: extra request headers.
        json: a JSON body (strings inside may be templates).
        form: a urlencoded form body.
        files: multipart upload: field name -> generated file (``form``
            fields are sent as parts alongside).
        expect: statuses counted as success (codes or ``"2xx"``); default 2xx.
        capture: name -> JSON path (``$.token``, ``$.items[0].id``) read from a
            successful response into the user's values.
        timeout: per-request timeout in seconds; default the load's timeout.
        marker: responses that match it are counted as marked (``Sample.marked``).
        ack_id: a JSON path in a successful response: the id it acknowledged.
        ack_request: a JSON path in the request's JSON body: the write's own
            key (recorded as indeterminate when no success came back).
        observe: numbers read from each response (``header:<name>`` or a JSON
            path), for threshold hypotheses on them (``records.ValueLog``).
    """

    name: str
    path: str
    method: str = "GET"
    weight: float = 1.0
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    json: object = None
    form: Mapping[str, str] | None = None
    files: Mapping[str, Upload] | None = None
    expect: tuple[int | str, ...] = ("2xx",)
    capture: Mapping[str, str] = field(default_factory=dict)
    timeout: float | None = None
    marker: Marker | None = None
    ack_id: str | None = None
    ack_request: str | None = None
    observe: tuple[str, ...] = ()
    stream: StreamSpec | None = None

    def __post_init__(self) -> None:
        if not self.name or not self.name.strip():
            raise LoadConfigError("tasks.name", "must not be empty", self.name)
        if self.method.upper() not in METHODS:
            raise LoadConfigError(
                "tasks.method",
                "is not supported",
                self.method,
                allowed=", ".join(METHODS),
            )
        object.__setattr__(self, "method", self.method.upper())
        if not self.path.startswith("/"):
            raise LoadConfigError("tasks.path", "must start with '/'", self.path)
        if not (math.isfinite(self.weight) and self.weight > 0):
            raise LoadConfigError("tasks.weight", "must be a number > 0", self.weight)
        if self.json is not None and (self.form is not None or self.files):
            raise LoadConfigError(
                "tasks.json", "cannot be combined with form or files", self.name
            )
        if self.timeout is not None and not self.timeout > 0:
            raise LoadConfigError("tasks.timeout", "must be > 0", self.timeout)
        parse_expect(self.expect)
        for probe in self.observe:
            if not probe.startswith(("$", "header:")):
                raise LoadConfigError(
                    "tasks.observe",
                    "is neither a JSON path nor header:<name>",
                    probe,
                    allowed='"$.attempts", "header:X-Upstream-Attempts"',
                )
        for name, path in (("ack.id", self.ack_id), ("ack.request", self.ack_request)):
            if path is not None and not path.startswith("$"):
                raise LoadConfigError(
                    f"tasks.{name}", "is not a JSON path", path, allowed="$.a.b[0]"
                )
        for name, path in self.capture.items():
            if not path.startswith("$"):
                raise LoadConfigError(
                    f"tasks.capture.{name}",
                    "is not a JSON path",
                    path,
                    allowed="$.a.b[0]",
                )
