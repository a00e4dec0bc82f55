"""The fallback evaluator on recorded samples, marked or not."""

from __future__ import annotations

from chaoskit.checks import CheckContext, evaluate
from chaoskit.events import PhaseRecord
from chaoskit.metrics.recorder import Recorder
from chaoskit.records import Sample
from chaoskit.spec.model import FallbackHypothesis

MS = 1_000_000


def recorded(latencies_ms: list[tuple[int, bool]]) -> CheckContext:
    """reco requests 100 ms apart during the fault: (latency, marked) each."""
    recorder = Recorder(origin_ns=0, phase="during:reco down")
    samples = []
    for i, (took, marked) in enumerate(latencies_ms):
        start = i * 100 * MS
        sample = Sample(
            "reco", 0, start, start, start + took * MS, 200, 10, 10,
            None, "", marked,
        )  # fmt: skip
        recorder.write(sample)
        samples.append(sample)
    recorder.close()
    return CheckContext(
        merged=recorder.merged,
        phases=(PhaseRecord("during:reco down", 0, 2),),
        windows=(),
        faults=(),
        task_groups={},
        bins=lambda *args: [],
        samples=lambda start, end, tasks: [
            s for s in samples if start * 1e9 <= s.intended_ns < end * 1e9
        ],
    )


def context(marked_every: int, latency_ms: int = 20) -> CheckContext:
    """20 reco requests during the fault; every ``marked_every``-th one marked."""
    return recorded(
        [(latency_ms, marked_every > 0 and i % marked_every == 0) for i in range(20)]
    )


HYPOTHESIS = FallbackHypothesis(
    name="falls back", kind="fallback", task="reco", min_share=0.9, p95=0.5
)


def test_a_working_fallback_passes() -> None:
    [verdict] = evaluate([HYPOTHESIS], context(marked_every=1))
    assert verdict.passed
    assert verdict.observed == "100.0% marked, p95 20ms"
    assert verdict.detail == "20 of 20 responses marked"


def test_a_fallback_that_never_triggers_fails() -> None:
    [verdict] = evaluate([HYPOTHESIS], context(marked_every=0))
    assert not verdict.passed
    assert verdict.detail == "min_share: 0 of 20 responses marked (0.0%), below 90%"


def test_a_slow_fallback_breaks_the_latency_budget() -> None:
    [verdict] = evaluate([HYPOTHESIS], context(marked_every=1, latency_ms=900))
    assert not verdict.passed
    assert verdict.detail.startswith("p95: 9")
    assert "above 500ms" in verdict.detail


def test_no_request_in_the_phase_is_no_data() -> None:
    h = FallbackHypothesis(
        name="x", kind="fallback", task="other", min_share=0.5, phase="during"
    )
    [verdict] = evaluate([h], context(marked_every=1))
    assert (verdict.passed, verdict.observed) == (False, "no data")
    assert verdict.status == "inconclusive"


def fresh_context(fresh_ms: int) -> CheckContext:
    """20 reco requests: 18 marked (fast), 2 unmarked answered after fresh_ms."""
    return recorded([(20, True) if i % 10 else (fresh_ms, False) for i in range(20)])


def test_fresh_answers_in_time_are_good_and_late_ones_are_not() -> None:
    h = FallbackHypothesis(
        name="good", kind="fallback", task="reco", min_share=0.95, fresh_within=0.2
    )
    [fast] = evaluate([h], fresh_context(fresh_ms=50))
    assert fast.passed
    assert fast.observed.startswith("100.0% good (90.0% marked), p95 ")
    [slow] = evaluate([h], fresh_context(fresh_ms=500))
    assert not slow.passed
    assert slow.detail == (
        "min_share: 18 of 20 responses good (90.0%: 18 marked, 0 fresh within "
        "200ms; 2 unmarked and slower, 0 failed), below 95%"
    )


def test_max_share_bounds_the_marked_share() -> None:
    h = FallbackHypothesis(name="none", kind="fallback", task="reco", max_share=0.5)
    [verdict] = evaluate([h], fresh_context(fresh_ms=50))
    assert not verdict.passed
    assert verdict.detail == "max_share: 18 of 20 responses marked (90.0%), above 50%"
