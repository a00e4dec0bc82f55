"""``report.html``: a self-contained page a person would rather look at than JSON.

From the top: the verdict and the replay command; the hypotheses (observed
against expected); the faults (planned and actual windows, rolled back or
not); charts over time of throughput, p50/p95/p99 latency and error rate,
overall and per task, with every fault window shaded and labelled and every
recovery time marked; per-task statistics; error classes with samples; the
users who hit the errors; services; environment, seed, experiment file and
plan.

Self-contained and script-free: styles are inline and the charts are inline SVG
drawn by matplotlib at the end of the run (:mod:`chaoskit.report.charts` says
why that beats an inline plotly bundle: a real report is about 150 KB against
3.5 MB, and readable where scripts are blocked). Nothing is fetched at view time.

The page is built from the report document, so a journal re-rendered with
``chaoskit report`` gives the same page; the per-task latency charts also read
the run's ``samples.tsv`` (:mod:`chaoskit.report.rundata`) when it is there,
and say so when it is not. Every string is HTML-escaped, and the document is
scrubbed of credentials once more on the way in.

New kinds of results (retry sequences, fuzz findings) get a section by adding a
``(document) -> str`` function to :data:`SECTIONS` that returns ``""`` when the
document has nothing for it: the page never shows an empty section.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from html import escape
from pathlib import Path
from typing import Any

from chaoskit.fuzz.coverage import describe_locations
from chaoskit.redact import redact
from chaoskit.report.capacity import capacity_section
from chaoskit.report.charts import Mark, Point, Window, chart_svg
from chaoskit.report.fields import mapping, mappings, rollback, status, user_label
from chaoskit.report.journal import jsonable
from chaoskit.report.json import write_atomic
from chaoskit.report.probes import probe_charts
from chaoskit.report.rundata import TaskSeconds, load_run_data
from chaoskit.report.sequences_svg import sequences_svg
from chaoskit.report.stats import ERRORS_NOTE
from chaoskit.report.style import CSS

__all__ = ["HTML_NAME", "SECTIONS", "html_report", "write_html"]

HTML_NAME = "report.html"
"""The file name in a report directory."""

Section = Callable[[Mapping[str, Any]], str]
_RESULT = {
    "passed": ("PASS", "pass"),
    "failed": ("FAIL", "fail"),
    "inconclusive": ("INCONCLUSIVE", "inconclusive"),
}
_BRACKETS = re.compile(r"\[([^\]]+)\]\s*$")


def _e(value: object) -> str:
    return escape("" if value is None else str(value))


def _s(value: object) -> str:
    """Seconds as a short label."""
    return f"{value:.2f}s" if isinstance(value, int | float) else "-"


def _ms(value: object) -> str:
    return f"{value:,.2f}" if isinstance(value, int | float) else "-"


def _table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    """A table from already-escaped cells."""
    ths = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return (
        f'<table class="{cls}"><thead><tr>{ths}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def _detail(text: object) -> str:
    return f'<div class="detail">{_e(text)}</div>' if text else ""


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{_e(title)}</h2>{body}</section>'


# --- sections ----------------------------------------------------------------


def _header(doc: Mapping[str, Any]) -> str:
    experiment = mapping(doc.get("experiment"))
    verdict = str(doc.get("verdict") or "unknown")
    summary = mapping(doc.get("summary"))
    held, judged = summary.get("passed", 0), summary.get("hypotheses", 0)
    back, faults = summary.get("rolled_back", 0), summary.get("faults", 0)
    unapplied = sum(
        1 for f in mappings(doc.get("faults")) if rollback(f) == "not applied"
    )
    applied = faults - unapplied if isinstance(faults, int) else faults
    facts = [
        f"{_e(held)} of {_e(judged)} hypotheses held",
        f"{_e(back)} of {_e(applied)} faults rolled back"
        + (f" ({unapplied} not applied: the run stopped first)" if unapplied else ""),
        f"seed {_e(experiment.get('seed'))}",
        *(
            [f"environment {_e(experiment['environment'])}"]
            if experiment.get("environment")
            else []
        ),
        f"started {_e(doc.get('started_at'))}",
        f"took {_s(doc.get('duration_s'))}",
    ]
    reason = f'<p class="reason">{_e(doc["reason"])}</p>' if doc.get("reason") else ""
    partial = (
        '<p class="partial">Partial report: the run did not finish; this was '
        "rebuilt from its journal up to where it ends.</p>"
        if doc.get("partial")
        else ""
    )
    return (
        f'<header class="{_e(verdict)}">'
        f'<div class="verdict">{_e(verdict.upper())}</div>'
        f"<div><h1>{_e(experiment.get('name'))}</h1>"
        f'<p class="title">{_e(experiment.get("title"))}</p>'
        f'<p class="facts">{" · ".join(facts)}</p></div></header>{reason}{partial}'
        f'<p class="label">Replay</p><pre class="command"><code>'
        f"{_e(doc.get('command'))}</code></pre>"
    )


def _hypotheses(doc: Mapping[str, Any]) -> str:
    rows = []
    for h in mappings(doc.get("hypotheses")):
        result, css = _RESULT.get(status(h) or "", ("NOT JUDGED", "skip"))
        rows.append([
            f"<strong>{_e(h.get('name'))}</strong>"
            f'<div class="detail">{_e(h.get("detail"))}</div>',
            _e(h.get("kind")), _e(h.get("phase")), _e(h.get("observed")),
            _e(h.get("expected")), f'<span class="badge {css}">{result}</span>',
        ])  # fmt: skip
    if not rows:
        return ""
    head = ["Hypothesis", "Kind", "Phase", "Observed", "Expected", "Result"]
    return _section("hypotheses", "Hypotheses", _table(head, rows, "verdicts"))


def _faults(doc: Mapping[str, Any]) -> str:
    rows = []
    for f in mappings(doc.get("faults")):
        settings = ", ".join(
            f"{_e(k)} {_e(v)}" for k, v in mapping(f.get("settings")).items()
        )
        back = rollback(f)
        if back == "NO":
            back = '<span class="badge fail">NO</span>'
        rows.append([
            f"<strong>{_e(f.get('name'))}</strong>", _e(f.get("kind")),
            _e(f.get("target")), settings,
            f"{_s(f.get('planned_start_s'))} to {_s(f.get('planned_end_s'))}",
            f"{_s(f.get('actual_start_s'))} to {_s(f.get('actual_end_s'))}",
            back + _detail(f.get("error")),
        ])  # fmt: skip
    if not rows:
        return ""
    head = ["Fault", "Kind", "Target", "Settings", "Planned", "Actual", "Rolled back"]
    return _section("faults", "Faults", _table(head, rows))


def _windows(doc: Mapping[str, Any], last_t: float) -> list[Window]:
    windows = []
    for f in mappings(doc.get("faults")):
        start = f.get("actual_start_s")
        if not isinstance(start, int | float):
            start = f.get("planned_start_s")
        if not isinstance(start, int | float):
            continue
        end = f.get("actual_end_s")
        if not isinstance(end, int | float):
            # Never rolled back (the run died): shade to the end of the data.
            end = (
                last_t
                if f.get("actual_start_s") is not None
                else f.get("planned_end_s")
            )
        label = f"{f.get('name')} ({f.get('kind')})"
        windows.append(Window(label, float(start), float(end or start)))
    return windows


def _marks(doc: Mapping[str, Any]) -> list[Mark]:
    faults = {str(f.get("name")): f for f in mappings(doc.get("faults"))}
    marks = []
    for h in mappings(doc.get("hypotheses")):
        seconds = h.get("observed_value")
        if h.get("kind") != "recovery" or not isinstance(seconds, int | float):
            continue
        named = _BRACKETS.search(str(h.get("name")))
        fault = faults.get(named.group(1)) if named else None
        if fault is None and len(faults) == 1:
            fault = next(iter(faults.values()))
        ended = mapping(fault).get("actual_end_s")
        if isinstance(ended, int | float):
            name = mapping(fault).get("name")
            marks.append(Mark(f"{name} recovered in {seconds:.1f}s", ended + seconds))
    return marks


def _points(data: TaskSeconds) -> list[Point]:
    if not data.counts:
        return []
    points = []
    for second in range(min(data.counts), max(data.counts) + 1):
        count, errors = data.counts.get(second, (0, 0))
        hist = data.seconds.get(second)
        p50 = p95 = p99 = None
        if hist is not None and hist.count:
            p50, p95, p99 = (v / 1e6 for v in hist.percentiles((50, 95, 99)))
        points.append(Point(float(second), count, errors, p50, p95, p99))
    return points


def _charts(doc: Mapping[str, Any], report_dir: Path) -> str:
    series = mappings(doc.get("series"))
    run = load_run_data(doc, report_dir)
    overall = (
        _points(run.overall)
        if run is not None
        else [
            Point(float(s.get("t") or 0), int(s.get("count") or 0),
                  int(s.get("errors") or 0), s.get("p50"), s.get("p95"), s.get("p99"))
            for s in series
        ]
    )  # fmt: skip
    if not overall:
        return ""
    windows = _windows(doc, overall[-1].t + 1)
    marks = _marks(doc)
    figures = [("overall", "All tasks", overall)]
    for i, task in enumerate(mapping(doc.get("tasks"))):
        if run is not None and task in run.tasks:
            points = _points(run.tasks[task])
        else:
            points = []
            for s in series:
                second = mapping(mapping(s.get("tasks")).get(task))
                points.append(
                    Point(
                        float(s.get("t") or 0),
                        int(second.get("count") or 0),
                        int(second.get("errors") or 0),
                    )
                )
        figures.append((f"task-{i}", f"Task {task}", points))
    for i, name in enumerate(mapping(doc.get("classes"))):
        if run is not None and name in run.classes:
            figures.append((f"class-{i}", f"Class {name}", _points(run.classes[name])))
    warmup = next(
        ((p["start_s"], p["end_s"]) for p in mappings(doc.get("phases"))
         if p.get("name") == "warmup" and isinstance(p.get("start_s"), int | float)
         and isinstance(p.get("end_s"), int | float)),
        None,
    )  # fmt: skip
    parts = []
    for chart_id, title, points in figures:
        svg = chart_svg(chart_id, title, points, windows, marks, warmup)
        parts.append(f'<figure aria-label="{_e(title)}">{svg}</figure>')
    note = (
        "Per second, by intended start (as phases count requests); latency from "
        "it too. Shaded: fault windows (actual start to rollback)."
        + (" Grey: the warm-up, not counted in any phase." if warmup else "")
        + (" Dashed: recovery." if marks else "")
    )
    if run is None:
        note += (
            " Per-task latency needs the run's samples.tsv, which was not found"
            " next to this report."
        )
    return _section(
        "charts", "Over time", f'<p class="note">{note}</p>' + "".join(parts)
    )


def _probes(doc: Mapping[str, Any]) -> str:
    """Probe charts (chaoskit.report.probes), fault windows as on the others."""
    if not doc.get("probes"):
        return ""
    times = [
        t for p in mappings(doc.get("probes")) for t in p.get("t") or []
        if isinstance(t, int | float)
    ]  # fmt: skip
    return probe_charts(doc, _windows(doc, max(times, default=0.0)))


def _tasks(doc: Mapping[str, Any]) -> str:
    keys = ["count", "errors", "rps", "p50", "p90", "p95", "p99", "max"]
    rows = []
    entries = [*mapping(doc.get("tasks")).items(), ("all tasks", doc.get("total"))]
    for name, stats in entries:
        stats = mapping(stats)
        cells = [_e(stats.get(k)) if k in ("count", "errors") else _ms(stats.get(k))
                 for k in keys]  # fmt: skip
        rows.append([f"<strong>{_e(name)}</strong>", *cells])
    if len(rows) == 1 and not mapping(doc.get("total")).get("count"):
        return ""
    head = ["Task", "Requests", "Errors", "req/s", "p50 ms", "p90 ms", "p95 ms",
            "p99 ms", "max ms"]  # fmt: skip
    return _section("tasks", "Tasks", _table(head, rows, "numbers"))


def _classes(doc: Mapping[str, Any]) -> str:
    """A row per ``[[load.users]]`` class: its declared share, its share of the
    requests, and its requests' numbers."""
    classes = mapping(doc.get("classes"))
    if not classes:
        return ""
    keys = ["count", "errors", "rps", "p50", "p90", "p95", "p99", "max"]
    rows = []
    for name, raw in classes.items():
        stats = mapping(raw)
        shares = [_pct(stats.get("declared_share")), _pct(stats.get("request_share"))]
        cells = [_e(stats.get(k)) if k in ("count", "errors") else _ms(stats.get(k))
                 for k in keys]  # fmt: skip
        rows.append([f"<strong>{_e(name)}</strong>", *shares, *cells])
    head = ["Class", "Declared share", "Share of requests", "Requests", "Errors",
            "req/s", "p50 ms", "p90 ms", "p95 ms", "p99 ms", "max ms"]  # fmt: skip
    note = (
        '<p class="note">Declared share: of the users (closed model) or of the '
        "requests (open model), as the file asks; a class that thinks longer "
        "makes fewer of the requests.</p>"
    )
    return _section("classes", "User classes", note + _table(head, rows, "numbers"))


