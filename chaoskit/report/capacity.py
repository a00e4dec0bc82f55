"""The capacity search's files: capacity.csv (the curve), capacity.svg (the
throughput-latency chart) and its section of report.html (issue 18).

Read from the document's loose JSON, so ``chaoskit report DIR`` renders them
again from the journal."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

from chaoskit.report.fields import mapping, mappings, number
from chaoskit.report.json import write_atomic

__all__ = [
    "CAPACITY_CSV_NAME",
    "CAPACITY_SVG_NAME",
    "capacity_csv",
    "capacity_section",
    "capacity_svg",
    "write_capacity_files",
]

CAPACITY_CSV_NAME = "capacity.csv"
CAPACITY_SVG_NAME = "capacity.svg"
_COLUMNS = ("search", "level", "offered", "achieved", "p50_ms", "p95_ms", "p99_ms",
            "requests", "errors", "error_rate", "passed")  # fmt: skip


def capacity_csv(document: Mapping[str, object]) -> str:
    """The curve, one row per step, in the order they ran."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_COLUMNS)
    for row in mappings(document.get("curve")):
        writer.writerow([row.get(c) for c in _COLUMNS])
    return out.getvalue()


def capacity_svg(document: Mapping[str, object]) -> str:
    """Achieved rate and p95 against the offered level, one line per search."""
    rows = mappings(document.get("curve"))
    width, height, pad = 640.0, 320.0, 48.0
    levels = [number(r.get("level")) or 0.0 for r in rows] or [1.0]
    achieved = [number(r.get("achieved")) or 0.0 for r in rows] or [1.0]
    p95 = [number(r.get("p95_ms")) or 0.0 for r in rows] or [1.0]
    x_max = max(levels) or 1.0
    y_max = max(max(achieved), x_max) or 1.0
    l_max = max(p95) or 1.0

    def x(v: float) -> float:
        return pad + (width - 2 * pad) * v / x_max

    def y(v: float, top: float) -> float:
        return height - pad - (height - 2 * pad) * v / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:g} {height:g}" '
        f'width="{width:g}" height="{height:g}" font-family="sans-serif" '
        'font-size="11"><title>throughput and p95 against offered load</title>',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" '
        f'y2="{height - pad}" stroke="#444"/>',
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#444"/>',
        f'<text x="{width / 2}" y="{height - 12}" text-anchor="middle">offered '
        f"level (max {x_max:.4g})</text>",
        f'<text x="{pad}" y="{pad - 8}">achieved/s (blue, max {y_max:.4g}) · p95 '
        f"ms (red, max {l_max:.4g})</text>",
    ]
    colours = {"baseline": ("#1f77b4", "#d62728"), "fault": ("#6baed6", "#fc9272"),
               "vary": ("#1f77b4", "#d62728")}  # fmt: skip
    for search in dict.fromkeys(str(r.get("search")) for r in rows):
        mine = sorted(
            (r for r in rows if r.get("search") == search),
            key=lambda r: number(r.get("level")) or 0.0,
        )
        blue, red = colours.get(search, ("#1f77b4", "#d62728"))
        for key, top, colour in (("achieved", y_max, blue), ("p95_ms", l_max, red)):
            points = " ".join(
                f"{x(number(r.get('level')) or 0.0):.1f},"
                f"{y(number(r.get(key)) or 0.0, top):.1f}"
                for r in mine
            )
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                f'points="{points}"><title>{escape(search)} {key}</title></polyline>'
            )
        for r in mine:
            fill = "#2ca02c" if r.get("passed") else "#d62728"
            cx = x(number(r.get("level")) or 0.0)
            cy = y(number(r.get("achieved")) or 0.0, y_max)
            parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3" fill="{fill}"/>')
    capacity = mapping(document.get("capacity"))
    value = number(capacity.get("value"))
    if value is not None and not document.get("vary"):
        parts.append(
            f'<line x1="{x(value):.1f}" y1="{pad}" x2="{x(value):.1f}" '
            f'y2="{height - pad}" stroke="#2ca02c" stroke-dasharray="4 3">'
            f"<title>capacity {value:.4g}</title></line>"
        )
    parts.append("</svg>\n")
    return "\n".join(parts)


def _v(value: object, unit: object = "") -> str:
    n = number(value)
    return "—" if n is None else f"{n:.4g} {unit}".strip()


def capacity_section(document: Mapping[str, Any]) -> str:
    """The HTML section: the answer, what broke first, the chart, the curve."""
    if document.get("capacity") is None and not document.get("curve"):
        return ""
    capacity = mapping(document.get("capacity"))
    unit = capacity.get("unit", "")
    broke = mapping(document.get("broke_first"))
    baseline = mapping(document.get("baseline"))
    lines = [
        f"<p><b>Capacity</b>: {_v(capacity.get('value'), unit)} (held) — "
        f"broke at {_v(capacity.get('high'), unit)}"
        + (
            f"; stopped: {escape(str(capacity['stopped']))}"
            if capacity.get("stopped")
            else ""
        )
        + "</p>"
    ]
    if broke:
        lines.append(
            f"<p><b>Broke first</b>: {escape(str(broke.get('hypothesis')))} "
            f"({escape(str(broke.get('how')))}: {escape(str(broke.get('observed')))}, "
            f"expected {escape(str(broke.get('expected')))}"
            + (
                f"; mostly {escape(str(broke['error_class']))}"
                if broke.get("error_class")
                else ""
            )
            + f") at {_v(broke.get('level'))}</p>"
        )
    if baseline:
        level = baseline.get("value") or baseline.get("level")
        cost = number(document.get("margin"))
        text = f"<p><b>Baseline</b>: {_v(level, baseline.get('unit', ''))}"
        if cost is not None:
            text += f" · <b>margin</b> (share of capacity the fault costs): {cost:.1%}"
        lines.append(text + "</p>")
    if document.get("knee") is not None:
        lines.append(f"<p><b>Knee</b>: {_v(document.get('knee'), unit)}</p>")
    rows = "".join(
        "<tr>"
        + "".join(f"<td>{escape(str(r.get(c)))}</td>" for c in _COLUMNS)
        + "</tr>"
        for r in mappings(document.get("curve"))
    )
    head = "".join(f"<th>{c}</th>" for c in _COLUMNS)
    return (
        '<section id="capacity"><h2>Capacity</h2>' + "".join(lines)
        + capacity_svg(document)
        + f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        + f'<p><a href="{CAPACITY_CSV_NAME}">{CAPACITY_CSV_NAME}</a></p></section>'
    )  # fmt: skip


def write_capacity_files(
    document: Mapping[str, object], report_dir: Path
) -> list[Path]:
    """capacity.csv and capacity.svg, for a capacity search's document only."""
    if "capacity" not in document:
        return []
    return [
        write_atomic(report_dir / CAPACITY_CSV_NAME, capacity_csv(document)),
        write_atomic(report_dir / CAPACITY_SVG_NAME, capacity_svg(document)),
    ]
