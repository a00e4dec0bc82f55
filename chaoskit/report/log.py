"""``chaoskit.log``: the run's events as structured log lines (structlog, JSON).

For people and log shippers who grep rather than read the journal: one JSON
line per event with a level (warnings for aborts, failed faults and failed
undos). Every value goes through :mod:`chaoskit.redact` first, like every other
sink. Built with ``structlog.wrap_logger``: no global configuration is touched.

:func:`route_warnings` sends library warnings (a ``HypothesisWarning`` about a
1 MB repr, a ``DeprecationWarning``) there and to the journal as
``library_warning`` events, so they never break the console's output.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import structlog

from chaoskit.events import Event, event
from chaoskit.redact import Redactor

__all__ = [
    "LOG_NAME",
    "WARNING_EVENT",
    "StructlogSink",
    "route_warnings",
    "warnings_to_log",
]

LOG_NAME = "chaoskit.log"
WARNING_EVENT = "library_warning"
"""The event a library warning becomes (journal and ``chaoskit.log`` only)."""
_WARNINGS = {"abort", "fault_failed", "rollback_failed", "interrupted", WARNING_EVENT}
_MESSAGE_CHARS = 500  # a warning may quote a 1 MB repr: the start says enough
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


@contextlib.contextmanager
def route_warnings(
    emit: Callable[[Event], None],
) -> Iterator[Callable[[Event], None]]:
    """Library warnings become ``library_warning`` events instead of stderr lines.

    Yields the ``emit`` to use inside the block: it delivers the warnings raised
    in other threads (Hypothesis runs in a worker thread) first, so every event
    is still written from one thread, in order. Warning filters are left as
    they are (``-W error`` still raises); only where a shown warning goes
    changes, and it is restored on exit.
    """
    owner = threading.get_ident()
    pending: collections.deque[Event] = collections.deque()

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        text = str(message)
        if len(text) > _MESSAGE_CHARS:
            text = text[:_MESSAGE_CHARS] + f"... ({len(text)} characters)"
        item = event(
            WARNING_EVENT,
            category=category.__name__,
            message=text,
            where=f"{filename}:{lineno}",
        )
        if threading.get_ident() == owner:
            deliver(item)
        else:
            pending.append(item)  # deque.append is thread-safe

    def deliver(item: Event) -> None:
        while pending:
            emit(pending.popleft())
        emit(item)

    with warnings.catch_warnings():
        warnings.showwarning = show
        try:
            yield deliver
        finally:
            while pending:
                emit(pending.popleft())


@contextlib.contextmanager
def warnings_to_log(report_dir: Path | None) -> Iterator[None]:
    """For commands without a journal (``chaoskit fuzz``): library warnings go
    to ``chaoskit.log`` in ``report_dir``, or nowhere without one."""
    if report_dir is None:
        with route_warnings(lambda _event: None):
            yield
        return
    report_dir.mkdir(parents=True, exist_ok=True)
    with StructlogSink(report_dir) as log, route_warnings(log.emit):
        yield
