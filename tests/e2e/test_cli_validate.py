"""`chaoskit validate` as a user runs it: the plan and exit 0, or every problem
and exit 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CASES = Path(__file__).parents[1] / "unit" / "spec" / "cases"
VALID = CASES / "valid" / "db-latency.toml"


def chaoskit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaoskit", "validate", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_valid_file_prints_its_plan_and_exits_0():
    result = chaoskit(VALID)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("experiment db-latency: Watch history survives")
    assert "seed 7 (from the file)" in out
    assert "fault 'slow db': latency on route db (downstream): latency 300ms" in out
    assert "browse stays fast: p95 of browse below 800ms, during (15s..30s)" in out
    assert out.rstrip().endswith("valid")
    assert result.stderr == ""


def test_set_and_seed_change_what_is_planned():
    result = chaoskit(VALID, "--set", "faults.0.latency=3s", "--seed", "42")
    assert result.returncode == 0, result.stderr
    assert "latency 3s" in result.stdout
    assert "seed 42 (from --seed)" in result.stdout


def test_an_invalid_file_lists_every_problem_and_exits_2(tmp_path):
    path = tmp_path / "bad.toml"
    text = VALID.read_text()
    for old, new in [
        ('duration = "45s"', 'durration = "45s"\nduration = "45s"'),
        ('latency = "300ms"', 'latency = "3 sec"'),
        ('route = "db"', 'route = "dbb"'),
        ('task = "browse"', 'task = "brows"'),
        ('base_url = "http://127.0.0.1:8000"', 'base_url = "http://10.0.0.8:8000"'),
    ]:
        assert old in text
        text = text.replace(old, new, 1)
    path.write_text(text)
    result = chaoskit(path, "--set", "faults.2.at=1s")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines == [
        f"{path}: 6 problems",
        "  --set faults.2.at: there is no faults[2] (the file has 1 fault)",
        "  experiment.durration: unknown key; allowed: name, title, description, "
        "duration, warmup, seed, allow_remote; did you mean 'duration'?",
        "  target.base_url: is not on loopback; set experiment.allow_remote = true "
        "to allow other hosts (got 'http://10.0.0.8:8000'); "
        "allowed: 127.0.0.0/8, ::1, localhost",
        "  faults[0].latency: not a duration (got '3 sec'); allowed: a number with a "
        'unit: "500us", "250ms", "15s", "2m"',
        "  faults[0].route: is not a declared proxy route (got 'dbb'); allowed: db; "
        "did you mean 'db'?",
        "  hypotheses[0].task: is not a declared task (got 'brows'); "
        "allowed: browse, progress; did you mean 'browse'?",
    ]
    assert "Traceback" not in result.stderr


def test_load_engine_rules_are_checked_too():
    result = chaoskit(VALID, "--set", "load.tasks.0.method=FETCH")
    assert result.returncode == 2
    assert "load.tasks[0].method: is not supported (got 'FETCH')" in result.stderr


def test_a_missing_file_and_a_syntax_error_exit_2_without_a_traceback(tmp_path):
    missing = chaoskit(tmp_path / "nope.toml")
    assert missing.returncode == 2
    assert "(file): cannot read it: No such file or directory" in missing.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("[experiment\n")
    result = chaoskit(broken)
    assert result.returncode == 2
    assert "line 1, column 12: not valid TOML" in result.stderr
    assert "Traceback" not in missing.stderr + result.stderr


def test_user_classes_print_their_shares_and_tags_select_them():
    classes = CASES / "valid" / "user-classes.toml"
    result = chaoskit(classes)
    assert result.returncode == 0, result.stderr
    assert "class HealthCheck: 41 of 101 users (41%), think 2s..5s" in result.stdout
    assert "class Admin: 1 of 101 users (1%), think 20s..40s" in result.stdout
    assert "task export" not in result.stdout  # exclude_tags = ["slow"]
    result = chaoskit(classes, "--tags", "write")
    assert result.returncode == 0, result.stderr
    assert "class ContentRequest: 101 of 101 users (100%)" in result.stdout
    assert "class Admin:" not in result.stdout  # its hypothesis still names it
    result = chaoskit(classes, "--tags", "nothing")
    assert result.returncode == 2
    assert "load.tags: selects no task of the load" in result.stderr
    assert "Traceback" not in result.stderr
