"""Hypothesis evaluators on a recorder fed with samples of known shape."""

from __future__ import annotations

import pytest

from chaoskit.checks import EVALUATORS, CheckContext, evaluate
from chaoskit.checks.recovery import recovery_time
from chaoskit.events import FaultRecord, PhaseRecord
from chaoskit.metrics.recorder import Recorder
from chaoskit.metrics.series import Bin, bins_by_intended_start
from chaoskit.records import ErrorClass, Sample
from chaoskit.spec.model import (
    HYPOTHESIS_KINDS,
    ErrorBudgetHypothesis,
    RecoveryHypothesis,
    SlaBudget,
    SlaHypothesis,
    ThresholdHypothesis,
)

S = 1_000_000_000
MS = 1_000_000


def run_with_known_recovery(recover_after_s: int = 3) -> tuple[CheckContext, Recorder]:
    """0-10 s before (50 ms), 10-20 s latency fault (400 ms), then slow for
    ``recover_after_s`` seconds (300 ms) and back to 50 ms until 30 s."""
    recorder = Recorder(origin_ns=0, phase="before")
    samples: list[Sample] = []
    for second in range(30):
        if second == 10:
            recorder.enter_phase("during:slow db")
        if second == 20:
            recorder.enter_phase("after:slow db")
        if second < 10:
            latency = 50
        elif second < 20:
            latency = 400
        elif second < 20 + recover_after_s:
            latency = 300
        else:
            latency = 50
        for i in range(10):
            start = second * S + i * 100 * MS
            task = "browse" if i % 2 else "progress"
            error = ErrorClass.HTTP_5XX if (10 <= second < 20 and i == 0) else None
            sample = Sample(
                task, i, start, start, start + latency * MS,
                500 if error else 200, 10, 10, error,
            )  # fmt: skip
            samples.append(sample)
            recorder.write(sample)
    recorder.close()
    snapshot = recorder.snapshot()
    ctx = CheckContext(
        bins=lambda start, end, step, tasks: bins_by_intended_start(
            samples, 0, start, end, step, tasks
        ),
        merged=recorder.merged,
        phases=(
            PhaseRecord("before", 0, 10),
            PhaseRecord("during:slow db", 10, 20),
            PhaseRecord("after:slow db", 20, 30),
        ),
        windows=tuple(snapshot.windows),
        faults=(
            FaultRecord(
                "slow db",
                "latency",
                "route db",
                {},
                10,
                20,
                started_s=10.0,
                ended_s=20.0,
                rolled_back=True,
            ),
        ),
        task_groups={"browse": "read", "progress": "write"},
    )
    return ctx, recorder


def test_every_hypothesis_kind_has_an_evaluator():
    assert set(EVALUATORS) == set(HYPOTHESIS_KINDS)


