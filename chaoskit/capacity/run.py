"""The searches of ``chaoskit capacity`` on one stage: services and proxy up
once, each level a short real run on them, everything rolled back at the end
(also on Ctrl-C, as ``chaoskit run``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from chaoskit.capacity.measure import Measurement, judged_hypotheses, measure
from chaoskit.capacity.result import Capacity, capacity_of, knee, margin
from chaoskit.capacity.search import Bounds, Search, Trial, search
from chaoskit.capacity.steps import Step, step_experiment
from chaoskit.errors import UsageError
from chaoskit.events import Event, event
from chaoskit.runner.orchestrator import RunRequest, Stage, staged
from chaoskit.spec import model
from chaoskit.spec.capacity import intensity, is_duration, varied

__all__ = ["CapacityOptions", "CapacityRun", "run_capacity", "settings_of"]


@dataclass(frozen=True)
class CapacityOptions:
    """What the command line adds to ``[capacity]``."""

    slos: tuple[str, ...] = ()
    """``--slo NAME``: judge only these hypotheses."""
    fault: str | None = None
    """``--fault NAME``: search again with this fault held; compare."""


@dataclass
class CapacityRun:
    """Everything the searches found, for the report."""

    unit: str
    rows: list[Measurement] = field(default_factory=list)
    searches: dict[str, Capacity] = field(default_factory=dict)
    first_failures: dict[str, Measurement] = field(default_factory=dict)
    reason: str | None = None
    started_at: str = ""
    duration_s: float = 0.0
    vary: dict[str, object] | None = None
    baseline_level: Measurement | None = None
    """``vary``: the fixed load without the fault."""


def settings_of(experiment: model.Experiment) -> model.CapacitySection:
    """``[capacity]`` with its defaults."""
    return experiment.capacity or model.CapacitySection()


def _unit(experiment: model.Experiment) -> str:
    return "requests/s" if experiment.load.model == "open" else "users"


def _load_bounds(experiment: model.Experiment) -> tuple[float, float]:
    settings = settings_of(experiment)
    load = experiment.load
    current = float(load.rate or load.user_total or 1.0)
    high = settings.max or current * 4
    low = settings.min or high / 32
    if load.model == "closed":
        low, high = max(1.0, round(low)), max(2.0, round(high))
    return low, high


def _fault_index(experiment: model.Experiment, name: str) -> int:
    for index, fault in enumerate(experiment.faults):
        if fault.name == name:
            return index
    known = ", ".join(repr(f.name) for f in experiment.faults) or "none"
    raise UsageError(f"--fault {name!r}: no fault of that name (the file has: {known})")


def check_options(experiment: model.Experiment, options: CapacityOptions) -> None:
    """Refuse what cannot be searched, before anything starts.

    Raises:
        UsageError: exit 2, saying what is allowed.
    """
    if experiment.load.engine == "locust":
        raise UsageError(
            'capacity: load.engine = "locust" is not searched yet; use the '
            "native engine (its levels are set per step)"
        )
    judged_hypotheses(experiment, options.slos)
    if options.fault is not None:
        _fault_index(experiment, options.fault)
        if settings_of(experiment).vary is not None:
            raise UsageError(
                "--fault and capacity.vary both hold a fault: use one of them"
            )


def _iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds")


async def run_capacity(
    request: RunRequest,
    options: CapacityOptions,
    emit: Callable[[Event], None],
    progress: Callable[[Measurement], None] = lambda _: None,
) -> CapacityRun:
    """Bring the services up once, run the searches, roll everything back."""
    experiment = request.experiment
    settings = settings_of(experiment)
    hypotheses = judged_hypotheses(experiment, options.slos)
    run = CapacityRun(unit=_unit(experiment))
    started = time.time()
    run.started_at = _iso(started)
    deadline = time.monotonic() + settings.budget
    counter = {"n": 0}

    def judge(stage: Stage, name: str, make: Callable[[float], Step]) -> Callable:  # type: ignore[type-arg]
        async def one(level: float) -> Trial:
            counter["n"] += 1
            step = make(level)
            directory = request.report_dir / "steps" / f"{counter['n']:02d}-{name}"
            data = await stage.run_step(
                step_experiment(experiment, step, hypotheses), directory
            )
            row = measure(data, name, level, settings.hard_error_rate)
            run.rows.append(row)
            if not row.passed:
                run.first_failures.setdefault(name, row)
            emit(event("capacity_step", **row.to_json()))
            progress(row)
            return Trial(level, row.passed, row.hard, stop=stage.stop.is_set())

        return one

    def bounds(low: float, high: float, *, integer: bool) -> Bounds:
        return Bounds(
            low, high, growth=settings.growth, resolution=settings.resolution,
            trials=settings.trials, max_steps=settings.max_steps,
            budget_s=max(0.0, deadline - time.monotonic()), integer=integer,
        )  # fmt: skip

    def step(level: float, fault: int | None = None) -> Step:
        return Step(level, settings.step_duration, settings.warmup, fault)

    async with staged(request, emit) as stage:
        await stage.bring_up()
        integer = experiment.load.model == "closed"
        where = varied(settings)
        if where is not None:
            index, key = where
            fault = experiment.faults[index]
            if settings.range is None or settings.at is None:  # spec.load refuses it
                raise UsageError("capacity.vary needs capacity.range and capacity.at")
            low, high = (intensity(fault, key, raw) for raw in settings.range)
            at = settings.at
            base = await judge(stage, "baseline", lambda level: step(level))(at)
            run.baseline_level = run.rows[-1]
            duration = is_duration(fault, key)
            run.vary = {
                "setting": settings.vary, "fault": fault.name, "at": at,
                "unit": "ms" if duration else "", "range": [low, high],
            }  # fmt: skip
            if not base.stop:
                # Intensity 0 is no fault: ramp from a 32nd of the range's top.
                start = low or high / 32

                def at_intensity(value: float) -> Step:
                    return Step(
                        at, settings.step_duration, settings.warmup, index, (key, value)
                    )

                found = await search(
                    judge(stage, "vary", at_intensity),
                    bounds(
                        start,
                        high,
                        integer=type(fault).model_fields[key].annotation is int,
                    ),
                )
                scale = 1000.0 if duration else 1.0
                run.searches["vary"] = _scaled(
                    capacity_of(found, "ms" if duration else key), scale
                )
        else:
            low, high = _load_bounds(experiment)
            found = await search(
                judge(stage, "baseline", lambda level: step(level)),
                bounds(low, high, integer=integer),
            )
            run.searches["baseline"] = capacity_of(found, run.unit)
            if options.fault is not None and not _stopped(found):
                index = _fault_index(experiment, options.fault)
                found = await search(
                    judge(stage, "fault", lambda level: step(level, index)),
                    bounds(low, high, integer=integer),
                )
                run.searches["fault"] = capacity_of(found, run.unit)
    run.reason = stage.reason
    run.duration_s = round(time.time() - started, 3)
    return run


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _stopped(found: Search) -> bool:
    return found.stopped == "interrupted"


def _scaled(capacity: Capacity, scale: float) -> Capacity:
    def s(x: float | None) -> float | None:
        return None if x is None else x * scale

    return Capacity(
        s(capacity.value), capacity.low * scale, s(capacity.high), capacity.unit,
        capacity.stopped,
    )  # fmt: skip


def headline(run: CapacityRun) -> tuple[str, Capacity | None]:
    """Which search is the answer: under the fault, the varied setting, else
    the baseline."""
    for name in ("fault", "vary", "baseline"):
        if name in run.searches:
            return name, run.searches[name]
    return "baseline", None


def summary(run: CapacityRun) -> dict[str, object]:
    """The capacity keys of report.json."""
    name, answer = headline(run)
    baseline = run.searches.get("baseline")
    first = run.first_failures.get(name)
    broke = (
        first.broke[0].to_json() | {"level": first.level}
        if first and first.broke
        else None
    )
    if first is not None and broke is None:
        broke = {"hypothesis": None, "how": "aborted" if first.reason else "no data",
                 "observed": first.reason or "", "expected": "", "error_class": None,
                 "level": first.level}  # fmt: skip
    rows = [r for r in run.rows if r.search == name]
    fault = name == "fault" and baseline is not None and answer is not None
    cost = margin(baseline, answer) if fault else None  # type: ignore[arg-type]
    return {
        "capacity": answer.to_json() if answer else None,
        "broke_first": broke,
        "knee": _round(knee(rows)) if name != "vary" else None,
        "baseline": (
            baseline.to_json() if baseline is not None and name != "baseline"
            else run.baseline_level.to_json() if run.baseline_level else None
        ),
        "margin": cost,
        "vary": run.vary,
        "curve": [r.to_json() for r in run.rows],
    }  # fmt: skip


def capacity_document(
    run: CapacityRun, request: RunRequest, required: float | None
) -> dict[str, object]:
    """The report document of the whole search (report.json, the journal's end)."""
    experiment = request.experiment
    found = summary(run)
    answer = mapping_of(found.get("capacity"))
    value = answer.get("value")
    if run.reason is not None:
        verdict = "aborted"
    elif required is not None and (not isinstance(value, float) or value < required):
        verdict = "failed"
    else:
        verdict = "passed"
    name, _ = headline(run)
    first = run.first_failures.get(name)
    errors: dict[str, int] = {}
    for row in run.rows:
        for key, count in row.error_classes.items():
            errors[key] = errors.get(key, 0) + count
    return {
        "kind": "capacity",
        "experiment": {
            "name": experiment.experiment.name, "title": experiment.experiment.title,
            "file": str(request.file), "seed": request.seed,
        },
        "verdict": verdict,
        "reason": run.reason,
        "command": request.command,
        "report_dir": str(request.report_dir),
        "started_at": run.started_at,
        "duration_s": run.duration_s,
        "required": required,
        **found,
        "searches": {k: c.to_json() for k, c in run.searches.items()},
        # The hypotheses as judged at the first level that broke.
        "hypotheses": list(first.verdicts) if first else [],
        "faults": [], "phases": [], "tasks": {},
        "errors": {k: {"count": v} for k, v in sorted(errors.items())},
    }  # fmt: skip


def mapping_of(value: object) -> dict[str, object]:
    """A JSON object, or an empty one."""
    return dict(value) if isinstance(value, dict) else {}