def _pct(value: object) -> str:
    return f"{value * 100:.1f}%" if isinstance(value, int | float) else "-"


def _errors(doc: Mapping[str, Any]) -> str:
    errors = mapping(doc.get("errors"))
    if not errors:
        return ""
    rows = []
    for key, info in errors.items():
        info = mapping(info)
        samples = "".join(
            f"<li><code>{_e(s)}</code></li>" for s in info.get("samples") or []
        )
        share = info.get("share")
        rows.append([
            f"<strong>{_e(key)}</strong>", _e(info.get("count")),
            f"{100 * share:.1f}%" if isinstance(share, int | float) else "-",
            f'<ul class="samples">{samples}</ul>',
        ])  # fmt: skip
    body = _table(["Error class", "Requests", "Share of failed", "Samples"], rows)
    body += f'<p class="note">{_e(doc.get("errors_note") or ERRORS_NOTE)}</p>'
    users = mappings(doc.get("top_error_users"))
    if users:
        urows = [
            [_e(user_label(u)), _e(u.get("errors")),
             _e(", ".join(f"{k} {v}" for k, v in mapping(u.get("by_class")).items()))]
            for u in users
        ]  # fmt: skip
        body += "<h3>Users with the most errors</h3>" + _table(
            ["User", "Errors", "By class"], urows
        )
    for key, top in mapping(doc.get("top_error_users_by_class")).items():
        crows = [[_e(user_label(u)), _e(u.get("errors"))] for u in mappings(top)]
        body += f"<h3>Users with the most {_e(key)} errors</h3>" + _table(
            ["User", "Errors"], crows
        )
    return _section("errors", "Errors", body)


