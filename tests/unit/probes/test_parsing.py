"""What probes read out of answers: Prometheus text and Docker stats documents."""

from __future__ import annotations

import pytest

from chaoskit.probes import parse_prometheus
from chaoskit.probes.container import container_values

EXPOSITION = """\
# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{method="GET",status="200"} 1027 1395066363000
http_requests_total{method="POST",status="500"} 3
http_requests_total{method="GET",status="500",path="/a \\"b\\", c\\\\d"} 2
process_resident_memory_bytes 2.5e+07
go_gc_duration_seconds{quantile="0.5"} NaN
broken line without value
"""


def test_prometheus_samples_with_labels_escapes_and_timestamps():
    samples = list(parse_prometheus(EXPOSITION))
    assert samples[0] == (
        "http_requests_total",
        {"method": "GET", "status": "200"},
        1027.0,
    )
    assert samples[2][1]["path"] == '/a "b", c\\d'
    assert ("process_resident_memory_bytes", {}, 25_000_000.0) in samples
    assert samples[-1][0] == "go_gc_duration_seconds"  # NaN parses; readers skip it
    assert len(samples) == 5


STATS = {
    "memory_stats": {"usage": 50_000_000, "stats": {"inactive_file": 8_000_000}},
    "cpu_stats": {
        "cpu_usage": {"total_usage": 2_000_000_000},
        "system_cpu_usage": 100_000_000_000,
        "online_cpus": 2,
    },
    "pids_stats": {"current": 7},
}


def test_container_stats_as_docker_stats_shows_them():
    first, previous = container_values(STATS, None)
    assert first == {"memory_bytes": 42_000_000.0, "cpu_percent": None, "pids": 7.0}
    later = {
        **STATS,
        "cpu_stats": {
            "cpu_usage": {"total_usage": 2_500_000_000},
            "system_cpu_usage": 102_000_000_000,
            "online_cpus": 2,
        },
    }
    second, _ = container_values(later, previous)
    # 0.5 s of CPU over 2 s of the host's 2 CPUs' time: 50% of one CPU.
    assert second["cpu_percent"] == pytest.approx(50.0)
