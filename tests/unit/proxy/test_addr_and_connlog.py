"""Address parsing as Go does it, and the connection log's ring and cursor."""

from __future__ import annotations

import pytest

from chaoskit.proxy.addr import AddressError, join_hostport, split_hostport
from chaoskit.proxy.connlog import ConnectionLog


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:80", ("127.0.0.1", 80)),
        ("localhost:0", ("localhost", 0)),
        ("[::1]:5432", ("::1", 5432)),
        (":8080", ("", 8080)),
    ],
)
def test_split_hostport(text, expected):
    assert split_hostport(text) == expected
    assert join_hostport(*expected) == text or expected[0] == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("127.0.0.1", "missing port in address"),
        ("::1:80", "too many colons"),
        ("host:http", "unknown port"),
        ("host:70000", "invalid port"),
    ],
)
def test_bad_addresses_use_go_wording(text, message):
    with pytest.raises(AddressError, match=message):
        split_hostport(text)


def test_cursor_returns_each_change_once_in_change_order():
    log = ConnectionLog(capacity=10)
    a, b = log.open(1), log.open(2)
    assert [r.id for r in log.since(0)] == [1, 2]
    cursor = log.cursor
    assert log.since(cursor) == []
    a.touch()  # connection 1 changed (e.g. it closed): it moves to the end
    assert [r.id for r in log.since(cursor)] == [1]
    assert [r.id for r in log.since(0)] == [2, 1]
    assert b.cursor < a.cursor


def test_limit_returns_the_oldest_changes_first():
    log = ConnectionLog(capacity=10)
    for conn_id in range(1, 6):
        log.open(conn_id)
    page = log.since(0, limit=2)
    assert [r.id for r in page] == [1, 2]
    assert [r.id for r in log.since(page[-1].cursor, limit=2)] == [3, 4]


def test_ring_evicts_the_least_recently_changed_and_counts_it():
    log = ConnectionLog(capacity=3)
    first = log.open(1)
    log.open(2)
    log.open(3)
    first.touch()
    log.open(4)  # evicts 2, the least recently changed
    assert sorted(r.id for r in log.since(0)) == [1, 3, 4]
    assert log.evicted == 1


def test_capacity_must_be_positive():
    with pytest.raises(ValueError, match="capacity=0"):
        ConnectionLog(capacity=0)
