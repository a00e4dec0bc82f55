"""The probe experiments, broken the way their header comments say: each
probe hypothesis fails on the leak (the passing runs are in
test_experiments.py), and the page shows the probe charts in a real browser.

Shortened with ``--set`` and moved to free ports, so a shipped run of the same
file elsewhere on the machine does not collide.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.e2e.test_experiments import REPO, chaoskit
from tests.integration.report.test_html_chromium import PAGE_ERRORS, browse

pytestmark = pytest.mark.slow


def on_port(service: int, port: int, *, probe_url: int | None = None) -> list[str]:
    base = f"http://127.0.0.1:{port}"
    args = [
        "--set", f'services.{service}.command.4="{port}"',
        "--set", f'services.{service}.health="{base}/health"',
        "--set", f'target.base_url="{base}"',
    ]  # fmt: skip
    if probe_url is not None:
        args += ["--set", f'probes.{probe_url}.url="{base}/metrics"']
    return args


def header_set(name: str) -> list[str]:
    """The ``--set`` the experiment's header comment gives to break it."""
    text = (REPO / "experiments" / f"{name}.toml").read_text()
    found = re.search(r"^#\s+--set '([^']+)'", text, re.MULTILINE)
    assert found, f"{name}.toml names no --set that breaks it"
    return ["--set", found[1]]


@pytest.fixture(scope="module")
def leaking(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    reports = tmp_path_factory.mktemp("endurance") / "report"
    result = chaoskit(
        "run", "experiments/endurance-leak.toml", "--report-dir", str(reports),
        "--set", "experiment.duration=20s", "--set", "experiment.warmup=2s",
        *on_port(0, free_port(), probe_url=1), *header_set("endurance-leak"),
    )  # fmt: skip
    return result.returncode, reports


@pytest.mark.xdist_group("leaking")  # one worker: the run is shared
def test_the_leak_is_found_by_leak_and_by_the_http_probe(leaking):
    code, reports = leaking
    report = json.loads((reports / "report.json").read_text())
    verdicts = {h["name"]: h for h in report["hypotheses"]}
    assert code == 1, report["reason"]
    assert not verdicts["no memory leak"]["passed"]
    assert verdicts["no memory leak"]["observed_value"] > 2e6 / 60
    assert not verdicts["the cache holds nothing for long"]["passed"]
    assert verdicts["no descriptor leak"]["passed"]
    assert verdicts["serves every request"]["passed"]
    reco = next(p for p in report["probes"] if p["name"] == "reco")
    assert len([t for t in reco["t"] if t >= 0]) >= 15
    assert reco["target"] == "service reco"


@pytest.mark.xdist_group("leaking")  # one worker: the run is shared
def test_probe_samples_reach_the_journal_and_probes_csv(leaking):
    _, reports = leaking
    journal = [
        json.loads(line)
        for line in (reports / "journal.jsonl").read_text().splitlines()
    ]
    probes = [r for r in journal if r.get("kind") == "probe"]
    assert {r["probe"] for r in probes} == {"reco", "cache"}
    assert all("values" in r or "error" in r for r in probes)
    with (reports / "probes.csv").open() as f:
        rows = list(csv.DictReader(f))
    rss = [float(r["value"]) for r in rows if r["metric"] == "rss_bytes"]
    assert len(rss) >= 15
    assert rss[-1] - rss[len(rss) // 4] > 1_000_000  # it grew


@pytest.mark.xdist_group("leaking")  # one worker: the run is shared
def test_the_page_shows_the_probe_charts_with_the_fitted_line(leaking, tmp_path):
    _, reports = leaking
    page = reports / "report.html"
    text = page.read_text()
    assert '<section id="probes">' in text
    result = browse(page, tmp_path, "--dump-dom")
    assert result.returncode == 0, result.stderr
    assert not PAGE_ERRORS.search(result.stderr), result.stderr
    dom = result.stdout
    for chart in ("probe-0", "probe-1"):
        assert re.search(rf'<svg[^>]* class="chart" id="{chart}"', dom)
    assert 'id="probe-0-fit-0"' in dom  # rss_bytes, judged by the leak hypothesis


def test_a_leaking_pool_fails_connections_return(tmp_path):
    reports = tmp_path / "report"
    result = chaoskit(
        "run", "experiments/db-connections.toml", "--report-dir", str(reports),
        "--set", "experiment.duration=16s", "--set", "experiment.warmup=2s",
        "--set", "faults.0.at=4s", "--set", "faults.0.for=3s",
        *on_port(1, free_port()), *header_set("db-connections"),
    )  # fmt: skip
    report = json.loads((reports / "report.json").read_text())
    verdicts = {h["name"]: h for h in report["hypotheses"]}
    assert result.returncode == 1, (report["reason"], result.stdout[-2000:])
    back = verdicts["connections return"]
    assert not back["passed"]
    assert back["data"]["level"] == 4
    assert "no session left idle in a transaction" in verdicts
    pg = next(p for p in report["probes"] if p["name"] == "pg")
    assert max(v for v in pg["values"]["connections"] if v is not None) > 8
    assert all(f["rolled_back"] for f in report["faults"])


def test_a_probe_abort_stops_the_run_at_its_first_sample_past_the_bound(tmp_path):
    reports = tmp_path / "report"
    result = chaoskit(
        "run", "experiments/endurance-leak.toml", "--report-dir", str(reports),
        "--set", 'abort.0.above="10MB"', *on_port(0, free_port(), probe_url=1),
    )  # fmt: skip
    report = json.loads((reports / "report.json").read_text())
    assert result.returncode == 3, result.stdout[-2000:]
    assert report["verdict"] == "aborted"
    assert report["reason"].startswith("abort condition: reco.rss_bytes ")
    assert report["reason"].endswith("above 10MB")
    assert report["duration_s"] < 30  # not the whole minute
