"""Probe series in report.json, probes.csv and report.html."""

from __future__ import annotations

import csv
import dataclasses
import io
import json

from chaoskit.checks.base import Verdict
from chaoskit.events import ProbeSeries, event
from chaoskit.report import build_document, html_report, probes_csv
from chaoskit.report.journal import event_record
from chaoskit.report.probes import probes_from_events
from chaoskit.runner.outcome import RunOutcome


def rss(leak: bool) -> ProbeSeries:
    s = ProbeSeries("api", "process", "service api", 1.0,
                    ("rss_bytes", "fds", "cpu_percent"))  # fmt: skip
    for t in range(-2, 12):
        if t == 5:
            s.gap(float(t), "process 42 is gone")
            continue
        grown = 40_000_000 + (t * 1_000_000 if leak else 0)
        s.add(float(t), {"rss_bytes": grown, "fds": 12.0, "cpu_percent": None})
    return s


def with_probes(outcome: RunOutcome) -> RunOutcome:
    fit = Verdict(
        "no leak", "leak", "all", False, "grows 60MB/min", "grows at most 1MB/min",
        observed_value=1e6, expected_value=1e6 / 60,
        data={"probe": "api", "metric": "rss_bytes", "slope_per_s": 1e6,
              "intercept": 40e6, "start_s": 0.0, "end_s": 11.0, "samples": 11},
    )  # fmt: skip
    return dataclasses.replace(
        outcome, verdicts=(*outcome.verdicts, fit), probes=(rss(leak=True),)
    )


def test_report_json_holds_every_sample_and_gap(outcome):
    doc = build_document(with_probes(outcome))
    [probe] = doc["probes"]
    assert probe["name"] == "api"
    assert probe["target"] == "service api"
    assert probe["t"][:3] == [-2.0, -1.0, 0.0]
    assert probe["values"]["rss_bytes"][2] == 40_000_000
    assert probe["values"]["cpu_percent"] == [None] * 13
    assert probe["gaps"] == [{"t": 5.0, "error": "process 42 is gone"}]


def test_probes_csv_is_long_form_with_gaps_as_rows(outcome):
    text = probes_csv(build_document(with_probes(outcome)))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["probe", "kind", "metric", "t_s", "value", "error"]
    rss_rows = [r for r in rows if r["metric"] == "rss_bytes"]
    assert len(rss_rows) == 13
    assert [r for r in rows if r["error"]] == [
        {"probe": "api", "kind": "process", "metric": "", "t_s": "5.0",
         "value": "", "error": "process 42 is gone"}
    ]  # fmt: skip
    assert probes_csv({"probes": []}).strip() == "probe,kind,metric,t_s,value,error"


def test_the_page_charts_each_probe_with_windows_fit_and_gaps(outcome, tmp_path):
    page = html_report(build_document(with_probes(outcome)), tmp_path)
    assert '<section id="probes">' in page
    assert 'id="probe-0"' in page
    # rss_bytes is judged, so it is the first panel: the fitted line is on it.
    assert 'id="probe-0-fit-0"' in page
    assert 'id="probe-0-fault-0-0"' in page  # the fixture's fault windows
    assert 'id="probe-0-gap-0"' in page
    assert 'href="probes.csv"' in page


def test_a_page_without_probes_has_no_probe_section(outcome, tmp_path):
    page = html_report(build_document(outcome), tmp_path)
    assert '<section id="probes">' not in page
    assert "probes.csv" not in page


def test_a_killed_runs_journal_gives_the_probes_back():
    events = [
        event("probe", probe="db", t_s=0.0, values={"connections": 4.0}),
        event("probe", probe="db", t_s=1.0, error="connection refused"),
        event("probe", probe="db", t_s=2.0, values={"connections": 5.0}),
    ]
    [db] = probes_from_events(event_record(e) for e in events)
    assert db["t"] == [0.0, 2.0]
    assert db["values"] == {"connections": [4.0, 5.0]}
    assert db["gaps"] == [{"t": 1.0, "error": "connection refused"}]


def test_a_gap_quoting_a_credential_is_masked(outcome):
    series = rss(leak=False)
    series.gap(20.0, "could not connect to postgresql://app:hunter2@127.0.0.1/app")
    doc = build_document(dataclasses.replace(outcome, probes=(series,)))
    text = json.dumps(doc["probes"])
    assert "hunter2" not in text
    assert "could not connect" in text
