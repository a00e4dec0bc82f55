"""Hypotheses on probe series: ``probe`` (a statistic against a bound),
``leak`` (growth rate by a robust slope) and ``returns`` (back to the level
before each fault, within a time).

Too little data (no sample in the phase, fewer than ``min_samples`` for a
slope, no level before a fault) is ``inconclusive``, as in every other check
(:func:`chaoskit.checks.base.too_little_data`).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from chaoskit.checks.base import Verdict, evaluator, inconclusive, too_little_data
from chaoskit.checks.context import CheckContext
from chaoskit.events import ProbeSeries
from chaoskit.spec.model import (
    LeakHypothesis,
    ProbeHypothesis,
    ReturnsHypothesis,
    format_probe_rate,
    format_probe_value,
)
from chaoskit.units import format_duration

__all__ = ["fault_windows", "theil_sen"]

_MAX_POINTS = 400
"""Points a slope is fitted on: a longer series is thinned evenly, so the
pairwise slopes stay at most ~80,000 (tens of milliseconds) for any run length."""


def theil_sen(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """(slope, intercept) of the Theil-Sen line: the median of the slopes between
    every pair of points, and the median of ``y - slope * x``.

    Robust to outliers (a garbage-collection dip, a spike) up to ~29 % of the
    points, where least squares would follow them. Written out rather than
    taken from a library: it is a few lines, and numpy is not a dependency.

    Raises:
        ValueError: fewer than two points with distinct times.
    """
    if len(points) > _MAX_POINTS:
        step = len(points) / _MAX_POINTS
        points = [points[int(i * step)] for i in range(_MAX_POINTS)]
    slopes = [
        (y2 - y1) / (x2 - x1)
        for i, (x1, y1) in enumerate(points)
        for x2, y2 in points[i + 1 :]
        if x2 != x1
    ]
    if not slopes:
        raise ValueError("a slope needs two points at different times")
    slope = statistics.median(slopes)
    intercept = statistics.median(y - slope * x for x, y in points)
    return slope, intercept


def fault_windows(
    ctx: CheckContext, names: Sequence[str]
) -> list[tuple[float, float, str]]:
    """(start, end, fault) of every window in which a fault was in place, from
    the run's phases (``during:a+b`` is a window of a and of b), in time order.

    A fault that comes back several times has one window per occurrence; a
    window still open when the run ended has no after, and is left out.
    """
    ended = ctx.phases[-1].end_s if ctx.phases else 0.0
    windows = []
    for name in names:
        start: float | None = None
        end = 0.0
        for phase in ctx.phases:
            kind, _, active = phase.name.partition(":")
            inside = kind == "during" and name in active.split("+")
            if inside and start is None:
                start = phase.start_s
            if inside:
                end = phase.end_s
            elif start is not None:
                windows.append((start, end, name))
                start = None
        if start is not None and end < ended:
            windows.append((start, end, name))
    return sorted(windows)


def _series(ctx: CheckContext, name: str) -> ProbeSeries | None:
    return ctx.probes.get(name)


def _in_phase(
    ctx: CheckContext, series: ProbeSeries, metric: str, phase: str
) -> list[tuple[float, float]]:
    points: list[tuple[float, float]] = []
    for start, end in ctx.spans(phase):
        points += series.points(metric, start, end)
    return sorted(points)


def _too_few(
    h: object, expected: str, count: int, need: int, what: str, hint: str
) -> list[Verdict]:
    name, kind, phase = (getattr(h, k) for k in ("name", "kind", "phase"))
    scarce = too_little_data(name, kind, phase, expected, count, need, what, hint)
    return [scarce] if scarce is not None else []


def _gaps(series: ProbeSeries | None) -> str:
    if series is None or not series.gaps:
        return ""
    first = series.gaps[0][1]
    return f"; {len(series.gaps)} sample(s) failed (first: {first})"


@evaluator("probe")
def probe(ctx: CheckContext, hypothesis: object) -> list[Verdict]:
    """The statistic of the phase's samples on the right side of the bound."""
    assert isinstance(hypothesis, ProbeHypothesis)  # noqa: S101 - registry dispatch
    h = hypothesis
    expected = f"{h.stat} {h.direction} {format_probe_value(h.metric, h.limit)}"
    series = _series(ctx, h.probe)
    points = _in_phase(ctx, series, h.metric, h.phase) if series else []
    if len(points) < h.needs():
        return _too_few(h, expected, len(points), h.needs(),
                        f"samples of {h.probe}.{h.metric}",
                        _gaps(series).removeprefix("; "))  # fmt: skip
    values = [v for _, v in points]
    stat = {
        "max": max(values),
        "min": min(values),
        "mean": statistics.fmean(values),
        "last": values[-1],
    }[h.stat]
    passed = stat < h.limit if h.direction == "below" else stat > h.limit
    shown = format_probe_value(h.metric, stat)
    return [
        Verdict(
            h.name, h.kind, h.phase, passed,
            observed=f"{h.metric} {h.stat} {shown}",
            expected=expected,
            detail=f"{len(values)} samples of {h.probe}.{h.metric} in the "
            f"{h.phase} phase{_gaps(series)}",
            observed_value=stat, expected_value=h.limit,
            data={"probe": h.probe, "metric": h.metric, "samples": len(values)},
        )
    ]  # fmt: skip


