"""How many JSON Schema Test Suite groups chaoskit fuzz judges right.

For each group of drafts 2020-12 and 7 whose valid instances include an
object: load the schema (a refusal must name what it refuses), then fuzz a
correct, hardened sink (``fixtures.eventsink.strict``: every answer from the
reference validator) with default flags. Judged right: no failing finding,
at least one valid payload accepted, no traceback. The suite's remote
``$ref`` (``http://localhost:1234/``) resolve from its ``remotes/`` directory
(``RefMap`` ref_bases, nothing is fetched); any other refusal is counted apart.

    .venv/bin/python -m benchmarks.conformance [--examples 60] [--suite DIR]
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
from pathlib import Path

from chaoskit.fuzz.checks import CheckConfig
from chaoskit.fuzz.engine import FuzzConfig, fuzz
from chaoskit.fuzz.model import model_from_schema
from chaoskit.fuzz.schema import RefMap, SchemaError
from fixtures.eventsink.strict import strict_sink

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--suite", type=Path, default=REPO.parent / "shared" / "json-schema-test-suite"
    )
    parser.add_argument("--examples", type=int, default=60)
    args = parser.parse_args()
    holder: dict[str, object] = {}

    class Switch:
        def is_valid(self, value: object) -> bool:
            return bool(holder["v"].is_valid(value))  # type: ignore[attr-defined]

    # The suite's remotes, served the way its README asks harnesses to.
    refs = RefMap(ref_bases=(("http://localhost:1234/", args.suite / "remotes"),))
    started = time.monotonic()
    with strict_sink(Switch()) as url:
        for draft in ("draft2020-12", "draft7"):
            right = wrong = refused = crashed = total = 0
            notes: list[str] = []
            for path in sorted((args.suite / "tests" / draft).glob("*.json")):
                for group in json.loads(path.read_text(encoding="utf-8")):
                    if not any(
                        isinstance(t["data"], dict) and t["valid"]
                        for t in group["tests"]
                    ):
                        continue
                    total += 1
                    name = f"{path.stem}: {group['description']}"
                    try:
                        model = model_from_schema(
                            group["schema"],
                            name,
                            dialect=draft.removeprefix("draft"),
                            refs=refs,
                        )
                    except SchemaError as exc:
                        refused += 1
                        notes.append(f"refused {exc}"[:160])
                        continue
                    holder["v"] = model.schema.validator
                    config = FuzzConfig(
                        url=url,
                        batch_path="/events/batch",
                        seed=1,
                        max_examples=args.examples,
                        time_limit=30,
                        checks=CheckConfig(budget=5.0),
                    )
                    try:
                        result = fuzz(model, config)
                    except Exception:  # noqa: BLE001 - a traceback is a wrong judgement
                        crashed += 1
                        notes.append(
                            f"traceback {name}: {traceback.format_exc(limit=1)}"
                        )
                        continue
                    if result.failing or not result.by_rule.get("valid"):
                        wrong += 1
                        notes.append(
                            f"wrong {name}: {[f.check for f in result.failing]}"
                        )
                    else:
                        right += 1
            share = 100 * right / total if total else 0
            print(
                f"{draft}: {total} groups with an object among valid instances: "
                f"{right} judged right ({share:.1f} %), {wrong} wrong, "
                f"{refused} refused naming the remote $ref, {crashed} tracebacks"
            )
            for note in notes:
                print("  " + note)
    print(
        f"elapsed {time.monotonic() - started:.0f} s, {args.examples} examples a group"
    )


if __name__ == "__main__":
    main()
