"""Container faults without an engine: which model a fault table becomes, and
the seeded blast radius. The driver itself runs on a real engine in
tests/integration/faults/test_docker.py and tests/e2e/test_cli_docker.py."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from chaoskit.faults.docker import as_container_fault, choose
from chaoskit.spec.model import ContainerFault, Fault, ProcessFault, ToxicFault

FAULT = TypeAdapter(Fault)


def fault(**settings: object) -> ContainerFault:
    table = {"name": "hit", "kind": "pause", "at": "1s", "for": "1s", **settings}
    parsed = FAULT.validate_python(table)
    assert isinstance(parsed, ContainerFault)
    return parsed


@pytest.mark.parametrize(
    ("table", "model"),
    [
        ({"kind": "stop", "service": "api"}, ContainerFault),
        ({"kind": "kill", "service": "api"}, ProcessFault),  # the target decides
        ({"kind": "kill", "container": "api-1"}, ContainerFault),
        ({"kind": "pause", "labels": {"app": "api"}}, ContainerFault),
        ({"kind": "restart", "service": "api", "timeout": "1s"}, ContainerFault),
        ({"kind": "latency", "route": "db", "latency": "1s"}, ToxicFault),
    ],
)
def test_a_fault_table_becomes_the_model_its_keys_fit(table, model):
    parsed = FAULT.validate_python({"name": "f", "at": "1s", "for": "1s", **table})
    assert type(parsed) is model


def test_a_process_fault_on_a_container_service_converts_with_its_settings():
    process = ProcessFault.model_validate(
        {"name": "k", "kind": "kill", "service": "api", "at": "2s", "for": "3s",
         "signal": "SIGTERM", "restart": False}
    )  # fmt: skip
    converted = as_container_fault(process)
    assert converted.service == "api"
    assert (converted.kind, converted.signal, converted.restart) == (
        "kill",
        "SIGTERM",
        False,
    )
    assert (converted.at, converted.for_) == (2.0, 3.0)
    assert as_container_fault(converted) is converted


def test_without_a_blast_radius_every_labelled_container_is_hit():
    found = ["a", "b", "c"]
    assert choose(found, fault(labels={"app": "x"}), seed=1) == found


@pytest.mark.parametrize(
    ("radius", "size"),
    [({"count": 2}, 2), ({"count": 9}, 5), ({"percent": "40%"}, 2),
     ({"percent": "1%"}, 1), ({"percent": 1.0}, 5)],
)  # fmt: skip
def test_the_blast_radius_takes_count_or_percent_at_least_one(radius, size):
    found = ["a", "b", "c", "d", "e"]
    chosen = choose(found, fault(labels={"app": "x"}, **radius), seed=7)
    assert len(chosen) == size
    assert set(chosen) <= set(found)
    assert len(set(chosen)) == size


def test_the_same_seed_hits_the_same_containers_and_another_seed_may_not():
    found = [f"c{i}" for i in range(20)]
    radius = fault(labels={"app": "x"}, count=3)
    first = choose(found, radius, seed=11)
    assert choose(found, radius, seed=11) == first
    others = {tuple(choose(found, radius, seed=s)) for s in range(12, 20)}
    assert len(others | {tuple(first)}) > 1
