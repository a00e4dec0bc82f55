"""The fallback evaluator on recorded samples, marked or not."""

from __future__ import annotations

from chaoskit.checks import CheckContext, evaluate
from chaoskit.events import PhaseRecord
from chaoskit.metrics.recorder import Recorder
from chaoskit.records import Sample
from chaoskit.spec.model import FallbackHypothesis

MS = 1_000_000


def context(marked_every: int, latency_ms: int = 20) -> CheckContext:
    """20 reco requests during the fault; every ``marked_every``-th one marked."""
    recorder = Recorder(origin_ns=0, phase="during:reco down")
    for i in range(20):
        start = i * 100 * MS
        marked = marked_every > 0 and i % marked_every == 0
        sample = Sample(
            "reco", 0, start, start, start + latency_ms * MS, 200, 10, 10,
            None, "", marked,
        )  # fmt: skip
        recorder.write(sample)
    recorder.close()
    return CheckContext(
        merged=recorder.merged,
        phases=(PhaseRecord("during:reco down", 0, 2),),
        windows=(),
        faults=(),
        task_groups={},
        bins=lambda *args: [],
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
