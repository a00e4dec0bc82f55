"""Cost of the built-in ``lock`` class and of ``ack`` recording, per response.

Usage::

    python -m benchmarks.acks [--number 200000]

Prints microseconds per call (best of 5) for: classifying a success (the
built-in class is never scanned then), a 503 with a 1 KB body that is not a
lock message (the scan's worst case: no match), a 503 saying "database is
locked", and reading an acknowledged id from a response and from the request.
"""

from __future__ import annotations

import argparse
import timeit

from chaoskit.load.config import TaskSpec
from chaoskit.load.exchange import Classifier
from chaoskit.load.tasks import CompiledTask, UserState

OK = frozenset(range(200, 300))
BODY_1K = b'{"error": "upstream failed", "trace": "' + b"x" * 1000 + b'"}'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--number", type=int, default=200_000)
    number = parser.parse_args().number
    classifier = Classifier({})
    task = CompiledTask(
        TaskSpec(name="w", path="/w", method="POST",
                 json={"user": "{{ user }}", "write_id": "{{ uuid() }}"},
                 ack_id="$.write_id", ack_request="$.write_id"),
        host="127.0.0.1", prefix="", names=frozenset(), seed=1, timeout=5,
    )  # fmt: skip
    raw = task.build(UserState(1, 1))
    answer = b'{"write_id": "5f0e6a1c-8e0b-4a4e-9d1e-0d7c1b2a3f4e", "progress": 5}'
    cases = {
        "classify 200 (1 KB body)": lambda: classifier.classify(OK, 200, BODY_1K),
        "classify 503, 1 KB, no lock text": lambda: classifier.classify(
            OK, 503, BODY_1K
        ),
        "classify 503 'database is locked'": lambda: classifier.classify(
            OK, 503, b'{"error": "database is locked"}'
        ),
        "ack id from the answer": lambda: task.acknowledged(answer, raw),
        "ack key from the request": lambda: task.request_key(raw),
    }
    for name, call in cases.items():
        best = min(timeit.repeat(call, number=number, repeat=5)) / number
        print(f"| {name} | {best * 1e6:.2f} |")


if __name__ == "__main__":
    main()
