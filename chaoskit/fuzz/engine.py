"""The fuzzing run: Hypothesis in a worker thread, bounded in examples and time.

:func:`fuzz` checks the target is a loopback URL (unless remote targets are
allowed) and that it answers at all, then runs one Hypothesis ``@given`` over
:func:`~chaoskit.fuzz.strategies.cases` synchronously in a worker thread (the
caller's thread stays free to report progress; an async caller can wait on it
with ``asyncio.to_thread``). Every case is sent with httpx and judged by
:mod:`chaoskit.fuzz.checks`. First every breakable keyword location of the
schema is visited in turn (:mod:`chaoskit.fuzz.targets`: one round of one
example each, the simplest payload that breaks that keyword alone), then
random cases take the rest of the budget.

Shrinking: a failed check raises an exception whose *type* is unique to its
(check, status, error signature), so Hypothesis tracks each distinct failure
as its own bug and shrinks each separately. The engine keeps, per signature,
the smallest failing case it has itself seen (shortest body first), so the
report never depends on Hypothesis's final replay: when the time is up the
test body raises a BaseException that ends the round at once (generation and
shrinking alike), and what was found is kept.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky, Unsatisfiable, UnsatisfiedAssumption

from chaoskit.errors import ChaoskitError, UsageError
from chaoskit.fuzz.checks import (
    CheckConfig,
    Failure,
    Outcome,
    check_response,
    protocol_checks,
)
from chaoskit.fuzz.coverage import Coverage
from chaoskit.fuzz.curl import curl_line
from chaoskit.fuzz.findings import Finding
from chaoskit.fuzz.model import PayloadModel
from chaoskit.fuzz.rules import Case, Rule
from chaoskit.fuzz.strategies import cases, draw_targeted
from chaoskit.fuzz.targets import targets_of
from chaoskit.hosts import is_loopback

__all__ = [
    "FuzzConfig",
    "FuzzResult",
    "FuzzSession",
    "Observer",
    "TargetUnreachable",
    "check_target_url",
    "fuzz",
    "target_client",
]

Observer = Callable[[Case, Outcome, Failure | None], None]
"""Told every case sent, its answer and the check it failed (None: right answer);
called in the worker thread."""


class TargetUnreachable(ChaoskitError):
    """The target did not answer at all (exit 3): is it running, on that port?"""


class CheckFailed(AssertionError):
    """Raised in the Hypothesis test body so Hypothesis shrinks the case."""


class _TimeUp(BaseException):
    """Ends a Hypothesis round at once (not an Exception: never a failure)."""


@dataclass(frozen=True, kw_only=True)
class FuzzConfig:
    """One fuzzing run.

    Attributes:
        url: the target's base URL (``http://127.0.0.1:8100``).
        path: the single-payload endpoint.
        batch_path: the batch endpoint (an array of payloads), if any.
        health_path: checked before (reachability) and after (health).
        seed: Hypothesis's seed: the same seed sends the same cases.
        max_examples: requests to send at most, shrinking included (one
            Hypothesis round stops soon after a bug; further rounds, with
            seeds derived from ``seed``, use the rest).
        time_limit: seconds for the whole run, shrinking included.
        checks: what counts as a right answer.
        headers: sent with every request; their values are masked in curl
            lines and findings, except those named in ``shown_headers``.
        shown_headers: header names (any case) whose values may be shown.
        rules: the rules to draw from.
        allow_remote: allow a target that is not on loopback.
        rate: requests per second at most (None: as fast as answers come).
        valid_share: the share of valid cases (None: one rule among all).
    """

    url: str
    path: str = "/events"
    batch_path: str | None = None
    health_path: str = "/health"
    seed: int = 0
    max_examples: int = 200
    time_limit: float = 60.0
    checks: CheckConfig = field(default_factory=CheckConfig)
    headers: Mapping[str, str] = field(default_factory=dict)
    shown_headers: frozenset[str] = frozenset()
    rules: frozenset[Rule] = frozenset(Rule)
    allow_remote: bool = False
    rate: float | None = None
    valid_share: float | None = None


@dataclass
class FuzzResult:
    """What a run did and found."""

    findings: list[Finding]
    requests: int = 0
    elapsed: float = 0.0
    by_rule: collections.Counter[str] = field(default_factory=collections.Counter)
    hosts: collections.Counter[str] = field(default_factory=collections.Counter)
    timed_out: bool = False
    coverage: Coverage = field(default_factory=Coverage)

    @property
    def failing(self) -> list[Finding]:
        """The findings that fail the run (hardening ones without a policy do not)."""
        return [f for f in self.findings if f.hardening is None]


def check_target_url(url: str, allow_remote: bool) -> None:
    """Refuse a URL that is not http(s) on loopback (unless allowed).

    Raises:
        UsageError: the URL is malformed, or remote without ``allow_remote``.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--url must be an http(s) URL with a host, got {url!r}")
    if allow_remote:
        return
    host = parts.hostname
    if not is_loopback(host):
        raise UsageError(
            f"{host} is not a loopback address: fuzzing sends thousands of "
            "invalid requests; pass --allow-remote if this target is yours"
        )