class TestThreshold:
    def test_p95_below_passes_before_and_fails_during(self):
        ctx, _ = run_with_known_recovery()
        before, during = evaluate(
            [
                ThresholdHypothesis(
                    name="fast", phase="before", metric="p95", below="100ms"
                ),
                ThresholdHypothesis(
                    name="fast", phase="during", metric="p95", below="100ms"
                ),
            ],
            ctx,
        )
        assert before.passed
        assert before.observed == "p95 50ms"
        assert not during.passed
        assert during.observed == "p95 400ms"
        assert during.expected == "p95 below 100ms"
        assert "missed the bound by 300ms" in during.detail

    def test_error_rate_and_task_filter(self):
        ctx, _ = run_with_known_recovery()
        (verdict,) = evaluate(
            [ThresholdHypothesis(name="errors", phase="during", metric="error_rate",
                                 task="progress", below="25%")],
            ctx,
        )  # fmt: skip
        # progress gets 5 requests a second, one of which (i == 0) fails.
        assert verdict.passed
        assert verdict.observed == "error_rate 20.00%"

    def test_rps_uses_the_phase_length(self):
        ctx, _ = run_with_known_recovery()
        (verdict,) = evaluate(
            [ThresholdHypothesis(name="rps", phase="all", metric="rps", above=9.5)], ctx
        )
        assert verdict.passed
        assert verdict.observed_value == pytest.approx(10.0)

    def test_a_phase_with_no_requests_is_inconclusive_with_a_reason(self):
        ctx, _ = run_with_known_recovery()
        (verdict,) = evaluate(
            [ThresholdHypothesis(name="x", phase="during", metric="p95", task="nope",
                                 below="1s")],
            ctx,
        )  # fmt: skip
        assert (verdict.passed, verdict.status) == (False, "inconclusive")
        assert verdict.observed == "no data"
        assert "nothing to judge" in verdict.detail
        assert verdict.to_json()["status"] == "inconclusive"

    def test_a_percentile_of_fewer_than_20_requests_is_inconclusive(self):
        """15 requests in 3 s are too few for a p95 by default, enough with
        min_samples = 10, and enough for an error rate."""
        few = (PhaseRecord("before", 0, 3),)
        recorder = Recorder(origin_ns=0, phase="before")
        for i in range(15):
            recorder.write(Sample("browse", 0, i * S // 5, i * S // 5,
                                  i * S // 5 + 50 * MS, 200, 1, 1, None))  # fmt: skip
        small = CheckContext(
            merged=recorder.merged, phases=few, windows=(), faults=(),
            task_groups={}, bins=lambda *a: [],
        )  # fmt: skip
        default, lowered, rate = evaluate(
            [
                ThresholdHypothesis(name="p95", phase="before", metric="p95",
                                    below="1s"),
                ThresholdHypothesis(name="p95", phase="before", metric="p95",
                                    below="1s", min_samples=10),
                ThresholdHypothesis(name="e", phase="before", metric="error_rate",
                                    below="1%"),
            ],
            small,
        )  # fmt: skip
        assert default.status == "inconclusive"
        assert default.observed == "15 requests"
        assert "fewer than min_samples = 20" in default.detail
        assert lowered.status == "passed"
        assert rate.status == "passed"
        assert (
            ThresholdHypothesis(
                name="x", metric="error_rate", below="1%", min_samples=500
            ).needs()
            == 500
        )

    def test_an_error_class_counts_every_request_carrying_it(self):
        """A 500 saying "database is locked" fails both an http_5xx and a lock
        hypothesis: classes are facets, not one label."""
        recorder = Recorder(origin_ns=0, phase="during:lock")
        for i in range(40):
            error = ErrorClass.HTTP_5XX if i % 2 else None
            recorder.write(Sample(
                "write", i, i * MS, i * MS, i * MS + MS, 500 if error else 200,
                1, 1, error, "500" if error else "", False,
                ("lock",) if error else (),
            ))  # fmt: skip
        ctx = CheckContext(
            merged=recorder.merged, phases=(PhaseRecord("during:lock", 0, 1),),
            windows=(), faults=(), task_groups={}, bins=lambda *a: [],
        )  # fmt: skip
        verdicts = evaluate(
            [
                ThresholdHypothesis(name=c, metric="error_rate", error_class=c,
                                    below="1%")
                for c in ("http_5xx", "lock", "body_pattern:lock", "timeout")
            ]
            + [ErrorBudgetHypothesis(name="b", kind="error_budget",
                                     error_class="lock", max="1%")],
            ctx,
        )  # fmt: skip
        assert [v.status for v in verdicts] == [
            "failed", "failed", "failed", "passed", "failed",
        ]  # fmt: skip
        assert verdicts[0].observed == "error_rate 50.00%"
        assert "20 of 40 requests carried lock" in verdicts[4].detail


def test_sla_budgets_per_group():
    ctx, _ = run_with_known_recovery()
    verdicts = evaluate(
        [
            SlaHypothesis(
                name="sla", kind="sla", phase="before",
                budgets={"read": SlaBudget(p95=0.1, p99=0.2),
                         "write": SlaBudget(p95=0.01)},
            )
        ],
        ctx,
    )  # fmt: skip
    by_name = {v.name: v for v in verdicts}
    assert by_name["sla [read]"].passed
    assert not by_name["sla [write]"].passed
    assert "over budget: p95" in by_name["sla [write]"].detail


def test_error_budget_counts_one_class():
    ctx, _ = run_with_known_recovery()
    (verdict,) = evaluate(
        [ErrorBudgetHypothesis(name="5xx", kind="error_budget", phase="during",
                               error_class="http_5xx", max="5%")],
        ctx,
    )  # fmt: skip
    assert not verdict.passed
    assert verdict.observed == "http_5xx 10.00%"
    assert "10 of 100 requests carried http_5xx" in verdict.detail


class TestRecovery:
    @pytest.mark.parametrize("truth", [0, 3, 6])
    def test_measured_recovery_matches_the_known_delay(self, truth):
        ctx, _ = run_with_known_recovery(truth)
        (verdict,) = evaluate(
            [RecoveryHypothesis(name="recovers", kind="recovery", within="5s",
                                stable_for="2s")],
            ctx,
        )  # fmt: skip
        assert verdict.name == "recovers [slow db]"
        # By intended start, to the tenth of a second.
        assert verdict.observed_value == pytest.approx(truth, abs=0.11)
        assert verdict.passed == (truth <= 5)

    def test_never_recovering_fails_with_the_band(self):
        ctx, _ = run_with_known_recovery(recover_after_s=10)
        (verdict,) = evaluate(
            [RecoveryHypothesis(name="r", kind="recovery", within="5s")], ctx
        )
        assert not verdict.passed
        assert verdict.observed == "not recovered in 10s"
        assert "p95 <= 75ms" in verdict.detail

    def test_a_window_too_short_to_see_recovery_in_time_is_inconclusive(self):
        # 10 s after the fault, never back: a failure for within 5s (above),
        # but no verdict for within 15s (it may come back at 12 s).
        ctx, _ = run_with_known_recovery(recover_after_s=10)
        (verdict,) = evaluate(
            [RecoveryHypothesis(name="r", kind="recovery", within="15s")], ctx
        )
        assert verdict.status == "inconclusive"
        assert verdict.observed == "not recovered in 10s, observed only that long"
        assert "the end of the run came 10s after slow db ended" in verdict.detail

    def test_recovery_needs_the_band_to_hold_for_stable_for(self):
        bins = [Bin(20.0 + i / 10, count=10) for i in range(100)]
        good = {i for i in range(100) if 10 <= i < 20 or i >= 50}
        # One good second (21-22 s) then a bad one is not recovery; 25 s onward is.
        took = recovery_time(
            bins, 20.0, 3.0, lambda b: round((b.start_s - 20) * 10) in good
        )
        assert took is None or took == pytest.approx(5.0)

    def test_a_good_stretch_needs_every_second_inside(self):
        bins = [Bin(i / 10, count=1, errors=int(12 <= i < 14)) for i in range(60)]
        took = recovery_time(bins, 0.0, 3.0, lambda b: b.errors == 0)
        assert took == pytest.approx(1.4)


_MINIMAL = {
    "threshold": {"metric": "p95", "below": "1s"},
    "sla": {"budgets": {"read": {"tasks": ["browse"], "p95": "1s"}}},
    "recovery": {"within": "5s"},
    "error_budget": {"error_class": "timeout", "max": "1%"},
    "backoff": {"route": "db", "max_attempts": 3},
    "fallback": {"task": "browse", "min_share": "50%"},
    "integrity": {"read_back": {"url": "/ids"}},
    "fuzz": {},
    "probe": {"probe": "p", "metric": "rss_bytes", "below": 100},
    "leak": {"probe": "p", "max_growth": 1},
    "returns": {"probe": "p", "metric": "rss_bytes", "within": "5s"},
}


@pytest.mark.parametrize("kind", sorted(HYPOTHESIS_KINDS))
def test_every_kind_is_inconclusive_on_an_empty_phase(kind):
    """One rule for "too little data" (checks.base.too_little_data), every kind."""
    from chaoskit.records import ReadBack
    from chaoskit.spec.model import Experiment

    hypothesis = Experiment.model_validate(
        {"experiment": {"name": "x", "duration": "10s"},
         "target": {"base_url": "http://127.0.0.1:1"},
         "load": {"rate": 1, "tasks": [{"name": "browse", "path": "/"}]},
         "hypotheses": [{"name": "h", "kind": kind, **_MINIMAL[kind]}]}
    ).hypotheses[0]  # fmt: skip
    ctx = CheckContext(
        merged=lambda labels, tasks: None,
        phases=(PhaseRecord("before", 0, 5), PhaseRecord("during:f", 5, 10)),
        windows=(), task_groups={}, bins=lambda *a: [],
        faults=(FaultRecord("f", "latency", "route db", {}, 5, 10,
                            started_s=5.0, ended_s=10.0),),
        read_backs={"h": ReadBack("GET /ids", ())},
    )  # fmt: skip
    verdicts = evaluate([hypothesis], ctx)
    assert verdicts
    assert {v.status for v in verdicts} == {"inconclusive"}
    assert not any(v.passed for v in verdicts)
