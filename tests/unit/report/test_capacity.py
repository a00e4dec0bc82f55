"""capacity.csv, capacity.svg and the HTML section, from a document's JSON."""

from __future__ import annotations

from xml.etree import ElementTree

from chaoskit.report import write_reports
from chaoskit.report.capacity import capacity_csv, capacity_section, capacity_svg
from chaoskit.report.html import html_report


def row(search: str, level: float, p95: float, passed: bool) -> dict[str, object]:
    return {"search": search, "level": level, "offered": level, "achieved": level,
            "p50_ms": 20, "p95_ms": p95, "p99_ms": p95, "requests": 400,
            "errors": 0, "error_rate": 0.0, "passed": passed}  # fmt: skip


DOCUMENT = {
    "kind": "capacity",
    "experiment": {"name": "capacity", "file": "x.toml", "seed": 1},
    "verdict": "passed",
    "capacity": {"value": 129.7, "low": 129.7, "high": 135.4, "unit": "requests/s"},
    "baseline": {"value": 200.0, "low": 200.0, "high": 208.9, "unit": "requests/s"},
    "margin": 0.35,
    "knee": 129.7,
    "broke_first": {"hypothesis": "fast", "how": "latency", "observed": "p95 1.4s",
                    "expected": "below 100ms", "error_class": None, "level": 200},
    "curve": [row("baseline", 100, 30, True), row("baseline", 200, 35, True),
              row("fault", 100, 40, True), row("fault", 200, 1400, False)],
}  # fmt: skip


def test_the_csv_has_a_row_per_step_in_run_order():
    lines = capacity_csv(DOCUMENT).splitlines()
    assert lines[0].split(",")[:3] == ["search", "level", "offered"]
    assert [line.split(",")[0] for line in lines[1:]] == [
        "baseline",
        "baseline",
        "fault",
        "fault",
    ]


def test_the_chart_is_well_formed_svg_with_a_line_per_search_and_measure():
    root = ElementTree.fromstring(capacity_svg(DOCUMENT))  # noqa: S314 - ours
    lines = root.findall("{http://www.w3.org/2000/svg}polyline")
    assert len(lines) == 4  # achieved and p95, for baseline and fault


def test_the_html_section_says_capacity_baseline_margin_and_what_broke():
    section = capacity_section(DOCUMENT)
    assert "129.7 requests/s" in section
    assert "200 requests/s" in section
    assert "35.0%" in section
    assert "fast" in section
    assert 'id="capacity"' in html_report(DOCUMENT)


def test_a_run_document_gets_no_capacity_files(tmp_path):
    assert capacity_section({"verdict": "passed"}) == ""
    write_reports(DOCUMENT, tmp_path)
    assert (tmp_path / "capacity.csv").exists()
    assert (tmp_path / "capacity.svg").exists()
    other = tmp_path / "run"
    write_reports({"verdict": "passed", "experiment": {"name": "x"}}, other)
    assert not (other / "capacity.csv").exists()
