"""Zero-copy pass-through: a link's bytes go socket -> pipe -> socket with splice(2).

A bulk transfer through the proxy is CPU-bound, and most of that CPU is the
kernel copying every byte out to user space (recv) and back in (send)
(benchmarks/results/proxy.md). With splice(2) the bytes stay in kernel pages: a
read moves socket buffers into a pipe, a write moves them from the pipe to the
other socket. Only a link with no toxic and no HTTP view uses it (link.py), as
toxics and the HTTP parser need the bytes.

How it meets the event loop: uvloop owns the sockets (``add_reader`` on a
transport's fd is refused), so while a pump runs the source transport's
reading is paused and the pump watches the sockets through an epoll set of
its own, whose fd the loop watches. One socket is in that set at a time: the
source while the pipe is empty, the destination while it is full; epoll
tells readiness, splice moves data, a ``BlockingIOError`` says "wait". No
``dup()`` is made, so nothing keeps a socket open once its transport closes
it; the pump uses the transports' own fds, which stay valid until their
``connection_lost`` has returned (uvloop closes the fd after it), and the
connection stops its pumps in ``close()``, before it closes the transports.

The pipe is emptied before each read, so it holds the bytes of one read at
most: that one read's time stamps them when a toxic takes over (link.py), and
a read that finds nothing means the socket is empty, never that the pipe is full.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import select
import sys
from typing import Protocol

__all__ = ["SPLICE_AVAILABLE", "UNSUPPORTED", "Endpoint", "SplicePump", "open_pump"]

SPLICE_AVAILABLE = sys.platform == "linux" and hasattr(os, "splice")
"""Linux with ``os.splice`` (Python 3.10+); elsewhere links copy as before."""

UNSUPPORTED = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP})
"""splice(2) errors that mean "not for these fds": copy instead (no data lost)."""

PIPE_SIZE = 1024 * 1024
"""The pipe's size, as the 1 MiB read buffer of the copying path: one splice per
MiB each way. Where the kernel refuses (``pipe-max-size``, the per-user pipe
page limit), the pipe keeps its default size and just moves less per call."""

_FLAGS = getattr(os, "SPLICE_F_NONBLOCK", 0) | getattr(os, "SPLICE_F_MOVE", 0)
# Reads per wake-up at most (about 1 ms of work at 1 MiB each), so one bulk
# link does not hold up the loop's other sockets and toxic timers; the
# level-triggered watch calls back for the rest.
_ROUNDS = 4


class Endpoint(Protocol):
    """What a pump needs from its link."""

    def spliced(self, nbytes: int) -> int:
        """``nbytes`` were read from the source; return the read's time (ns)."""
        ...

    def splice_ended(self) -> None:
        """The source sent EOF and the pipe is empty."""
        ...

    def splice_failed(self, exc: OSError, *, at_dest: bool) -> None:
        """A splice failed on the source socket or, if ``at_dest``, the destination."""
        ...


def _fd(transport: asyncio.BaseTransport) -> int:
    sock = transport.get_extra_info("socket")
    return sock.fileno() if sock is not None else -1


def open_pump(
    endpoint: Endpoint, source: asyncio.Transport, dest: asyncio.Transport
) -> SplicePump | None:
    """A running pump from ``source`` to ``dest``, or None where splice cannot run.

    The caller pauses the source transport's reading and makes sure the
    destination transport has nothing buffered (its bytes would go after ours).
    """
    if not SPLICE_AVAILABLE or source.is_closing() or dest.is_closing():
        return None
    src, dst = _fd(source), _fd(dest)
    if src < 0 or dst < 0:
        return None
    try:
        return SplicePump(endpoint, source, dest, src, dst)
    except OSError:  # out of fds, or no epoll: copy as before
        return None


