"""The busy-poll spin on real socket pairs: what it watches and when it stops."""

from __future__ import annotations

import asyncio
import socket

import pytest

from chaoskit.errors import UsageError
from chaoskit.proxy.busypoll import MAX_BUSY_POLL_US, BusyPoller
from chaoskit.proxy.server import ProxyServerConfig


class _Transport(asyncio.BaseTransport):
    """Only what the poller asks of a transport: its socket, and whether it
    is closing."""

    def __init__(self, sock: socket.socket | None, closing: bool = False) -> None:
        super().__init__()
        self.sock = sock
        self.closing = closing

    def get_extra_info(self, name: str, default: object = None) -> object:
        return self.sock if name == "socket" else default

    def is_closing(self) -> bool:
        return self.closing


def test_the_spin_stops_on_a_readable_socket():
    """With a budget of 10 s, the spin returns because data is there: the
    test would take 10 s otherwise (no clock is asserted)."""
    poller = BusyPoller()
    a, b = socket.socketpair()
    with a, b:
        poller.watch(_Transport(a))
        b.sendall(b"x")
        loop = asyncio.new_event_loop()
        try:
            poller.activity(loop, 10_000_000)
            loop.run_until_complete(asyncio.sleep(0))  # runs the scheduled spin
        finally:
            loop.close()
        assert a.recv(1) == b"x"  # the spin only watched: the byte is still there


def test_one_spin_per_loop_iteration_with_the_longest_budget():
    poller = BusyPoller()
    loop = asyncio.new_event_loop()
    try:
        poller.activity(loop, 10)
        poller.activity(loop, 30)
        assert poller._scheduled
        assert poller._spin_ns == 30_000
        loop.run_until_complete(asyncio.sleep(0))
        assert not poller._scheduled
        assert poller._spin_ns == 0
    finally:
        loop.close()


def test_a_closed_socket_leaves_the_set_and_its_number_can_come_back():
    """Closing removes a socket from the epoll set; a new socket with the same
    number is watched afresh, and a transport without a socket is skipped."""
    poller = BusyPoller()
    a, b = socket.socketpair()
    fd = a.fileno()
    poller.watch(_Transport(a))
    poller.watch(_Transport(a))  # twice: modified, not an error
    a.close()
    b.close()
    c, d = socket.socketpair()
    with c, d:
        assert fd in (c.fileno(), d.fileno())  # the lowest free number again
        poller.watch(_Transport(c))
        poller.watch(_Transport(d))
        poller.watch(_Transport(None))


def test_a_socket_readable_without_news_is_unwatched():
    """Paused with data unread, or at EOF, a socket stays readable: unwatched,
    it no longer ends the spin; watched again (reading resumed), it does."""
    poller = BusyPoller()
    a, b = socket.socketpair()
    with a, b:
        poller.watch(_Transport(a))
        b.shutdown(socket.SHUT_WR)  # EOF: readable for good
        assert poller._epoll.poll(0)
        poller.unwatch(_Transport(a))
        assert not poller._epoll.poll(0)
        poller.unwatch(_Transport(a))  # twice: not an error
        poller.watch(_Transport(a))
        assert poller._epoll.poll(0)


def test_a_closing_transport_is_left_alone():
    """Its socket number may already be a new connection's: neither watched
    nor unwatched."""
    poller = BusyPoller()
    a, b = socket.socketpair()
    with a, b:
        poller.watch(_Transport(a))
        b.sendall(b"x")
        poller.unwatch(_Transport(a, closing=True))
        assert poller._epoll.poll(0)  # still watched
        poller.unwatch(_Transport(a))
        poller.watch(_Transport(a, closing=True))
        assert not poller._epoll.poll(0)  # not watched again


@pytest.mark.parametrize("value", [-1, MAX_BUSY_POLL_US + 1])
def test_config_refuses_a_busy_poll_out_of_range(value):
    with pytest.raises(UsageError, match="busy_poll_us"):
        ProxyServerConfig(busy_poll_us=value)
