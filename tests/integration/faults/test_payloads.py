"""The invalid-payloads driver against the real event sink: paced, seeded,
loopback only, stopped by its undo, findings written for ``chaoskit fuzz``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from chaoskit.faults.payloads import PayloadSender, load_payload_model
from chaoskit.fuzz.checks import Failure, Outcome
from chaoskit.fuzz.findings import load_findings
from chaoskit.fuzz.rules import Case
from chaoskit.fuzz.tally import FuzzTally
from chaoskit.spec.model import PayloadFault
from tests.integration.fuzz.eventsink import eventsink

REPO = Path(__file__).resolve().parents[3]


def fault(**fields: object) -> PayloadFault:
    return PayloadFault.model_validate(
        {"name": "garbage", "kind": "invalid-payloads", "at": "1s", "for": "1.5s",
         "rate": 40, "schema": "fixtures/eventsink/schema.json", **fields}
    )  # fmt: skip


def send(
    spec: PayloadFault, url: str, report_dir: Path, window: float
) -> tuple[FuzzTally, list[bytes], list[str]]:
    """Apply the fault, wait ``window`` seconds, undo it; what was sent.

    The sender stops by itself at ``for`` (its time limit) or at the undo.
    """
    tallies: dict[str, FuzzTally] = {}
    sender = PayloadSender(
        spec, load_payload_model(spec, REPO), base_url=url, seed=11,
        report_dir=report_dir, tallies=tallies,
    )  # fmt: skip
    tallies[spec.name] = sender.tally
    bodies: list[bytes] = []
    hosts: list[str] = []
    observe = sender.tally.observe

    def record(case: Case, outcome: Outcome, failure: Failure | None) -> None:
        bodies.append(case.body)
        observe(case, outcome, failure)

    sender.tally.observe = record  # type: ignore[method-assign]

    async def window_of_fault() -> None:
        (change,) = sender.changes()
        assert change.entry is not None
        assert change.entry.kind == "payloads"
        undo = await change.apply()
        await asyncio.sleep(window)
        await undo()
        assert undo.done

    asyncio.run(window_of_fault())
    hosts.append(sender.base_url)
    return sender.tally, bodies, hosts


def test_same_seed_same_payloads_paced_and_on_loopback(tmp_path: Path) -> None:
    with eventsink(log=tmp_path / "log") as url:
        # 3 s windows: 1 s once sent nothing on a loaded machine.
        paced = fault(**{"for": "3.5s"})
        first, bodies1, hosts = send(paced, url, tmp_path / "a", 3.0)
        _, bodies2, _ = send(paced, url, tmp_path / "b", 3.0)
    assert first.requests == len(bodies1) > 10
    # Paced: 40/s for 3 s (plus the half second of catch-up it may use).
    assert first.requests <= 40 * 3.5 + 1
    common = min(len(bodies1), len(bodies2))
    assert bodies1[:common] == bodies2[:common]  # the seed decides the payloads
    assert hosts == [url]
    assert url.startswith("http://127.0.0.1:")
    assert first.wrong() == 0, first.to_json()
    assert first.by_outcome().keys() <= {"refused", "accepted"}
    # findings.json is written even when empty, with the replay command.
    meta, findings = load_findings(tmp_path / "a")
    assert findings == []
    assert meta["replay"] == first.replay
    assert first.replay.endswith(f"--replay {tmp_path / 'a'}")


def test_broken_sink_findings_are_written_and_replayable(tmp_path: Path) -> None:
    spec = fault(rate=150, rules=["missing-required"], seed=5, **{"for": "4s"})
    with eventsink("--break", "missing-field", log=tmp_path / "log") as url:
        tally, _, _ = send(spec, url, tmp_path / "r", 4.0)
    assert "missing-required" in tally.broken_rules(), tally.to_json()
    assert tally.by_outcome().get("accepted-garbage", 0) > 0
    meta, findings = load_findings(tmp_path / "r")
    assert meta["faults"] == ["garbage"]
    accepted = next(f for f in findings if f.check == "invalid-refused")
    payload = json.loads(accepted.body or b"")
    # The broken rule, in the minimal payload: session_id missing, accepted.
    assert "session_id" not in payload
    # The keyword location names the property: required/session_id.
    assert accepted.keyword.endswith("required/session_id")
    assert accepted.curl.startswith("curl ")
    assert "/events" in accepted.curl
    assert tally.to_json()["findings"][0]["check"] == "invalid-refused"


def test_a_remote_url_is_refused_before_sending(tmp_path: Path) -> None:
    from chaoskit.errors import UsageError

    spec = fault(url="http://192.0.2.1:8100")
    with pytest.raises(UsageError, match="not a loopback address"):
        send(spec, "http://127.0.0.1:9", tmp_path, 0.1)
