"""``chaoskit.log``: the run's events as structured log lines (structlog, JSON).

For people and log shippers who grep rather than read the journal: one JSON
line per event with a level (warnings for aborts, failed faults and failed
undos). Every value goes through :mod:`chaoskit.redact` first, like every other
sink. Built with ``structlog.wrap_logger``: no global configuration is touched.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import structlog

from chaoskit.events import Event
from chaoskit.redact import Redactor

__all__ = ["LOG_NAME", "StructlogSink"]

LOG_NAME = "chaoskit.log"
_WARNINGS = {"abort", "fault_failed", "rollback_failed", "interrupted"}
_SKIP = {"progress"}  # once a second: the journal has them, the log stays short


class StructlogSink:
    """An EventSink writing ``chaoskit.log`` (JSON lines) in a report directory."""

    def __init__(self, report_dir: str | Path, *, secrets: Iterable[str] = ()) -> None:
        self.path = Path(report_dir) / LOG_NAME
        self._file: TextIO = self.path.open("a", encoding="utf-8")
        clean = Redactor(secrets)

        def redact(
            _logger: object, _method: str, event_dict: MutableMapping[str, Any]
        ) -> MutableMapping[str, Any]:
            cleaned = clean(dict(event_dict))
            assert isinstance(cleaned, dict)  # noqa: S101 - Redactor keeps dicts
            return cleaned

        self._log = structlog.wrap_logger(
            structlog.WriteLogger(self._file),
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                redact,
                structlog.processors.JSONRenderer(sort_keys=False),
            ],
        )

    def emit(self, event: Event) -> None:
        """Log one event (progress events are left to the journal)."""
        if event.kind in _SKIP:
            return
        data = {k: v for k, v in event.data.items() if k != "document"}
        method = self._log.warning if event.kind in _WARNINGS else self._log.info
        method(event.kind, at_ns=event.at_ns, **data)
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> StructlogSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