class SplicePump:
    """Moves one link's bytes through a pipe of its own, driven by the event loop."""

    __slots__ = (
        "_dest",
        "_dst",
        "_endpoint",
        "_eof",
        "_epoll",
        "_loop",
        "_pipe_r",
        "_pipe_w",
        "_short",
        "_size",
        "_source",
        "_src",
        "_watched",
        "held",
        "read_ns",
    )

    def __init__(
        self,
        endpoint: Endpoint,
        source: asyncio.Transport,
        dest: asyncio.Transport,
        src: int,
        dst: int,
    ) -> None:
        self._endpoint = endpoint
        self._source = source
        self._dest = dest
        self._src = src
        self._dst = dst
        self.held = 0
        """Bytes in the pipe: read from the source, not yet written on."""
        self.read_ns = 0
        """When the bytes in the pipe were read."""
        self._eof = False
        self._short = False
        self._watched = -1
        self._loop = asyncio.get_running_loop()
        self._pipe_r, self._pipe_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            self._size = _enlarge(self._pipe_w)
            self._epoll = select.epoll()
        except OSError:
            os.close(self._pipe_r)
            os.close(self._pipe_w)
            raise
        try:
            self._watch(src, select.EPOLLIN)
            self._loop.add_reader(self._epoll.fileno(), self._ready)
        except (OSError, RuntimeError):
            self._epoll.close()
            os.close(self._pipe_r)
            os.close(self._pipe_w)
            raise OSError("cannot watch the sockets") from None

    def close(self) -> bytes:
        """Stop, release the pipe and the epoll set; return what the pipe held.

        The caller writes those bytes on (or feeds them to a toxic), in order:
        they were read before anything the source transport reads next.
        """
        self._loop.remove_reader(self._epoll.fileno())
        self._epoll.close()
        parts = []
        while self.held > 0:  # bounded: each read takes at least one byte
            try:
                data = os.read(self._pipe_r, self.held)
            except OSError:
                break
            if not data:
                break
            parts.append(data)
            self.held -= len(data)
        os.close(self._pipe_r)
        os.close(self._pipe_w)
        return b"".join(parts)

    def _watch(self, fd: int, events: int) -> None:
        """Watch ``fd`` (alone) for ``events``; -1 watches nothing."""
        if fd == self._watched:
            return
        if self._watched >= 0:
            with contextlib.suppress(OSError):
                self._epoll.unregister(self._watched)
        self._watched = -1
        if fd >= 0:
            self._epoll.register(fd, events)
            self._watched = fd

    def _ready(self) -> None:
        """The watched socket is ready: move what can be moved now."""
        if self._source.is_closing() or self._dest.is_closing():
            # The connection is closing and stops this pump; until then its
            # fds may no longer be the sockets', so leave them alone.
            self._watch(-1, 0)
            return
        endpoint = self._endpoint
        for _ in range(_ROUNDS):
            if self.held:
                try:
                    sent = os.splice(self._pipe_r, self._dst, self.held, flags=_FLAGS)
                except BlockingIOError:  # the destination is full: wait for room
                    self._watch(self._dst, select.EPOLLOUT)
                    return
                except OSError as exc:
                    endpoint.splice_failed(exc, at_dest=True)
                    return
                self.held -= sent
                continue  # the pipe is emptied before the next read
            if self._eof:
                endpoint.splice_ended()
                return
            if self._short:
                # The last read took less than asked: the socket is most
                # likely empty, and another read would only say so.
                self._short = False
                break
            try:
                got = os.splice(self._src, self._pipe_w, self._size, flags=_FLAGS)
            except BlockingIOError:  # the pipe is empty, so the socket is
                break
            except OSError as exc:
                endpoint.splice_failed(exc, at_dest=False)
                return
            if got == 0:
                self._eof = True
                continue
            self.held = got
            self._short = got < self._size
            self.read_ns = endpoint.spliced(got)
        # Out of rounds or out of data: wait for the socket the next step needs.
        if self.held:
            self._watch(self._dst, select.EPOLLOUT)
        else:
            self._watch(self._src, select.EPOLLIN)


def _enlarge(pipe_w: int) -> int:
    """Grow the pipe to PIPE_SIZE if allowed; its size."""
    import fcntl  # Unix only, as splice is

    with contextlib.suppress(OSError):
        fcntl.fcntl(pipe_w, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    return fcntl.fcntl(pipe_w, fcntl.F_GETPIPE_SZ)
