"""probe, leak and returns hypotheses on probe series of known shape."""

from __future__ import annotations

import random

import pytest

from chaoskit.checks import CheckContext, evaluate
from chaoskit.checks.probes import fault_windows, theil_sen
from chaoskit.events import FaultRecord, PhaseRecord, ProbeSeries
from chaoskit.spec.model import LeakHypothesis, ProbeHypothesis, ReturnsHypothesis

MB = 1_000_000


def series(
    name: str, metric: str, points: list[tuple[float, float | None]]
) -> ProbeSeries:
    s = ProbeSeries(name, "process", "pid 1", 1.0, (metric,))
    for t, v in points:
        s.add(t, {metric: v})
    return s


def context(
    *probes: ProbeSeries, fault: tuple[float, float] = (10, 14)
) -> CheckContext:
    start, end = fault
    return CheckContext(
        merged=lambda labels, tasks: None,
        phases=(
            PhaseRecord("before", 0, start),
            PhaseRecord("during:db down", start, end),
            PhaseRecord("after:db down", end, 30),
        ),
        windows=(),
        faults=(
            FaultRecord(
                "db down",
                "down",
                "route db",
                {},
                start,
                end,
                started_s=start,
                ended_s=end,
                rolled_back=True,
            ),
        ),
        task_groups={},
        bins=lambda *a: [],
        probes={p.name: p for p in probes},
    )


def test_theil_sen_ignores_outliers_least_squares_would_follow():
    rng = random.Random(3)
    points = [(float(t), 100 + 2.0 * t + rng.uniform(-1, 1)) for t in range(60)]
    for i in (5, 17, 33, 50):  # garbage-collection dips and spikes
        points[i] = (points[i][0], points[i][1] + (-400 if i % 2 else 900))
    slope, intercept = theil_sen(points)
    assert slope == pytest.approx(2.0, abs=0.1)
    assert intercept == pytest.approx(100, abs=3)


def test_theil_sen_thins_a_long_series_and_needs_two_times():
    slope, _ = theil_sen([(t / 10, 5.0 * t / 10) for t in range(20_000)])
    assert slope == pytest.approx(5.0)
    with pytest.raises(ValueError, match="two points"):
        theil_sen([(1.0, 1.0), (1.0, 2.0)])


def leak(**kw: object) -> LeakHypothesis:
    return LeakHypothesis.model_validate(
        {"name": "no leak", "kind": "leak", "probe": "api", "metric": "rss_bytes",
         "max_growth": "1MB/min", **kw}
    )  # fmt: skip


def test_leak_fails_on_steady_growth_and_draws_its_line():
    grows = series("api", "rss_bytes", [(t, 50 * MB + t * 50_000) for t in range(30)])
    [verdict] = evaluate([leak()], context(grows))
    assert not verdict.passed
    assert verdict.observed == "grows 3MB/min"
    assert verdict.data is not None
    assert verdict.data["slope_per_s"] == pytest.approx(50_000)
    assert (verdict.data["start_s"], verdict.data["end_s"]) == (0, 29)


def test_leak_passes_on_a_flat_series_with_spikes():
    flat = [(t, 50 * MB + (20 * MB if t % 7 == 0 else 0)) for t in range(30)]
    [verdict] = evaluate([leak()], context(series("api", "rss_bytes", flat)))
    assert verdict.passed, verdict


def test_leak_with_too_few_samples_says_so():
    few = series("api", "rss_bytes", [(t, 1.0) for t in range(4)])
    few.gap(4.0, "process 12 is gone")
    [verdict] = evaluate([leak()], context(few))
    assert (verdict.passed, verdict.status) == (False, "inconclusive")
    assert verdict.observed == "4 samples of api.rss_bytes"
    assert "fewer than min_samples = 10" in verdict.detail
    assert "process 12 is gone" in verdict.detail


def test_probe_statistics_against_a_bound_in_the_metrics_unit():
    share = ProbeSeries("db", "postgres", "service db", 1.0, ("connections_share",))
    for t in range(30):
        share.add(t, {"connections_share": 0.9 if 10 <= t < 14 else 0.1})
    ctx = context(share)

    def check(**kw: object) -> bool:
        h = ProbeHypothesis.model_validate(
            {"name": "h", "kind": "probe", "probe": "db",
             "metric": "connections_share", **kw}
        )  # fmt: skip
        return evaluate([h], ctx)[0].passed

    assert not check(phase="during", below="80%")  # max 90%
    assert check(phase="during", stat="min", above="50%")
    assert check(phase="after", below="80%")
    assert check(phase="all", stat="mean", below="25%")  # 20.7%
    assert check(phase="all", stat="last", below="11%")


