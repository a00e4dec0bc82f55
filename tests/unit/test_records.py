"""Samples derive latency, service time and lag; sinks satisfy the protocol."""

from __future__ import annotations

from chaoskit.metrics import Recorder, SampleFile
from chaoskit.records import ErrorClass, FanOut, MemorySink, Sample, Sink


def test_sample_latency_figures():
    sample = Sample("t", 0, 100, 130, 1130, 200, 10, 20, None)
    assert (sample.latency_ns, sample.service_ns, sample.lag_ns) == (1030, 1000, 30)
    dropped = Sample("t", 0, 100, 0, 100, 0, 0, 0, ErrorClass.DROPPED, "cap")
    assert (dropped.service_ns, dropped.lag_ns) == (0, 0)


def test_every_sink_satisfies_the_protocol(tmp_path):
    file_sink = SampleFile(tmp_path / "s.tsv")
    for sink in (MemorySink(), Recorder(), FanOut([]), file_sink):
        assert isinstance(sink, Sink)
    file_sink.close()
    file_sink.close()  # idempotent
