"""The suites users start from (``experiments/seeds/``), run shortened.

Each seed keeps its authors' durations; ``--env short`` shortens the run to a
few seconds. Each also has a way to break its fixture (``--env broken``),
which its hypotheses must catch: exit 1, the right verdicts failed. The two
suites written as locustfiles (AutoArr, the event sink) also run through
Locust (``--env short,locust``): the same verdicts, the same break caught.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys

import pytest

from chaoskit import spec
from tests.conftest import free_port
from tests.e2e.test_experiments import REPO, chaoskit

SEEDS = sorted((REPO / "experiments" / "seeds").glob("*.toml"))
EVENT_SINK = REPO / "experiments" / "seeds" / "event-sink.toml"
AUTOARR = REPO / "experiments" / "seeds" / "autoarr.toml"
PINE_TIME = REPO / "experiments" / "seeds" / "pine-time.toml"
AMANFLIX = REPO / "experiments" / "seeds" / "amanflix.toml"
# Each seed's verdicts, whichever engine runs it: every hypothesis judged
# (none left out for want of samples).
EVENT_SINK_VERDICTS = {
    "invalid events get 400, never anything else",
    "invalid events get 400 (before the stall)",
    "preflights and unknown paths answered right",
    "viewers' events accepted",
    "heartbeats fast",
    "viewers unharmed after the stall",
    "heartbeats recover [sink stalls]",
}
AUTOARR_VERDICTS = {
    *(f"budgets per operation type [{g}]"
      for g in ("health", "read", "write", "slow", "websocket")),
    "error rate under 1 %",
    "RSS stable",
    "library reads recover [slow media services]",
}  # fmt: skip
# What --env broken fails, on either engine: (always, sometimes). A broken
# sink answers 500 to one invalid event in four: over the whole run that is
# always seen, in the 4 s before the stall nearly always. Slow media services
# slow the reads, and the readiness checks that ask them (a health task).
EVENT_SINK_BROKEN = (
    {"invalid events get 400, never anything else"},
    {"invalid events get 400 (before the stall)"},
)
AUTOARR_BROKEN = (
    {"budgets per operation type [read]"},
    {"budgets per operation type [health]"},
)


def assert_caught(result, report, broken):
    """Exit 1, and the verdicts that failed are the break's."""
    assert result.returncode == 1, (report["reason"], result.stdout[-3000:])
    failed = {h["name"] for h in report["hypotheses"] if not h["passed"]}
    always, sometimes = broken
    assert always <= failed <= always | sometimes, failed
    assert all(f["rolled_back"] for f in report["faults"])


def assert_passed(result, report, verdicts):
    failed = [h for h in report["hypotheses"] if not h["passed"]]
    assert result.returncode == 0, (failed, report["reason"], result.stdout[-3000:])
    assert {h["name"] for h in report["hypotheses"]} == verdicts
    assert all(f["rolled_back"] for f in report["faults"])


# The broken Pine Time on the short timeline (as `--env short` sets it).
PINE_TIME_SHORT = [
    "--set", "experiment.duration=16s", "--set", "experiment.warmup=1s",
    "--set", "load.users=16", "--set", "load.ramp=1s",
    "--set", 'load.think="0.2s..0.5s"', "--var", "access_ttl=2",
    "--set", "faults.0.at=3s", "--set", "faults.0.for=2s",
    "--set", "faults.1.at=8s", "--set", "faults.1.for=2s",
    "--set", "faults.2.at=11.5s", "--set", "faults.2.for=1.5s",
]  # fmt: skip


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.stem)
def test_every_seed_is_valid_as_shipped_and_shortened(path):
    for extra in ([], ["--env", "short"], ["--env", "short,locust"]):
        if extra[-1:] == ["short,locust"] and path not in (EVENT_SINK, AUTOARR):
            continue
        result = chaoskit("validate", str(path), *extra)
        assert result.returncode == 0, (extra, result.stderr)
        assert result.stdout.rstrip().endswith("valid")


