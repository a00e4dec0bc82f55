"""The sharper hypothesis rules, end to end on a real service with seeded
behaviour (tests/e2e/app.py): fallback freshness and shares, numeric checks on
response headers and JSON values, counter integrity."""

from __future__ import annotations

import json

from tests.e2e.test_cli_run import chaoskit, experiment

CACHED = """
[[load.tasks]]
name = "{name}"
path = "/cached?fresh_every=10&fresh_ms={ms}"
marker = {{ header = "X-Fallback" }}
"""


def run(tmp_path, *, hypotheses: str, extra: str, **keys: str) -> dict:
    path = experiment(tmp_path, hypotheses=hypotheses, extra=extra, **keys)
    reports = tmp_path / "report"
    result = chaoskit("run", str(path), "--report-dir", str(reports))
    assert result.returncode in (0, 1), result.stdout + result.stderr
    report = json.loads((reports / "report.json").read_text())
    return {h["name"]: h for h in report["hypotheses"]} | {"_stdout": result.stdout}


def test_fresh_within_judges_good_answers_not_a_coin_toss_on_the_share(tmp_path):
    """90 % cached, 10 % fresh: fast fresh answers are good, slow ones are not."""
    hypotheses = """
[[hypotheses]]
name = "share alone"
kind = "fallback"
phase = "all"
task = "correct"
min_share = "95%"

[[hypotheses]]
name = "correct service"
kind = "fallback"
phase = "all"
task = "correct"
min_share = "95%"
fresh_within = "1s"

[[hypotheses]]
name = "slow fresh answers"
kind = "fallback"
phase = "all"
task = "slow"
min_share = "95%"
fresh_within = "1s"

[[hypotheses]]
name = "no fallback once healthy"
kind = "fallback"
phase = "all"
task = "correct"
max_share = "50%"
"""
    extra = CACHED.format(name="correct", ms=0) + CACHED.format(name="slow", ms=1500)
    verdicts = run(tmp_path, hypotheses=hypotheses, extra=extra, duration="4s")
    assert not verdicts["share alone"]["passed"]
    assert verdicts["share alone"]["detail"].startswith("min_share: ")
    correct = verdicts["correct service"]
    assert correct["passed"], correct
    assert correct["observed"].startswith("100.0% good (")
    slow = verdicts["slow fresh answers"]
    assert not slow["passed"]
    # e.g. "min_share: 54 of 60 responses good (90.0%: 54 marked, 0 fresh
    # within 1s; 6 unmarked and slower, 0 failed), below 95%"
    assert " marked, 0 fresh within 1s;" in slow["detail"]
    assert "unmarked and slower" in slow["detail"]
    most = verdicts["no fallback once healthy"]
    assert not most["passed"]
    assert most["detail"].startswith("max_share: ")
    assert "above 50%" in most["detail"]