def test_returns_passes_when_back_in_time_and_fails_on_a_leak():
    def connections(leaked: int) -> ProbeSeries:
        points = []
        for t in range(30):
            value = 4.0 if t < 10 else 0.0 if t < 14 else 4.0 + leaked
            points.append((float(t), value))
        return series("db", "connections", points)

    def verdict(leaked: int, **kw: object):  # type: ignore[no-untyped-def]
        h = ReturnsHypothesis.model_validate(
            {"name": "back", "kind": "returns", "probe": "db",
             "metric": "connections", "within": "5s", **kw}
        )  # fmt: skip
        return evaluate([h], context(connections(leaked)))[0]

    ok = verdict(0)
    assert ok.passed
    assert ok.observed == "back in 0s"
    leaked = verdict(6)
    assert not leaked.passed
    assert leaked.observed == "connections 10 after 5s"
    assert "level before: 4" in leaked.detail
    assert verdict(1, tolerance=1).passed
    assert verdict(1, tolerance="25%").passed
    assert not verdict(2, tolerance="25%").passed


def test_returns_not_back_when_the_run_ended_too_soon_is_inconclusive():
    # The run ends 16 s after the fault; 20 s were allowed: not a failure yet.
    leaked = series("db", "connections", [(float(t), 4.0 if t < 10 else 9.0)
                                          for t in range(30)])  # fmt: skip
    h = ReturnsHypothesis.model_validate(
        {"name": "back", "kind": "returns", "probe": "db", "metric": "connections",
         "within": "20s"}
    )  # fmt: skip
    [verdict] = evaluate([h], context(leaked))
    assert verdict.status == "inconclusive"
    assert verdict.observed == "not back in 16s, observed only that long"
    # Allowed 5 s, seen for 16 s: a failure.
    h = h.model_copy(update={"within": 5.0})
    [verdict] = evaluate([h], context(leaked))
    assert verdict.status == "failed"


def test_returns_without_samples_before_the_fault_is_no_data():
    late = series("db", "connections", [(float(t), 4.0) for t in range(15, 30)])
    h = ReturnsHypothesis.model_validate(
        {"name": "back", "kind": "returns", "probe": "db", "metric": "connections",
         "within": "5s"}
    )  # fmt: skip
    [verdict] = evaluate([h], context(late))
    assert not verdict.passed
    assert verdict.observed == "no data"


def test_fault_windows_come_from_the_phases_one_per_occurrence():
    ctx = CheckContext(
        merged=lambda labels, tasks: None,
        phases=(
            PhaseRecord("before", 0, 5),
            PhaseRecord("during:a", 5, 7),
            PhaseRecord("during:a+b", 7, 8),
            PhaseRecord("during:b", 8, 9),
            PhaseRecord("after:b", 9, 15),
            PhaseRecord("during:a", 15, 17),
            PhaseRecord("after:a", 17, 25),
            PhaseRecord("during:b", 25, 30),  # still in place at the end
        ),
        windows=(),
        faults=(),
        task_groups={},
        bins=lambda *a: [],
    )
    assert fault_windows(ctx, ["a", "b"]) == [(5, 8, "a"), (7, 9, "b"), (15, 17, "a")]


def test_returns_judges_every_window_of_a_fault_that_comes_back():
    phases = (
        PhaseRecord("before", 0, 5),
        PhaseRecord("during:flap", 5, 7),
        PhaseRecord("after:flap", 7, 15),
        PhaseRecord("during:flap", 15, 17),
        PhaseRecord("after:flap", 17, 30),
    )
    # Released after the first window, one leaked after the second.
    points = [(float(t), 0.0 if 5 <= t < 7 or 15 <= t < 17 else 4.0) for t in range(30)]
    points = [(t, v + (1 if t >= 17 else 0)) for t, v in points]
    ctx = CheckContext(
        merged=lambda labels, tasks: None, phases=phases, windows=(),
        faults=(FaultRecord("flap", "down", "route db", {}, 5, 7),),
        task_groups={}, bins=lambda *a: [],
        probes={"db": series("db", "connections", points)},
    )  # fmt: skip
    h = ReturnsHypothesis.model_validate(
        {"name": "back", "kind": "returns", "probe": "db", "metric": "connections",
         "within": "5s"}
    )  # fmt: skip
    first, second = evaluate([h], ctx)
    assert (first.name, first.passed) == ("back [flap at 5.0s]", True)
    assert (second.name, second.passed) == ("back [flap at 15.0s]", False)
    assert second.observed == "connections 5 after 5s"