def _run(tmp_path, *args, seed=EVENT_SINK):
    reports = tmp_path / "report"
    result = chaoskit(
        "run", str(seed), "--report-dir", str(reports),
        "--var", f"port={free_port()}", *args,
    )  # fmt: skip
    report = json.loads((reports / "report.json").read_text())
    return result, report


# Both engines run each seed: natively, and through Locust with the seed's
# locustfile (`--env ...,locust`): the same classes, hypotheses and verdicts.
ENGINES = pytest.mark.parametrize("engine", ["native", "locust"])


def _envs(names, engine):
    """``--env`` for ``names`` on ``engine`` (Locust: its environment last)."""
    return ["--env", names + (",locust" if engine == "locust" else "")]


def assert_engine(tmp_path, engine):
    """The journal says which engine made the load (Locust's says so)."""
    lines = (tmp_path / "report" / "journal.jsonl").read_text().splitlines()
    events = (json.loads(line) for line in lines)
    found = next((e["engine"] for e in events if e.get("kind") == "load_engine"), "")
    assert found == ("locust" if engine == "locust" else ""), found


@pytest.mark.slow
@ENGINES
def test_event_sink_passes_against_the_sink(tmp_path, engine):
    """Through Locust the load is fixtures/locust/eventsink_seed.py on two
    workers, with the file's classes (shares, waits) and hypotheses."""
    result, report = _run(tmp_path, *_envs("short", engine))
    assert_passed(result, report, EVENT_SINK_VERDICTS)
    # Every kind of request of the suite ran: the 15 event types (init to
    # stopped), the invalid events, the preflights and the unknown paths.
    ran = set(report["tasks"])
    assert {"preflight", "init", "metadata", "loading", "loaded", "buffering",
            "buffered", "playing", "heartbeat", "stopped", "empty beacon",
            "unknown path", "foreign preflight"} <= ran  # fmt: skip
    assert set(report["classes"]) == {"Viewer", "Heartbeat", "BrokenClient",
                                      "EdgeCases"}  # fmt: skip
    assert_engine(tmp_path, engine)


@pytest.mark.slow
@ENGINES
def test_event_sink_catches_a_sink_that_lets_invalid_heartbeats_through(
    tmp_path, engine
):
    """``--env broken``: progress is not range-checked, so an out-of-range
    heartbeat crashes the sink's counter (a 500 instead of a 400). The valid
    traffic is judged on its own, and is fine."""
    result, report = _run(tmp_path, *_envs("broken,short", engine))
    assert_caught(result, report, EVENT_SINK_BROKEN)


@pytest.mark.parametrize(
    ("profile", "users"),
    [("baseline", 30), ("normal", 40), ("peak", 100), ("stress", 225), ("spike", 155)],
)
def test_autoarr_profiles_are_its_environments(profile, users):
    result = chaoskit("validate", str(AUTOARR), "--env", profile)
    assert result.returncode == 0, result.stderr
    assert f"closed model: {users} users" in result.stdout


def test_autoarr_day_in_the_life_is_night_day_and_evening_peak():
    """The suite's day-in-the-life profile: 30 users at night, 40 by day, the
    evening's 100, over the 5 minutes; on either engine."""
    for env in ("day-in-the-life", "day-in-the-life,locust"):
        result = chaoskit("validate", str(AUTOARR), "--env", env)
        assert result.returncode == 0, result.stderr
        assert "40 users" in result.stdout
        assert "burst x0.75 for 1m at 0s, burst x2.5 for 1m at 3m" in result.stdout


def _run_autoarr(tmp_path, *args):
    return _run(tmp_path, "--var", f"arr_port={free_port()}", *args, seed=AUTOARR)


