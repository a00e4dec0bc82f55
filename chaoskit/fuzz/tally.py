"""What an ``invalid-payloads`` fault sent and got back, kept apart from the load.

The fault's fuzzed requests never reach the steady load's samples: each is
counted here instead, by the rule it broke and its outcome, with its latency.
The runner hands the finished :class:`FuzzTally` to the checks (the ``fuzz``
hypothesis) and the reports as a run record, as it does fault records.

Outcomes, one per request (the first check it failed, or how it was right):

* ``refused`` - invalid, answered with an allowed 4xx (right);
* ``accepted`` - valid, answered with a 2xx (right);
* ``hardening`` - a transport or size case no stated policy covers, answered
  with a 2xx (reported with the policy that would fail it; not wrong);
* ``accepted-garbage`` - invalid, answered with a 2xx;
* ``wrong-status`` - invalid, answered with another non-5xx status;
* ``valid-refused`` - valid, not answered with a 2xx;
* ``5xx``, ``dropped`` (no answer: reset, half response), ``slow`` (over
  the time budget, or no answer within it).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from chaoskit.fuzz.curl import INLINE_LIMIT
from chaoskit.fuzz.rules import HARDENING, Policy

HARDENING_KEYS = {str(rule): key for rule, key in HARDENING.items()}

if TYPE_CHECKING:
    # Types only: checks and reports read tallies without importing httpx
    # (importing chaoskit must stay light).
    from chaoskit.fuzz.checks import Failure, Outcome
    from chaoskit.fuzz.findings import Finding
    from chaoskit.fuzz.rules import Case

__all__ = ["OUTCOMES", "RIGHT", "FuzzTally", "outcome_of"]

OUTCOMES = (
    "refused", "accepted", "hardening", "accepted-garbage", "wrong-status",
    "valid-refused", "5xx", "dropped", "slow",
)  # fmt: skip
#: The outcomes that are right answers (a hardening finding without its policy
#: stated is reported, not failed).
RIGHT = frozenset({"refused", "accepted", "hardening"})
_BY_CHECK = {"no-5xx": "5xx", "no-dropped-connection": "dropped",
             "time-budget": "slow", "valid-accepted": "valid-refused"}  # fmt: skip
#: Latencies kept for percentiles (the window's requests are bounded anyway).
_KEPT = 100_000


def outcome_of(case: Case, outcome: Outcome, failure: Failure | None) -> str:
    """One of :data:`OUTCOMES` for a case and its answer."""
    if failure is None:
        return (
            "accepted"
            if case.valid or 200 <= (outcome.status or 0) < 300
            else "refused"
        )
    if not failure.failing:
        return "hardening"
    if failure.check in _BY_CHECK:
        return _BY_CHECK[failure.check]
    status = outcome.status or 0
    return "accepted-garbage" if 200 <= status < 300 else "wrong-status"


@dataclass
class FuzzTally:
    """One ``invalid-payloads`` fault's requests, outcomes and findings.

    Attributes:
        fault: the fault's name.
        url: where the requests went (base URL + path).
        seed: the Hypothesis seed (the same seed sends the same cases).
        counts: rule -> outcome -> requests.
        latencies: seconds per answered request (up to 100,000 kept).
        findings: one per distinct failure, smallest payload first.
        replay: the command that re-sends the findings.
        locations: the schema's keyword locations exercised
            (:meth:`~chaoskit.fuzz.coverage.Coverage.to_json`).
    """

    fault: str
    url: str
    seed: int
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    replay: str = ""
    elapsed_s: float = 0.0
    locations: dict[str, object] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def observe(self, case: Case, outcome: Outcome, failure: Failure | None) -> None:
        """Count one request (called from the fuzzing thread)."""
        name = outcome_of(case, outcome, failure)
        with self._lock:
            by_outcome = self.counts.setdefault(str(case.rule), {})
            by_outcome[name] = by_outcome.get(name, 0) + 1
            if outcome.status is not None and len(self.latencies) < _KEPT:
                self.latencies.append(outcome.elapsed)

    @property
    def requests(self) -> int:
        """Requests sent."""
        return sum(sum(row.values()) for row in self.counts.values())

    def by_outcome(self) -> dict[str, int]:
        """Requests per outcome, over every rule (outcomes in table order)."""
        totals = dict.fromkeys(OUTCOMES, 0)
        for row in self.counts.values():
            for name, count in row.items():
                totals[name] = totals.get(name, 0) + count
        return {name: count for name, count in totals.items() if count}

    def wrong(self) -> int:
        """Requests that got a wrong answer."""
        return sum(c for name, c in self.by_outcome().items() if name not in RIGHT)

    def hardening_wrong(self, policy: Policy) -> int:
        """Hardening outcomes (2xx where no policy was stated) that ``policy``
        states, so they count as wrong."""
        return sum(
            row.get("hardening", 0)
            for rule, row in self.counts.items()
            if rule in HARDENING_KEYS and policy.enforced(HARDENING_KEYS[rule])
        )

    def broken_rules(self) -> list[str]:
        """The rules with at least one wrong answer, most wrong first."""
        wrong = {
            rule: sum(c for name, c in row.items() if name not in RIGHT)
            for rule, row in self.counts.items()
        }
        return sorted((r for r, c in wrong.items() if c), key=lambda r: -wrong[r])

    def percentile_ms(self, q: float) -> float | None:
        """A latency percentile (nearest rank) in ms, or None with no answer."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))
        return ordered[index] * 1000

    def to_json(self) -> dict[str, object]:
        """The report's shape (``fuzz`` in report.json)."""
        p95 = self.percentile_ms(0.95)
        return {
            "fault": self.fault,
            "url": self.url,
            "seed": self.seed,
            "requests": self.requests,
            "wrong": self.wrong(),
            "by_outcome": self.by_outcome(),
            "by_rule": {rule: dict(row) for rule, row in sorted(self.counts.items())},
            "broken_rules": self.broken_rules(),
            "p95_ms": None if p95 is None else round(p95, 3),
            "elapsed_s": round(self.elapsed_s, 3),
            "findings": [_shown(finding) for finding in self.findings],
            "replay": self.replay,
            "locations": self.locations,
        }


def _shown(finding: Finding) -> dict[str, object]:
    """A finding for the report: long bodies cut (findings.json has them whole)."""
    if finding.body is None or len(finding.body) <= INLINE_LIMIT:
        return finding.to_json()
    entry = finding.to_json(body_file="findings.json")
    entry.pop("body_file", None)
    cut = finding.body[:INLINE_LIMIT].decode("utf-8", "replace")
    return {**entry, "body": cut, "body_bytes": len(finding.body)}
