"""Statistics from samples: HDR-style histograms, per-phase and per-task stats,
one-second windows. Imports ``records`` only; the load engine never imports this.
"""

from __future__ import annotations

from chaoskit.metrics.histogram import Histogram
from chaoskit.metrics.model import Percentiles, Snapshot, TaskStats, WindowStats
from chaoskit.metrics.recorder import Recorder
from chaoskit.metrics.samplefile import SampleFile, read_samples

__all__ = [
    "Histogram",
    "Percentiles",
    "Recorder",
    "SampleFile",
    "Snapshot",
    "TaskStats",
    "WindowStats",
    "read_samples",
]