@pytest.mark.slow
@ENGINES
def test_autoarr_passes_against_the_api(tmp_path, engine):
    """Through Locust the load is fixtures/locust/autoarr.py on two workers,
    with the file's classes (shares, short waits) and hypotheses."""
    result, report = _run_autoarr(tmp_path, *_envs("short", engine))
    # Every budget judged (none short of samples), RSS sampled.
    assert_passed(result, report, AUTOARR_VERDICTS)
    # The six classes ran, each with its tasks, the WebSocket among them.
    assert set(report["classes"]) == {"HealthCheck", "Monitoring", "Browsing",
            "ConfigurationAudit", "ContentRequest", "Admin"}  # fmt: skip
    assert {"health", "ready", "download queue", "live activity",
            "live activity.connect", "shows", "audit start", "connection test",
            "request content", "update settings"} <= set(report["tasks"])  # fmt: skip
    assert report["probes"]
    assert_engine(tmp_path, engine)


@pytest.mark.slow
@ENGINES
def test_autoarr_catches_slow_reads(tmp_path, engine):
    """``--env broken``: every read of the media services 800 ms slower, over
    the 500 ms p95 read budget; the other budgets still hold."""
    result, report = _run_autoarr(tmp_path, *_envs("broken,short", engine))
    assert_caught(result, report, AUTOARR_BROKEN)


def _run_pine_time(tmp_path, *args):
    return _run(tmp_path, "--var", f"reco_port={free_port()}", *args, seed=PINE_TIME)


@pytest.mark.slow
def test_pine_time_passes_against_the_streaming_api(tmp_path):
    result, report = _run_pine_time(tmp_path, "--env", "short")
    verdicts = {h["name"]: h for h in report["hypotheses"]}
    failed = [h for h in report["hypotheses"] if not h["passed"]]
    assert result.returncode == 0, (failed, report["reason"], result.stdout[-3000:])
    # Tokens expired and were refreshed (the refresh step ran only on 401s,
    # never at login), the fallback was served, PostgreSQL saw reconnects.
    assert report["tasks"]["refresh"]["count"] > 0
    assert report["tasks"]["login"]["count"] == 16
    assert verdicts["the fallback answers while the API fails"]["passed"]
    backoff = verdicts["reconnects back off"]["data"]
    assert backoff["attempts"] >= 3
    assert {f["name"] for f in report["faults"]} == {
        "postgres down", "recommendations API fails", "pool exhausted"
    }  # fmt: skip


@pytest.mark.slow
def test_amanflix_passes_against_the_streaming_api(tmp_path):
    result, report = _run(tmp_path, "--env", "short", seed=AMANFLIX)
    failed = [h for h in report["hypotheses"] if not h["passed"]]
    assert result.returncode == 0, (failed, report["reason"], result.stdout[-3000:])
    # Every task of the suite ran: register and login (JWT), heartbeats,
    # browse and search, writes, rapid updates, the devices of one household
    # on one record, and the cleanup.
    ran = {name for name, task in report["tasks"].items() if task["count"]}
    assert {"register", "login", "heartbeat", "browse movies", "browse shows",
            "search", "history", "progress", "pick a title", "rapid progress",
            "household register", "device progress", "delete account",
            "household delete account"} <= ran  # fmt: skip
    assert set(report["classes"]) == {"Viewer", "Binger", "Household"}
    # The burst: twice the 30 users for 2 s, each registering its own account.
    with (tmp_path / "report" / "samples.tsv").open() as samples:
        users = {row["user"] for row in csv.DictReader(samples, delimiter="\t")}
    assert len(users) > 30
    # "database is locked" detected while the database was held, with the
    # users it hit and their classes; none of the suite's test users is left.
    locked = report["top_error_users_by_class"]["body_pattern:lock"]
    assert locked
    assert {u["user_class"] for u in locked} <= {"Viewer", "Binger", "Household"}
    with sqlite3.connect(tmp_path / "report" / "amanflix.db") as db:
        assert db.execute("SELECT count(*) FROM users").fetchone() == (0,)
    assert all(f["rolled_back"] for f in report["faults"])


