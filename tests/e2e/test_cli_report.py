"""`chaoskit report JOURNAL` as a user runs it: a real process on a real journal."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from chaoskit.events import Event
from chaoskit.report import JournalSink, build_document
from tests.unit.report.conftest import TOKEN, build_outcome


def chaoskit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaoskit", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "120", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )


def _finished_journal(run_dir: Path) -> Path:
    with JournalSink(run_dir) as sink:
        sink.emit(
            Event("run_started", 1, 1_790_000_000.0, {"experiment": "db-latency"})
        )
        sink.write_document(build_document(build_outcome(run_dir)))
    return sink.path


def test_report_rerenders_json_and_junit_from_a_finished_journal(tmp_path):
    """Exit 0; report.json equals the journal's document; junit.xml parses; the
    summary ends with the seed and the replay command."""
    journal = _finished_journal(tmp_path / "run")
    result = chaoskit("report", str(journal))
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["verdict"] == "failed"
    assert report["experiment"]["seed"] == 7
    suite = ET.parse(tmp_path / "run" / "junit.xml").getroot().find("testsuite")  # noqa: S314
    assert suite is not None
    assert suite.get("failures") == "1"
    out = result.stdout
    assert "FAILED  1 of 3 hypotheses failed: browse stays fast" in out
    assert "Seed:   7" in out
    assert "Replay: chaoskit run experiments/db-latency.toml --seed 7" in out
    assert TOKEN not in out


def test_report_dir_option_writes_elsewhere(tmp_path):
    """--report-dir puts the files where asked and leaves the run directory alone."""
    journal = _finished_journal(tmp_path / "run")
    result = chaoskit(
        "report", str(journal.parent), "--report-dir", str(tmp_path / "out")
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "classes.csv",
        "failures.csv",
        "junit.xml",
        "probes.csv",
        "report.html",
        "report.json",
        "stats.csv",
        "stats_history.csv",
    ]
    assert not (tmp_path / "run" / "report.json").exists()


def test_report_of_a_crashed_run_is_partial_and_aborted(tmp_path):
    """A journal cut short still renders: verdict aborted, the reason says why."""
    path = tmp_path / "journal.jsonl"
    with JournalSink(path) as sink:
        sink.emit(
            Event(
                "run_started",
                0,
                1_790_000_000.0,
                {
                    "experiment": "db-outage",
                    "seed": 3,
                    "command": "chaoskit run db-outage.toml --seed 3",
                },
            )
        )
        sink.emit(Event("phase", 10, 1_790_000_001.0, {"name": "before", "at_s": 0.0}))
    with path.open("a") as file:
        file.write('{"type": "ev')
    result = chaoskit("report", str(path))
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["verdict"] == "aborted"
    assert report["partial"] is True
    assert "ABORTED  the run did not finish" in result.stdout
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")  # noqa: S314
    assert suite is not None
    assert suite.get("errors") == "1"


def test_report_exits_2_on_a_missing_journal(tmp_path):
    """A missing file is a usage error: exit 2, a one-line message, no traceback."""
    result = chaoskit("report", str(tmp_path / "nope.jsonl"))
    assert result.returncode == 2
    assert "cannot read journal" in result.stderr
    assert "nope.jsonl" in result.stderr
    assert "Traceback" not in result.stderr


def test_report_exits_2_on_a_file_that_is_not_a_journal(tmp_path):
    """Garbage in the middle of the file: exit 2 with the line number."""
    path = tmp_path / "journal.jsonl"
    path.write_text("hello\nworld\n")
    result = chaoskit("report", str(path))
    assert result.returncode == 2
    assert "journal.jsonl:1" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.xdist_group("slow_app_run")  # one worker: the run is shared, not repeated
def test_report_html_and_csvs_from_a_journal_equal_the_runs_own(tmp_path, slow_app_run):
    """A real run (a latency fault, a recovery hypothesis: tests/e2e/conftest.py)
    writes report.html and the Locust CSVs; `chaoskit report` re-renders them
    from its journal into another directory, byte for byte the same (the sample
    file is found through the document's report_dir)."""
    (result, run), _ = slow_app_run
    assert result.returncode == 0, result.stdout + result.stderr
    result = chaoskit("report", str(run), "--report-dir", str(tmp_path / "again"))
    assert result.returncode == 0, result.stderr
    names = ("report.html", "stats.csv", "stats_history.csv", "failures.csv")
    for name in names:
        assert (run / name).read_bytes() == (tmp_path / "again" / name).read_bytes()
    page = (run / "report.html").read_text()
    assert 'id="task-0-fault-0-1"' in page  # per-task latency panel: samples found
    assert "slow app recovered in" in page
