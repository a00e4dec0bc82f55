"""A Locust request record -> chaoskit's :class:`~chaoskit.records.Sample`: one place.

The worker plugin sends each request as a list (``FIELDS``); :func:`to_sample`
is the only code that reads one, so a change to the sample record is made here.
Locust measures a request from its start (``start_time``, wall clock) for
``response_time`` milliseconds; a closed model has no separate intended start,
so ``intended_ns`` and ``sent_ns`` are both that start, moved to the run's
monotonic clock by ``offset_ns``. The user class is the Locust ``User``
class's name, so ``user_class`` filters and per-class rows work as with
``[[load.users]]``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from chaoskit.records import ErrorClass, Sample

__all__ = ["FIELDS", "error_of", "to_sample"]

FIELDS = (
    "name", "method", "start", "response_ms", "length", "status", "exception",
    "text", "pattern", "marked", "user_class", "user",
)  # fmt: skip
"""What one record holds, in order (the plugin writes them)."""

# Exception words (type or text, lower case) -> the transport error class.
_TRANSPORT = (
    (("timeout", "timed out"), ErrorClass.TIMEOUT),
    (("refused",), ErrorClass.CONNECT_REFUSED),
    (
        ("reset", "remotedisconnected", "aborted", "broken pipe", "incompleteread",
         "connection closed", "chunkedencodingerror"),
        ErrorClass.RESET,
    ),
    (("badstatusline", "protocol", "invalid http", "linetoolong"), ErrorClass.PROTOCOL),
)  # fmt: skip


def error_of(
    status: int, exception: str, text: str, pattern: str
) -> tuple[ErrorClass | None, str, tuple[str, ...]]:
    """The error class of a request, its detail and its pattern tags (facets,
    as :meth:`chaoskit.load.exchange.Classifier.classify` gives them).

    No exception is a success, as Locust counts it, unless a user pattern
    matched (the plugin matches the built-in ones on failures only); then a
    response status, then the exception's words.
    """
    tags = tuple(sys.intern(t) for t in pattern.split(",") if t) if pattern else ()
    if not exception:
        if tags:
            return ErrorClass.BODY_PATTERN, ",".join(tags), tags
        return None, "", ()
    detail = f"{exception}: {text}"[:200] if text else exception
    if status == 0:
        words = f"{exception} {text}".lower()
        for needles, error in _TRANSPORT:
            if any(n in words for n in needles):
                return error, detail, tags
        return ErrorClass.CONNECT_ERROR, detail, tags
    status_detail = f"{status} ({', '.join(tags)})" if tags else str(status)
    if 400 <= status < 500:
        return ErrorClass.HTTP_4XX, status_detail, tags
    if 500 <= status < 600:
        return ErrorClass.HTTP_5XX, status_detail, tags
    # The locustfile failed a 1xx-3xx itself (catch_response).
    return ErrorClass.UNEXPECTED_STATUS, detail, tags


def to_sample(record: Sequence[object], offset_ns: int) -> Sample:
    """One plugin record as a sample; ``offset_ns`` = monotonic - wall, in ns.

    Raises:
        ValueError, TypeError, IndexError: not a record of the plugin's shape.
    """
    start = round(float(record[2]) * 1e9) + offset_ns  # type: ignore[arg-type]
    end = start + round(float(record[3]) * 1e6)  # type: ignore[arg-type]
    status = int(record[5])  # type: ignore[call-overload]
    error, detail, tags = error_of(
        status, str(record[6]), str(record[7]), str(record[8])
    )
    return Sample(
        str(record[0]), int(record[11]), start, start, end, status,  # type: ignore[call-overload]
        0, int(record[4]), error, detail, bool(record[9]),  # type: ignore[call-overload]
        tags, sys.intern(str(record[10])),
    )  # fmt: skip
