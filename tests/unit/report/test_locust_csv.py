"""Locust-compatible CSVs: Locust's exact headers, rows that parse, numbers that agree.

The expected headers are written out here by hand from Locust's
``locust/stats.py`` (``requests_csv_columns``, ``stats_history_csv_columns``,
``failures_columns`` with the default ``PERCENTILES_TO_REPORT``), not taken from
the module under test, so a typo on either side fails.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest

from chaoskit.report import (
    build_document,
    document_from_journal,
    locust_csvs,
    write_reports,
)
from tests.unit.report.conftest import PASSWORD, TOKEN

RECORDED = Path(__file__).parent / "recorded"
PERCENTILES = ["50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%",
               "99.99%", "100%"]  # fmt: skip
LOCUST_STATS = [
    "Type", "Name", "Request Count", "Failure Count", "Median Response Time",
    "Average Response Time", "Min Response Time", "Max Response Time",
    "Average Content Size", "Requests/s", "Failures/s", *PERCENTILES,
]  # fmt: skip
LOCUST_HISTORY = [
    "Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s",
    *PERCENTILES, "Total Request Count", "Total Failure Count",
    "Total Median Response Time", "Total Average Response Time",
    "Total Min Response Time", "Total Max Response Time", "Total Average Content Size",
]  # fmt: skip
LOCUST_FAILURES = ["Method", "Name", "Error", "Occurrences"]


def rows(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    return list(reader.fieldnames or []), list(reader)


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(RECORDED, run)
    return run


@pytest.fixture
def recorded_csvs(recorded: Path) -> tuple[dict[str, object], dict[str, str]]:
    document = document_from_journal(recorded)
    return document, locust_csvs(document, recorded)


def test_the_headers_are_exactly_locusts(recorded_csvs, outcome, tmp_path):
    for _, files in (recorded_csvs, (None, locust_csvs(build_document(outcome)))):
        assert rows(files["stats.csv"])[0] == LOCUST_STATS
        assert rows(files["stats_history.csv"])[0] == LOCUST_HISTORY
        assert rows(files["failures.csv"])[0] == LOCUST_FAILURES


def test_stats_has_a_row_per_task_then_aggregated_agreeing_with_the_document(
    recorded_csvs,
):
    document, files = recorded_csvs
    _, stats = rows(files["stats.csv"])
    assert [(r["Type"], r["Name"]) for r in stats] == [
        ("GET", "browse"), ("POST", "progress"), ("", "Aggregated"),
    ]  # fmt: skip
    for row in stats[:-1]:
        task = document["tasks"][row["Name"]]
        assert int(row["Request Count"]) == task["count"]
        assert int(row["Failure Count"]) == task["errors"]
        # Same latency (from the intended start) as report.json, to the ms.
        assert float(row["Max Response Time"]) == pytest.approx(task["max"], abs=1)
        assert int(row["95%"]) == pytest.approx(task["p95"], rel=0.01, abs=1)
        values = [int(row[p]) for p in PERCENTILES]
        assert values == sorted(values)
    total = stats[-1]
    assert int(total["Request Count"]) == document["total"]["count"]
    assert float(total["Requests/s"]) == pytest.approx(document["total"]["rps"], 0.01)


def test_history_has_every_second_for_every_task_and_running_totals(recorded_csvs):
    document, files = recorded_csvs
    _, history = rows(files["stats_history.csv"])
    names = [r["Name"] for r in history]
    per_second = ["browse", "progress", "Aggregated"]
    assert names == per_second * (len(names) // 3)
    assert len(names) // 3 >= 9  # a 0.5 s warm-up and a 9 s timeline
    stamps = [int(r["Timestamp"]) for r in history]
    assert stamps == sorted(stamps)
    aggregated = [r for r in history if r["Name"] == "Aggregated"]
    assert int(aggregated[-1]["Total Request Count"]) == document["total"]["count"]
    assert int(aggregated[-1]["Total Failure Count"]) == document["total"]["errors"]
    assert sum(float(r["Requests/s"]) for r in aggregated) == document["total"]["count"]
    # The outage (3 s to 5 s) shows up as failures in the seconds it lasted.
    assert any(float(r["Failures/s"]) > 0 for r in aggregated)


def test_failures_are_counted_per_task_and_error(recorded_csvs):
    document, files = recorded_csvs
    _, failures = rows(files["failures.csv"])
    assert {(r["Method"], r["Name"]) for r in failures} == {
        ("GET", "browse"), ("POST", "progress"),
    }  # fmt: skip
    assert {r["Error"] for r in failures} == set(document["errors"])
    assert sum(int(r["Occurrences"]) for r in failures) == document["total"]["errors"]


def test_without_samples_the_document_fills_what_it_can_and_says_na(outcome):
    document = build_document(outcome)
    files = locust_csvs(document, "/nonexistent")
    _, stats = rows(files["stats.csv"])
    assert [r["Name"] for r in stats] == [
        "browse", "progress", "refresh_token", "Aggregated",
    ]  # fmt: skip
    browse = stats[0]
    assert int(browse["Request Count"]) == document["tasks"]["browse"]["count"]
    assert float(browse["95%"]) == document["tasks"]["browse"]["p95"]
    assert browse["66%"] == "N/A"
    _, history = rows(files["stats_history.csv"])
    assert len(history) == len(document["series"])
    _, failures = rows(files["failures.csv"])
    assert sum(int(r["Occurrences"]) for r in failures) == document["total"]["errors"]


def test_no_secret_reaches_the_csvs(outcome, tmp_path):
    write_reports(build_document(outcome), tmp_path)
    for name in ("stats.csv", "stats_history.csv", "failures.csv"):
        text = (tmp_path / name).read_text()
        assert TOKEN not in text
        assert PASSWORD not in text


def test_pandas_reads_them_with_locusts_columns(recorded_csvs, tmp_path):
    pandas = pytest.importorskip("pandas", reason="pandas is not a dependency")
    for name, text in recorded_csvs[1].items():
        (tmp_path / name).write_text(text)
    stats = pandas.read_csv(tmp_path / "stats.csv")
    assert list(stats.columns) == LOCUST_STATS
    assert stats.set_index("Name").loc["Aggregated", "Request Count"] > 0
    history = pandas.read_csv(tmp_path / "stats_history.csv")
    assert list(history.columns) == LOCUST_HISTORY
    assert list(pandas.read_csv(tmp_path / "failures.csv").columns) == LOCUST_FAILURES
