"""Error facets (status class plus pattern tags, the built-in ``lock``) and what
a task's ``ack`` reads."""

from __future__ import annotations

import pytest

from chaoskit.load.config import TaskSpec
from chaoskit.load.exchange import Classifier
from chaoskit.load.tasks import CompiledTask, UserState
from chaoskit.records import ErrorClass, Sample, error_keys

OK = frozenset(range(200, 300))


@pytest.mark.parametrize(
    "body",
    [
        b'{"error": "database is locked"}',
        b'ERROR: could not obtain lock on row in relation "watch_history"',
        b"deadlock detected",
        b"Lock wait timeout exceeded; try restarting transaction",
        b"canceling statement due to lock timeout",
    ],
)
def test_lock_messages_in_a_failed_response_are_5xx_and_tagged_lock(body):
    assert Classifier({}).classify(OK, 503, body) == (
        ErrorClass.HTTP_5XX, "503 (lock)", ("lock",),
    )  # fmt: skip


def test_the_lock_tag_never_turns_a_success_into_an_error():
    body = b'{"note": "the database is locked at night"}'
    assert Classifier({}).classify(OK, 200, body) == (None, "", ())
    assert Classifier({}).classify(OK, 500, b"boom") == (
        ErrorClass.HTTP_5XX, "500", (),
    )  # fmt: skip


def test_a_user_pattern_named_lock_replaces_the_built_in_one():
    classifier = Classifier({"lock": "SQLITE_BUSY"})
    assert classifier.classify(OK, 503, b"database is locked") == (
        ErrorClass.HTTP_5XX, "503", (),
    )  # fmt: skip
    assert classifier.classify(OK, 200, b"SQLITE_BUSY") == (
        ErrorClass.BODY_PATTERN, "lock", ("lock",),
    )  # fmt: skip


def test_every_matching_pattern_is_a_tag_beside_the_status_class():
    classifier = Classifier({"busy": "busy", "quota": "quota"})
    error, detail, tags = classifier.classify(
        OK, 429, b"busy: quota exceeded, database is locked"
    )
    assert (error, detail) == (ErrorClass.HTTP_4XX, "429 (busy, quota, lock)")
    assert tags == ("busy", "quota", "lock")
    # A 2xx matching a user pattern fails on the pattern alone.
    assert classifier.classify(OK, 200, b"quota") == (
        ErrorClass.BODY_PATTERN, "quota", ("quota",),
    )  # fmt: skip


def _sample(error: ErrorClass | None, tags: tuple[str, ...] = ()) -> Sample:
    return Sample("t", 0, 0, 0, 1, 500, 0, 0, error, "500", False, tags)


def test_error_keys_are_the_facets_of_a_sample():
    assert error_keys(_sample(None)) == ()
    assert error_keys(_sample(ErrorClass.TIMEOUT)) == ("timeout",)
    assert error_keys(_sample(ErrorClass.HTTP_5XX, ("lock",))) == (
        "http_5xx", "body_pattern:lock",
    )  # fmt: skip
    assert error_keys(_sample(ErrorClass.BODY_PATTERN, ("a", "b"))) == (
        "body_pattern:a", "body_pattern:b",
    )  # fmt: skip


def _task(**fields: object) -> CompiledTask:
    spec = TaskSpec(
        name="write", path="/w", method="POST",
        json={"user": "{{ user }}", "write_id": "w-{{ seq() }}"}, **fields,
    )  # fmt: skip
    return CompiledTask(
        spec, host="127.0.0.1", prefix="", names=frozenset(), seed=1, timeout=5
    )


def test_ack_reads_the_answer_first_then_the_request_key():
    task = _task(ack_id="$.id", ack_request="$.write_id")
    raw = task.build(UserState(3, 1))
    assert task.acks
    assert task.request_key(raw) == "w-0"
    assert task.acknowledged(b'{"id": 42}', raw) == "42"
    assert task.acknowledged(b"not json", raw) == "w-0"


def test_a_task_without_ack_records_nothing():
    task = _task()
    assert not task.acks
    assert task.request_key(task.build(UserState(0, 1))) is None
