"""``journal.jsonl``: the run as it happens, one JSON object per line.

The journal is written while the run goes and flushed after every record, so a
crash or a ``kill -9`` leaves everything up to that moment on disk;
``chaoskit report`` rebuilds the reports from it. Records:

* ``{"type": "event", "kind": ..., "at_ns": ..., "wall": ..., **data}`` for
  every :class:`~chaoskit.events.Event` (see :data:`~chaoskit.events.EVENT_KINDS`);
* ``{"type": "metrics", "wall": ..., "tasks": ..., "total": ..., ...}``: a
  periodic copy of the metrics (:meth:`JournalSink.write_metrics`), so that
  the report of a crashed run still has per-task numbers;
* ``{"type": "run_finished", "wall": ..., "document": {...}}``: the final
  report document, last.

Every record is redacted (:mod:`chaoskit.redact`) before it is written.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path, PurePath
from types import TracebackType
from typing import IO

from chaoskit.events import Event
from chaoskit.metrics.model import Snapshot
from chaoskit.redact import Redactor, Secret
from chaoskit.report.stats import snapshot_sections

__all__ = ["JOURNAL_NAME", "JournalSink", "event_record", "jsonable", "read_journal"]

JOURNAL_NAME = "journal.jsonl"
"""The journal's file name in a report directory."""


def jsonable(value: object) -> object:
    """``value`` as plain JSON data (dicts, lists, str, numbers, bool, None).

    Paths and other objects become strings, enums their value, dataclasses
    dicts, sets sorted lists, non-finite floats ``None`` (JSON has no NaN).
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, Secret):
        return str(value)
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)
        }
    if isinstance(value, set | frozenset):
        return sorted((jsonable(item) for item in value), key=str)
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return [jsonable(item) for item in value]
    if isinstance(value, PurePath):
        return str(value)
    return str(value)


_RESERVED = frozenset({"type", "kind", "at_ns", "wall"})


def event_record(event: Event) -> dict[str, object]:
    """The journal record of an event.

    Like :meth:`Event.to_json`, except that data keys clashing with the
    record's own (a fault's ``kind`` is "latency", the event's "fault_applied")
    are renamed rather than allowed to overwrite them: ``fault_kind`` on fault
    and rollback events, ``service_kind`` on service events, ``data_<key>``
    otherwise.
    """
    subject = event.kind.split("_", 1)[0]
    prefix = {"rollback": "fault", "fault": "fault", "service": "service"}.get(
        subject, "data"
    )
    record: dict[str, object] = {
        "type": "event",
        "kind": event.kind,
        "at_ns": event.at_ns,
        "wall": event.wall,
    }
    for key, value in event.data.items():
        record[f"{prefix}_{key}" if key in _RESERVED else key] = value
    return record


class JournalSink:
    """An :class:`~chaoskit.events.EventSink` appending to ``journal.jsonl``.

    The runner is handed one (the CLI builds it) and calls :meth:`emit` for
    every event, :meth:`write_metrics` every few seconds, and
    :meth:`write_document` once at the end; :meth:`close` (or leaving the
    ``with`` block) closes the file.

    Args:
        path: the journal file, or a report directory (one that exists, or a
            path without a suffix) to put ``journal.jsonl`` in.
        secrets: literal values to mask wherever they appear, besides the
            credentials :mod:`chaoskit.redact` recognises.
        append: keep what the file holds and append; by default a new run
            starts a new journal.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        secrets: Iterable[str | Secret] = (),
        append: bool = False,
    ) -> None:
        path = Path(path)
        # A directory, existing or not (a name without a suffix), gets the
        # standard file name; anything else is the journal file itself.
        self.path = path / JOURNAL_NAME if path.is_dir() or not path.suffix else path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._redactor = Redactor()
        for secret in secrets:
            self._redactor.add(secret)
        self._file: IO[str] = self.path.open("a" if append else "w", encoding="utf-8")
        self.records = 0
        """How many records were written."""

    def add_secret(self, secret: str | Secret) -> None:
        """Mask ``secret`` in every record from now on (a token issued mid-run)."""
        self._redactor.add(secret)

    def emit(self, event: Event) -> None:
        """Write one event (the :class:`~chaoskit.events.EventSink` method).

        A ``run_finished`` event carrying a ``document`` is written as the
        final ``run_finished`` record.
        """
        document = event.data.get("document")
        if event.kind == "run_finished" and isinstance(document, Mapping):
            self.write_document(document, wall=event.wall)
            return
        self._write(event_record(event), keys=True)

    def write_metrics(
        self,
        snapshot: Snapshot,
        phases: Sequence[tuple[str, float, float]] = (),
    ) -> None:
        """Write a copy of the metrics so far (cheap: call it every few seconds).

        Args:
            snapshot: the recorder's snapshot.
            phases: ``(name, start_s, end_s)`` of the phases so far, to label
                the one-second series.
        """
        record: dict[str, object] = {"type": "metrics", "wall": time.time()}
        record["elapsed_s"] = round(snapshot.elapsed_s, 3)
        record.update(snapshot_sections(snapshot, phases))
        # Task, phase and error names are the user's words, not credentials.
        self._write(record, keys=False)

    def write_document(
        self, document: Mapping[str, object], *, wall: float | None = None
    ) -> None:
        """Write the final record: the report document of the finished run."""
        record = {
            "type": "run_finished",
            "wall": time.time() if wall is None else wall,
            "document": document,
        }
        self._write(record, keys=False)

    def write_record(self, record: Mapping[str, object]) -> None:
        """Write any other record (it should carry a ``type``)."""
        self._write(record, keys=True)

    def _write(self, record: Mapping[str, object], *, keys: bool) -> None:
        clean = self._redactor(jsonable(record), keys=keys)
        line = json.dumps(clean, ensure_ascii=False, separators=(",", ":"))
        self._file.write(line + "\n")
        # Flushed per record (not fsynced): a crashed process loses nothing
        # the OS has; a crashed machine is not what the journal guards against.
        self._file.flush()
        self.records += 1

    def close(self) -> None:
        """Close the file; further writes raise ``ValueError``."""
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> JournalSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_journal(path: str | Path) -> Iterator[dict[str, object]]:
    """The records of a journal, in order.

    A last line cut short (the process died while writing it) is skipped: that
    is what a crash leaves. A broken line anywhere else means the file is not a
    journal, and raises.

    Args:
        path: the journal file, or the report directory holding it.

    Raises:
        OSError: the file cannot be read.
        ValueError: a line other than the last is not a JSON object.
    """
    path = Path(path)
    if path.is_dir():
        path = path / JOURNAL_NAME
    broken: str | None = None
    with path.open(encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            if broken is not None:
                raise ValueError(broken)
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                broken = f"{path}:{number}: not a JSON record ({exc.msg})"
                continue
            if not isinstance(record, dict):
                broken = f"{path}:{number}: not a JSON object"
                continue
            yield record
