"""An invalid-payloads fault's ledger entry survives a killed run: ``chaoskit
rollback`` reads it from the file alone, understands it and marks it done."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from chaoskit.faults.payloads import payload_ledger_entry
from chaoskit.runner.ledger import LEDGER_NAME, Ledger, find_open_ledgers, roll_back
from chaoskit.spec.model import PayloadFault

FAULT = PayloadFault.model_validate(
    {"name": "garbage", "kind": "invalid-payloads", "at": "1s", "for": "2s",
     "rate": 10, "schema": "event.json"}
)  # fmt: skip


def test_a_pending_payloads_entry_rolls_back_from_the_file(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path, {"experiment": "x"})
    ledger.add(payload_ledger_entry(FAULT, "http://127.0.0.1:8100"))
    # The run is killed here: nothing settles the entry or closes the ledger.
    stored = json.loads((tmp_path / LEDGER_NAME).read_text())
    (entry,) = stored["entries"]
    assert (entry["kind"], entry["state"], entry["fault"]) == (
        "payloads", "pending", "garbage"
    )  # fmt: skip
    assert list(find_open_ledgers(tmp_path)) == [tmp_path / LEDGER_NAME]
    (result,) = asyncio.run(roll_back(tmp_path / LEDGER_NAME))
    assert result.ok
    assert "stop sending fuzzed payloads" in result.description
    after = json.loads((tmp_path / LEDGER_NAME).read_text())
    assert after["entries"][0]["state"] == "done"
    assert after["closed"] is True
    assert list(find_open_ledgers(tmp_path)) == []
