"""Samples streamed to a file, one tab-separated line each, and read back.

For hour-long runs where every request should be kept for later analysis
without holding them in memory. Lines are buffered and written in blocks, so
the sink costs about a microsecond per sample on the event loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from chaoskit.records import ErrorClass, Sample

__all__ = ["HEADER", "SampleFile", "read_samples"]

HEADER = (
    "task\tuser\tintended_ns\tsent_ns\tend_ns\tstatus\t"
    "bytes_sent\tbytes_received\terror\tdetail\tmarked\ttags\tuser_class\n"
)
"""The columns; ``tags`` are the body patterns a response matched (comma
separated), ``user_class`` the ``[[load.users]]`` class (empty without)."""
_BEFORE_CLASSES = HEADER.replace("\tuser_class", "")
_BEFORE_TAGS = _BEFORE_CLASSES.replace("\ttags", "")
_BEFORE_MARKED = _BEFORE_TAGS.replace("\tmarked", "")
"""Files written before the ``marked``, ``tags`` or ``user_class`` columns
still read (``marked`` False, no tags, no class)."""
_BLOCK = 4096  # lines per write; about 300 KB


class SampleFile:
    """A sink that appends every sample to ``path`` (created or truncated).

    Args:
        path: the file to write.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = self.path.open("w", encoding="utf-8")
        self._file.write(HEADER)
        self._lines: list[str] = []

    def write(self, sample: Sample) -> None:
        """Buffer one sample as a line; write the buffer when it is full."""
        error = sample.error.value if sample.error is not None else ""
        detail = sample.detail.replace("\t", " ").replace("\n", " ")
        self._lines.append(
            f"{sample.task}\t{sample.user}\t{sample.intended_ns}\t{sample.sent_ns}\t"
            f"{sample.end_ns}\t{sample.status}\t{sample.bytes_sent}\t"
            f"{sample.bytes_received}\t{error}\t{detail}\t{int(sample.marked)}\t"
            f"{','.join(sample.tags)}\t{sample.user_class}\n"
        )
        if len(self._lines) >= _BLOCK:
            self.flush()

    def flush(self) -> None:
        """Write buffered lines to the file."""
        self._file.write("".join(self._lines))
        self._lines.clear()
        self._file.flush()

    def close(self) -> None:
        """Write what is buffered and close the file."""
        if not self._file.closed:
            self.flush()
            self._file.close()


def read_samples(path: str | Path) -> Iterator[Sample]:
    """The samples of a file written by :class:`SampleFile`, in order.

    Raises:
        ValueError: the file does not start with the expected header.
    """
    with Path(path).open(encoding="utf-8") as file:
        if file.readline() not in (
            HEADER,
            _BEFORE_CLASSES,
            _BEFORE_TAGS,
            _BEFORE_MARKED,
        ):
            raise ValueError(f"{path}: not a chaoskit sample file (header differs)")
        for line in file:
            fields = line.rstrip("\n").split("\t")
            tags = fields[11] if len(fields) > 11 else ""
            task, user, intended, sent, end, status, out, got, error, detail = fields[
                :10
            ]
            yield Sample(
                task=task,
                user=int(user),
                intended_ns=int(intended),
                sent_ns=int(sent),
                end_ns=int(end),
                status=int(status),
                bytes_sent=int(out),
                bytes_received=int(got),
                error=ErrorClass(error) if error else None,
                detail=detail,
                marked=fields[10:11] == ["1"],
                tags=tuple(tags.split(",")) if tags else (),
                user_class=fields[12] if len(fields) > 12 else "",
            )
