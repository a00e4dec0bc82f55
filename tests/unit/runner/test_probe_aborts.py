"""Abort conditions on probe metrics: a streak of samples past the bound."""

from __future__ import annotations

from chaoskit.events import ProbeSeries
from chaoskit.runner.probes import ProbeAborts
from chaoskit.spec.model import AbortCondition


def feed(condition: dict[str, object], values: list[float | None]) -> list[str]:
    reasons: list[str] = []
    aborts = ProbeAborts((AbortCondition.model_validate(condition),), reasons.append)
    series = ProbeSeries("db", "postgres", "service db", 1.0, ("connections_share",))
    other = ProbeSeries("api", "process", "service api", 1.0, ("connections_share",))
    for t, value in enumerate(values):
        aborts(other, float(t), {"connections_share": 1.0})  # another probe: ignored
        aborts(series, float(t), {"connections_share": value})
    return reasons


def test_the_first_sample_past_the_bound_aborts_by_default():
    share = {"probe": "db", "metric": "connections_share", "above": "80%"}
    assert feed(share, [0.5, 0.79, 0.8]) == []
    assert feed(share, [0.5, 0.85]) == [
        "abort condition: db.connections_share 85.0% above 80.0%"
    ]


def test_for_needs_the_streak_to_last_and_a_gap_ends_it():
    share = {"probe": "db", "metric": "connections_share", "above": "80%", "for": "2s"}
    assert feed(share, [0.9, 0.9, 0.5, 0.9, None, 0.9, 0.9]) == []
    assert feed(share, [0.9, 0.9, 0.9]) == [
        "abort condition: db.connections_share 90.0% above 80.0% for 2s"
    ]
