"""The Locust engine's records that never became samples make the run
inconclusive, never a silent pass on part of the load."""

from __future__ import annotations

from chaoskit.locust import LocustEngine
from chaoskit.records import MemorySink
from chaoskit.runner.locustrun import measured_verdict
from tests.unit.locust.test_config import config
from tests.unit.locust.test_samples import record


def engine(tmp_path, memory):
    return LocustEngine(config(), sinks=[memory], log_dir=tmp_path)


def test_every_record_arrived_gives_no_verdict(tmp_path):
    memory = MemorySink()
    locust = engine(tmp_path, memory)
    locust._handle({"r": [record(), record(user=2)], "lost": 0})
    assert len(memory.samples) == 2
    assert measured_verdict(locust) is None


def test_dropped_and_unreadable_records_make_the_run_inconclusive(tmp_path):
    memory = MemorySink()
    locust = engine(tmp_path, memory)
    locust._handle({"r": [record(), ["not", "a", "record"]], "lost": 7})
    locust.bad_lines += 1  # a batch that was not JSON (counted by the reader)
    assert len(memory.samples) == 1
    verdict = measured_verdict(locust)
    assert verdict is not None
    assert verdict.status == "inconclusive"
    assert not verdict.passed
    assert "7 records dropped at the workers" in verdict.observed
    assert "1 records unreadable" in verdict.observed
    assert "1 batches of records unreadable" in verdict.observed
