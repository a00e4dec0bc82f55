"""Optional busy-polling: after traffic, spin briefly instead of sleeping in epoll.

When the proxy has its own CPU, every message it forwards wakes it from an idle
(halted) CPU, and on a VM that wake-up is an inter-processor interrupt through
the hypervisor: 20-30 µs each, two per round trip on the proxy's side
(benchmarks/results/proxy.md). Spinning for a few tens of µs after each burst
of traffic keeps the CPU awake, so the reply that follows lands on a running
process instead of a halted CPU.

The spin only watches: a private epoll set, level-triggered, holds every
proxied socket, and the spin ends as soon as one of them is readable (or the
budget is spent). The event loop then reads it as usual, so EOF, resets, flow
control and toxics take exactly the path they take without busy-polling. The
cost is CPU: up to the budget per burst of traffic, burnt even when no reply
comes, and timers and other sockets wait up to the budget while it spins.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import threading
import time

__all__ = ["BusyPoller", "busy_poller"]

MAX_BUSY_POLL_US = 10_000
"""The largest spin accepted (10 ms): longer is a CPU burnt, not a latency won."""


class BusyPoller:
    """The spin of one event loop (one per thread, as the loop is)."""

    __slots__ = ("_epoll", "_scheduled", "_spin_ns")

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._scheduled = False
        self._spin_ns = 0

    def watch(self, transport: asyncio.BaseTransport) -> None:
        """Add a proxied socket to the set the spin watches.

        Closing the socket removes it from the epoll set by itself, and a
        socket number reused by a new connection is registered afresh.
        """
        fd = _fd(transport)
        if fd is None:
            return
        try:
            self._epoll.register(fd, select.EPOLLIN)
        except FileExistsError:
            self._epoll.modify(fd, select.EPOLLIN)
        except OSError:  # closed meanwhile: nothing to watch
            pass

    def unwatch(self, transport: asyncio.BaseTransport) -> None:
        """Stop watching a socket that stays readable without news: reading
        paused with data unread, or at EOF. Either would end every spin."""
        fd = _fd(transport)
        if fd is not None:
            with contextlib.suppress(OSError):  # not watched: nothing to do
                self._epoll.unregister(fd)

    def activity(self, loop: asyncio.AbstractEventLoop, spin_us: int) -> None:
        """Traffic went through: spin once this loop iteration's callbacks ran."""
        self._spin_ns = max(self._spin_ns, spin_us * 1000)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._spin)

    def _spin(self) -> None:
        self._scheduled = False
        spin_ns, self._spin_ns = self._spin_ns, 0
        poll = self._epoll.poll
        clock = time.monotonic_ns
        deadline = clock() + spin_ns
        with contextlib.suppress(OSError):
            while not poll(0, 1):  # one readable socket is enough to stop
                if clock() >= deadline:
                    return


def _fd(transport: asyncio.BaseTransport) -> int | None:
    """The socket's number, while it is surely this transport's: a closing
    transport's number may already belong to a new connection."""
    if transport.is_closing():
        return None
    sock = transport.get_extra_info("socket")
    fd = sock.fileno() if sock is not None else -1
    return fd if fd >= 0 else None


_pollers = threading.local()


def busy_poller() -> BusyPoller:
    """This thread's (so this event loop's) poller."""
    poller: BusyPoller | None = getattr(_pollers, "poller", None)
    if poller is None:
        poller = _pollers.poller = BusyPoller()
    return poller