class _Run:
    """State shared by the Hypothesis test body and the caller's thread."""

    def __init__(
        self,
        config: FuzzConfig,
        client: httpx.Client,
        deadline: float,
        observe: Observer | None = None,
    ) -> None:
        self.config = config
        self.client = client
        self.deadline = deadline
        self.observe = observe
        self.stopping = threading.Event()
        self.next_at = 0.0
        self.lock = threading.Lock()
        self.best: dict[tuple[str, int | None, str], tuple[Case, Failure, int]] = {}
        self.known: set[tuple[str, int | None, str]] = set()
        self.types: dict[tuple[str, int | None, str], type[CheckFailed]] = {}
        self.result = FuzzResult([])
        self.target = ""  # the location the current round breaks, if any

    def pace(self) -> None:
        """Wait for the next slot at ``config.rate`` (ends the round if stopped)."""
        if self.config.rate is None:
            return
        now = time.monotonic()
        # Slots missed behind a slow answer are caught up, half a second's worth
        # at most: the rate holds on average without bursts after a stall.
        self.next_at = max(self.next_at, now - 0.5)
        delay = self.next_at - now
        self.next_at += 1.0 / self.config.rate
        if delay > 0 and self.stopping.wait(delay):
            raise _TimeUp

    def send(self, case: Case) -> Outcome:
        path = self.config.batch_path if case.batch else self.config.path
        headers = dict(self.config.headers)
        if case.content_type is not None:
            headers["Content-Type"] = case.content_type
        request = self.client.build_request(
            "POST", path or "/", content=case.body, headers=headers
        )
        with self.lock:
            self.result.requests += 1
            self.result.by_rule[case.rule] += 1
            self.result.hosts[request.url.host] += 1
        started = time.monotonic()
        try:
            response = self.client.send(request)
        except httpx.TimeoutException:
            return Outcome(None, error="timeout")
        except httpx.TransportError as exc:
            return Outcome(None, error=type(exc).__name__)
        return Outcome(
            response.status_code, response.content, time.monotonic() - started
        )

    def test(self, case: Case | None) -> None:
        if case is None:  # a target no document breaks alone
            self.result.coverage.unreached(self.target)
            return
        if time.monotonic() > self.deadline:
            self.result.timed_out = True
            # Hypothesis re-raises what is not an Exception at once: no more
            # generation or shrinking, and the smallest cases are kept.
            raise _TimeUp
        self.pace()
        outcome = self.send(case)
        if case.keyword:
            self.result.coverage.sent(case.keyword)
        failure = check_response(case, outcome, self.config.checks)
        if self.observe is not None:
            self.observe(case, outcome, failure)
        if failure is None:
            return
        key = (failure.check, failure.status, failure.signature)
        if not failure.failing:
            # A hardening finding: kept (smallest case), never shrunk or failed.
            with self.lock:
                previous = self.best.get(key)
                count = previous[2] + 1 if previous else 1
                if previous is None or _size(case) < _size(previous[0]):
                    self.best[key] = (case, failure, count)
                else:
                    self.best[key] = (previous[0], previous[1], count)
            return
        with self.lock:
            if key in self.known:  # found and shrunk in an earlier round
                case_, failure_, count_ = self.best[key]
                self.best[key] = (case_, failure_, count_ + 1)
                return
            previous = self.best.get(key)
            count = previous[2] + 1 if previous else 1
            if previous is None or _size(case) < _size(previous[0]):
                self.best[key] = (case, failure, count)
            else:
                self.best[key] = (previous[0], previous[1], count)
            kind = self.types.setdefault(
                key, type(f"Failed_{len(self.types)}", (CheckFailed,), {})
            )
        raise kind(f"{failure.check}: {failure.message}")