def _integrity(doc: Mapping[str, Any]) -> str:
    """Acknowledged writes against the read-back, per integrity hypothesis."""
    body = ""
    for h in mappings(doc.get("hypotheses")):
        data = mapping(h.get("data"))
        if h.get("kind") != "integrity" or not data:
            continue
        counts = [
            [_e(label), _e(data.get(key))]
            for label, key in (
                ("acknowledged", "acknowledged"), ("read back", "read_back"),
                ("counter read back", "counter"),
                ("lost", "lost"), ("extra", "extra"), ("duplicated", "duplicated"),
                ("unexpected", "unexpected"), ("indeterminate", "indeterminate"),
                ("indeterminate, found", "indeterminate_found"),
            )
            if key in data
        ]  # fmt: skip
        body += f"<h3>{_e(h.get('name'))}</h3>" + _table(["", "Writes"], counts)
        body += f'<p class="label">Read back from {_e(data.get("source"))}</p>'
        for key in ("lost_ids", "duplicated_ids", "unexpected_ids"):
            ids = data.get(key) or []
            if ids:
                items = "".join(f"<li><code>{_e(i)}</code></li>" for i in ids)
                label = key.removesuffix("_ids")
                body += f'<p class="label">{label} (first {len(ids)})</p>'
                body += f'<ul class="samples">{items}</ul>'
    return _section("integrity", "Acknowledged writes", body) if body else ""


