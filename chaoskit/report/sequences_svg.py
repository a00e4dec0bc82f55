"""The retry-sequence chart of a ``backoff`` verdict: one row per sequence.

Hand-written SVG (a dot per attempt on a shared time axis), not matplotlib:
a few dozen circles and lines, and the page stays small and deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

__all__ = ["sequences_svg"]

_ROW = 16
_LEFT = 110
_WIDTH = 760
_MAX_ROWS = 60


def sequences_svg(sequences: Sequence[Mapping[str, Any]], title: str) -> str:
    """An SVG with each sequence's attempt times (seconds on the timeline)."""
    rows = [s for s in sequences if s.get("times_s")][:_MAX_ROWS]
    if not rows:
        return ""
    start = min(float(s["times_s"][0]) for s in rows)
    end = max(float(s["times_s"][-1]) for s in rows)
    span = max(end - start, 1e-3)
    height = _ROW * len(rows) + 30

    def x(t: float) -> float:
        return _LEFT + (t - start) / span * (_WIDTH - _LEFT - 10)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} {height}" '
        f'role="img" aria-label="{escape(title)}">'
    ]
    for i, seq in enumerate(rows):
        y = 10 + i * _ROW
        times = [float(t) for t in seq["times_s"]]
        colour = "#2a7" if seq.get("succeeded") else "#c33"
        parts.append(
            f'<text x="{_LEFT - 6}" y="{y + 4}" font-size="10" '
            f'text-anchor="end">{escape(str(seq.get("key", "")))}</text>'
            f'<line x1="{x(times[0]):.1f}" y1="{y}" x2="{x(times[-1]):.1f}" '
            f'y2="{y}" stroke="#999"/>'
        )
        for j, t in enumerate(times):
            fill = colour if j == len(times) - 1 else "#357"
            parts.append(
                f'<circle cx="{x(t):.1f}" cy="{y}" r="3" fill="{fill}">'
                f"<title>{t:.3f}s</title></circle>"
            )
    axis = 10 + len(rows) * _ROW
    parts.append(
        f'<text x="{_LEFT}" y="{axis + 8}" font-size="10">{start:.2f}s</text>'
        f'<text x="{_WIDTH - 10}" y="{axis + 8}" font-size="10" '
        f'text-anchor="end">{end:.2f}s</text></svg>'
    )
    return "".join(parts)
