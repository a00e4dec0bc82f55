"""Charts over time for ``report.html``: matplotlib figures rendered to inline SVG.

One chart is a figure of stacked panels sharing the time axis: throughput
(requests and errors per second), latency (p50, p95, p99) and error rate. Every
fault window is shaded and labelled on every panel, and every recovery time is
a dashed line, because "when did the fault start and stop, and how long did
recovery take" is what the reader came for.

Why server-side SVG with matplotlib (and not an inline plotly bundle): a chart
is drawn once, at the end of the run, and then only looked at. SVG needs no
JavaScript at view time, prints, survives e-mail and CI artifact viewers that
block scripts, and weighs tens of kilobytes per chart; plotly's bundle is about
3.5 MB in *every* report before any data. What we give up is hover and zoom;
the numbers behind each chart are in ``report.json`` and ``stats_history.csv``.

The output is deterministic (the SVG's date is left out and element ids are
salted per chart), so a report re-rendered from a journal equals the run's.
Elements carry ids a test (or a reader's script) can find: ``<chart>-fault-<i>``
for shaded windows, ``<chart>-recovery-<i>`` for recovery marks.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # matplotlib is imported when a chart is drawn, not when chaoskit.report
    # is: about 0.4 s that `chaoskit validate` and the live console never need.
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["Mark", "Point", "Window", "chart_svg", "probe_chart_svg"]

_FAULT = "#e8590c"
_RECOVERY = "#2b8a3e"
_LINES = {"p50": "#1c7ed6", "p95": "#f08c00", "p99": "#c92a2a"}
_SVG_START = re.compile(r"^.*?(?=<svg)", re.DOTALL)
_SIZE = re.compile(r'<svg([^>]*?) width="[^"]*" height="[^"]*"')
_ID_OR_REF = re.compile(r'(\bid="|url\(#|href="#)([^")]+)')


@dataclass(frozen=True)
class Point:
    """One second: requests completing in ``[t, t + 1)`` on the timeline."""

    t: float
    count: int
    errors: int
    p50: float | None = None
    """Milliseconds; None when unknown (no latency panel is drawn then)."""
    p95: float | None = None
    p99: float | None = None


@dataclass(frozen=True)
class Window:
    """A shaded span: a fault from its start to its end (seconds)."""

    label: str
    start: float
    end: float


@dataclass(frozen=True)
class Mark:
    """A vertical line: the moment a recovery was judged complete."""

    label: str
    t: float


def _shade(
    axes: Sequence[Axes],
    chart_id: str,
    windows: Sequence[Window],
    marks: Sequence[Mark],
) -> None:
    from matplotlib.transforms import blended_transform_factory

    top = axes[0]
    label_at = blended_transform_factory(top.transData, top.transAxes)
    for i, window in enumerate(windows):
        for row, ax in enumerate(axes):
            ax.axvspan(
                window.start,
                window.end,
                color=_FAULT,
                alpha=0.13,
                linewidth=0,
                gid=f"{chart_id}-fault-{i}-{row}",
            )
        top.text(
            (window.start + window.end) / 2,
            1.02,
            window.label,
            transform=label_at,
            ha="center",
            va="bottom",
            color=_FAULT,
            fontweight="bold",
            gid=f"{chart_id}-fault-{i}-label",
        )
    for i, mark in enumerate(marks):
        for row, ax in enumerate(axes):
            ax.axvline(
                mark.t,
                color=_RECOVERY,
                linestyle="--",
                linewidth=1.2,
                gid=f"{chart_id}-recovery-{i}-{row}",
            )
        top.annotate(
            mark.label,
            xy=(mark.t, 0.97),
            xycoords=label_at,
            xytext=(6, 0),  # clear of the dashed line it labels
            textcoords="offset points",
            ha="left",
            va="top",
            color=_RECOVERY,
            fontsize=8,
            gid=f"{chart_id}-recovery-{i}-label",
        )


def _scope_ids(svg: str, chart_id: str) -> str:
    """Prefix every id (and reference to one) with the chart's id.

    matplotlib numbers its groups per figure ("figure_1", "axes_1", ...), so
    two charts in one page would repeat ids, and a reference could resolve to
    the other chart's element.
    """
    prefix = f"{chart_id}-"
    ids = {m.group(2) for m in _ID_OR_REF.finditer(svg) if m.group(1) == 'id="'}
    return _ID_OR_REF.sub(
        lambda m: m.group(1)
        + (m.group(2) if m.group(2).startswith(prefix) or m.group(2) not in ids
           else prefix + m.group(2)),
        svg,
    )  # fmt: skip


def _rc(chart_id: str) -> dict[str, object]:
    """matplotlib settings shared by every chart of the page."""
    return {
        # Per-chart salt: matplotlib derives clip-path ids from it, and ids must
        # be unique in the page and the same on every render.
        "svg.hashsalt": chart_id,
        "svg.fonttype": "none",  # text stays text: small, selectable, searchable
        "font.size": 9,
        "font.family": "sans-serif",
        "axes.spines.top": False,
        "axes.spines.right": False,
    }


def _figure(width: float, height: float, *, hspace: float) -> Figure:
    """A figure with the page's fixed margins (in inches), not constrained
    layout: the charts all have the same furniture, and measuring it took half
    the render time."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    figure.subplots_adjust(
        left=0.75 / width, right=1 - 0.15 / width, top=1 - 0.55 / height,
        bottom=0.5 / height, hspace=hspace,
    )  # fmt: skip
    return figure