@pytest.mark.slow
def test_pine_time_catches_a_reconnect_loop_and_expired_refreshes(tmp_path):
    """``--env broken``: the service reconnects every 10 ms without backoff;
    with ``break_refresh=on`` (``--env broken-refresh``'s bug, in the same
    run) refreshed tokens are already expired, so the retried request gets
    401 again."""
    result, report = _run_pine_time(
        tmp_path, "--env", "broken", "--var", "break_refresh=on", *PINE_TIME_SHORT
    )
    assert result.returncode == 1, (report["reason"], result.stdout[-3000:])
    verdicts = {h["name"]: h for h in report["hypotheses"]}
    backoff = verdicts["reconnects back off"]
    assert not backoff["passed"]
    assert {"min_growth", "max_rate"} <= set(backoff["data"]["broken"])
    assert not verdicts["no 401 reaches a member"]["passed"]
    # What the bugs do not touch still holds.
    for name in (
        "tokens are refreshed",
        "the fallback answers while the API fails",
        "no fallback once the API is back",
        "fails fast while PostgreSQL is down",
    ):
        assert verdicts[name]["passed"], name
    assert all(f["rolled_back"] for f in report["faults"])


DUOTOPIA = REPO / "experiments" / "seeds" / "duotopia.toml"
# The broken API on the short timeline (as `--env short` does).
DUOTOPIA_SHORT = [
    "--var", "users=20", "--var", "spawn_rate=20", "--var", "duration=10s",
    "--set", "experiment.warmup=1s", "--set", "load.think=0.2s..0.5s",
    "--set", "faults.0.at=2s", "--set", "faults.0.for=6s",
]  # fmt: skip
UPLOADS = {"upload 50KB": 50_000, "upload 500KB": 500_000, "upload 1MB": 1_000_000,
           "upload 2MB": 2_000_000}  # fmt: skip


@pytest.mark.parametrize(
    ("scenario", "users", "spawn_rate", "duration"),
    [("normal", 20, 2, 300), ("peak", 50, 5, 300), ("stress", 100, 10, 300),
     ("spike", 50, 50, 300), ("endurance", 30, 3, 1800), ("breaking", 200, 20, 300)],
)  # fmt: skip
def test_duotopia_scenarios_are_its_environments(scenario, users, spawn_rate, duration):
    experiment = spec.load(DUOTOPIA, environment=scenario)
    assert (experiment.load.users, experiment.load.spawn_rate) == (users, spawn_rate)
    assert experiment.experiment.duration == duration


def test_duotopia_staging_is_the_deployment_with_its_own_account_never_written():
    secrets = {"DUOTOPIA_STAGING_PASSWORD": "st4ging-pass",
               "DUOTOPIA_STAGING_DB_PASSWORD": "st4ging-db"}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "chaoskit", "validate", str(DUOTOPIA),
         "--env", "staging"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, **secrets},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "load against http://staging-api.duotopia.example" in result.stdout
    # Nothing is started here: the deployed API and database are external.
    assert "service api: external" in result.stdout
    assert "service db: external" in result.stdout
    assert all(s not in result.stdout + result.stderr for s in secrets.values())
    experiment = spec.load(DUOTOPIA, environment="staging", environ=secrets)
    login = experiment.load.flow.on_start[0]
    assert login.json_body == {
        "username": "loadtest-staging",
        "password": "st4ging-pass",
    }
    # Without the secrets, exit 2 naming each (production, the same way).
    missing = chaoskit("validate", str(DUOTOPIA), "--env", "production")
    assert missing.returncode == 2
    for name in ("DUOTOPIA_PRODUCTION_PASSWORD", "DUOTOPIA_PRODUCTION_DB_PASSWORD"):
        assert f"the secret {name} is not set" in missing.stderr


def _run_duotopia(tmp_path, *args):
    return _run(tmp_path, *args, seed=DUOTOPIA)


def _bytes_sent(report_dir, task):
    with (report_dir / "samples.tsv").open() as rows:
        return {int(row["bytes_sent"]) for row in csv.DictReader(rows, delimiter="\t")
                if row["task"] == task}  # fmt: skip


