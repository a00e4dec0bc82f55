"""Per-class report parts: report.json ``classes``, classes.csv, HTML rows,
the console table (chaoskit.report.classes and its renderers)."""

from __future__ import annotations

import io

from rich.console import Console

from chaoskit.metrics.recorder import Recorder
from chaoskit.records import ErrorClass, Sample
from chaoskit.report import classes_csv, html_report, print_summary
from chaoskit.report.stats import classes_section

MS = 1_000_000


def snapshot():
    recorder = Recorder(origin_ns=0)
    for i in range(30):
        cls = "viewer" if i % 3 else "admin"
        error = ErrorClass.HTTP_5XX if cls == "admin" and i < 6 else None
        recorder.write(
            Sample("page", i, i * MS, i * MS, (i + 5) * MS, 500 if error else 200,
                   1, 1, error, user_class=cls)
        )  # fmt: skip
    recorder.close()
    return recorder.snapshot()


def test_the_section_puts_the_declared_share_beside_the_measured_one():
    section = classes_section(snapshot(), {"viewer": 0.6, "admin": 0.3, "idle": 0.1})
    assert list(section) == ["viewer", "admin", "idle"]  # as declared
    assert section["viewer"]["count"] == 20
    assert section["viewer"]["request_share"] == round(20 / 30, 6)
    assert section["admin"]["errors"] == 2
    assert section["idle"] == {"declared_share": 0.1, "request_share": 0.0}


def test_csv_html_and_console_have_a_row_per_class():
    document = {"classes": classes_section(snapshot(), {"viewer": 0.6, "admin": 0.4})}
    lines = classes_csv(document).splitlines()
    assert lines[0].startswith("class,declared_share,request_share,count,errors")
    assert lines[1].startswith("viewer,0.6,0.666667,20,0,")
    assert lines[2].startswith("admin,0.4,0.333333,10,2,")
    page = html_report(document)
    assert "User classes" in page
    assert "<strong>admin</strong>" in page
    out = io.StringIO()
    print_summary(document, Console(file=out, width=120))
    assert "viewer (60% declared)" in out.getvalue()
