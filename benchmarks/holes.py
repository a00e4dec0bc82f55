"""Seeded holes: which of the event sink's validation holes chaoskit catches.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.holes --seeds 3 --budget 450 [--every 2 --start 1]
    .venv/bin/python -m benchmarks.holes --keywords --seeds 1 --budget 450

For every keyword location of ``fixtures/eventsink/schema.json`` (every
``--every``-th one), a strict sink that checks the whole schema except that
one keyword (``fixtures/eventsink/holes.py``) is fuzzed with every rule,
``--budget`` requests at most, until the first failing answer. Per seed it
prints how many holes were caught, the requests it took (median, 90th
percentile, most), whether the failing case named the hole's own keyword, and
the holes missed with the reason: *redundant* when no payload breaks that
keyword alone (removing it changes nothing: a hole there is not a hole).

``--keywords`` runs the holes under applicator keywords instead
(``fixtures.eventsink.holes.KEYWORD_HOLES``: a ``patternProperties`` value's
bound, a ``not``, a ``contains`` bound, ``propertyNames``, ``dependencies``,
``additionalItems`` in ``metrics.json`` and ``legacy.json``), each row with
the requests to the first failure and whether it came in the targeted pass
(before any random case: as many requests as the schema has targets at most).
"""

from __future__ import annotations

import argparse
import statistics
import time

from chaoskit.fuzz.model import load_model
from chaoskit.fuzz.targets import targets_of
from fixtures.eventsink.events import SCHEMA_PATH
from fixtures.eventsink.holes import catch, holes, keyword_holes


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.holes")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=450)
    parser.add_argument("--every", type=int, default=1, help="every N-th hole")
    parser.add_argument("--start", type=int, default=0, help="from the N-th hole")
    parser.add_argument("--keywords", action="store_true",
                        help="the holes under applicator keywords")  # fmt: skip
    args = parser.parse_args()
    if args.keywords:
        _keywords(args.seeds, args.budget)
        return
    model = load_model(SCHEMA_PATH)
    all_holes = holes(model.schema)[args.start :: args.every]
    print(f"{len(all_holes)} holes, budget {args.budget}, seeds 1-{args.seeds}")
    for seed in range(1, args.seeds + 1):
        started = time.monotonic()
        rows = [catch(model, hole, seed, args.budget) for hole in all_holes]
        caught = [r for r in rows if r.case is not None]
        counts = sorted(r.requests or 0 for r in caught)
        own = sum(r.case is not None and r.case.keyword == r.hole for r in caught)
        missed = [r for r in rows if r.case is None]
        print(
            f"seed {seed}: {len(caught)}/{len(rows)} caught in "
            f"{time.monotonic() - started:.0f} s; requests to the first failure: "
            f"median {statistics.median(counts) if counts else '-'}, "
            f"90th {counts[int(len(counts) * 0.9)] if counts else '-'}, "
            f"most {counts[-1] if counts else '-'}; "
            f"{own} named the hole's own keyword",
            flush=True,
        )
        for row in caught:
            if row.case is not None and row.case.keyword != row.hole:
                print(f"  {row.hole}: first caught by {row.case.keyword}", flush=True)
        for row in missed:
            why = "redundant" if row.redundant else "NOT caught"
            print(f"  missed {row.hole}: {why}", flush=True)


def _keywords(seeds: int, budget: int) -> None:
    rows = keyword_holes()
    print(f"{len(rows)} holes under applicator keywords, budget {budget}")
    for seed in range(1, seeds + 1):
        for model, hole in rows:
            # Requests in the targeted pass: one per target (a failure shrunk
            # within it sends more, all before the random pass).
            targets = len(targets_of(model.schema))
            row = catch(model, hole, seed, budget)
            where = "missed"
            if row.case is not None:
                where = "targeted" if row.case.mutation == "target" else "random"
            print(
                f"seed {seed} {model.source.rsplit('/', 1)[-1]} {hole}: "
                f"{where}, {row.requests or '-'} requests "
                f"({targets} targets), keyword {row.case.keyword if row.case else '-'}",
                flush=True,
            )


if __name__ == "__main__":
    main()
