"""Issue 13.4: the loopback rule covers every address key, references bound."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from chaoskit.hosts import host_of, is_loopback
from chaoskit.spec import model as spec_model
from chaoskit.spec.addresses import addresses, check_loopback

# A key with one of these names says where traffic goes: it must be typed
# HostPort or Url, or the loopback rule would not see it.
ADDRESS_NAMES = ("url", "base_url", "address", "listen", "upstream", "health")


@pytest.mark.parametrize(
    "model",
    [
        m
        for m in vars(spec_model).values()
        if isinstance(m, type) and issubclass(m, BaseModel)
        and m.__module__ == spec_model.__name__
    ],
    ids=lambda m: m.__name__,
)  # fmt: skip
def test_every_address_key_carries_the_address_marker(model):
    for name, info in model.model_fields.items():
        if (info.alias or name) in ADDRESS_NAMES:
            text = repr(info.annotation) + repr(info.metadata)
            assert "Address(form=" in text, f"{model.__name__}.{name}"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True), ("127.255.0.9", True), ("::1", True), ("[::1]", True),
        ("localhost", True), ("LOCALHOST.", True), ("::ffff:127.0.0.1", True),
        ("0.0.0.0", False), ("", False), ("10.255.255.1", False),
        ("169.254.169.254", False), ("example.com", False), ("localhost.evil", False),
    ],
)  # fmt: skip
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("address", "host"),
    [
        ("127.0.0.1:5432", "127.0.0.1"), ("[::1]:80", "::1"), (":0", ""),
        ("http://u:p@example.com:80/x", "example.com"),
        ("tcp://10.0.0.1:1", "10.0.0.1"),
        ("::1", "::1"), ("db", "db"),
    ],
)  # fmt: skip
def test_host_of(address, host):
    assert host_of(address) == host


TABLE = {
    "services": [
        {"name": "pg", "kind": "external", "address": "example.com:5432"},
        {"name": "db", "kind": "postgres"},
    ],
    "proxy": {"routes": [
        {"name": "r", "upstream": "{services.pg.address}"},
        {"name": "s", "upstream": "{services.db.address}", "listen": "127.0.0.2:0"},
    ]},
    "target": {"base_url": "http://{routes.s.listen}"},
    "faults": [{"kind": "invalid-payloads", "url": "http://[::1]:9/"}],
}  # fmt: skip


def test_addresses_are_found_in_every_section():
    assert [path for path, _, _ in addresses(TABLE)] == [
        "services[0].address",
        "proxy.routes[0].upstream",
        "proxy.routes[1].listen",
        "proxy.routes[1].upstream",
        "target.base_url",
        "faults[0].url",
    ]


def test_references_are_bound_before_the_rule():
    (issue,) = check_loopback(TABLE, allow_remote=False)[1:]
    assert issue.path == "proxy.routes[0].upstream"
    assert "bound to 'example.com:5432'" in issue.message
    assert check_loopback(TABLE, allow_remote=True) == []