def _svg(figure: Figure, chart_id: str, title: str) -> str:
    """The titled figure as an ``<svg>`` element sized by the page."""
    width, height = figure.get_size_inches()
    figure.suptitle(title, x=0.1 / width, y=1 - 0.08 / height, ha="left",
                    va="top", fontweight="bold")  # fmt: skip
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = _scope_ids(_SVG_START.sub("", buffer.getvalue(), count=1), chart_id)
    # Let the page size it: drop the fixed size, keep the viewBox.
    return _SIZE.sub(rf'<svg\1 class="chart" id="{chart_id}"', svg, count=1)


def _steps(values: Sequence[float]) -> list[float]:
    """Values for a post-step plot: the last one repeated to close its second."""
    return [*values, values[-1]] if values else []


def _latency(ax: Axes, xs: list[float], points: Sequence[Point]) -> None:
    from matplotlib.ticker import FuncFormatter

    values: list[float] = []
    for name, color in _LINES.items():
        ys = [getattr(p, name) for p in points]
        values += [y for y in ys if y]
        ax.step(xs, _steps([y if y is not None else float("nan") for y in ys]),
                where="post", color=color, linewidth=1.4, label=name)  # fmt: skip
    # A fault typically moves latency by orders of magnitude: a linear axis
    # would flatten the before/after lines into the floor.
    if values and min(values) > 0 and max(values) / min(values) > 20:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_ylabel("latency (ms)")
    ax.legend(loc="best", ncols=3, frameon=False, fontsize=8)


def chart_svg(
    chart_id: str,
    title: str,
    points: Sequence[Point],
    windows: Sequence[Window] = (),
    marks: Sequence[Mark] = (),
    warmup: tuple[float, float] | None = None,
) -> str:
    """One chart as an ``<svg>`` element (no XML prolog), ready to inline.

    Args:
        chart_id: unique in the page; prefixes element ids and salts clip ids.
        title: shown above the chart.
        points: one per second, in time order.
        windows: fault windows to shade.
        marks: recovery times to mark.
        warmup: the warm-up's start and end, greyed (not counted in any phase).
    """
    import matplotlib

    has_latency = any(p.p95 is not None for p in points)
    rows = 3 if has_latency else 2
    # Steps, not lines between midpoints: each second's value covers exactly
    # that second, so errors never seem to start before the fault window.
    xs = [p.t for p in points] + ([points[-1].t + 1] if points else [])
    with matplotlib.rc_context(_rc(chart_id)):  # type: ignore[arg-type]  # str keys, not Literals
        width, height = 9.5, 0.9 + 1.35 * rows
        figure = _figure(width, height, hspace=0.12)
        # The error-rate panel is mostly a flat zero line: give it less room.
        ratios = [1.0] * (rows - 1) + [0.7]
        grid = figure.subplots(
            rows, 1, sharex=True, squeeze=False, height_ratios=ratios
        )
        axes: list[Axes] = [row[0] for row in grid]
        throughput = axes[0]
        throughput.step(xs, _steps([p.count for p in points]), where="post",
                        color="#1c7ed6", linewidth=1.4, label="requests/s")  # fmt: skip
        throughput.fill_between(xs, _steps([p.errors for p in points]), step="post",
                                color="#c92a2a", alpha=0.5, linewidth=0,
                                label="errors/s")  # fmt: skip
        throughput.set_ylabel("requests/s")
        throughput.set_ylim(bottom=0)
        throughput.legend(loc="best", ncols=2, frameon=False, fontsize=8)
        if has_latency:
            _latency(axes[1], xs, points)
        errors = axes[-1]
        rate = [100 * p.errors / p.count if p.count else 0.0 for p in points]
        errors.fill_between(xs, _steps(rate), step="post", color="#c92a2a",
                            alpha=0.6, linewidth=0)  # fmt: skip
        errors.set_ylabel("errors (%)")
        errors.set_ylim(0, max(5.0, max(rate, default=0.0) * 1.15))
        errors.set_xlabel("seconds on the timeline")
        for ax in axes:
            ax.grid(axis="y", alpha=0.3)
        if warmup is not None:
            for ax in axes:
                ax.axvspan(*warmup, color="#868e96", alpha=0.12, linewidth=0)
            axes[-1].text(sum(warmup) / 2, 0.95, "warm-up", ha="center", va="top",
                          transform=axes[-1].get_xaxis_transform(), fontsize=8,
                          color="#495057", gid=f"{chart_id}-warmup")  # fmt: skip
        _shade(axes, chart_id, windows, marks)
        return _svg(figure, chart_id, title)


