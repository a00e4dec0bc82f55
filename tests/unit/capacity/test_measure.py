"""Which hypotheses judge a level, and what `--slo` refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaoskit.capacity.measure import judged_hypotheses
from chaoskit.errors import UsageError
from chaoskit.spec import load

EXPERIMENT = Path(__file__).parents[3] / "experiments" / "capacity.toml"
RECOVERY = Path(__file__).parents[3] / "experiments" / "api-restart.toml"


def test_every_hypothesis_a_level_can_judge_by_default():
    experiment = load(EXPERIMENT)
    assert [h.name for h in judged_hypotheses(experiment)] == ["fast", "no errors"]


def test_slo_picks_hypotheses_by_name():
    experiment = load(EXPERIMENT)
    assert [h.name for h in judged_hypotheses(experiment, ["fast"])] == ["fast"]


def test_an_unknown_slo_names_the_known_ones():
    with pytest.raises(UsageError, match="'fast', 'no errors'"):
        judged_hypotheses(load(EXPERIMENT), ["nope"])


def test_a_recovery_hypothesis_cannot_judge_one_level():
    experiment = load(RECOVERY)
    recovery = next(h for h in experiment.hypotheses if h.kind == "recovery")
    with pytest.raises(UsageError, match="allowed kinds: threshold"):
        judged_hypotheses(experiment, [recovery.name])
