"""A Locust request record becomes a sample: times, status, error classes."""

from __future__ import annotations

import pytest

from chaoskit.locust.samples import FIELDS, error_of, to_sample
from chaoskit.records import ErrorClass


def record(**changes: object) -> list[object]:
    base: dict[str, object] = {
        "name": "browse", "method": "GET", "start": 1000.5, "response_ms": 12.5,
        "length": 321, "status": 200, "exception": "", "text": "", "pattern": "",
        "marked": False, "user_class": "Viewer", "user": 1_000_003,
    }  # fmt: skip
    base.update(changes)
    return [base[name] for name in FIELDS]


def test_times_are_the_requests_start_moved_to_the_monotonic_clock():
    offset = -999_000_000_000
    sample = to_sample(record(), offset)
    start = 1_000_500_000_000 + offset
    assert sample.intended_ns == sample.sent_ns == start
    assert sample.end_ns - start == 12_500_000
    assert sample.latency_ns == sample.service_ns == 12_500_000
    assert sample.lag_ns == 0  # a closed model: sent when it was due
    assert (sample.task, sample.user, sample.status) == ("browse", 1_000_003, 200)
    assert sample.bytes_received == 321
    assert sample.error is None


def test_the_locust_user_class_is_the_samples_class():
    """So ``user_class`` hypotheses and per-class rows work as with
    ``[[load.users]]``."""
    assert to_sample(record(), 0).user_class == "Viewer"
    assert to_sample(record(user_class="Admin"), 0).user_class == "Admin"


@pytest.mark.parametrize(
    ("status", "exception", "text", "pattern", "expected"),
    [
        (200, "", "", "", None),
        (404, "", "", "", None),  # Locust counted it a success (catch_response)
        (503, "HTTPError", "503 Server Error", "", ErrorClass.HTTP_5XX),
        (409, "HTTPError", "409 Client Error", "", ErrorClass.HTTP_4XX),
        (200, "CatchResponseError", "expected 422", "", ErrorClass.UNEXPECTED_STATUS),
        (0, "ConnectionError", "[Errno 111] Connection refused",
         "", ErrorClass.CONNECT_REFUSED),
        (0, "ConnectionRefusedError", "", "", ErrorClass.CONNECT_REFUSED),
        (0, "ReadTimeout", "Read timed out. (read timeout=2)", "", ErrorClass.TIMEOUT),
        (0, "ConnectionError", "RemoteDisconnected('Remote end closed')",
         "", ErrorClass.RESET),
        (0, "ConnectionResetError", "[Errno 104]", "", ErrorClass.RESET),
        (0, "BadStatusLine", "", "", ErrorClass.PROTOCOL),
        (0, "gaierror", "Name or service not known", "", ErrorClass.CONNECT_ERROR),
        (503, "HTTPError", "503", "lock", ErrorClass.HTTP_5XX),  # and tagged lock
        (200, "", "", "queue_full", ErrorClass.BODY_PATTERN),
    ],
)  # fmt: skip
def test_error_classes(status, exception, text, pattern, expected):
    error, detail, tags = error_of(status, exception, text, pattern)
    assert error is expected
    assert tags == ((pattern,) if pattern else ())
    if pattern and expected is ErrorClass.BODY_PATTERN:
        assert detail == pattern
    elif pattern:
        assert detail == f"{status} ({pattern})"
    elif expected in (ErrorClass.HTTP_4XX, ErrorClass.HTTP_5XX):
        assert detail == str(status)
    elif expected is not None:
        assert exception in detail


def test_a_marked_response_and_a_record_of_another_shape():
    assert to_sample(record(marked=True), 0).marked
    with pytest.raises((ValueError, TypeError, IndexError)):
        to_sample(["browse", "GET"], 0)
