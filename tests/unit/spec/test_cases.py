"""Every case file: a valid one loads and plans; an invalid one fails with
exactly the messages in its ``<case>.expected.txt`` snapshot.

Adding a case is adding a TOML file (and ``UPDATE_SNAPSHOTS=1`` once).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chaoskit.errors import SpecError
from chaoskit.plan import build_plan
from chaoskit.runner.load import check_load_config
from chaoskit.spec import format_issue, load
from tests.unit.spec.snapshots import assert_snapshot

CASES = Path(__file__).parent / "cases"
VALID = sorted((CASES / "valid").glob("*.toml"))
INVALID = sorted((CASES / "invalid").glob("*.toml"))


def error_text(error: SpecError) -> str:
    """The issues as `chaoskit validate` prints them, with the file's bare name."""
    lines = [f"{Path(error.file).name}: {len(error.issues)} problem(s)"]
    lines += [format_issue(issue) for issue in error.issues]
    return "\n".join(lines) + "\n"


def test_there_are_enough_cases():
    assert len(VALID) >= 5
    assert len(INVALID) >= 15


@pytest.mark.parametrize("case", VALID, ids=lambda p: p.stem)
def test_valid_case_loads_plans_and_builds_its_load(case):
    """A valid file loads, its load is accepted by the engine, and its plan
    reads as in the snapshot (seed 1 unless the file sets one)."""
    experiment = load(case)
    assert check_load_config(experiment, file=str(case)) == []
    plan = build_plan(experiment, experiment.experiment.seed or 1)
    assert_snapshot(plan.describe() + "\n", case.with_suffix(".expected.txt"))


@pytest.mark.parametrize("case", INVALID, ids=lambda p: p.stem)
def test_invalid_case_reports_every_issue(case):
    """An invalid file raises one SpecError listing every issue, as snapshotted."""
    with pytest.raises(SpecError) as caught:
        load(case)
    assert caught.value.issues, "a SpecError always lists its issues"
    assert_snapshot(error_text(caught.value), case.with_suffix(".expected.txt"))
