"""Conformance with the JSON Schema Test Suite (drafts 2020-12 and 7).

For every group: the schema loads, or the refusal names what it refuses (a
remote URL, a keyword); every payload sent as valid is valid by the suite's
own validator (python-jsonschema, independent of the fuzzer's jsonschema-rs)
and every rule-tagged one is invalid; and a short fuzz run against a correct,
strict sink (a real HTTP server on loopback whose answers come from the
reference validator) finds nothing that fails.

The suite is read from ``../shared/json-schema-test-suite`` beside the repo
root (or ``$CHAOSKIT_JSON_SCHEMA_SUITE``); without it the module is skipped.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings

from chaoskit.fuzz.checks import CheckConfig
from chaoskit.fuzz.engine import FuzzConfig, fuzz
from chaoskit.fuzz.model import PayloadModel, model_from_schema
from chaoskit.fuzz.rules import Case, Rule
from chaoskit.fuzz.schema import RefMap, SchemaError
from chaoskit.fuzz.strategies import cases
from fixtures.eventsink.strict import strict_sink

REPO = Path(__file__).resolve().parents[3]
SUITE = Path(
    os.environ.get("CHAOSKIT_JSON_SCHEMA_SUITE")
    or REPO.parent / "shared" / "json-schema-test-suite"
)
DRAFTS = {
    "draft2020-12": jsonschema.Draft202012Validator,
    "draft7": jsonschema.Draft7Validator,
}


#: How the suite says a harness serves its remotes (nothing is fetched).
REF_BASES = RefMap(ref_bases=(("http://localhost:1234/", SUITE / "remotes"),))


def _groups() -> list[object]:
    found = []
    for draft in DRAFTS:
        for path in sorted((SUITE / "tests" / draft).glob("*.json")):
            for index, group in enumerate(json.loads(path.read_text(encoding="utf-8"))):
                name = f"{draft}/{path.stem}/{index}"
                found.append(pytest.param(draft, group, id=name))
    return found


pytestmark = [
    pytest.mark.skipif(
        not (SUITE / "tests").is_dir(),
        reason=f"the JSON Schema Test Suite is not at {SUITE}",
    ),
    # Hypothesis warns when it shows a megabyte body; the bodies are the point.
    pytest.mark.filterwarnings("ignore:Generating overly large repr"),
]
GROUPS = _groups() if (SUITE / "tests").is_dir() else []


def _load(draft: str, group: dict[str, object]) -> PayloadModel | None:
    try:
        return model_from_schema(
            group["schema"],
            f"{draft}: {group['description']}",
            dialect=draft.removeprefix("draft"),
            refs=REF_BASES,
        )
    except SchemaError as exc:
        refusal = str(exc)
    # A refusal names what it refuses: the remote URL no local file answers.
    assert re.search(r"https?://\S+", refusal), refusal
    assert "--ref-base" in refusal, refusal
    return None


def _refuse(name: str) -> object:
    raise ValueError(name)  # NaN, Infinity: not JSON


def _reference(draft: str, schema: object) -> jsonschema.protocols.Validator:
    return DRAFTS[draft](schema)


def _reference_valid(
    validator: jsonschema.protocols.Validator, value: object
) -> bool | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # its own internals
            return bool(validator.is_valid(value))
    except Exception:  # an ECMA regex, a remote ref: it cannot say
        return None


@pytest.fixture(scope="module")
def sink() -> Iterator[tuple[str, dict[str, object]]]:
    """One correct, strict sink for the module; each test sets its validator."""
    holder: dict[str, object] = {}

    class Switch:
        def is_valid(self, value: object) -> bool:
            return bool(holder["validator"].is_valid(value))  # type: ignore[attr-defined]

    with strict_sink(Switch()) as url:
        yield url, holder


@pytest.mark.parametrize(("draft", "group"), GROUPS)
def test_group_labels_and_a_correct_sink(
    sink: tuple[str, dict[str, object]], draft: str, group: dict[str, object]
) -> None:
    """Labels agree with the suite's own validator; a correct sink passes."""
    model = _load(draft, group)
    if model is None:
        return
    reference = _reference(draft, group["schema"])
    seen: dict[str, int] = {}
    if not model.probe(10):
        # Nothing valid could be drawn: only right for a schema nothing satisfies.
        assert not any(test["valid"] for test in group["tests"]), model.notes
        assert "no valid payload could be generated" in model.notes
        return

    @settings(
        max_examples=10,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(cases(model, rules=frozenset(Rule) - {Rule.BATCH_ONE_BAD}))
    def check(case: Case) -> None:
        seen[case.rule] = seen.get(case.rule, 0) + 1
        if case.hardening is not None or case.mutation in ("huge", "deep"):
            return  # transport cases and raw literals: not a schema question
        try:
            value = json.loads(case.body, parse_constant=_refuse)
        except ValueError:
            assert not case.valid
            return
        verdict = _reference_valid(reference, value)
        if verdict is None:
            return
        assert verdict is case.valid, (case.rule, case.detail, case.body[:200])

    check()  # (valid payloads are drawable: model.probe() above)
    url, holder = sink
    holder["validator"] = model.schema.validator  # the reference validator
    config = FuzzConfig(
        url=url,
        path="/events",
        batch_path="/events/batch",
        seed=3,
        max_examples=10,
        time_limit=20.0,
        checks=CheckConfig(budget=5.0),
    )
    result = fuzz(model, config)
    failing = [(f.check, f.rule, f.detail, f.body) for f in result.failing]
    assert failing == []
    assert result.requests > 0
