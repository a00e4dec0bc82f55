"""report.json and junit.xml, written by write_reports and parsed back."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from chaoskit.report import (
    RENDERERS,
    build_document,
    dumps_document,
    junit_xml,
    write_reports,
)
from tests.unit.report.conftest import PASSWORD, TOKEN, build_outcome


def test_write_reports_writes_every_report_and_nothing_else(tmp_path, outcome):
    """report.json, junit.xml, Locust's CSVs, probes.csv, classes.csv and
    report.html, in a new directory."""
    paths = write_reports(build_document(outcome), tmp_path / "new" / "dir")
    assert [p.name for p in paths] == [
        "report.json",
        "junit.xml",
        "stats.csv",
        "probes.csv",
        "classes.csv",
        "report.html",
    ]
    assert sorted(p.name for p in (tmp_path / "new" / "dir").iterdir()) == [
        "classes.csv",
        "failures.csv",
        "junit.xml",
        "probes.csv",
        "report.html",
        "report.json",
        "stats.csv",
        "stats_history.csv",
    ]
    assert len(RENDERERS) == 6


def test_report_json_is_the_document_pretty_and_stable(tmp_path, outcome):
    """Indented, same key order as the document, identical on every write."""
    doc = build_document(outcome)
    path = write_reports(doc, tmp_path)[0]
    text = path.read_text()
    assert text.startswith('{\n  "schema": 1,\n  "partial": false,\n  "experiment": {')
    assert text.endswith("}\n")
    assert json.loads(text) == json.loads(json.dumps(doc))
    assert dumps_document(doc) == text
    assert list(json.loads(text)) == list(doc)


def test_no_secret_reaches_any_file(tmp_path, outcome):
    """The token and the password appear in no report file, whatever the path."""
    write_reports(build_document(outcome), tmp_path)
    for path in tmp_path.iterdir():
        text = path.read_text()
        assert TOKEN not in text, path
        assert "SECRET-TOKEN" not in text, path
        assert PASSWORD not in text, path


def test_a_hand_made_document_is_scrubbed_on_the_way_out(tmp_path):
    """The writers redact strings again, whoever built the document."""
    doc = {
        "experiment": {"name": "x", "seed": 1},
        "verdict": "passed",
        "command": f"curl -H 'Authorization: Bearer {TOKEN}' http://u:{PASSWORD}@h/",
        "hypotheses": [],
    }
    for path in write_reports(doc, tmp_path):
        text = path.read_text()
        assert TOKEN not in text
        assert PASSWORD not in text


def _suite(text: str) -> ET.Element:
    root = ET.fromstring(text)  # noqa: S314 - XML we just wrote
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    return suite


def test_junit_has_one_testcase_per_hypothesis_and_counts_failures(tmp_path, outcome):
    """One suite named after the experiment; failures carry observed and expected."""
    path = write_reports(build_document(outcome), tmp_path)[1]
    suite = _suite(path.read_text())
    assert suite.get("name") == "db-latency"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == (
        "3",
        "1",
        "0",
    )
    assert suite.get("time") == "32.500"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [
        "browse stays fast",
        "few lock errors",
        "recovers",
    ]
    assert {c.get("classname") for c in cases} == {"chaoskit.db-latency"}
    failure = cases[0].find("failure")
    assert failure is not None
    assert failure.get("message") == "observed p95 309.5ms, expected below 250ms"
    assert failure.get("type") == "threshold"
    assert "p95 was 59.5ms (24%) over budget" in (failure.text or "")
    assert cases[1].find("failure") is None
    assert cases[2].find("failure") is None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["seed"] == "7"
    assert (props["command"] or "").startswith(
        "chaoskit run experiments/db-latency.toml"
    )
    assert "replay: chaoskit run" in (suite.findtext("system-out") or "")


def test_an_aborted_run_adds_an_error_testcase(tmp_path):
    """The abort reason is an <error>, so CI shows the run itself broke."""
    doc = build_document(build_outcome(tmp_path, status="aborted"))
    suite = _suite(junit_xml(doc))
    assert (suite.get("tests"), suite.get("errors")) == ("4", "1")
    run = suite.findall("testcase")[-1]
    assert run.get("name") == "run"
    error = run.find("error")
    assert error is not None
    assert error.get("message") == "abort: error rate above 50% for 10s"


def test_unjudged_hypotheses_are_skipped():
    """A hypothesis the run never judged (it died first) is skipped, not passed."""
    doc = {
        "experiment": {"name": "x"},
        "verdict": "aborted",
        "reason": "crash",
        "hypotheses": [{"name": "h", "passed": None, "observed": "not judged"}],
    }
    suite = _suite(junit_xml(doc))
    assert suite.get("skipped") == "1"
    skipped = suite.find("testcase/skipped")
    assert skipped is not None
    assert skipped.get("message") == "not judged"


def test_junit_escapes_markup_quotes_and_control_characters():
    """Names and messages with <, &, quotes, newlines and NULs stay valid XML."""
    name = "p95 < 800ms & \"quoted\" 'single'"
    doc = {
        "experiment": {"name": "a<b>&c", "seed": 1},
        "verdict": "failed",
        "duration_s": 1.0,
        "hypotheses": [
            {
                "name": name,
                "kind": "threshold",
                "passed": False,
                "observed": "p95 <900ms>\x00\x1b[31m",
                "expected": "below 800ms & more",
                "detail": "line one\nline two ]]> <![CDATA[",
            }
        ],
    }
    suite = _suite(junit_xml(doc))
    assert suite.get("name") == "a<b>&c"
    case = suite.find("testcase")
    assert case is not None
    assert case.get("name") == name
    assert case.get("classname") == "chaoskit.a<b>&c"
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == (
        "observed p95 <900ms>\ufffd\ufffd[31m, expected below 800ms & more"
    )
    assert "line two ]]> <![CDATA[" in (failure.text or "")
