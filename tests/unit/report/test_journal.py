"""journal.jsonl: flushed per record, redacted, read back, rebuilt after a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaoskit.events import Event
from chaoskit.metrics import Recorder
from chaoskit.records import ErrorClass, Sample
from chaoskit.redact import Secret
from chaoskit.report import (
    JOURNAL_NAME,
    JournalSink,
    build_document,
    document_from_journal,
    read_journal,
)
from tests.unit.report.conftest import PASSWORD, TOKEN

S = 1_000_000_000
T0 = 5 * S  # monotonic time of the run's start, arbitrary


def ev(kind: str, at_s: float, /, **data: object) -> Event:
    return Event(kind, T0 + int(at_s * S), 1_790_000_000.0 + at_s, data)


def test_every_record_is_on_disk_as_soon_as_it_is_emitted(tmp_path):
    """Appended and flushed per record: a reader sees it while the sink is open."""
    sink = JournalSink(tmp_path)
    assert sink.path == tmp_path / JOURNAL_NAME
    sink.emit(ev("run_started", 0, experiment="db-latency", seed=7))
    first = (tmp_path / JOURNAL_NAME).read_text().splitlines()
    assert len(first) == 1
    sink.emit(ev("phase", 1, name="before", at_s=0.0))
    records = list(read_journal(tmp_path / JOURNAL_NAME))
    assert [r["kind"] for r in records] == ["run_started", "phase"]
    assert records[0] == {
        "type": "event",
        "kind": "run_started",
        "at_ns": T0,
        "wall": 1_790_000_000.0,
        "experiment": "db-latency",
        "seed": 7,
    }
    sink.close()
    sink.close()  # twice is fine
    assert sink.records == 2


def test_a_data_key_named_kind_does_not_overwrite_the_event_kind(tmp_path):
    """A fault's kind ("latency") is journalled as fault_kind, a service's as
    service_kind; the record's kind stays the event's."""
    with JournalSink(tmp_path / "j.jsonl") as sink:
        sink.emit(ev("fault_applied", 10, fault="slow db", kind="latency"))
        sink.emit(ev("service_starting", 0, service="db", kind="postgres"))
        sink.emit(ev("abort", 11, reason="x", kind="odd"))
    records = list(read_journal(tmp_path / "j.jsonl"))
    assert (records[0]["kind"], records[0]["fault_kind"]) == (
        "fault_applied",
        "latency",
    )
    assert (records[1]["kind"], records[1]["service_kind"]) == (
        "service_starting",
        "postgres",
    )
    assert (records[2]["kind"], records[2]["data_kind"]) == ("abort", "odd")


def test_secrets_are_masked_in_every_record(tmp_path):
    """Headers, URLs, known literal secrets and Secret values never reach the file."""
    path = tmp_path / JOURNAL_NAME
    with JournalSink(path, secrets=[PASSWORD]) as sink:
        sink.add_secret(Secret("late-issued-jwt-value"))
        sink.emit(
            ev(
                "service_ready",
                1,
                service="api",
                headers={"Authorization": f"Bearer {TOKEN}", "X-Trace": "abc"},
                address=f"postgresql://app:{PASSWORD}@127.0.0.1:5432/db",
            )
        )
        sink.emit(
            ev(
                "fault_failed",
                2,
                fault="x",
                error=f"GET /me?token={TOKEN} with late-issued-jwt-value",
            )
        )
        sink.emit(ev("probe", 3, credentials=Secret("never-shown"), note=PASSWORD))
        sink.write_record({"type": "note", "api_key": "k-12345"})
    text = path.read_text()
    for secret in (TOKEN, PASSWORD, "late-issued-jwt-value", "never-shown", "k-12345"):
        assert secret not in text
    first = next(read_journal(path))
    assert first["headers"] == {"Authorization": "***", "X-Trace": "abc"}
    assert first["address"] == "postgresql://app:***@127.0.0.1:5432/db"


def test_a_finished_journal_gives_back_the_runs_own_document(tmp_path, outcome):
    """run_finished holds the document; re-rendering reads exactly that."""
    doc = build_document(outcome)
    with JournalSink(tmp_path) as sink:
        sink.emit(ev("run_started", 0, experiment="db-latency", seed=7))
        sink.emit(ev("progress", 1, elapsed_s=1.0, rps=10))
        sink.write_document(doc)
    assert document_from_journal(tmp_path / JOURNAL_NAME) == json.loads(json.dumps(doc))
    assert document_from_journal(tmp_path) == document_from_journal(
        tmp_path / JOURNAL_NAME
    )


def test_a_run_finished_event_with_a_document_is_the_final_record(tmp_path, outcome):
    """The runner may hand the document over as an event instead."""
    doc = build_document(outcome)
    with JournalSink(tmp_path) as sink:
        sink.emit(ev("run_finished", 40, document=doc))
    (record,) = read_journal(tmp_path)
    assert record["type"] == "run_finished"
    assert document_from_journal(tmp_path)["verdict"] == "failed"


def _crashed_journal(tmp_path: Path) -> Path:
    """A run killed 14 s in: the latency fault applied, never rolled back."""
    recorder = Recorder(origin_ns=0)
    for i in range(20):
        error = ErrorClass.TIMEOUT if i % 5 == 0 else None
        recorder.write(
            Sample(
                "browse",
                i % 3,
                i * S // 2,
                i * S // 2,
                i * S // 2 + 300_000_000,
                200,
                10,
                10,
                error,
                "slow",
            )
        )
    path = tmp_path / JOURNAL_NAME
    with JournalSink(path) as sink:
        sink.emit(
            ev(
                "run_started",
                0,
                experiment="db-latency",
                title="T",
                seed=7,
                command="chaoskit run db.toml --seed 7",
                file="db.toml",
                plan="the plan",
                hypotheses=[
                    {
                        "name": "browse stays fast",
                        "kind": "threshold",
                        "phase": "during",
                        "expected": "below 800ms",
                    }
                ],
            )
        )
        sink.emit(
            ev(
                "service_ready",
                1,
                service="db",
                kind="postgres",
                address="127.0.0.1:25432",
                pid=42,
            )
        )
        sink.emit(ev("phase", 2, name="warmup", at_s=-2.0))
        sink.emit(ev("phase", 4, name="before", at_s=0.0))
        sink.emit(
            ev("route_created", 4, route="db", listen="127.0.0.1:1", upstream="x")
        )
        for t in range(1, 10):
            sink.emit(
                ev(
                    "progress",
                    4 + t,
                    elapsed_s=float(t),
                    total_s=30.0,
                    phase="before",
                    rps=10,
                    p95_ms=5.0,
                    error_rate=0.0,
                )
            )
        sink.write_metrics(recorder.snapshot(), [("before", 0.0, 10.0)])
        sink.emit(
            ev(
                "fault_applying",
                14,
                fault="slow db",
                kind="latency",
                target="route db",
                settings={"latency": "300ms"},
                planned_start_s=10.0,
                planned_end_s=25.0,
            )
        )
        sink.emit(ev("phase", 14, name="during:slow db", at_s=10.0))
        sink.emit(
            ev(
                "fault_applied",
                14,
                fault="slow db",
                kind="latency",
                target="route db",
                at_s=10.0,
            )
        )
        for t in range(11, 15):
            sink.emit(
                ev(
                    "progress",
                    4 + t,
                    elapsed_s=float(t),
                    total_s=30.0,
                    phase="during:slow db",
                    rps=8,
                    p95_ms=310.0,
                    error_rate=0.25,
                    active_faults=["slow db"],
                )
            )
        sink.emit(ev("fault_rolled_back", 18.5, label="route db", undo="delete route"))
    with path.open("a") as file:
        file.write('{"type": "event", "kind": "progr')  # killed mid-write
    return path


def test_a_truncated_journal_gives_an_aborted_partial_document(tmp_path):
    """After a crash: verdict aborted, why in reason, faults left applied named."""
    doc = document_from_journal(_crashed_journal(tmp_path))
    assert doc["verdict"] == "aborted"
    assert doc["exit_code"] == 3
    assert doc["partial"] is True
    reason = doc["reason"]
    assert "did not finish" in reason
    assert "run_finished" in reason
    assert "slow db" in reason
    assert f"chaoskit rollback {tmp_path}" in reason
    assert doc["experiment"] == {
        "name": "db-latency",
        "title": "T",
        "file": "db.toml",
        "seed": 7,
        "environment": None,
    }
    assert doc["command"] == "chaoskit run db.toml --seed 7"
    (fault,) = doc["faults"]  # the route's undo is not a fault
    assert fault["name"] == "slow db"
    assert fault["kind"] == "latency"
    assert fault["target"] == "route db"
    assert fault["settings"] == {"latency": "300ms"}
    assert (fault["planned_start_s"], fault["planned_end_s"]) == (10.0, 25.0)
    assert fault["actual_start_s"] == 10.0
    assert fault["rolled_back"] is False
    assert [p["name"] for p in doc["phases"]] == ["before", "during:slow db"]
    assert doc["phases"][0] == {"name": "before", "start_s": 0.0, "end_s": 10.0}
    # The last event (the route undo at 18.5 s, 14.5 s after "before") ends it.
    assert doc["phases"][1]["end_s"] == doc["duration_s"] == 14.5
    assert doc["services"][0]["name"] == "db"
    assert doc["services"][0]["kind"] == "postgres"
    # Per-task numbers from the last metrics record, the series continued by progress.
    assert doc["tasks"]["browse"]["count"] == 20
    assert doc["errors"]["timeout"]["count"] == 4
    ts = [w["t"] for w in doc["series"]]
    assert ts == sorted(ts)
    assert ts[-1] == 14.0
    assert doc["series"][-1]["p95"] == 310.0
    assert doc["series"][-1]["error_rate"] == 0.25
    (hypothesis,) = doc["hypotheses"]
    assert hypothesis["passed"] is None
    assert "not judged" in hypothesis["observed"]
    assert doc["summary"]["hypotheses"] == 1
    assert doc["summary"]["failed"] == 0


def test_a_journal_without_metrics_records_marks_numbers_unknown(tmp_path):
    """Without a metrics record, the totals are null (unknown), never zero."""
    path = tmp_path / JOURNAL_NAME
    with JournalSink(path) as sink:
        sink.emit(ev("run_started", 0, experiment="x", seed=1))
        sink.emit(ev("interrupted", 3, signal="SIGINT"))
        sink.emit(ev("abort", 3, reason="error rate above 50% for 10s"))
    doc = document_from_journal(path)
    assert doc["total"]["count"] is None
    assert doc["tasks"] == {}
    assert "interrupted by SIGINT" in doc["reason"]
    assert "error rate above 50% for 10s" in doc["reason"]
    assert doc["hypotheses"] == []
    assert doc["faults"] == []


def test_a_broken_line_before_the_end_is_an_error(tmp_path):
    """Only the last line may be cut short; anything else is not a journal."""
    path = tmp_path / JOURNAL_NAME
    path.write_text('{"type": "event", "kind": "phase"}\nnot json\n{"type": "x"}\n')
    with pytest.raises(ValueError, match=r"journal.jsonl:2: not a JSON record"):
        list(read_journal(path))
    path.write_text("[1, 2]\n{}\n")
    with pytest.raises(ValueError, match="not a JSON object"):
        list(read_journal(path))


def test_an_empty_or_missing_journal_raises(tmp_path):
    """Nothing to rebuild from: a clear error for the CLI to report."""
    path = tmp_path / JOURNAL_NAME
    path.write_text("\n")
    with pytest.raises(ValueError, match="holds no records"):
        document_from_journal(path)
    with pytest.raises(FileNotFoundError):
        document_from_journal(tmp_path / "missing.jsonl")


def test_append_mode_keeps_earlier_records(tmp_path):
    """By default a new journal replaces the old one; append=True keeps it."""
    path = tmp_path / JOURNAL_NAME
    with JournalSink(path) as sink:
        sink.emit(ev("phase", 0, name="before"))
    with JournalSink(path, append=True) as sink:
        sink.emit(ev("phase", 1, name="after"))
    assert len(list(read_journal(path))) == 2
    with JournalSink(path) as sink:
        pass
    assert list(read_journal(path)) == []
