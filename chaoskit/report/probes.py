"""Probe series in the reports: ``probes`` in report.json, ``probes.csv``, and
the probe charts of ``report.html``.

``probes.csv`` is long-form, one row per sample and metric (``probe, kind,
metric, t_s, value, error``); a gap is a row with no metric and the error, so
a spreadsheet or pandas reads it as it is. A journal without ``run_finished``
(a killed run) still has every probe event: :func:`probes_from_events`
rebuilds the series from them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from chaoskit.report.charts import Window, probe_chart_svg
from chaoskit.report.fields import mapping, mappings
from chaoskit.report.json import write_atomic

__all__ = [
    "PROBES_CSV_NAME",
    "probe_charts",
    "probes_csv",
    "probes_from_events",
    "write_probes_csv",
]

PROBES_CSV_NAME = "probes.csv"


def probes_csv(document: Mapping[str, object]) -> str:
    """The long-form CSV of every probe's samples and gaps."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["probe", "kind", "metric", "t_s", "value", "error"])
    for probe in mappings(document.get("probes")):
        name, kind = probe.get("name"), probe.get("kind")
        values = mapping(probe.get("values"))
        times = probe.get("t") if isinstance(probe.get("t"), list) else []
        rows = []
        for metric, column in values.items():
            for t, value in zip(times or [], column or [], strict=False):
                rows.append((t, metric, "" if value is None else value, ""))
        for gap in mappings(probe.get("gaps")):
            rows.append((gap.get("t"), "", "", gap.get("error") or ""))
        rows.sort(key=lambda r: (float(r[0] or 0), r[1]))
        writer.writerows([name, kind, m, t, v, e] for t, m, v, e in rows)
    return out.getvalue()


def write_probes_csv(document: Mapping[str, object], report_dir: str | Path) -> Path:
    """Write ``probes.csv`` into ``report_dir`` (a header only when no probes)."""
    return write_atomic(Path(report_dir) / PROBES_CSV_NAME, probes_csv(document))


def probes_from_events(events: Iterable[Mapping[str, object]]) -> list[dict[str, Any]]:
    """The ``probes`` section from a journal's ``probe`` events (a killed run)."""
    found: dict[str, dict[str, Any]] = {}
    for e in events:
        if e.get("kind") != "probe" or not isinstance(e.get("probe"), str):
            continue
        name = str(e["probe"])
        probe = found.setdefault(
            name,
            {"name": name, "kind": "", "target": "", "every_s": None, "metrics": [],
             "t": [], "values": {}, "gaps": []},
        )  # fmt: skip
        if e.get("error") is not None:
            probe["gaps"].append({"t": e.get("t_s"), "error": e.get("error")})
            continue
        values = mapping(e.get("values"))
        for metric in values:
            if metric not in probe["values"]:
                probe["metrics"].append(metric)
                probe["values"][metric] = [None] * len(probe["t"])
        probe["t"].append(e.get("t_s"))
        for metric, column in probe["values"].items():
            column.append(values.get(metric))
    return list(found.values())


def _lines(doc: Mapping[str, Any]) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """Fitted leak lines: (probe, metric) -> the line's two end points."""
    lines: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for h in mappings(doc.get("hypotheses")):
        data = mapping(h.get("data"))
        if h.get("kind") != "leak" or "slope_per_s" not in data:
            continue
        slope, intercept = data.get("slope_per_s"), data.get("intercept")
        start, end = data.get("start_s"), data.get("end_s")
        if not all(isinstance(v, int | float) for v in (slope, intercept, start, end)):
            continue
        key = (str(data.get("probe")), str(data.get("metric")))
        lines[key] = [
            (float(start), float(intercept) + float(slope) * float(start)),  # type: ignore[arg-type]
            (float(end), float(intercept) + float(slope) * float(end)),  # type: ignore[arg-type]
        ]
    return lines


def _judged(doc: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(probe, metric) pairs some hypothesis or abort is about: charted first."""
    return {
        (
            str(mapping(h.get("data")).get("probe")),
            str(mapping(h.get("data")).get("metric")),
        )
        for h in mappings(doc.get("hypotheses"))
        if h.get("kind") in ("probe", "leak", "returns")
    }


_PANELS = 4
"""Metrics drawn per probe: the judged ones, then the first of the kind's list."""


def probe_charts(doc: Mapping[str, Any], windows: Sequence[Window]) -> str:
    """One chart per probe (its metrics as panels), fault windows shaded,
    fitted leak lines drawn; ``""`` without probes."""
    lines, judged = _lines(doc), _judged(doc)
    parts = []
    for i, probe in enumerate(mappings(doc.get("probes"))):
        name = str(probe.get("name"))
        times = [float(t) for t in probe.get("t") or [] if isinstance(t, int | float)]
        values = mapping(probe.get("values"))
        metrics = [m for m in values if (name, m) in judged]
        metrics += [
            m for m in values
            if m not in metrics and any(v is not None for v in values[m] or [])
        ][: max(0, _PANELS - len(metrics))]  # fmt: skip
        gaps = [
            float(g["t"]) for g in mappings(probe.get("gaps"))
            if isinstance(g.get("t"), int | float)
        ]  # fmt: skip
        if not metrics and not gaps:
            continue
        panels = [(m, list(values[m] or []), lines.get((name, m))) for m in metrics]
        title = f"Probe {name} ({probe.get('kind')}: {probe.get('target')})"
        svg = probe_chart_svg(f"probe-{i}", title, times, panels, windows, gaps)
        parts.append(f'<figure aria-label="{escape(title)}">{svg}</figure>')
    if not parts:
        return ""
    note = (
        "Each probe's samples on the run's timeline. Shaded: fault windows. "
        "Dashed: the fitted growth of a leak hypothesis. Red ticks: failed "
        "samples (gaps). The numbers are in probes.csv."
    )
    return (
        '<section id="probes"><h2>Probes</h2>'
        f'<p class="note">{escape(note)}</p>{"".join(parts)}</section>'
    )
