"""The integrity evaluator: acknowledgements against a read-back, both ways."""

from __future__ import annotations

from chaoskit.checks import CheckContext, evaluate
from chaoskit.records import AckLog, ReadBack
from chaoskit.spec.model import IntegrityHypothesis


def _hypothesis(**fields: object) -> IntegrityHypothesis:
    return IntegrityHypothesis.model_validate(
        {"name": "no loss", "kind": "integrity",
         "read_back": {"url": "/writes", "ids": "$.ids"}, **fields}
    )  # fmt: skip


def _judge(acks: AckLog, back: ReadBack, **fields: object):
    ctx = CheckContext(
        merged=lambda labels, tasks: None, phases=(), windows=(), faults=(),
        task_groups={}, bins=lambda *a: [], acks=acks,
        read_backs={"no loss": back},
    )  # fmt: skip
    (verdict,) = evaluate([_hypothesis(**fields)], ctx)
    return verdict


def _acks() -> AckLog:
    acks = AckLog()
    for key in ("a", "b", "c"):
        acks.ack("write", key)
    acks.maybe("write", "t1")  # a timeout with the request's own key
    acks.maybe("write", None)  # a reset with no key to record
    return acks


def test_every_acknowledged_write_read_back_once_passes():
    # The indeterminate t1 may or may not be there: neither lost nor unexpected.
    verdict = _judge(_acks(), ReadBack("/writes", ("a", "b", "c", "t1")))
    assert verdict.passed, verdict.detail
    assert verdict.data is not None
    assert verdict.data["acknowledged"] == 3
    assert verdict.data["indeterminate"] == 2
    assert verdict.data["indeterminate_found"] == 1
    assert verdict.observed == "0 lost, 0 duplicated, 0 unexpected of 3 acknowledged"


def test_a_lost_write_fails_and_is_named():
    verdict = _judge(_acks(), ReadBack("/writes", ("a", "c")))
    assert not verdict.passed
    assert verdict.detail.startswith("1 acknowledged write(s) lost")
    assert verdict.data is not None
    assert verdict.data["lost_ids"] == ["b"]
    assert verdict.to_json()["data"]["lost"] == 1


def test_duplicated_and_unexpected_records_fail_with_their_rule():
    back = ReadBack("/writes", ("a", "b", "b", "c", "zz"))
    verdict = _judge(_acks(), back)
    assert not verdict.passed
    assert "1 record(s) read back more than once" in verdict.detail
    assert "1 unexpected record(s)" in verdict.detail
    assert verdict.data is not None
    assert (verdict.data["duplicated_ids"], verdict.data["unexpected_ids"]) == (
        ["b"], ["zz"],
    )  # fmt: skip
    assert _judge(_acks(), ReadBack("/writes", ("a", "b", "c", "zz")),
                  allow_unexpected=True).passed  # fmt: skip


def test_only_the_first_ids_are_listed():
    acks = AckLog()
    for n in range(30):
        acks.ack("write", str(n))
    verdict = _judge(acks, ReadBack("/writes", ()), show=5)
    assert verdict.data is not None
    assert verdict.data["lost"] == 30
    assert verdict.data["lost_ids"] == ["0", "1", "2", "3", "4"]
    assert "(+25 more)" in verdict.detail


def test_a_failed_read_back_fails_the_hypothesis_with_the_reason():
    verdict = _judge(_acks(), ReadBack("/writes", error="ConnectError: refused"))
    assert not verdict.passed
    assert verdict.observed == "read-back failed"
    assert "ConnectError: refused" in verdict.detail


def test_a_task_filter_judges_that_task_only():
    acks = _acks()
    acks.ack("other", "x")
    verdict = _judge(acks, ReadBack("/writes", ("a", "b", "c")), task="write")
    assert verdict.passed, verdict.detail  # x is another task's, not ours
    assert not _judge(acks, ReadBack("/writes", ("a", "b", "c"))).passed


def test_nothing_acknowledged_is_inconclusive_not_a_pass():
    verdict = _judge(AckLog(), ReadBack("GET /writes", ("x",)), allow_unexpected=True)
    assert (verdict.passed, verdict.status) == (False, "inconclusive")
    assert verdict.observed == "no data"
