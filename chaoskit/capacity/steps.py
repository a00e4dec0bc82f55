"""One step of a capacity search: a load level (and a held fault) as a short
experiment the runner runs on the services already up."""

from __future__ import annotations

from dataclasses import dataclass

from chaoskit.spec import model

__all__ = ["Step", "step_experiment"]


@dataclass(frozen=True)
class Step:
    """A level held for ``duration`` after ``warmup``, with a fault or none."""

    level: float
    """Requests/s (open model) or users (closed)."""
    duration: float
    warmup: float = 0.0
    fault: int | None = None
    """Index of the fault held for the whole step (``--fault``, ``vary``)."""
    setting: tuple[str, float] | None = None
    """The held fault's setting replaced (``vary``): key and value."""


def _held(
    fault: model.Fault, duration: float, setting: tuple[str, float] | None
) -> model.Fault:
    """The fault from the step's start to its end, once."""
    update: dict[str, object] = {
        "at": 0.0, "for_": duration, "occurrences": None, "period": None, "shift": 0.0,
    }  # fmt: skip
    if fault._EVERY_IS_SCHEDULE:
        update["every"] = None
    if fault._COUNT_IS_SCHEDULE and hasattr(fault, "count"):
        update["count"] = None
    if fault._JITTER_IS_SCHEDULE and hasattr(fault, "jitter"):
        update["jitter"] = 0.0
    if setting is not None:
        key, value = setting
        field = type(fault).model_fields[key]
        update[key] = round(value) if field.annotation is int else value
    held = fault.model_copy(update=update)
    held._at_latest = None
    return held


def step_experiment(
    experiment: model.Experiment,
    step: Step,
    hypotheses: tuple[model.Hypothesis, ...],
) -> model.Experiment:
    """The experiment one step runs: its level, its fault, its hypotheses.

    The load keeps its tasks and client settings; its shape (ramp, stages,
    profile, bursts) gives way to the flat level. Hypotheses are judged on the
    whole step after its warm-up (phase ``all``).
    """
    load = experiment.load
    if load.model == "open":
        shaped = {"rate": step.level}
    elif load.classes:
        # Classes keep their tables; the level is their total, never below
        # the users their fixed counts already take.
        fixed = sum(c.fixed_count or 0 for c in load.classes)
        shaped = {"user_count": max(1, fixed, round(step.level))}
    else:
        shaped = {"users": max(1, round(step.level))}
    load = load.model_copy(
        update={
            **shaped, "ramp": None, "profile": None, "stages": (), "bursts": (),
            "max_requests": None, "spawn_rate": None,
        }
    )  # fmt: skip
    info = experiment.experiment.model_copy(
        update={"duration": step.duration, "warmup": step.warmup}
    )
    faults: tuple[model.Fault, ...] = ()
    if step.fault is not None:
        faults = (_held(experiment.faults[step.fault], step.duration, step.setting),)
    judged = tuple(h.model_copy(update={"phase": "all"}) for h in hypotheses)
    return experiment.model_copy(
        update={
            "experiment": info, "load": load, "faults": faults, "hypotheses": judged,
            # Abort conditions per second still hold; probes judge nothing here.
        }
    )  # fmt: skip
