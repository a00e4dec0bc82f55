"""``--set key.path=value``: applied to the raw table, then validated like the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaoskit.errors import SpecError
from chaoskit.spec import format_issue, load
from chaoskit.spec.toml import apply_overrides, parse_override, read_table

SKETCH = Path(__file__).parent / "cases" / "valid" / "db-latency.toml"


def issues_of(error: SpecError) -> list[str]:
    return [format_issue(issue) for issue in error.issues]


@pytest.mark.parametrize(
    ("text", "parts", "value"),
    [
        ("faults.0.latency=2s", ["faults", "0", "latency"], "2s"),
        ('faults.0.latency="2s"', ["faults", "0", "latency"], "2s"),
        ("load.rate=250", ["load", "rate"], 250),
        ("load.rate = 2.5", ["load", "rate"], 2.5),
        ("experiment.allow_remote=true", ["experiment", "allow_remote"], True),
        (
            "load.tasks.0.expect=[200, 204]",
            ["load", "tasks", "0", "expect"],
            [200, 204],
        ),
        ("target.headers={ A = 'b' }", ["target", "headers"], {"A": "b"}),
        (
            'hypotheses.0.budgets."a.b".p95=1s',
            ["hypotheses", "0", "budgets", "a.b", "p95"],
            "1s",
        ),
        ("load.tasks.0.path=/a=b", ["load", "tasks", "0", "path"], "/a=b"),
    ],
)
def test_an_override_is_parsed_as_toml_or_taken_as_text(text, parts, value):
    assert parse_override(text) == (parts, value)


@pytest.mark.parametrize("text", ["faults.0.latency", "a..b=1", "=1"])
def test_an_override_without_a_key_path_and_value_is_refused(text):
    with pytest.raises(ValueError, match="key"):
        parse_override(text)


def test_array_items_are_indexed_by_number():
    experiment = load(SKETCH, ["faults.0.latency=3s", "load.tasks.1.weight=5"])
    assert experiment.faults[0].latency == 3.0
    assert experiment.load.tasks[1].weight == 5


def test_an_override_is_validated_like_the_file():
    with pytest.raises(SpecError) as caught:
        load(SKETCH, ["faults.0.latency=3 sec"])
    assert issues_of(caught.value) == [
        "faults[0].latency: not a duration (got '3 sec'); allowed: a number with a "
        'unit: "500us", "250ms", "15s", "2m"'
    ]


def test_a_new_key_on_an_existing_table_is_allowed_and_validated():
    experiment = load(SKETCH, ["faults.0.toxicity=50%"])
    assert experiment.faults[0].toxicity == 0.5
    with pytest.raises(SpecError) as caught:
        load(SKETCH, ["faults.0.latncy=1s"])
    assert "did you mean 'latency'?" in issues_of(caught.value)[0]


def test_paths_that_do_not_exist_name_the_override_and_what_there_is():
    with pytest.raises(SpecError) as caught:
        load(
            SKETCH,
            [
                "faults.3.latency=2s",
                "faults.first.latency=2s",
                "experimnt.duration=2s",
                "experiment.name.x=1",
                "no-equals-sign",
            ],
        )
    assert issues_of(caught.value) == [
        "--set faults.3.latency: there is no faults[3] (the file has 1 fault)",
        "--set faults.first.latency: faults is an array: index it with a number (0..0)",
        "--set experimnt.duration: there is no experimnt in the file",
        "--set experiment.name.x: experiment.name is a value ('db-latency'), "
        "not a table or an array",
        "--set no-equals-sign: expected key.path=value; allowed: key.path=value",
    ]


def test_override_issues_come_with_the_file_issues(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text(SKETCH.read_text().replace('"45s"', '"45 secs"'))
    with pytest.raises(SpecError) as caught:
        load(path, ["hypotheses.5.below=1s"])
    assert [i.path for i in caught.value.issues] == [
        "--set hypotheses.5.below",
        "experiment.duration",
    ]


def test_seed_replaces_the_files_seed():
    assert load(SKETCH).experiment.seed == 7
    assert load(SKETCH, seed=99).experiment.seed == 99


def test_apply_overrides_changes_the_table_in_place():
    table = {"faults": [{"latency": "1s"}], "load": {"tasks": []}}
    assert apply_overrides(table, ["faults.0.latency=2s", "load.rate=5"]) == []
    assert table == {"faults": [{"latency": "2s"}], "load": {"tasks": [], "rate": 5}}


def test_a_missing_file_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError) as caught:
        read_table(tmp_path / "nope.toml")
    assert caught.value.file.endswith("nope.toml")
    assert issues_of(caught.value) == [
        "(file): cannot read it: No such file or directory"
    ]


def test_a_syntax_error_gives_line_and_column(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text('[experiment]\nname = "x"\nduration = 45s\n')
    with pytest.raises(SpecError) as caught:
        read_table(path)
    assert caught.value.issues[0].path == "line 3, column 14"


def test_a_file_that_is_not_utf8_is_a_spec_error(tmp_path):
    path = tmp_path / "x.toml"
    path.write_bytes(b"name = '\xff'\n")
    with pytest.raises(SpecError, match="not UTF-8"):
        read_table(path)
