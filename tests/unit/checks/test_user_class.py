"""Hypotheses scoped to one user class (``user_class``): stats, samples and
fine bins all see that class's requests only (CheckContext.scoped)."""

from __future__ import annotations

from chaoskit.checks import CheckContext, evaluate
from chaoskit.events import FaultRecord, PhaseRecord
from chaoskit.metrics.recorder import Recorder
from chaoskit.metrics.series import bins_by_intended_start, samples_between
from chaoskit.records import ErrorClass, Sample
from chaoskit.spec.model import (
    ErrorBudgetHypothesis,
    RecoveryHypothesis,
    ThresholdHypothesis,
)

S = 1_000_000_000
MS = 1_000_000
ORIGIN = 7 * S  # the timeline's zero is not the clock's


def context() -> CheckContext:
    """0-10 s before, 10-20 s a fault; the ``viewer`` class is 20 ms throughout
    and never fails, the ``admin`` class is 900 ms and fails from the fault on."""
    recorder = Recorder(origin_ns=ORIGIN, phase="before")
    samples: list[Sample] = []
    for second in range(30):
        if second == 10:
            recorder.enter_phase("during:stall", ORIGIN + 10 * S)
        if second == 20:
            recorder.enter_phase("after:stall", ORIGIN + 20 * S)
        for i in range(10):
            start = ORIGIN + second * S + i * 100 * MS
            admin = i < 2
            took = (900 if admin and second >= 10 else 20) * MS
            error = ErrorClass.HTTP_5XX if admin and second >= 10 else None
            sample = Sample(
                "page", i, start, start, start + took, 500 if error else 200, 1, 1,
                error, user_class="admin" if admin else "viewer",
            )  # fmt: skip
            samples.append(sample)
            recorder.write(sample)
    recorder.close()
    return CheckContext(
        origin_ns=ORIGIN,
        bins=lambda start, end, step, tasks: bins_by_intended_start(
            samples, ORIGIN, start, end, step, tasks
        ),
        samples=lambda start, end, tasks: samples_between(
            samples, ORIGIN, start, end, tasks
        ),
        merged=recorder.merged,
        phases=(
            PhaseRecord("before", 0, 10),
            PhaseRecord("during:stall", 10, 20),
            PhaseRecord("after:stall", 20, 30),
        ),
        windows=(),
        faults=(
            FaultRecord(
                "stall",
                "pause",
                "service api",
                {},
                10,
                20,
                started_s=10.0,
                ended_s=20.0,
                rolled_back=True,
            ),
        ),
        task_groups={},
    )


def test_a_threshold_on_one_class_ignores_the_others():
    ctx = context()
    viewer, admin, everyone = evaluate(
        [
            ThresholdHypothesis(
                name=name, phase="after", metric="p50", below="100ms", user_class=cls
            )
            for name, cls in (
                ("viewer", "viewer"),
                ("admin", "admin"),
                ("everyone", None),
            )
        ],
        ctx,
    )
    assert viewer.passed
    assert "class viewer" in viewer.expected
    assert not admin.passed
    assert everyone.passed  # the admins are 20 %: under the median


def test_an_error_budget_on_one_class_counts_its_requests_only():
    (verdict,) = evaluate(
        [ErrorBudgetHypothesis(name="admin", kind="error_budget", phase="during",
                               error_class="http_5xx", max="5%",
                               user_class="admin")],
        context(),
    )  # fmt: skip
    assert not verdict.passed
    assert verdict.observed == "http_5xx 100.00%"


def test_recovery_of_one_class_reads_its_own_bins():
    viewer, admin = evaluate(
        [
            RecoveryHypothesis(
                name=cls, kind="recovery", within="2s", stable_for="1s", user_class=cls
            )
            for cls in ("viewer", "admin")
        ],
        context(),
    )
    assert viewer.passed
    assert not admin.passed  # the admins never come back
