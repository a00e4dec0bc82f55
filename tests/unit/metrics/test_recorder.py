"""The recorder: per phase and task stats, one-second windows, errors by user."""

from __future__ import annotations

from chaoskit.metrics import Recorder, SampleFile, read_samples
from chaoskit.records import ErrorClass, FanOut, MemorySink, Sample

MS = 1_000_000
S = 1_000_000_000


def sample(
    task="browse", user=0, at=0, took=MS, lag=0, status=200, error=None, detail=""
):
    return Sample(
        task, user, at, at + lag, at + lag + took, status, 100, 50, error, detail
    )


def test_latency_service_and_lag_are_kept_apart():
    recorder = Recorder(origin_ns=0)
    for i in range(100):
        recorder.write(sample(at=i * 10 * MS, took=2 * MS, lag=1 * MS))
    stats = recorder.snapshot().tasks["browse"]
    assert stats.count == 100
    assert abs(stats.latency.p50 - 3.0) < 0.03  # from intended start
    assert abs(stats.service.p50 - 2.0) < 0.02  # from actual send
    assert abs(stats.lag.p50 - 1.0) < 0.01
    assert stats.bytes_received == 100 * 50


def test_phases_split_the_stats_and_totals_merge_them():
    recorder = Recorder(origin_ns=0, phase="before")
    recorder.write(sample(took=1 * MS))
    recorder.enter_phase("during")
    recorder.write(sample(at=S, took=100 * MS, status=500, error=ErrorClass.HTTP_5XX))
    snap = recorder.snapshot()
    assert snap.phases["before"]["browse"].errors == 0
    assert snap.phases["during"]["browse"].errors == 1
    assert snap.phases["during"]["browse"].latency.max == 100.0
    assert snap.tasks["browse"].count == 2
    assert snap.total.count == 2
    assert snap.total.error_rate == 0.5


def test_one_second_windows_by_completion_time():
    recorder = Recorder(origin_ns=0)
    for second in range(5):
        for i in range(10 * (second + 1)):
            recorder.write(sample(at=second * S + i * MS, took=MS))
    recorder.close()
    windows = recorder.snapshot().windows
    assert [w.count for w in windows] == [10, 20, 30, 40, 50]
    assert [w.start_s for w in windows] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert windows[2].tasks == {"browse": (30, 0)}


def test_windows_close_as_time_moves_on_without_close():
    recorder = Recorder(origin_ns=0)
    for second in range(10):
        recorder.write(sample(at=second * S))
    assert len(recorder.snapshot().windows) >= 5  # older ones are closed and summarised


def test_errors_are_counted_by_class_pattern_and_user():
    recorder = Recorder(origin_ns=0)
    locked = ErrorClass.BODY_PATTERN
    recorder.write(sample(user=3, status=500, error=locked, detail="db_locked"))
    recorder.write(sample(user=3, status=500, error=locked, detail="db_locked"))
    recorder.write(sample(user=4, status=0, error=ErrorClass.TIMEOUT, detail="late"))
    snap = recorder.snapshot()
    assert snap.errors == {"body_pattern:db_locked": 2, "timeout": 1}
    assert snap.user_errors == {3: {"body_pattern:db_locked": 2}, 4: {"timeout": 1}}
    assert snap.error_examples["timeout"] == ["browse: late"]


def test_dropped_requests_count_but_have_no_latency():
    recorder = Recorder(origin_ns=0)
    recorder.write(sample(took=MS))
    recorder.write(Sample("browse", 0, S, 0, S, 0, 0, 0, ErrorClass.DROPPED, "cap"))
    stats = recorder.snapshot().tasks["browse"]
    assert (stats.count, stats.dropped, stats.errors, stats.latency.count) == (
        2,
        1,
        1,
        1,
    )


def test_sample_file_round_trips_every_field(tmp_path):
    path = tmp_path / "samples.tsv"
    written = [
        sample(
            user=i, at=i * MS, error=ErrorClass.RESET if i % 2 else None, detail="x\ty"
        )
        for i in range(10_000)
    ]
    sink = SampleFile(path)
    memory = MemorySink()
    fan = FanOut([sink, memory])
    for s in written:
        fan.write(s)
    fan.close()
    assert memory.closed
    read = list(read_samples(path))
    assert read == [s._replace(detail=s.detail.replace("\t", " ")) for s in written]
