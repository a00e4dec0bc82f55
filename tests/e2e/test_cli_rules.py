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


UPDATES = """
[[load.tasks]]
name = "update"
method = "POST"
path = "/updates"
json = { n = 1 }
"""

COUNTERS = """
[[hypotheses]]
name = "counter over http"
kind = "integrity"
task = "update"
read_back = { url = "/total", count = "$.total" }

[[hypotheses]]
name = "counter in sqlite"
kind = "integrity"
task = "update"
read_back = { query = "SELECT sum(updates) FROM counters", database = "{run.report.dir}/app.db", expect = "acknowledged" }
"""  # noqa: E501


def counter_run(tmp_path, *app_args: str) -> tuple[dict, dict]:
    path = experiment(tmp_path, hypotheses=COUNTERS, extra=UPDATES, duration="3s")
    args = ", ".join(f'"{a}"' for a in ["--db", "{run.report.dir}/app.db", *app_args])
    text = path.read_text()
    path.write_text(text.replace('"tests.e2e.app", ', f'"tests.e2e.app", {args}, '))
    reports = tmp_path / "report"
    result = chaoskit("run", str(path), "--report-dir", str(reports))
    assert result.returncode in (0, 1), result.stdout + result.stderr
    report = json.loads((reports / "report.json").read_text())
    verdicts = {h["name"]: h for h in report["hypotheses"]}
    return verdicts["counter over http"], verdicts["counter in sqlite"] | {
        "_stdout": result.stdout
    }


def test_a_counter_that_counts_every_acknowledged_update_passes(tmp_path):
    http, sql = counter_run(tmp_path)
    for verdict in (http, sql):
        assert verdict["passed"], verdict
        data = verdict["data"]
        assert data["mode"] == "count"
        assert data["acknowledged"] > 20
        assert data["counter"] == data["acknowledged"]
        assert (data["lost"], data["extra"]) == (0, 0)
    assert sql["data"]["source"].startswith("'SELECT sum(updates) FROM counters' on")


def test_lost_updates_are_counted_and_shown(tmp_path):
    """An ack-before-persist bug: every 5th acknowledged update is not counted."""
    http, sql = counter_run(tmp_path, "--lose-every", "5")
    for verdict in (http, sql):
        assert not verdict["passed"]
        data = verdict["data"]
        acked = data["acknowledged"]
        assert data["lost"] == acked - data["counter"] == acked // 5
        assert verdict["detail"].startswith(f"{acked // 5} acknowledged update(s) lost")
        assert verdict["observed"].startswith(f"{acked // 5} lost, 0 extra: counter ")
    assert "Counter (counter over http): " in sql["_stdout"]


def test_a_header_or_json_value_of_each_response_is_judged_by_its_statistic(
    tmp_path,
):
    """Every 10th answer says it took 5 upstream attempts, the others 1."""
    hypotheses = """
[[hypotheses]]
name = "attempts capped"
phase = "all"
metric = "header:X-Upstream-Attempts"
stat = "max"
task = "reco"
below = 4

[[hypotheses]]
name = "usually one attempt"
phase = "all"
value = "$.attempts"
stat = "p50"
task = "reco"
below = 2

[[hypotheses]]
name = "mean attempts"
phase = "all"
value = "$.attempts"
stat = "mean"
task = "reco"
above = 1.2

[[hypotheses]]
name = "a header the task never gets"
phase = "all"
metric = "header:X-Upstream-Attempts"
task = "ok"
below = 4
"""
    extra = '[[load.tasks]]\nname = "reco"\npath = "/upstream?every=10"\n'
    verdicts = run(tmp_path, hypotheses=hypotheses, extra=extra, duration="3s")
    capped = verdicts["attempts capped"]
    assert not capped["passed"]
    assert capped["observed"] == "max of header X-Upstream-Attempts 5"
    assert capped["detail"].startswith("max 5 over ")
    assert "missed the bound by 1" in capped["detail"]
    usually = verdicts["usually one attempt"]
    assert usually["passed"], usually
    assert usually["observed"] == "p50 of $.attempts 1"
    mean = verdicts["mean attempts"]
    assert mean["passed"], mean  # 1.4 on every 10th answer of 5
    assert 1.3 <= mean["observed_value"] <= 1.5
    never = verdicts["a header the task never gets"]
    assert not never["passed"]
    assert never["observed"] == "no data"
    assert "responses without one" in never["detail"]
