"""A step as an experiment: its level, its held fault, its hypotheses."""

from __future__ import annotations

from pathlib import Path

from chaoskit.capacity.measure import Measurement
from chaoskit.capacity.result import knee
from chaoskit.capacity.steps import Step, step_experiment
from chaoskit.spec import load

EXPERIMENT = Path(__file__).parents[3] / "experiments" / "capacity.toml"


def test_a_step_holds_its_level_and_judges_the_whole_step():
    experiment = load(EXPERIMENT)
    step = step_experiment(experiment, Step(150, 4, 1), experiment.hypotheses)
    assert step.load.rate == 150
    assert step.experiment.duration == 4
    assert step.experiment.warmup == 1
    assert step.faults == ()
    assert {h.phase for h in step.hypotheses} == {"all"}


def test_a_held_fault_lasts_the_whole_step_with_its_setting_varied():
    experiment = load(EXPERIMENT)
    step = Step(100, 4, 1, fault=0, setting=("latency", 0.04))
    (fault,) = step_experiment(experiment, step, ()).faults
    assert fault.start_range == (0.0, 0.0)
    assert fault.for_ == 4
    assert fault.latency == 0.04  # type: ignore[union-attr]
    assert experiment.faults[0].latency == 0.01  # type: ignore[union-attr]


def row(level: float, achieved: float, p95: float) -> Measurement:
    return Measurement("baseline", level, level, achieved, 10, p95, p95, 100, 0,
                       passed=True, hard=False)  # fmt: skip


def test_the_knee_is_the_last_level_before_latency_or_throughput_bends():
    rows = [row(25, 25, 20), row(50, 50, 21), row(100, 100, 25), row(200, 150, 900)]
    assert knee(rows) == 100
    assert knee([row(25, 25, 20), row(50, 50, 60)]) == 25
    assert knee([]) is None