def _size(case: Case) -> tuple[int, bytes]:
    return (len(case.body), case.body)


#: Rounds at most: each goes on until Hypothesis stops generating after a bug.
MAX_ROUNDS = 50


def _targets(run: _Run, model: PayloadModel) -> None:
    """One round per breakable keyword location (its rule among the run's):
    the simplest valid document that reaches it with exactly that keyword
    broken (a hole there answers it wrongly), shrunk if it fails; a valid
    case between them when the run mixes some in."""
    config = run.config
    targets = [t for t in targets_of(model.schema) if t.rule in config.rules]
    run.result.coverage = Coverage([str(t) for t in targets])
    valid = cases(model, rules=frozenset({Rule.VALID}))
    sent_valid = 0
    # One test for every target (building a Hypothesis test costs more than
    # its one example): the strategy breaks the target of the moment.
    current = [targets[0]] if targets else []

    @st.composite
    def breaking(draw: st.DrawFn) -> Case | None:
        return draw_targeted(draw, model, current[0])

    body = _given(run, breaking(), config.seed, 1)
    for number, target in enumerate(targets):
        if run.result.requests >= config.max_examples:
            return
        if time.monotonic() > run.deadline:
            run.result.timed_out = True
            return
        run.target = str(target)
        current[0] = target
        _call(body)
        share = config.valid_share or 0.0
        if Rule.VALID in config.rules and sent_valid < share * run.result.requests:
            sent_valid += 1
            _round(run, valid, config.seed * 1000 + number, 1)
        with run.lock:
            run.known.update(run.best)
    run.target = ""


def _hypothesis(run: _Run, model: PayloadModel) -> None:
    """The targeted pass, then Hypothesis rounds until ``max_examples``
    requests or the time limit.

    Hypothesis stops generating soon after it finds a bug (it shrinks and
    reports it), so one ``@given`` call can end well short of the budget.
    Further rounds go on with derived seeds (round 0 uses the seed itself);
    failures already found no longer raise, so they are counted but not
    shrunk again, and each round looks for something new.
    """
    config = run.config
    _targets(run, model)
    strategy = cases(
        model,
        rules=config.rules,
        batch=config.batch_path is not None,
        policy=config.checks.policy,
        valid=config.valid_share,
    )
    for number in range(MAX_ROUNDS):
        before = run.result.requests
        left = config.max_examples - before
        if left <= 0 or time.monotonic() > run.deadline:
            return
        _round(
            run,
            strategy,
            config.seed if number == 0 else config.seed * 1000 + number,
            left,
        )
        with run.lock:
            run.known.update(run.best)
        if run.result.requests == before:
            return  # nothing more to generate


def _round(
    run: _Run, strategy: st.SearchStrategy[Case | None], seed_value: int, left: int
) -> None:
    _call(_given(run, strategy, seed_value, left))


