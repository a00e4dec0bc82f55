"""HTTP faults: the spec's units become the proxy's definition, which it accepts."""

from __future__ import annotations

import pytest

from chaoskit.faults.http import http_fault_body, http_fault_name
from chaoskit.proxy.httpfaults import HttpFaults, RequestHead, parse_http_fault
from chaoskit.spec.model import HTTP_FAULT_KINDS, HttpFault


def fault(kind: str, **settings: object) -> HttpFault:
    return HttpFault.model_validate(
        {"name": "upstream 503!", "kind": kind, "route": "reco", "at": "1s",
         "for": "2s", **settings}
    )  # fmt: skip


@pytest.mark.parametrize("kind", HTTP_FAULT_KINDS)
def test_every_http_kind_is_a_definition_the_proxy_accepts(kind: str) -> None:
    settings: dict[str, object] = {"rate": 5} if kind == "http_throttle" else {}
    body = http_fault_body(fault(kind, **settings))
    parsed = parse_http_fault(body)
    assert parsed.name == "chaoskit-upstream-503"
    assert parsed.type == kind.removeprefix("http_")


def test_units_are_converted() -> None:
    body = http_fault_body(
        fault("http_delay", delay="1.5s", jitter="250ms", where="response",
              match={"method": ["GET", "POST"], "path": "^/pay"}, rate="25%")
    )  # fmt: skip
    assert body["delay_ms"] == 1500
    assert body["jitter_ms"] == 250
    assert body["where"] == "response"
    assert body["toxicity"] == 0.25
    assert body["match"] == {"method": ("GET", "POST"), "path": "^/pay"}
    throttle = http_fault_body(fault("http_throttle", rate=3, retry_after="1.2s"))
    assert throttle["rate"] == 3.0
    assert throttle["retry_after"] == 2  # whole seconds, rounded up
    assert http_fault_name(fault("http_abort")) == "chaoskit-upstream-503"


def _decide(faults: HttpFaults, path: str = "/x", method: str = "GET") -> str | None:
    return faults.decide(RequestHead(method, path, {}), 0.0).by


def test_first_and_every_count_matched_requests_only() -> None:
    faults = HttpFaults(seed=1, proxy="p")
    faults.add(parse_http_fault(
        {"name": "f", "type": "status", "first": 2, "match": {"path": "^/a"}}
    ))  # fmt: skip
    got = [_decide(faults, p) for p in ("/b", "/a", "/b", "/a", "/a")]
    assert got == [None, "f", None, "f", None]
    every = HttpFaults(seed=1, proxy="p")
    every.add(parse_http_fault({"name": "e", "type": "status", "every": 3}))
    assert [_decide(every) for _ in range(6)] == [None, None, "e", None, None, "e"]


def test_toxicity_rolls_are_per_request_and_seeded() -> None:
    def rolls(seed: int) -> list[str | None]:
        faults = HttpFaults(seed=seed, proxy="p")
        faults.add(parse_http_fault({"name": "h", "type": "abort", "toxicity": 0.5}))
        return [_decide(faults) for _ in range(40)]

    assert rolls(7) == rolls(7)
    assert rolls(7) != rolls(8)
    assert 5 < rolls(7).count("h") < 35


def test_throttle_lets_rate_through_per_second() -> None:
    faults = HttpFaults(seed=1, proxy="p")
    faults.add(parse_http_fault({"name": "t", "type": "throttle", "rate": 2}))
    head = RequestHead("GET", "/", {})
    got = [faults.decide(head, t).by for t in (0.0, 0.1, 0.2, 0.5, 1.05, 1.1, 1.2)]
    assert got == [None, None, "t", "t", None, None, "t"]
    answer = faults.decide(head, 1.3).response
    assert answer is not None
    assert answer.startswith(b"HTTP/1.1 429 Too Many Requests\r\n")
    assert b"\r\nRetry-After: 1\r\n" in answer


def test_delays_add_up_and_the_first_answering_fault_wins() -> None:
    faults = HttpFaults(seed=1, proxy="p")
    faults.add(parse_http_fault({"name": "d", "type": "delay", "delay_ms": 100}))
    faults.add(parse_http_fault(
        {"name": "d2", "type": "delay", "delay_ms": 50, "where": "response"}
    ))  # fmt: skip
    faults.add(parse_http_fault({"name": "s", "type": "status", "status": 502}))
    faults.add(parse_http_fault({"name": "s2", "type": "status", "status": 504}))
    decision = faults.decide(RequestHead("GET", "/", {}), 0.0)
    assert decision.by == "s"
    assert decision.delay_request_s == pytest.approx(0.1)
    assert decision.delayed_by == ("d", "d2")
    assert decision.response is not None
    assert decision.response.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "x", "type": "nope"}, "type: 'nope' is not one of"),
        ({"type": "status"}, "name: required"),
        ({"name": "x", "type": "status", "status": 99}, "status: must be 200..599"),
        ({"name": "x", "type": "status", "first": 0}, "first: must be >= 1"),
        ({"name": "x", "type": "status", "toxicity": 2}, "toxicity: must be in"),
        ({"name": "x", "type": "throttle"}, "rate: requests per second"),
        ({"name": "x", "type": "abort", "abort": "x"}, "abort: 'x' is not one of"),
        ({"name": "x", "type": "status", "match": {"verb": "GET"}}, "match.verb"),
        ({"name": "x", "type": "status", "colour": 1}, "unknown key 'colour'"),
    ],
)
def test_bad_definitions_say_what_is_wrong(
    body: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=None) as caught:
        parse_http_fault(body)
    assert message in str(caught.value)
