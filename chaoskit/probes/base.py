"""What every probe reader is: one sample at a time, closed at the end."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

__all__ = ["ReadError", "Reader"]


class ReadError(Exception):
    """A sample could not be taken (process gone, query refused, no answer);
    the sampler records it as a gap with this message."""


class Reader(Protocol):
    """Takes one sample of a probe's metrics."""

    async def read(self) -> Mapping[str, float | None]:
        """Metric -> value now (``None``: not known this time).

        Raises:
            ReadError: (or any exception) the sample is a gap.
        """
        ...

    async def aclose(self) -> None:
        """Release what the reader holds (a connection, a client)."""
        ...