@evaluator("leak")
def leak(ctx: CheckContext, hypothesis: object) -> list[Verdict]:
    """The Theil-Sen slope of the phase's samples at most ``max_growth``."""
    assert isinstance(hypothesis, LeakHypothesis)  # noqa: S101 - registry dispatch
    h = hypothesis
    limit = h.growth_limit
    expected = f"grows at most {format_probe_rate(h.metric, limit)}"
    series = _series(ctx, h.probe)
    points = _in_phase(ctx, series, h.metric, h.phase) if series else []
    if len(points) < h.needs():
        return _too_few(
            h, expected, len(points), h.needs(), f"samples of {h.probe}.{h.metric}",
            "a slope needs them" + _gaps(series),
        )  # fmt: skip
    slope, intercept = theil_sen(points)
    start, end = points[0][0], points[-1][0]
    grown = slope * (end - start)
    passed = slope <= limit
    return [
        Verdict(
            h.name, h.kind, h.phase, passed,
            observed=f"grows {format_probe_rate(h.metric, slope)}",
            expected=expected,
            detail=f"Theil-Sen slope over {len(points)} samples in "
            f"{format_duration(end - start)}: {format_probe_value(h.metric, grown)} "
            f"in all (from {format_probe_value(h.metric, points[0][1])} to "
            f"{format_probe_value(h.metric, points[-1][1])}){_gaps(series)}",
            observed_value=slope, expected_value=limit,
            data={"probe": h.probe, "metric": h.metric, "slope_per_s": slope,
                  "intercept": intercept, "start_s": start, "end_s": end,
                  "samples": len(points)},
        )
    ]  # fmt: skip


@evaluator("returns")
def returns(ctx: CheckContext, hypothesis: object) -> list[Verdict]:
    """One verdict per fault window: the first sample after it that is back
    within the tolerance of the median level before the fault, in time."""
    assert isinstance(hypothesis, ReturnsHypothesis)  # noqa: S101 - registry dispatch
    h = hypothesis
    series = _series(ctx, h.probe)
    names = [f.name for f in ctx.faults if h.fault is None or f.name == h.fault]
    windows = fault_windows(ctx, names)
    expected = f"back within {format_duration(h.within)}"
    if not windows:
        return [
            inconclusive(h.name, h.kind, h.phase, expected, "no data",
                         "no fault window ended in the run: nothing to judge")
        ]  # fmt: skip
    verdicts = []
    previous_end = 0.0
    for started, ended, name in windows:
        label = f"{h.name} [{name} at {started:.1f}s]" if len(windows) > 1 else h.name
        before = series.points(h.metric, previous_end, started) if series else []
        previous_end = ended
        if not before:
            verdicts += _too_few(
                _Named(label, h), expected, 0, 1,
                f"samples of {h.probe}.{h.metric} before fault {name!r}",
                _gaps(series).removeprefix("; "),
            )  # fmt: skip
            continue
        level = statistics.median(v for _, v in before)
        band = h.band(level)
        after = (
            series.points(h.metric, ended, ended + h.within + 1e-9) if series else []
        )
        back = next((t for t, v in after if abs(v - level) <= band), None)
        shown = format_probe_value(h.metric, level)
        expected_one = (
            f"within {format_probe_value(h.metric, band)} of {shown} in "
            f"{format_duration(h.within)}"
        )
        took = max(0.0, back - ended) if back is not None else None
        run_end = ctx.end_s(ended)
        if took is None and run_end < ended + h.within:
            # Not back yet, but the run ended before `within` was up: it
            # might have come back in time; neither verdict is earned.
            verdicts.append(
                inconclusive(
                    label, h.kind, h.phase, expected_one,
                    f"not back in {format_duration(max(0.0, run_end - ended))}, "
                    "observed only that long",
                    f"fault {name!r} ended at {ended:.1f}s and the run at "
                    f"{run_end:.1f}s, before {format_duration(h.within)} was up "
                    "(give the timeline more time after the fault)",
                    None, h.within,
                )
            )  # fmt: skip
            continue
        if took is not None:
            observed = f"back in {format_duration(took) if took else '0s'}"
        elif after:
            last = format_probe_value(h.metric, after[-1][1])
            observed = f"{h.metric} {last} after {format_duration(h.within)}"
        else:
            observed = "no sample after the fault"
        missed = (
            ""
            if took is not None
            else f"; {len(after)} sample(s) in the next {format_duration(h.within)}"
            + _gaps(series)
        )
        verdicts.append(
            Verdict(
                label, h.kind, h.phase, passed=took is not None,
                observed=observed, expected=expected_one,
                detail=f"fault {name!r} ended at {ended:.1f}s; level before: "
                f"{shown} (median of {len(before)} samples){missed}",
                observed_value=took, expected_value=h.within,
                data={"probe": h.probe, "metric": h.metric, "level": level,
                      "band": band, "fault": name},
            )
        )  # fmt: skip
    return verdicts


class _Named:
    """A hypothesis seen under another name (one verdict per fault)."""

    def __init__(self, name: str, h: ReturnsHypothesis) -> None:
        self.name, self.kind, self.phase = name, h.kind, h.phase
