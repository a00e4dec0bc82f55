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


def test_one_second_windows_by_intended_start():
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


def test_the_users_with_the_most_lock_errors_are_named_with_their_class():
    from chaoskit.report.stats import top_error_users, top_error_users_by_class

    recorder = Recorder(origin_ns=0)
    for user, cls, count in ((7, "Household", 3), (2, "Viewer", 1), (5, "", 2)):
        for _ in range(count):
            recorder.write(
                Sample("write", user, 0, 0, MS, 503, 10, 10, ErrorClass.HTTP_5XX,
                       "503 (lock)", tags=("lock",), user_class=cls)
            )  # fmt: skip
    snap = recorder.snapshot()
    assert snap.user_classes == {7: "Household", 2: "Viewer"}
    locked = top_error_users_by_class(snap.user_errors, user_classes=snap.user_classes)
    assert locked["body_pattern:lock"] == [
        {"user": 7, "user_class": "Household", "errors": 3},
        {"user": 5, "errors": 2},  # a load without classes: no class to name
        {"user": 2, "user_class": "Viewer", "errors": 1},
    ]
    (first, *_) = top_error_users(snap.user_errors, user_classes=snap.user_classes)
    assert (first["user"], first["user_class"], first["errors"]) == (7, "Household", 6)


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


def test_a_sample_belongs_to_the_phase_it_was_due_in_not_the_one_it_ended_in():
    """A 1 s lock: requests due during it are answered after it, and are
    judged in ``during`` (where their users waited)."""
    recorder = Recorder(origin_ns=0, phase="before")
    recorder.enter_phase("during:lock", 10 * S)
    recorder.enter_phase("after:lock", 11 * S)
    for i in range(43):  # due in 10.0-10.86 s, all answered at 11.1 s
        recorder.write(
            sample(user=i, at=10 * S + i * 20 * MS, took=0)._replace(
                end_ns=11 * S + 100 * MS
            )
        )
    recorder.write(sample(at=9 * S + 990 * MS, took=200 * MS))  # due before
    recorder.write(sample(at=11 * S + 500 * MS, took=MS))  # due after
    recorder.close()
    snap = recorder.snapshot()
    assert snap.phases["during:lock"]["browse"].count == 43
    assert snap.phases["before"]["browse"].count == 1
    assert snap.phases["after:lock"]["browse"].count == 1
    assert recorder.phase_of(10 * S - 1) == "before"
    assert recorder.phase_of(10 * S) == "during:lock"
    # The one-second window of 10 s holds them too, late answers included.
    assert [(w.start_s, w.count) for w in snap.windows] == [
        (9.0, 1),
        (10.0, 43),
        (11.0, 1),
    ]


def test_a_late_answer_stays_in_its_window_within_the_settle_time():
    recorder = Recorder(origin_ns=0, settle_s=12)
    recorder.write(sample(at=0, took=MS))
    for second in range(1, 11):
        recorder.write(sample(at=second * S, took=MS))
    recorder.write(sample(at=0, took=10 * S))  # a 10 s answer, due at 0
    recorder.close()
    assert recorder.snapshot().windows[0].count == 2


def test_every_facet_of_an_error_is_counted_and_counts_overlap():
    recorder = Recorder(origin_ns=0)
    locked = sample(status=500, error=ErrorClass.HTTP_5XX, detail="500")
    recorder.write(locked._replace(tags=("lock",)))
    recorder.write(locked)
    snap = recorder.snapshot()
    assert snap.errors == {"http_5xx": 2, "body_pattern:lock": 1}
    assert snap.total.errors == 2  # two requests failed, whatever their facets
    assert snap.total.errors_by_class == {"http_5xx": 2, "body_pattern:lock": 1}


def test_sample_file_keeps_tags_and_reads_files_without_them(tmp_path):
    path = tmp_path / "samples.tsv"
    tagged = sample(status=503, error=ErrorClass.HTTP_5XX, detail="503")._replace(
        tags=("lock", "busy")
    )
    sink = SampleFile(path)
    sink.write(tagged)
    sink.close()
    assert list(read_samples(path)) == [tagged]
    old = tmp_path / "old.tsv"
    old.write_text(
        "task\tuser\tintended_ns\tsent_ns\tend_ns\tstatus\t"
        "bytes_sent\tbytes_received\terror\tdetail\n"
        "browse\t0\t0\t0\t5\t503\t1\t2\tbody_pattern\tlock\n"
    )
    (read,) = read_samples(old)
    assert (read.error, read.detail, read.tags) == (ErrorClass.BODY_PATTERN, "lock", ())


def test_stats_per_user_class_and_merged_for_one_class():
    recorder = Recorder(origin_ns=0)
    for i in range(10):
        recorder.write(sample(at=i * MS, took=MS)._replace(user_class="viewer"))
    for i in range(5):
        slow = sample(at=i * MS, took=9 * MS, status=500, error=ErrorClass.HTTP_5XX)
        recorder.write(slow._replace(user_class="admin"))
    snapshot = recorder.snapshot()
    assert {n: s.count for n, s in snapshot.classes.items()} == {
        "viewer": 10,
        "admin": 5,
    }
    assert snapshot.tasks["browse"].count == 15  # tasks still merge every class
    admin = recorder.merged(["all"], None, "admin")
    assert admin is not None
    assert (admin.count, admin.errors) == (5, 5)
    assert recorder.merged(["all"], ["browse"], "nobody") is None
    assert recorder.window(0).classes == {"viewer": (10, 0), "admin": (5, 5)}


def test_sample_file_keeps_the_user_class_and_reads_files_without_it(tmp_path):
    path = tmp_path / "samples.tsv"
    mine = sample()._replace(user_class="Admin")
    sink = SampleFile(path)
    sink.write(mine)
    sink.close()
    assert list(read_samples(path)) == [mine]
    old = tmp_path / "old.tsv"
    old.write_text(
        "task\tuser\tintended_ns\tsent_ns\tend_ns\tstatus\t"
        "bytes_sent\tbytes_received\terror\tdetail\tmarked\ttags\n"
        "browse\t0\t0\t0\t5\t200\t1\t2\t\t\t0\t\n"
    )
    (read,) = read_samples(old)
    assert read.user_class == ""