def _scale(metric: str, values: Sequence[float]) -> tuple[float, str]:
    """(divisor, axis label) so a metric reads in a sensible unit."""
    if metric.endswith("_bytes"):
        top = max((abs(v) for v in values), default=0.0)
        for factor, unit in ((1e9, "GB"), (1e6, "MB"), (1e3, "KB")):
            if top >= factor:
                return factor, f"{metric.removesuffix('_bytes')} ({unit})"
        return 1.0, f"{metric.removesuffix('_bytes')} (bytes)"
    if metric.endswith("_share"):
        return 0.01, f"{metric} (%)"
    return 1.0, metric


def probe_chart_svg(
    chart_id: str,
    title: str,
    times: Sequence[float],
    panels: Sequence[
        tuple[str, Sequence[float | None], Sequence[tuple[float, float]] | None]
    ],
    windows: Sequence[Window] = (),
    gaps: Sequence[float] = (),
) -> str:
    """One probe's chart: a panel per metric (name, values aligned with
    ``times``, an optional fitted line of two points), fault windows shaded,
    failed samples ticked in red. Element ids: ``<chart>-fit-<i>`` for a fitted
    line, ``<chart>-gap-<i>`` for gap ticks, ``<chart>-fault-...`` as above."""
    import matplotlib

    rows = max(1, len(panels))
    with matplotlib.rc_context(_rc(chart_id)):  # type: ignore[arg-type]  # str keys, not Literals
        width, height = 9.5, 0.9 + 1.2 * rows
        figure = _figure(width, height, hspace=0.15)
        grid = figure.subplots(rows, 1, sharex=True, squeeze=False)
        axes: list[Axes] = [row[0] for row in grid]
        for row, (ax, (metric, values, fit)) in enumerate(
            zip(axes, panels, strict=False)
        ):
            known = [v for v in values if v is not None]
            factor, label = _scale(metric, known)
            ys = [float("nan") if v is None else v / factor for v in values]
            ax.plot(list(times)[: len(ys)], ys, color="#1c7ed6", linewidth=1.3,
                    marker="." if len(ys) < 120 else None, markersize=3,
                    gid=f"{chart_id}-series-{row}")  # fmt: skip
            if fit is not None:
                ax.plot([p[0] for p in fit], [p[1] / factor for p in fit],
                        color="#c92a2a", linestyle="--", linewidth=1.4,
                        label="fitted growth", gid=f"{chart_id}-fit-{row}")  # fmt: skip
                ax.legend(loc="best", frameon=False, fontsize=8)
            # The metric's name inside its panel: long names (connections_idle_
            # in_transaction) would overrun their neighbours as axis labels.
            ax.text(0.005, 0.97, label, transform=ax.transAxes, ha="left",
                    va="top", fontsize=8, color="#343a40",
                    bbox={"facecolor": "white", "alpha": 0.8, "linewidth": 0,
                          "pad": 1.5})  # fmt: skip
            ax.grid(axis="y", alpha=0.3)
        for i, t in enumerate(gaps):
            axes[-1].axvline(t, ymin=0, ymax=0.08, color="#c92a2a", linewidth=1.2,
                             gid=f"{chart_id}-gap-{i}")  # fmt: skip
        axes[-1].set_xlabel("seconds on the timeline")
        _shade(axes, chart_id, windows, ())
        return _svg(figure, chart_id, title)
