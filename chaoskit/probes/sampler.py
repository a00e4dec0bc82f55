"""The sampler: every probe on its own task, on ticks of the run's timeline.

Tick ``k`` of a probe is at ``k * every`` seconds on the timeline (negative
ticks in the warm-up are sampled too, and lie outside every phase). A sample
gets at most the probe's timeout; a slow or failed one is a gap, and the next
tick is the next multiple of ``every`` after it ends, so a probe never runs two
samples at once nor falls behind. Each sample goes to the series, to ``emit``
(the journal writes it as the run goes) and to ``on_sample`` (abort conditions).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from chaoskit.events import Event, ProbeSeries, event
from chaoskit.probes.base import Reader

__all__ = ["Sampler", "Watched"]

_NS = 1_000_000_000


@dataclass
class Watched:
    """One probe: its reader, its series, how often and how long a sample may take."""

    reader: Reader
    series: ProbeSeries
    every_s: float
    timeout_s: float


class Sampler:
    """Runs every probe until :meth:`stop`; then closes the readers."""

    def __init__(
        self,
        watched: Sequence[Watched],
        t0_ns: int,
        emit: Callable[[Event], None],
        on_sample: Callable[[ProbeSeries, float, Mapping[str, float | None]], None]
        | None = None,
        max_samples: int = 1_000_000,
    ) -> None:
        self.watched = list(watched)
        self.t0_ns = t0_ns
        self.emit = emit
        self.on_sample = on_sample
        self.max_samples = max_samples
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def now_s(self) -> float:
        return (time.monotonic_ns() - self.t0_ns) / _NS

    def start(self) -> None:
        """One task per probe (they end at :meth:`stop`)."""
        self._tasks = [asyncio.ensure_future(self._run(w)) for w in self.watched]

    async def stop(self) -> None:
        """End every probe's task (a sample in progress is cut) and close readers."""
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for w in self.watched:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(w.reader.aclose(), 5)

    async def _run(self, w: Watched) -> None:
        for _ in range(self.max_samples):  # bounded: also ends at stop()
            tick = math.floor(self.now_s() / w.every_s + 1e-9) + 1
            delay = tick * w.every_s - self.now_s()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
            if self._stop.is_set():
                return
            await self.sample(w)

    async def sample(self, w: Watched) -> None:
        """One sample of one probe, into its series (or a gap)."""
        t = round(self.now_s(), 3)
        name = w.series.name
        try:
            values = await asyncio.wait_for(w.reader.read(), w.timeout_s)
        except TimeoutError:
            self._gap(w, t, f"no sample within {w.timeout_s:g}s")
            return
        except Exception as exc:  # noqa: BLE001 - any failure of a probe is a gap
            self._gap(w, t, str(exc) or type(exc).__name__)
            return
        w.series.add(t, values)
        clean = {m: values.get(m) for m in w.series.metrics}
        self.emit(event("probe", probe=name, t_s=t, values=clean))
        if self.on_sample is not None:
            self.on_sample(w.series, t, clean)

    def _gap(self, w: Watched, t: float, error: str) -> None:
        w.series.gap(t, error)
        self.emit(event("probe", probe=w.series.name, t_s=t, error=error))
