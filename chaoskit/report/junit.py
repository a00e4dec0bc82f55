"""``junit.xml``: one test case per hypothesis, for CI dashboards.

One ``<testsuite>`` named after the experiment, one ``<testcase
classname="chaoskit.<experiment>" name="<hypothesis>">`` per hypothesis with a
``<failure message="observed X, expected Y">`` when it did not hold, a
``<skipped>`` when it was never judged (the run died first), and an extra
``run`` test case carrying an ``<error>`` when the run was aborted. The seed
and the replay command are properties, so a red build says how to reproduce it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path

from chaoskit.redact import redact
from chaoskit.report.fields import mapping, mappings, status
from chaoskit.report.journal import jsonable
from chaoskit.report.json import write_atomic

__all__ = ["JUNIT_NAME", "junit_xml", "write_junit"]

JUNIT_NAME = "junit.xml"
"""The file name in a report directory."""

# XML 1.0 cannot carry these at all, escaped or not; ElementTree would write
# them and produce a file no parser reads (an error detail can quote binary).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: object) -> str:
    return _NOT_XML.sub(
        "\N{REPLACEMENT CHARACTER}", "" if value is None else str(value)
    )


def _seconds(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "0.000"


def junit_xml(document: Mapping[str, object]) -> str:
    """The JUnit XML of a report document, as text with an XML declaration."""
    doc = mapping(redact(jsonable(document), keys=False))
    experiment = mapping(doc.get("experiment"))
    name = _text(experiment.get("name") or "experiment")
    hypotheses = mappings(doc.get("hypotheses"))
    aborted = doc.get("verdict") == "aborted"
    failures = sum(1 for h in hypotheses if status(h) == "failed")
    skipped = sum(1 for h in hypotheses if status(h) is None)
    # Inconclusive (too little data) is an error, not a failure: the test could
    # not be judged, and the run's exit code is 1 all the same.
    inconclusive = sum(1 for h in hypotheses if status(h) == "inconclusive")
    errors = inconclusive + (1 if aborted else 0)
    tests = len(hypotheses) + errors
    time = _seconds(doc.get("duration_s"))
    counts = {
        "tests": str(tests),
        "failures": str(failures),
        "errors": str(errors),
        "skipped": str(skipped),
        "time": time,
    }
    root = ET.Element("testsuites", {"name": "chaoskit", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": name, **counts})
    if doc.get("started_at"):
        suite.set("timestamp", _text(doc["started_at"]))
    hostname = mapping(doc.get("environment")).get("hostname")
    if hostname:
        suite.set("hostname", _text(hostname))
    properties = ET.SubElement(suite, "properties")
    for key, value in (
        ("seed", experiment.get("seed")),
        ("command", doc.get("command")),
        ("file", experiment.get("file")),
        ("verdict", doc.get("verdict")),
        ("report_dir", doc.get("report_dir")),
    ):
        ET.SubElement(properties, "property", name=key, value=_text(value))
    classname = f"chaoskit.{name}"
    for hypothesis in hypotheses:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=classname,
            name=_text(hypothesis.get("name")),
            time="0.000",
        )
        observed = _text(hypothesis.get("observed"))
        expected = _text(hypothesis.get("expected"))
        result = status(hypothesis)
        if result == "inconclusive":
            error = ET.SubElement(
                case, "error", type="inconclusive",
                message=f"inconclusive: {_text(hypothesis.get('detail')) or observed}",
            )  # fmt: skip
            error.text = f"observed: {observed}\nexpected: {expected}"
        elif result == "failed":
            failure = ET.SubElement(
                case,
                "failure",
                message=f"observed {observed}, expected {expected}",
                type=_text(hypothesis.get("kind") or "hypothesis"),
            )
            phase = _text(hypothesis.get("phase"))
            detail = _text(hypothesis.get("detail"))
            failure.text = "\n".join(
                line
                for line in (
                    f"phase: {phase}" if phase else "",
                    f"observed: {observed}",
                    f"expected: {expected}",
                    detail,
                )
                if line
            )
        elif result is None:
            ET.SubElement(case, "skipped", message=observed or "not judged")
    if aborted:
        case = ET.SubElement(suite, "testcase", classname=classname, name="run")
        case.set("time", time)
        reason = _text(doc.get("reason") or "the run was aborted")
        error = ET.SubElement(case, "error", message=reason, type="aborted")
        error.text = reason
    out = ET.SubElement(suite, "system-out")
    out.text = (
        f"verdict: {_text(doc.get('verdict'))}\n"
        f"seed: {_text(experiment.get('seed'))}\n"
        f"replay: {_text(doc.get('command'))}\n"
    )
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'


def write_junit(document: Mapping[str, object], report_dir: str | Path) -> Path:
    """Write ``junit.xml`` into ``report_dir``; returns its path."""
    return write_atomic(Path(report_dir) / JUNIT_NAME, junit_xml(document))
