"""What a sink's answer to a case must be, and the protocol checks around it.

Per case (:func:`check_response`), in the order a user cares about:

* ``no-dropped-connection`` - an answer came (no reset, no half response);
* ``no-5xx`` - never a server error, whatever was sent;
* ``time-budget`` - the answer came within the budget;
* ``valid-accepted`` - a valid case got a 2xx;
* ``invalid-refused`` - an invalid case got one of the allowed 4xx (by
  default 400 and 422; plus 413 for oversized input and 415 for a wrong or
  missing Content-Type).

Around the run (:func:`protocol_checks`): ``unknown-path`` (404, not 5xx),
``cors-preflight`` (OPTIONS from the configured origin answered with it,
another origin not granted), and ``healthy-afterwards`` (the engine's).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import httpx

from chaoskit.fuzz.rules import Case, Policy, Rule

__all__ = [
    "CheckConfig",
    "Failure",
    "Outcome",
    "check_response",
    "expected_statuses",
    "protocol_checks",
    "signature",
]

_TOO_BIG = frozenset({Rule.OVERSIZED_BODY, Rule.OVERSIZED_STRING, Rule.DEEP_NESTING})
_BIG_MUTATIONS = frozenset({"deep", "oversize", "huge"})
_MEDIA = frozenset({Rule.WRONG_CONTENT_TYPE, Rule.MISSING_CONTENT_TYPE})
#: An origin no sink should grant (``.invalid`` never resolves).
FOREIGN_ORIGIN = "https://not-allowed.chaoskit.invalid"


@dataclass(frozen=True)
class CheckConfig:
    """What counts as a right answer.

    Attributes:
        allowed: the 4xx statuses an invalid payload may get.
        budget: seconds an answer may take.
        cors_origin: the origin whose preflights must be granted (None: only
            check that preflights do not fail with a 5xx).
        policy: the hardening policies stated: a hardening case is judged
            only under its policy; otherwise a 2xx is a hardening finding
            that does not fail.
    """

    allowed: frozenset[int] = frozenset({400, 422})
    budget: float = 2.0
    cors_origin: str | None = None
    policy: Policy = field(default_factory=Policy)


@dataclass(frozen=True)
class Outcome:
    """What came back: a status and body, or the transport error's name."""

    status: int | None
    body: bytes = b""
    elapsed: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class Failure:
    """A check that failed, with what identifies it among duplicates."""

    check: str
    status: int | None
    message: str
    signature: str = field(default="")
    hardening: str | None = None
    """For a hardening finding that does not fail: the flag that would make it fail."""

    @property
    def failing(self) -> bool:
        """Whether this failure fails the run (hardening findings do not)."""
        return self.hardening is None


def expected_statuses(case: Case, config: CheckConfig) -> frozenset[int]:
    """The statuses an invalid ``case`` may get."""
    big = case.rule in _TOO_BIG or case.mutation in _BIG_MUTATIONS
    extra = {413} if big else {415} if case.rule in _MEDIA else set()
    return config.allowed | extra


def signature(body: bytes) -> str:
    """An error's identity: its ``error`` text (or first line), numbers blanked."""
    text = body[:2000].decode("utf-8", "replace")
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, dict) and isinstance(value.get("error"), str):
        text = value["error"]
    first = text.strip().splitlines()[0] if text.strip() else ""
    return re.sub(r"\d+", "N", first)[:80]


