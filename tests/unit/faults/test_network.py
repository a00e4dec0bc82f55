"""Every fault kind has a driver; network faults speak Toxiproxy's units."""

from __future__ import annotations

import pytest

from chaoskit.faults.network import network_changes, toxic_attributes, toxic_name
from chaoskit.faults.toxiproxy import Toxiproxy
from chaoskit.proxy.toxics import ATTRIBUTES  # the server's own list, for the check
from chaoskit.spec.model import (
    CONTAINER_FAULT_KINDS,
    FAULT_KINDS,
    HTTP_FAULT_KINDS,
    LOCK_FAULT_KINDS,
    PAYLOAD_FAULT_KINDS,
    PROCESS_FAULT_KINDS,
    TOXIC_FAULT_KINDS,
    ToxicFault,
)


def fault(kind: str, **settings: object) -> ToxicFault:
    return ToxicFault.model_validate(
        {"name": "slow db!", "kind": kind, "route": "db", "at": "1s", "for": "2s",
         **settings}
    )  # fmt: skip


def test_every_fault_kind_has_a_driver():
    # Lock kinds: chaoskit.faults.locks (tests/integration/faults/test_locks.py).
    assert set(FAULT_KINDS) == (
        set(TOXIC_FAULT_KINDS)
        | set(PROCESS_FAULT_KINDS)
        | set(CONTAINER_FAULT_KINDS)
        | set(LOCK_FAULT_KINDS)
        | set(PAYLOAD_FAULT_KINDS)
        | set(HTTP_FAULT_KINDS)  # chaoskit.faults.http (tests/unit/faults/test_http.py)
    )
    # Every toxic kind but "down" (a proxy state) is a toxic Toxiproxy knows,
    # and its attributes are exactly Toxiproxy's.
    for kind in TOXIC_FAULT_KINDS:
        if kind == "down":
            continue
        assert kind in ATTRIBUTES
        assert set(toxic_attributes(fault(kind))) == set(ATTRIBUTES[kind])


def test_attributes_are_in_toxiproxy_units():
    assert toxic_attributes(fault("latency", latency="300ms", jitter="50ms")) == {
        "latency": 300, "jitter": 50,
    }  # fmt: skip
    assert toxic_attributes(fault("slicer", average_size=64, delay="2ms")) == {
        "average_size": 64, "size_variation": 0, "delay": 2000,  # microseconds
    }  # fmt: skip
    assert toxic_attributes(fault("bandwidth", rate=500)) == {"rate": 500}


@pytest.mark.anyio
async def test_both_streams_make_two_toxics_and_down_disables():
    async with Toxiproxy("http://127.0.0.1:1") as client:
        changes = network_changes(
            fault("latency", latency="1s", stream="both"), client, "db"
        )
        assert [c.entry.data["toxic"] for c in changes if c.entry] == [
            "chaoskit-slow-db-upstream", "chaoskit-slow-db-downstream",
        ]  # fmt: skip
        (down,) = network_changes(fault("down"), client, "db")
        assert down.entry is not None
        assert down.entry.kind == "proxy_enable"
        assert down.entry.data == {"url": "http://127.0.0.1:1", "proxy": "db"}


def test_toxic_names_are_safe_and_say_who_made_them():
    assert toxic_name(fault("latency", latency="1s"), "upstream") == (
        "chaoskit-slow-db-upstream"
    )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