def _given(
    run: _Run, strategy: st.SearchStrategy[Case | None], seed_value: int, left: int
) -> Callable[[], None]:
    """The Hypothesis test of one round (built once, called once or more)."""

    @seed(seed_value)
    @settings(
        max_examples=left,
        database=None,  # the report directory keeps findings; runs stay reproducible
        deadline=None,  # answers are timed by the time-budget check instead
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        verbosity=Verbosity.quiet,
        report_multiple_bugs=True,
        print_blob=False,
        # Each example is a network round trip, and oversized payloads are the
        # point: slow or large data is expected, not a strategy mistake.
        suppress_health_check=(
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.filter_too_much,
        ),
    )
    @given(strategy)
    def body(case: Case | None) -> None:
        run.test(case)

    # No example database (findings go to the report directory), so no key:
    # Hypothesis would otherwise hash this function's source on every call,
    # a quarter of a targeted round's time.
    body._hypothesis_internal_database_key = None  # type: ignore[attr-defined]
    return body


def _call(body: Callable[[], None]) -> None:
    """Run one round; what it found is on the run, never raised."""
    try:
        body()
    except _TimeUp:
        pass
    except (Unsatisfiable, UnsatisfiedAssumption):
        pass  # nothing valid could be drawn (noted on the model), so nothing to send
    except (CheckFailed, Flaky):
        # Recorded by _Run.test with the smallest case per signature. Flaky:
        # the time ran out during shrinking, so Hypothesis's replay passed.
        pass
    except BaseExceptionGroup as group:
        _, rest = group.split(CheckFailed)
        if rest is not None:
            raise rest from None


class FuzzSession:
    """A run in its worker thread: started, watched, stopped early, summed up.

    :func:`fuzz` runs one to the end; the ``invalid-payloads`` fault starts one
    at its window's start and stops it at the end. The caller owns ``client``.
    """

    def __init__(
        self,
        model: PayloadModel,
        config: FuzzConfig,
        client: httpx.Client,
        observe: Observer | None = None,
    ) -> None:
        self.config = config
        self.started = time.monotonic()
        self.run = _Run(config, client, self.started + config.time_limit, observe)
        self.errors: list[BaseException] = []
        self.worker = threading.Thread(
            target=self._work, args=(model,), name="chaoskit-fuzz", daemon=True
        )

    def _work(self, model: PayloadModel) -> None:
        try:
            _hypothesis(self.run, model)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self.errors.append(exc)

    def start(self) -> FuzzSession:
        """Start sending; returns self."""
        self.worker.start()
        return self

    def stop(self) -> None:
        """Stop at the next case (a paced wait ends at once)."""
        self.run.deadline = 0.0
        self.run.stopping.set()

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the worker; whether it ended."""
        self.worker.join(timeout)
        return not self.worker.is_alive()

    @property
    def result(self) -> FuzzResult:
        """What was sent so far (findings are filled in by :meth:`finish`)."""
        return self.run.result

    def finish(self) -> FuzzResult:
        """The result, with one finding per distinct failure, smallest case first.

        Raises:
            BaseException: what the worker raised, if anything.
        """
        if self.errors:
            raise self.errors[0]
        with self.run.lock:
            best = sorted(self.run.best.values(), key=lambda item: _size(item[0]))
        result = self.run.result
        result.findings = [
            _finding(self.config, case, failure, count) for case, failure, count in best
        ]
        result.elapsed = time.monotonic() - self.started
        return result


def target_client(
    url: str, budget_s: float, headers: dict[str, str] | None = None
) -> httpx.Client:
    """The HTTP client cases go out on.

    An idle connection is reused for 1 s at most: a server closes idle ones
    after its keep-alive (gunicorn 2 s, uvicorn and Node 5 s), and a case sent
    on a connection closed at that instant fails with ``ReadError`` without
    having reached the service, a failure that is the client's, not the
    service's. Paced cases (``rate``) come further apart than that.
    """
    return httpx.Client(
        base_url=url,
        timeout=httpx.Timeout(budget_s + 1.0),
        trust_env=False,  # no proxy from the environment: loopback stays local
        headers=headers,
        limits=httpx.Limits(keepalive_expiry=1.0),
    )


def fuzz(
    model: PayloadModel,
    config: FuzzConfig,
    progress: Callable[[FuzzResult], None] | None = None,
) -> FuzzResult:
    """Fuzz the target: one finding per distinct failure, with its smallest case.

    Findings come in the order of the checks (per-case ones by payload size,
    then the protocol checks and health afterwards).

    Raises:
        UsageError: the URL is not allowed.
        TargetUnreachable: the health path did not answer at all.
    """
    check_target_url(config.url, config.allow_remote)
    with target_client(config.url, config.checks.budget) as client:
        try:
            client.get(config.health_path)
        except httpx.TransportError as exc:
            raise TargetUnreachable(f"{config.url} did not answer: {exc}") from exc
        session = FuzzSession(model, config, client).start()
        try:
            while not session.join(timeout=0.5):
                if progress is not None:
                    progress(session.result)
                late = session.run.deadline + 2 * (config.checks.budget + 1.0)
                if time.monotonic() > late:
                    break  # a stuck request: report what was found
        except KeyboardInterrupt:
            session.stop()  # the worker's next example returns at once
            raise
        result = session.finish()
        result.findings += _around(client, config)
    result.elapsed = time.monotonic() - session.started
    return result


def _masked(config: FuzzConfig) -> list[str]:
    """The user's headers whose values are masked (all but ``shown_headers``)."""
    shown = {name.lower() for name in config.shown_headers}
    return [name for name in config.headers if name.lower() not in shown]


