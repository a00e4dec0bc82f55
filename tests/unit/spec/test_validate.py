"""Validation details the case files do not show: normalised bounds, message
format, ordering, and that a valid model is what the runner gets."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import pytest

from chaoskit.errors import SpecError, SpecIssue
from chaoskit.spec import format_issue
from chaoskit.spec.locate import describe, toml_path
from chaoskit.spec.model import Experiment
from chaoskit.spec.validate import validate

SKETCH = tomllib.loads(
    (Path(__file__).parent / "cases" / "valid" / "db-latency.toml").read_text()
)


def table(**changes):
    raw = copy.deepcopy(SKETCH)
    for path, value in changes.items():
        node = raw
        *parents, last = path.split("__")
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value
    return raw


def test_a_valid_table_gives_the_frozen_model():
    experiment = validate(table(), "x.toml")
    assert isinstance(experiment, Experiment)
    assert experiment.faults[0].for_ == 15.0
    assert experiment.load.tasks[1].json_body["user_id"] == "{{ user }}"
    with pytest.raises(ValueError, match="frozen"):
        experiment.experiment.duration = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("metric", "bound", "limit"),
    [
        ("p95", "800ms", 0.8),
        ("p99", 2, 2.0),
        ("error_rate", "1%", 0.01),
        ("error_rate", 0.05, 0.05),
        ("rps", 50, 50.0),
        ("count", 1000, 1000.0),
    ],
)
def test_threshold_bounds_are_normalised_to_the_metrics_unit(metric, bound, limit):
    raw = table(hypotheses__0__metric=metric, hypotheses__0__below=bound)
    hypothesis = validate(raw, "x.toml").hypotheses[0]
    assert hypothesis.direction == "below"
    assert hypothesis.limit == pytest.approx(limit)


def test_above_is_the_direction_when_set():
    raw = table(hypotheses__0__metric="rps")
    del raw["hypotheses"][0]["below"]
    raw["hypotheses"][0]["above"] = 20
    hypothesis = validate(raw, "x.toml").hypotheses[0]
    assert (hypothesis.direction, hypothesis.limit) == ("above", 20.0)


def test_issues_are_listed_in_file_order_whatever_finds_them():
    raw = table(
        hypotheses__0__task="nope",
        faults__0__route="nope",
        experiment__duration="x",
    )
    raw["load"]["rate"] = -1
    with pytest.raises(SpecError) as caught:
        validate(raw, "x.toml")
    assert [i.path for i in caught.value.issues] == [
        "experiment.duration",
        "load.rate",
        "faults[0].route",
        "hypotheses[0].task",
    ]
    assert caught.value.file == "x.toml"


def test_union_tags_never_appear_in_paths():
    raw = table(faults__0__latency="x")
    raw["hypotheses"][1]["within"] = "x"
    with pytest.raises(SpecError) as caught:
        validate(raw, "x.toml")
    paths = [i.path for i in caught.value.issues]
    assert paths == ["faults[0].latency", "hypotheses[1].within"]


def test_format_issue_puts_every_part_on_one_line():
    issue = SpecIssue("faults[0].kind", "unknown fault kind", "latensy", "a, b", "a")
    assert format_issue(issue) == (
        "faults[0].kind: unknown fault kind (got 'latensy'); allowed: a, b; "
        "did you mean 'a'?"
    )
    assert format_issue(SpecIssue("x", "is required")) == "x: is required"
    long = format_issue(SpecIssue("x", "bad", "y" * 200))
    assert long.endswith("...)")
    assert len(long) < 100


@pytest.mark.parametrize(
    ("parts", "path"),
    [
        (["load", "tasks", 1, "weight"], "load.tasks[1].weight"),
        (["hypotheses", 0, "budgets", "a b", "p95"], 'hypotheses[0].budgets."a b".p95'),
        (["experiment"], "experiment"),
    ],
)
def test_toml_paths_use_tomls_notation(parts, path):
    assert toml_path(parts) == path


def test_describe_names_types_for_people():
    assert describe(str) == "a string"
    assert describe(int | None) == "an integer"
    assert describe(str | float) == "a string or a number"
    assert describe(tuple[str, ...]) == "an array"
    assert describe(dict[str, str]) == "a table"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("services__1__command", 3),
        ("load__tasks__0__group", {"a": 1}),
        ("faults", {"name": "x"}),
        ("hypotheses__0", "fast"),
        ("proxy", []),
    ],
)
def test_values_of_any_type_give_issues_never_a_crash(path, value):
    """Cross-field checks read raw values too; a wrong type must not break them
    (found by mutating the case files at random)."""
    with pytest.raises(SpecError) as caught:
        validate(table(**{path: value}), "x.toml")
    assert caught.value.issues


@pytest.mark.parametrize(
    ("error_class", "valid"),
    [
        ("http_5xx", True),
        ("unfinished", True),
        ("lock", True),
        ("body_pattern:lock", True),  # as reports name it
        ("body_pattern:timeout", False),  # a transport class, not a pattern
        ("body_pattern:nope", False),
    ],
)
def test_error_class_names_a_facet_the_way_users_and_reports_write_it(
    error_class, valid
):
    hypothesis = {
        "name": "h", "phase": "all", "metric": "error_rate",
        "error_class": error_class, "below": "1%", "min_samples": 50,
    }  # fmt: skip
    raw = table()
    raw["hypotheses"] = [hypothesis]
    if valid:
        (h,) = validate(raw, "x.toml").hypotheses
        assert h.needs() == 50
        return
    with pytest.raises(SpecError) as caught:
        validate(raw, "x.toml")
    assert [i.path for i in caught.value.issues] == ["hypotheses[0].error_class"]


def test_min_samples_must_be_at_least_one():
    raw = table()
    raw["hypotheses"] = [
        {"name": "h", "metric": "p95", "below": "1s", "min_samples": 0}
    ]
    with pytest.raises(SpecError) as caught:
        validate(raw, "x.toml")
    assert [i.path for i in caught.value.issues] == ["hypotheses[0].min_samples"]