def check_response(case: Case, outcome: Outcome, config: CheckConfig) -> Failure | None:
    """The first check ``outcome`` fails for ``case``, or None."""
    if outcome.error == "timeout":
        return Failure(
            "time-budget", None, f"no answer within {config.budget:g}s", "timeout"
        )
    if outcome.error is not None:
        return Failure("no-dropped-connection", None, outcome.error, outcome.error)
    status = outcome.status or 0
    sig = signature(outcome.body)
    excerpt = outcome.body[:200].decode("utf-8", "replace")
    if status >= 500:
        return Failure("no-5xx", status, excerpt, sig)
    if outcome.elapsed > config.budget:
        message = f"answered in {outcome.elapsed:.2f}s, over {config.budget:g}s"
        return Failure("time-budget", status, message, "slow")
    if case.valid and not 200 <= status < 300:
        return Failure("valid-accepted", status, excerpt, sig)
    if case.hardening is not None and not config.policy.enforced(case.hardening):
        # No policy stated: the schema says nothing about this, so any answer
        # but a 5xx is the sink's choice; a 2xx is reported, not failed.
        if 200 <= status < 300:
            flag = Policy.flag(case.hardening)
            message = f"accepted ({case.detail}); {flag} would make this fail"
            return Failure("hardening", status, message, case.rule, hardening=flag)
        return None
    if not case.valid and status not in expected_statuses(case, config):
        allowed = sorted(expected_statuses(case, config))
        message = f"expected one of {allowed}, got {status}: {excerpt}"
        # A 2xx carries no error text: the rule broken is what tells them apart.
        return Failure(
            "invalid-refused", status, message, sig if status >= 300 else case.rule
        )
    return None


@dataclass(frozen=True)
class ProtocolProbe:
    """A fixed request of a protocol check, and what its answer must be."""

    check: str
    method: str
    path: str
    headers: dict[str, str]


def probes(path: str, config: CheckConfig, seed: int) -> list[ProtocolProbe]:
    """The protocol requests for an endpoint at ``path``."""
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"}  # fmt: skip
    found = [
        ProtocolProbe("unknown-path", "GET", f"/chaoskit-no-such-path-{seed}", {}),
        ProtocolProbe(
            "unknown-path", "POST", f"{path.rstrip('/')}-chaoskit-{seed}", {}
        ),
        ProtocolProbe(
            "cors-preflight", "OPTIONS", path, {"Origin": FOREIGN_ORIGIN, **preflight}
        ),
    ]
    if config.cors_origin:
        origin = {"Origin": config.cors_origin}
        found.append(
            ProtocolProbe("cors-preflight", "OPTIONS", path, origin | preflight)
        )
    return found


def judge_probe(
    probe: ProtocolProbe, response: httpx.Response, config: CheckConfig
) -> Failure | None:
    """Whether ``response`` is a right answer to ``probe``."""
    status = response.status_code
    sig = signature(response.content)
    if status >= 500:
        return Failure("no-5xx", status, response.text[:200], sig)
    if probe.check == "unknown-path":
        if status != 404:
            return Failure(
                "unknown-path",
                status,
                f"{probe.method} {probe.path}: expected 404",
                sig,
            )
        return None
    granted = response.headers.get("access-control-allow-origin")
    origin = probe.headers["Origin"]
    if origin == FOREIGN_ORIGIN:
        if granted in ("*", FOREIGN_ORIGIN) and config.cors_origin:
            return Failure(
                "cors-preflight",
                status,
                f"granted to {origin}",
                "foreign origin granted",
            )
        return None
    if not 200 <= status < 300 or granted not in (origin, "*"):
        message = f"preflight from {origin}: status {status}, allow-origin {granted!r}"
        return Failure("cors-preflight", status, message, "configured origin refused")
    return None


def protocol_checks(
    client: httpx.Client, path: str, config: CheckConfig, seed: int
) -> list[tuple[ProtocolProbe, Failure]]:
    """Send the protocol probes; the failed ones with their failure."""
    failed = []
    for probe in probes(path, config, seed):
        try:
            response = client.request(probe.method, probe.path, headers=probe.headers)
        except httpx.TransportError as exc:
            failed.append(
                (
                    probe,
                    Failure(probe.check, None, type(exc).__name__, type(exc).__name__),
                )
            )
            continue
        failure = judge_probe(probe, response, config)
        if failure is not None:
            failed.append((probe, failure))
    return failed