def _services(doc: Mapping[str, Any]) -> str:
    rows = [
        [f"<strong>{_e(s.get('name'))}</strong>", _e(s.get("kind")),
         _e(s.get("address")), _e(s.get("pid")), _s(s.get("ready_after_s")),
         "<br>".join(_e(log) for log in s.get("logs") or [])]
        for s in mappings(doc.get("services"))
    ]  # fmt: skip
    if not rows:
        return ""
    head = ["Service", "Kind", "Address", "PID", "Ready after", "Logs"]
    return _section("services", "Services", _table(head, rows))


def _environment(doc: Mapping[str, Any]) -> str:
    experiment = mapping(doc.get("experiment"))
    facts = {
        "experiment file": experiment.get("file"),
        "experiment environment": experiment.get("environment"),
        "seed": experiment.get("seed"),
        "report directory": doc.get("report_dir"),
        "started": doc.get("started_at"),
        "ended": doc.get("ended_at"),
        **mapping(doc.get("environment")),
    }
    rows = [[_e(k), f"<code>{_e(v)}</code>"] for k, v in facts.items()]
    plan = (
        f'<h3>Plan</h3><pre class="plan">{_e(doc["plan"])}</pre>'
        if doc.get("plan")
        else ""
    )
    return _section(
        "environment", "Environment and plan", _table(["", ""], rows, "kv") + plan
    )


