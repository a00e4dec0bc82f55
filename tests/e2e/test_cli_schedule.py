"""Fault schedules and overlapping faults, end to end: a real process killed
on a schedule, each occurrence its own window in every artefact; overlapping
windows on one target refused before anything starts."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

from tests.e2e.test_cli_run import REPO, chaoskit, experiment, journal

FLAP = """
[[faults]]
name = "flap"
kind = "kill"
service = "app"
at = "1s"
for = "0.5s"
every = "2.5s"
count = 3
"""

RECOVERS = """
[[hypotheses]]
name = "recovers"
kind = "recovery"
within = "2s"
stable_for = "0.5s"
"""


def test_a_kill_every_2_5s_three_times_is_three_windows_and_three_recoveries(
    tmp_path,
):
    path = experiment(tmp_path, faults=FLAP, hypotheses=RECOVERS, duration="8.5s")
    reports = tmp_path / "report"
    result = chaoskit("run", str(path), "--report-dir", str(reports))
    assert result.returncode in (0, 1), result.stdout + result.stderr
    report = json.loads((reports / "report.json").read_text())
    faults = report["faults"]
    assert [(f["name"], f["fault"], f["occurrence"], f["occurrences"])
            for f in faults] == [
        ("flap#1", "flap", 1, 3), ("flap#2", "flap", 2, 3), ("flap#3", "flap", 3, 3)
    ]  # fmt: skip
    assert [(f["planned_start_s"], f["planned_end_s"]) for f in faults] == [
        (1, 1.5), (3.5, 4), (6, 6.5)
    ]  # fmt: skip
    assert all(f["rolled_back"] and f["actual_end_s"] > f["actual_start_s"]
               for f in faults)  # fmt: skip
    # Each occurrence: a kill and a start again, in the journal and the ledger.
    applied = [e["fault"] for e in journal(reports) if e.get("kind") == "fault_applied"]
    assert applied == ["flap#1", "flap#2", "flap#3"]
    ledger = json.loads((reports / "ledger.json").read_text())
    assert ledger["closed"] is True
    assert all(e["state"] == "done" for e in ledger["entries"])
    # Recovery is judged after each occurrence, up to the next one.
    recoveries = [h for h in report["hypotheses"] if h["kind"] == "recovery"]
    assert [h["name"] for h in recoveries] == [
        "recovers [flap#1]", "recovers [flap#2]", "recovers [flap#3]"
    ]  # fmt: skip
    assert all(re.match(r"(not )?recovered in ", h["observed"]) for h in recoveries)
    phases = [p["name"] for p in report["phases"]]
    assert phases[:4] == ["warmup", "before", "during:flap#1", "after:flap#1"]
    assert "during:flap#3" in phases
    # Every window is shaded in the HTML report, labelled with its occurrence.
    html = (reports / "report.html").read_text()
    for label in ("flap#1", "flap#2", "flap#3"):
        assert label in html
    # Re-rendered from the journal alone, each occurrence keeps its place.
    again = tmp_path / "again"
    assert chaoskit("report", str(reports), "--report-dir", str(again)).returncode in (
        0, 1
    )  # fmt: skip
    rebuilt = json.loads((again / "report.json").read_text())["faults"]
    assert [(f["name"], f["fault"], f["occurrence"], f["occurrences"])
            for f in rebuilt] == [
        ("flap#1", "flap", 1, 3), ("flap#2", "flap", 2, 3), ("flap#3", "flap", 3, 3)
    ]  # fmt: skip


def test_a_drawn_start_is_the_same_with_the_same_seed_and_moves_with_another(
    tmp_path,
):
    drawn = FLAP.replace('at = "1s"', 'at = "1s..3s"').replace(
        "count = 3", 'count = 2\njitter = "0.4s"'
    )
    path = experiment(tmp_path, faults=drawn, hypotheses="", duration="8.5s")

    def windows(seed: int) -> list[str]:
        result = chaoskit("validate", str(path), "--seed", str(seed))
        assert result.returncode == 0, result.stderr
        return re.findall(r"(\S+)\s+fault 'flap'", result.stdout)

    assert windows(11) == windows(11)
    assert len(windows(11)) == 2
    assert len({tuple(windows(seed)) for seed in (11, 12, 13, 14)}) > 1
    # --dry-run prints the same plan as validate, with the draw explained.
    dry = chaoskit("run", str(path), "--dry-run", "--seed", "11")
    assert windows(11)[0] in dry.stdout
    assert "start drawn from 1s..3s; every 2.5s, 2 times" in dry.stdout


def test_a_pause_inside_a_pause_is_refused_naming_both_windows(tmp_path):
    pauses = """
[[faults]]
name = "long pause"
kind = "pause"
service = "app"
at = "1s"
for = "3s"

[[faults]]
name = "short pause"
kind = "pause"
service = "app"
at = "2s"
for = "0.5s"
"""
    path = experiment(tmp_path, faults=pauses, hypotheses="")
    reports = tmp_path / "report"
    result = chaoskit("run", str(path), "--report-dir", str(reports))
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        "faults[1].at: ('short pause', 2s..2.5s) overlaps faults[0] ('long pause', "
        "1s..4s) on service app"
    ) in result.stderr
    assert "Traceback" not in result.stderr
    assert not (reports / "journal.jsonl").exists()


def test_two_locks_on_one_sqlite_file_are_refused_before_anything_starts(tmp_path):
    locks = """
[[faults]]
name = "lock"
kind = "lock"
database = "app.db"
at = "1s"
for = "3s"

[[faults]]
name = "lock again"
kind = "lock"
database = "app.db"
at = "1s..5s"
for = "0.5s"
"""
    path = experiment(tmp_path, faults=locks, hypotheses="")
    result = chaoskit("validate", str(path))
    assert result.returncode == 2
    assert (
        "faults[1].at: ('lock again', within 1s..5.5s) overlaps faults[0] ('lock', "
        "1s..4s) on database app.db"
    ) in result.stderr


def test_sigint_between_occurrences_rolls_back_and_exits_3(tmp_path):
    path = experiment(
        tmp_path,
        faults=FLAP.replace('kind = "kill"', 'kind = "pause"'),
        hypotheses="",
        duration="8.5s",
    )
    reports = tmp_path / "report"
    process = subprocess.Popen(
        [sys.executable, "-m", "chaoskit", "run", str(path), "--report-dir",
         str(reports)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until the 2nd pause is applied
            if (reports / "journal.jsonl").exists() and any(
                e.get("kind") == "fault_applied" and e.get("fault") == "flap#2"
                for e in journal(reports)
            ):
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 3
    ledger = json.loads((reports / "ledger.json").read_text())
    assert ledger["closed"] is True
    assert all(e["state"] == "done" for e in ledger["entries"])
    report = json.loads((reports / "report.json").read_text())
    by_name = {f["name"]: f for f in report["faults"]}
    assert by_name["flap#1"]["rolled_back"] is True
    assert by_name["flap#2"]["rolled_back"] is True
    assert by_name["flap#3"]["actual_start_s"] is None  # never applied
