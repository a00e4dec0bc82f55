"""The load engine: open and closed models, tasks and templates, user flows.

Knows nothing about faults or metrics: it emits one
:class:`~chaoskit.records.Sample` per request to the sinks it is handed
(:class:`ProcessEngine`: the same load over several generator processes).
"""

from __future__ import annotations

from chaoskit.load.config import (
    ClosedModel,
    Flow,
    HotKeys,
    LoadConfig,
    OpenModel,
    TaskSpec,
    Think,
    Upload,
    parse_size,
)
from chaoskit.load.engine import EngineStatus, LoadEngine
from chaoskit.load.errors import LoadConfigError
from chaoskit.load.processes import ProcessEngine, ProcessLoss
from chaoskit.load.shapes import PRESETS, Burst, Shape, Stage
from chaoskit.load.streamspec import StreamMessage, StreamSpec
from chaoskit.load.templating import Template, TemplateError

__all__ = [
    "PRESETS",
    "Burst",
    "ClosedModel",
    "EngineStatus",
    "Flow",
    "HotKeys",
    "LoadConfig",
    "LoadConfigError",
    "LoadEngine",
    "OpenModel",
    "ProcessEngine",
    "ProcessLoss",
    "Shape",
    "Stage",
    "StreamMessage",
    "StreamSpec",
    "TaskSpec",
    "Template",
    "TemplateError",
    "Think",
    "Upload",
    "parse_size",
]
