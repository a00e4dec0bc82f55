"""Cost of error facets, intended-start attribution and in-flight tracking, per request.

Usage::

    python -m benchmarks.verdicts [--requests 100000] [--repeat 7]

Times the work the load engine does for one answered request after it
arrives, with the sinks a run has: the in-flight bookkeeping that lets a
cut-off load count its requests as ``unfinished`` (a token taken when the
request is sent and given back with its answer), classifying the answer
(status class plus pattern tags), building the sample and recording it
(phase and one-second window by intended start). Prints microseconds per
request, best of ``--repeat``. Run it against another checkout with
``PYTHONPATH=/path/to/checkout`` to compare (the token step is skipped where
``Exchanger.finish`` has no ``token``).
"""

from __future__ import annotations

import argparse
import inspect
import timeit

from chaoskit.load.client import Response
from chaoskit.load.config import TaskSpec
from chaoskit.load.exchange import Classifier, Exchanger
from chaoskit.load.tasks import CompiledTask, UserState
from chaoskit.metrics import Recorder

_RAW = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    task = CompiledTask(
        TaskSpec("get", "/"), host="127.0.0.1", prefix="", names=frozenset(),
        seed=1, timeout=5,
    )  # fmt: skip
    user = UserState(1, 1)
    tokens = "token" in inspect.signature(Exchanger.finish).parameters
    count = args.requests

    def run() -> None:
        recorder = Recorder(origin_ns=0, phase="before")
        exchanger = Exchanger(None, recorder.write, Classifier({}), lambda: 0)  # type: ignore[arg-type]
        for i in range(count):
            due = i * 100_000  # 10,000 requests a second
            if i == count // 2:
                recorder.enter_phase("during")
            answer = Response(200, b"ok\n", 120, due + 2_000_000)
            if tokens:
                token = exchanger._begin(task, 1, due, due + 1000, _RAW)
                exchanger.finish(task, user, 20, due, due + 1000, answer, token=token)
            else:
                exchanger.finish(task, user, 20, due, due + 1000, answer)

    best = min(timeit.repeat(run, number=1, repeat=args.repeat)) / count
    print(f"{best * 1e6:.2f} us per request (tokens: {tokens})")


if __name__ == "__main__":
    main()