def _finding(config: FuzzConfig, case: Case, failure: Failure, count: int) -> Finding:
    path = (config.batch_path if case.batch else config.path) or "/"
    headers = dict(config.headers)
    if case.content_type is not None:
        headers["Content-Type"] = case.content_type
    url = config.url.rstrip("/") + path
    return Finding(
        check=failure.check,
        rule=str(case.rule),
        detail=case.detail,
        status=failure.status,
        message=failure.message,
        signature=failure.signature,
        method="POST",
        path=path,
        content_type=case.content_type,
        body=case.body,
        seed=config.seed,
        count=count,
        curl=curl_line(
            "POST",
            url,
            headers,
            case.body,
            body_file=None,
            masked=_masked(config),
            shown=config.shown_headers,
        ),
        keyword=case.keyword,
        hardening=failure.hardening,
    )


def _around(client: httpx.Client, config: FuzzConfig) -> list[Finding]:
    """The protocol checks, then health afterwards."""
    found = []
    for probe, failure in protocol_checks(
        client, config.path, config.checks, config.seed
    ):
        url = config.url.rstrip("/") + probe.path
        found.append(
            Finding(
                check=failure.check,
                rule="protocol",
                detail=f"{probe.method} {probe.path}",
                status=failure.status,
                message=failure.message,
                signature=failure.signature,
                method=probe.method,
                path=probe.path,
                content_type=None,
                body=None,
                seed=config.seed,
                headers=probe.headers,
                curl=curl_line(probe.method, url, probe.headers, None),
            )
        )
    try:
        status: int | None = client.get(config.health_path).status_code
    except httpx.TransportError:
        status = None
    if status is None or not 200 <= status < 300:
        url = config.url.rstrip("/") + config.health_path
        found.append(
            Finding(
                check="healthy-afterwards",
                rule="health",
                detail=f"GET {config.health_path}",
                status=status,
                message="not healthy after the run",
                signature="unhealthy",
                method="GET",
                path=config.health_path,
                content_type=None,
                body=None,
                seed=config.seed,
                curl=curl_line("GET", url, {}, None),
            )
        )
    return found
