"""An invalid-payloads fault's tally in report.json, the HTML page and the
console: counts by rule and outcome, findings with the minimal payload and
its curl line, the replay command; left out when there was no such fault."""

from __future__ import annotations

import dataclasses
import io
import json

from rich.console import Console

from chaoskit.fuzz.checks import CheckConfig, Outcome, check_response
from chaoskit.fuzz.curl import curl_line
from chaoskit.fuzz.findings import Finding
from chaoskit.fuzz.rules import Case, Rule
from chaoskit.fuzz.tally import FuzzTally
from chaoskit.report import build_document, html_report, print_summary
from tests.unit.report.conftest import build_outcome

BAD = b'{"type": "heartbeat", "progress": 101, "note": "<b>"}'
HUGE = b'{"padding": "' + b"x" * 5000 + b'"}'
URL = "http://127.0.0.1:8100/events"


def tally() -> FuzzTally:
    result = FuzzTally("garbage", URL, 5, replay="chaoskit fuzz --url x --replay d")
    for case, outcome in [
        (Case(Rule.VALID, b"{}"), Outcome(202, b"", 0.01)),
        (Case(Rule.OUT_OF_RANGE, BAD), Outcome(500, b'{"error": "internal"}', 0.02)),
        (Case(Rule.OUT_OF_RANGE, BAD), Outcome(422, b'{"error": "range"}', 0.01)),
        (Case(Rule.OVERSIZED_BODY, HUGE), Outcome(413, b"", 0.01)),
    ]:
        result.observe(case, outcome, check_response(case, outcome, CheckConfig()))
    result.findings = [
        Finding("no-5xx", "out-of-range", "heartbeat: progress = 101", 500,
                "internal", "internal", "POST", "/events", "application/json",
                BAD, curl_line("POST", URL, {}, BAD), 5),
        Finding("no-5xx", "oversized-body", "5015 bytes", 500, "internal", "x",
                "POST", "/events", "application/json", HUGE,
                curl_line("POST", URL, {}, HUGE), 5),
    ]  # fmt: skip
    return result


def test_report_json_has_counts_findings_and_cut_bodies(tmp_path) -> None:
    outcome = dataclasses.replace(build_outcome(tmp_path), fuzz=(tally(),))
    (entry,) = json.loads(json.dumps(build_document(outcome)))["fuzz"]
    assert entry["by_rule"] == {
        "out-of-range": {"5xx": 1, "refused": 1},
        "oversized-body": {"refused": 1},
        "valid": {"accepted": 1},
    }
    assert (entry["requests"], entry["wrong"]) == (4, 1)
    assert entry["broken_rules"] == ["out-of-range"]
    assert entry["findings"][0]["body"] == BAD.decode()
    huge = entry["findings"][1]
    assert huge["body_bytes"] == len(HUGE)
    assert len(huge["body"]) < len(HUGE)  # whole in findings.json, cut here


def test_html_section_with_counts_payload_and_curl(tmp_path) -> None:
    outcome = dataclasses.replace(build_outcome(tmp_path), fuzz=(tally(),))
    page = html_report(build_document(outcome), tmp_path)
    section = page[page.index('<section id="fuzz">') :]
    section = section[: section.index("</section>")]
    assert "garbage: 4 requests to" in section
    assert "<th>5xx</th>" in section
    assert "&lt;b&gt;" in section  # the payload is escaped, never markup
    assert "curl -sS -i -X POST" in section
    assert "chaoskit fuzz --url x --replay d" in section
    assert f"first bytes of {len(HUGE)}" in section


def test_no_section_and_no_table_without_a_payload_fault(tmp_path) -> None:
    document = build_document(build_outcome(tmp_path))
    assert document["fuzz"] == []
    assert 'id="fuzz"' not in html_report(document, tmp_path)
    console = Console(record=True, width=120, file=io.StringIO())
    print_summary(document, console)
    assert "Fuzzed payloads" not in console.export_text()


def test_console_table_by_rule_and_curl_lines(tmp_path) -> None:
    outcome = dataclasses.replace(build_outcome(tmp_path), fuzz=(tally(),))
    console = Console(record=True, width=200, file=io.StringIO())
    print_summary(build_document(outcome), console)
    text = console.export_text()
    assert "Fuzzed payloads: garbage" in text
    assert f"4 fuzzed requests to {URL}, 1 wrong" in text
    row = next(line for line in text.splitlines() if "out-of-range" in line)
    assert row.split("│")[1:-1] == [" out-of-range   ", "       1 ", "          ",
                                     "   1 "]  # fmt: skip
    assert "no-5xx (out-of-range): curl -sS -i -X POST" in text
