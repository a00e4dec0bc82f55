"""The fuzz hypothesis on tallies of judged answers: passes, fails naming the
rule, respects max_failures and the fault it names; no data is inconclusive."""

from __future__ import annotations

from chaoskit.checks import CheckContext, evaluate
from chaoskit.fuzz.checks import CheckConfig, Outcome, check_response
from chaoskit.fuzz.findings import Finding
from chaoskit.fuzz.rules import Case, Rule
from chaoskit.fuzz.tally import FuzzTally
from chaoskit.metrics.recorder import Recorder
from chaoskit.spec.model import FuzzHypothesis

CHECKS = CheckConfig()
GOOD = b'{"type": "heartbeat", "progress": 1}'
BAD = b'{"type": "heartbeat", "progress": 101}'


def tally(name: str, answers: list[tuple[Case, Outcome]]) -> FuzzTally:
    """A tally fed as the engine feeds it: each answer judged by the checks."""
    result = FuzzTally(name, "http://127.0.0.1:8100/events", 5, replay="chaoskit fuzz")
    for case, outcome in answers:
        result.observe(case, outcome, check_response(case, outcome, CHECKS))
    return result


def context(*tallies: FuzzTally) -> CheckContext:
    recorder = Recorder(origin_ns=0)
    return CheckContext(
        merged=recorder.merged, phases=(), windows=(), faults=(), task_groups={},
        bins=lambda *_: [], fuzz=tallies,
    )  # fmt: skip


def hypothesis(**fields: object) -> FuzzHypothesis:
    return FuzzHypothesis.model_validate({"name": "refuses garbage", "kind": "fuzz",
                                          **fields})  # fmt: skip


def right_answers() -> list[tuple[Case, Outcome]]:
    return [
        (Case(Rule.VALID, GOOD), Outcome(202, b'{"accepted":1}', 0.01)),
        (Case(Rule.OUT_OF_RANGE, BAD), Outcome(422, b'{"error":"x"}', 0.01)),
        (Case(Rule.NON_JSON, b"{"), Outcome(400, b'{"error":"y"}', 0.01)),
        (Case(Rule.WRONG_CONTENT_TYPE, GOOD, "text/plain"), Outcome(415, b"", 0.01)),
    ]


def test_right_answers_pass() -> None:
    (verdict,) = evaluate([hypothesis()], context(tally("garbage", right_answers())))
    assert verdict.passed
    assert verdict.observed == "0 wrong of 4"
    assert "refused 3, accepted 1" in verdict.detail


def test_a_5xx_fails_and_names_the_rule_and_the_minimal_payload() -> None:
    broken = tally(
        "garbage",
        [*right_answers(),
         (Case(Rule.OUT_OF_RANGE, BAD), Outcome(500, b'{"error":"internal"}', 0.01)),
         (Case(Rule.MISSING_REQUIRED, b"{}"), Outcome(202, b"", 0.01)),
         (Case(Rule.VALID, GOOD), Outcome(None, error="RemoteProtocolError")),
         (Case(Rule.NON_UTF8, b"\xff"), Outcome(400, b"", 5.0))],
    )  # fmt: skip
    broken.findings = [
        Finding("no-5xx", "out-of-range", "heartbeat.progress = 101", 500,
                "internal", "internal", "POST", "/events", "application/json",
                BAD, "curl -X POST ...", 5)
    ]  # fmt: skip
    (verdict,) = evaluate([hypothesis()], context(broken))
    assert not verdict.passed
    assert verdict.observed == (
        "4 wrong of 8 (missing-required, non-utf8, out-of-range, valid)"
    )
    assert broken.by_outcome() == {
        "refused": 3, "accepted": 1, "accepted-garbage": 1, "5xx": 1,
        "dropped": 1, "slow": 1,
    }  # fmt: skip
    assert "broken rules: " in verdict.detail
    assert '(out-of-range, no-5xx, 500): {"type": "heartbeat", "progress": 101}' in (
        verdict.detail
    )
    # Tolerated up to max_failures.
    (lenient,) = evaluate([hypothesis(max_failures=4)], context(broken))
    assert lenient.passed


def test_only_the_named_fault_is_judged() -> None:
    clean = tally("clean", right_answers())
    broken = tally("broken", [(Case(Rule.EMPTY_BODY, b""), Outcome(200, b"", 0.01))])
    (one,) = evaluate([hypothesis(fault="clean")], context(clean, broken))
    (both,) = evaluate([hypothesis()], context(clean, broken))
    assert one.passed
    assert not both.passed
    assert "empty-body" in both.observed


def test_no_request_is_no_data_and_inconclusive() -> None:
    (verdict,) = evaluate([hypothesis()], context(tally("garbage", [])))
    assert (verdict.passed, verdict.status) == (False, "inconclusive")
    assert verdict.observed == "no data"
