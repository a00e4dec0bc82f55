"""Validation of the sharper rule keys: fallback freshness and shares, backoff
waits, counters, numbers read from responses; each mistake at its key path."""

from __future__ import annotations

import tomllib

import pytest

from chaoskit.errors import SpecError
from chaoskit.plan import build_plan
from chaoskit.runner.load import build_load_config, observed_probes
from chaoskit.spec.validate import validate

HEAD = """
[experiment]
name = "rules"
duration = "20s"

[[proxy.routes]]
name = "reco"
upstream = "127.0.0.1:9000"

[target]
base_url = "http://127.0.0.1:8000"

[load]
rate = 20

[[load.tasks]]
name = "reco"
path = "/recommendations"
marker = { header = "X-Fallback" }

[[load.tasks]]
name = "update"
method = "POST"
path = "/updates"
"""


def load(body: str):
    return validate(tomllib.loads(HEAD + body), "rules.toml")


def problems(body: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load(body)
    return [f"{i.path}: {i.message}" for i in caught.value.issues]


def hypothesis(**keys: object) -> str:
    lines = ['[[hypotheses]]\nname = "h"\nphase = "all"']
    for key, value in keys.items():
        text = (
            f'"{value}"'
            if isinstance(value, str) and not value.startswith("{")
            else value
        )
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


def test_fallback_rules_read_as_written_and_show_in_the_plan():
    body = hypothesis(kind="fallback", task="reco", min_share="95%",
                      fresh_within="200ms", max_share="100%")  # fmt: skip
    experiment = load(body)
    text = build_plan(experiment, 1).describe()
    assert "reco: >= 95% good (marked, or fresh within 200ms), <= 100% marked" in text


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({}, "hypotheses[0].min_share: is required (or max_share)"),
        (
            {"fresh_within": "200ms", "max_share": "10%"},
            "hypotheses[0].fresh_within: judges the share of good responses: it "
            "needs min_share",
        ),
        (
            {"min_share": "90%", "max_share": "10%"},
            "hypotheses[0].max_share: is below min_share (90%): no share of marked "
            "responses can pass both",
        ),
    ],
)
def test_fallback_rules_that_cannot_be_judged_are_refused(keys, expected):
    assert problems(hypothesis(kind="fallback", task="reco", **keys)) == [expected]


def test_backoff_takes_first_wait_and_total_growth_as_its_rules():
    body = hypothesis(kind="backoff", route="reco", min_first_wait="50ms",
                      min_total_growth=4)  # fmt: skip
    [h] = load(body).hypotheses
    assert h.rules_text() == (
        "retries at route reco: first wait >= 50ms, last wait >= 4x the first"
    )
    assert (
        "min_total_growth"
        in problems(hypothesis(kind="backoff", route="reco", min_total_growth=1))[0]
    )


def test_a_counter_read_back_needs_a_task_and_a_number_to_read():
    good = hypothesis(kind="integrity", task="update",
                      read_back='{ url = "/total", count = "$.total" }')  # fmt: skip
    assert "the counter $.total of /total equals the acknowledged writes of update" in (
        build_plan(load(good), 1).describe()
    )
    sql = hypothesis(
        kind="integrity", task="update",
        read_back='{ query = "SELECT sum(n) FROM t", database = "a.db", '
        'expect = "acknowledged" }',
    )  # fmt: skip
    assert load(sql).hypotheses[0].read_back.counts
    assert problems(
        hypothesis(kind="integrity", read_back='{ url = "/total", count = "$.total" }')
    ) == [
        "hypotheses[0].task: is required with a counter read-back: whose "
        "acknowledged writes the number counts"
    ]
    assert problems(
        hypothesis(
            kind="integrity",
            task="update",
            read_back='{ url = "/total", expect = "acknowledged" }',
        )
    ) == [
        "hypotheses[0].read_back.count: is required for an HTTP counter read-back "
        "(expect is set)"
    ]


def test_a_header_metric_is_read_only_for_the_task_a_hypothesis_names():
    body = hypothesis(metric="header:X-Upstream-Attempts", stat="p99", task="reco",
                      below=4)  # fmt: skip
    body += hypothesis(value="$.attempts", task="reco", below=3).replace(
        'name = "h"', 'name = "h2"'
    )
    experiment = load(body)
    h = experiment.hypotheses[0]
    assert (h.header, h.probe, h.summary) == (
        "X-Upstream-Attempts", "header:X-Upstream-Attempts", "p99"
    )  # fmt: skip
    assert observed_probes(experiment) == {
        "reco": ("header:X-Upstream-Attempts", "$.attempts")
    }
    config = build_load_config(experiment, 1, "http://127.0.0.1:8000")
    observe = {t.name: t.observe for t in config.tasks}
    assert observe == {"reco": ("header:X-Upstream-Attempts", "$.attempts"),
                       "update": ()}  # fmt: skip
    assert b"x-upstream-attempts" in config.marker_headers()
    assert "max of $.attempts in each response of reco below 3" in (
        build_plan(experiment, 1).describe()
    )


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (
            {"metric": "header:X-A", "below": 4},
            "hypotheses[0].task: is required: max of header X-A is read from the "
            "responses of one task",
        ),
        (
            {"value": "attempts", "task": "reco", "below": 4},
            "hypotheses[0].value: is not a JSON path",
        ),
        (
            {"metric": "p95", "value": "$.a", "task": "reco", "below": 4},
            "hypotheses[0].value: cannot be combined with metric: give one thing to "
            "measure",
        ),
        (
            {"metric": "p95", "stat": "max", "below": "1s"},
            "hypotheses[0].stat: summarises a header or value, not p95",
        ),
        (
            {"value": "$.a", "task": "reco", "below": "4ms"},
            "hypotheses[0].below: is not a number",
        ),
        ({"below": 4}, "hypotheses[0].metric: is required"),
    ],
)
def test_a_number_read_from_responses_is_refused_when_it_cannot_be_judged(
    keys, expected
):
    assert problems(hypothesis(**keys)) == [expected]
