"""The real clock sleeps on the event loop and never wakes before its deadline."""

from __future__ import annotations

import asyncio

import uvloop

from chaoskit.clock import MonotonicClock


def test_monotonic_clock_sleeps_until_the_deadline():
    clock = MonotonicClock()

    async def main():
        start = clock.now_ns()
        await clock.sleep_until(start + 20_000_000)
        await clock.sleep_until(start)  # past: returns at once
        return clock.now_ns() - start

    assert uvloop.run(main()) >= 20_000_000


def test_short_sleeps_are_not_early_on_uvloop():
    # uvloop rounds timers to whole milliseconds; 0.3 ms must not return at once.
    clock = MonotonicClock()

    async def main():
        early = 0
        for _ in range(20):
            deadline = clock.now_ns() + 300_000
            await clock.sleep_until(deadline)
            early += clock.now_ns() < deadline
        await asyncio.sleep(0)
        return early

    assert uvloop.run(main()) == 0