def _retry_sequences(doc: Mapping[str, Any]) -> str:
    """Each backoff verdict's retry sequences: a chart, and the figures."""
    parts = []
    for h in mappings(doc.get("hypotheses")):
        figures = mapping(h.get("data"))
        sequences = mappings(figures.get("sequences"))
        if h.get("kind") != "backoff" or not sequences:
            continue
        title = f"{h.get('name')}: attempts at route {figures.get('route')}"
        cv = figures.get("jitter_cv")
        facts = (
            f"{_e(figures.get('attempts'))} attempts in {len(sequences)} sequences "
            f"over {_s(figures.get('window_s'))}; jitter CV "
            f"{_e(f'{cv:.3f}' if isinstance(cv, float) else '-')}; broken: "
            f"{_e(', '.join(figures.get('broken') or []) or 'none')}"
        )
        parts.append(
            f"<h3>{_e(title)}</h3><p>{facts}</p>"
            f'<figure aria-label="{_e(title)}">{sequences_svg(sequences, title)}'
            "</figure>"
        )
    if not parts:
        return ""
    return _section("retries", "Retry sequences", "".join(parts))


def _fuzz(doc: Mapping[str, Any]) -> str:
    """Fuzzed payloads: counts by rule and outcome, findings with curl lines."""
    parts = []
    for tally in mappings(doc.get("fuzz")):
        by_rule = mapping(tally.get("by_rule"))
        outcomes = list(mapping(tally.get("by_outcome")))
        rows = [
            [f"<strong>{_e(rule)}</strong>",
             *(_e(mapping(row).get(name, "")) for name in outcomes)]
            for rule, row in by_rule.items()
        ]  # fmt: skip
        parts.append(
            f"<h3>{_e(tally.get('fault'))}: {_e(tally.get('requests'))} requests to "
            f"<code>{_e(tally.get('url'))}</code>, {_e(tally.get('wrong'))} wrong "
            f"(seed {_e(tally.get('seed'))})</h3>"
            + _table(["Rule", *(_e(n) for n in outcomes)], rows, "numbers")
        )
        locations = tally.get("locations")
        if isinstance(locations, Mapping):
            parts.append(f"<p>{_e(describe_locations(locations))}</p>")
        for finding in mappings(tally.get("findings")):
            body = finding.get("body")
            if body is None and finding.get("body_base64"):
                body = f"(base64) {finding['body_base64']}"
            size = finding.get("body_bytes")
            cut = f" (first bytes of {_e(size)})" if size else ""
            status = finding.get("status") or "no answer"
            parts.append(
                f"<h4>{_e(finding.get('check'))}: {_e(finding.get('rule'))} "
                f"&rarr; {_e(status)}</h4>"
                + _detail(f"{finding.get('detail')}: {finding.get('message')}")
                + f"<p>Minimal payload{cut}:</p><pre>{_e(body)}</pre>"
                + f'<pre class="command">{_e(finding.get("curl"))}</pre>'
            )
        if tally.get("replay") and mappings(tally.get("findings")):
            parts.append(
                "<p>Replay (findings.json holds the exact bytes; this page masks "
                f'secret-looking fields):</p><pre class="command">{_e(tally["replay"])}'
                "</pre>"
            )
    if not parts:
        return ""
    return _section("fuzz", "Fuzzed payloads", "".join(parts))


SECTIONS: list[Section] = [
    capacity_section,
    _hypotheses,
    _faults,
    _tasks,
    _classes,
    _errors,
    _retry_sequences,
    _integrity,
    _fuzz,
    _services,
    _environment,
]
"""Table sections after the charts, in page order; each returns ``""`` when the
document has nothing for it."""


def html_report(document: Mapping[str, object], report_dir: str | Path = ".") -> str:
    """The HTML page of a report document.

    Args:
        document: a report document.
        report_dir: where the page goes; the run's ``samples.tsv`` is looked
            for there (then in the document's ``report_dir``).
    """
    doc = mapping(redact(jsonable(document), keys=False))
    name = mapping(doc.get("experiment")).get("name") or "experiment"
    tables = [section(doc) for section in SECTIONS]
    charts = _charts(doc, Path(report_dir))
    probes = _probes(doc)
    # Verdict first, then hypotheses and faults, then the charts they refer to.
    body = [_header(doc), *tables[:3], charts, probes, *tables[3:]]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>chaoskit · {_e(name)} · {_e(doc.get('verdict'))}</title>"
        f"<style>{CSS}</style></head>\n<body><main>"
        + "\n".join(part for part in body if part)
        + '</main><footer>chaoskit report · <a href="report.json">report.json</a> · '
        '<a href="journal.jsonl">journal.jsonl</a> · '
        '<a href="stats.csv">stats.csv</a>'
        + (' · <a href="probes.csv">probes.csv</a>' if probes else "")
        + "</footer></body></html>\n"
    )


def write_html(document: Mapping[str, object], report_dir: str | Path) -> Path:
    """Write ``report.html`` into ``report_dir``; returns its path."""
    return write_atomic(Path(report_dir) / HTML_NAME, html_report(document, report_dir))
