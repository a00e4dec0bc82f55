"""Time for scheduling, injected: the one place that reads the monotonic clock.

A leaf module. Load models, the runner and probes take a :class:`Clock` so that
unit tests can run a long timeline in milliseconds with :class:`FakeClock`.
Times are integer nanoseconds of a monotonic clock; wall-clock time belongs in
report timestamps only.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "FakeClock", "MonotonicClock"]

NS_PER_S = 1_000_000_000
_TIMER_RESOLUTION_S = 0.001  # event-loop timers are whole milliseconds


class Clock(Protocol):
    """Monotonic time in nanoseconds, and sleeping until a point of it."""

    def now_ns(self) -> int:
        """The current monotonic time in nanoseconds."""
        ...

    async def sleep_until(self, deadline_ns: int) -> None:
        """Return at or soon after ``deadline_ns`` (immediately if it has passed)."""
        ...


class MonotonicClock:
    """The real clock: ``time.monotonic_ns`` and the event loop's timers.

    Event-loop timers have about a millisecond of granularity (uvloop rounds to
    whole milliseconds), so a wake-up can be up to ~1 ms late; the load engine
    records the actual send time so that lag is reported, not hidden.
    """

    now_ns = staticmethod(time.monotonic_ns)
    """The current monotonic time in nanoseconds: the C function itself (the
    engine reads the clock several times per request; no Python frame each)."""

    async def sleep_until(self, deadline_ns: int) -> None:
        """Sleep until ``deadline_ns`` of ``time.monotonic_ns``; never return early.

        uvloop rounds a timer to whole milliseconds, so a 0.4 ms sleep would
        fire at once and a caller waiting for its deadline would spin the
        event loop at 100% CPU. Short delays therefore sleep a full
        millisecond: up to ~1 ms late, which the engine records as lag.
        """
        delay = (deadline_ns - time.monotonic_ns()) / NS_PER_S
        if delay <= 0:
            # Still yield, so a loop that is always behind cannot starve others.
            await asyncio.sleep(0)
        while delay > 0:
            await asyncio.sleep(max(delay, _TIMER_RESOLUTION_S))
            delay = (deadline_ns - time.monotonic_ns()) / NS_PER_S


class FakeClock:
    """A clock that only moves when told to, or when everyone is asleep.

    ``sleep_until`` jumps the clock straight to the deadline (the autojump of
    trio's ``MockClock``, after Twisted's ``Clock``), so a 45-second schedule
    runs in milliseconds and every wake-up is exactly on time.

    Args:
        start_ns: the initial reading.
    """

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        """The current fake time."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``.

        Raises:
            ValueError: ``seconds`` is negative.
        """
        if seconds < 0:
            raise ValueError(f"seconds={seconds!r}: a clock cannot go backwards")
        self._now += round(seconds * NS_PER_S)

    async def sleep_until(self, deadline_ns: int) -> None:
        """Jump to ``deadline_ns`` if it is ahead, then yield once to the loop."""
        self._now = max(self._now, deadline_ns)
        await asyncio.sleep(0)