@pytest.mark.slow
def test_duotopia_passes_against_the_upload_api(tmp_path):
    result, report = _run_duotopia(tmp_path, "--env", "short")
    failed = [h for h in report["hypotheses"] if not h["passed"]]
    assert result.returncode == 0, (failed, report["reason"], result.stdout[-3000:])
    # Each size was uploaded (the multipart body carries the whole file), and
    # the flow ran: login, a first recording, the reads, the clean-up.
    for task, size in UPLOADS.items():
        assert report["tasks"][task]["count"] > 0, task
        assert min(_bytes_sent(tmp_path / "report", task)) > size, task
    assert {"login", "first recording", "list uploads", "open an upload",
            "not audio", "clean up"} <= set(report["tasks"])  # fmt: skip
    # The criteria were judged during the slow database and after it.
    names = {h["name"] for h in report["hypotheses"]}
    for phase in ("while the database is slow", "after"):
        assert {f"success criteria {phase} [upload]",
                f"success criteria {phase} [read]"} <= names  # fmt: skip
    # PostgreSQL was watched on its own address: connections, queries, locks.
    (probe,) = report["probes"]
    assert {"connections", "query_max_s", "locks_waiting"} <= set(probe["metrics"])
    assert len(probe["t"]) >= 10
    assert all(f["rolled_back"] for f in report["faults"])
    assert (tmp_path / "report" / "report.html").stat().st_size > 0


@pytest.mark.slow
def test_duotopia_catches_uploads_queued_behind_a_table_lock(tmp_path):
    """``--env broken``: the quota checked under a table lock. On the slow
    database every upload waits for the one before: PostgreSQL shows the lock
    waits and the long-running statements, the criteria fail while it is slow."""
    result, report = _run_duotopia(tmp_path, "--env", "broken", *DUOTOPIA_SHORT)
    assert result.returncode == 1, (report["reason"], result.stdout[-3000:])
    verdicts = {h["name"]: h["passed"] for h in report["hypotheses"]}
    assert not verdicts["no lock waits"]
    assert not verdicts["no slow queries"]
    assert not verdicts["success criteria while the database is slow [upload]"]
    # Not a connection leak: the pool stays within its bounds.
    assert verdicts["connections under 80 % of max_connections"]
    assert all(f["rolled_back"] for f in report["faults"])


@pytest.mark.slow
def test_duotopia_runs_under_capacity_search(tmp_path):
    """``chaoskit capacity`` searches users on the same file (the criteria
    and the PostgreSQL bounds judged at each level); here a short search of
    10 to 20 users, all of which hold on this fixture."""
    reports = tmp_path / "capacity"
    result = chaoskit(
        "capacity", str(DUOTOPIA), "--report-dir", str(reports),
        "--var", f"port={free_port()}", "--set", "load.think=0.2s..0.5s",
        "--set", "capacity.min=10", "--set", "capacity.max=20",
        "--set", "capacity.step_duration=4s", "--set", "capacity.warmup=1s",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    report = json.loads((reports / "report.json").read_text())
    assert report["capacity"]["unit"] == "users"
    assert report["capacity"]["value"] == 20
    assert report["capacity"]["high"] is None  # nothing broke up to max
    assert [row["level"] for row in report["curve"]][:2] == [10, 20]
    assert 'id="capacity"' in (reports / "report.html").read_text()


def test_amanflix_catches_an_app_without_a_busy_timeout(tmp_path):
    """``busy_timeout=0s`` (the file's ``--env broken``): concurrent writers
    collide and get "database is locked" with no fault at all."""
    result, report = _run(
        tmp_path, "--env", "short", "--var", "busy_timeout=0s", seed=AMANFLIX
    )
    assert result.returncode == 1, (report["reason"], result.stdout[-3000:])
    verdicts = {h["name"]: h["passed"] for h in report["hypotheses"]}
    assert not verdicts["no 'database is locked' outside the lock"]
    assert not verdicts["no lock errors once released"]
    # A refused write is never acknowledged: nothing acknowledged is lost.
    assert verdicts["no acknowledged watch-history write lost"]
    assert report["top_error_users_by_class"]["body_pattern:lock"]
