"""The plan: fault windows, phases, seeds, and the timeline people read."""

from __future__ import annotations

import tomllib

import pytest

from chaoskit.plan import Window, build_plan
from chaoskit.spec.validate import validate

HEAD = """
[experiment]
name = "plan"
duration = "60s"
{extra}

[[proxy.routes]]
name = "db"
upstream = "127.0.0.1:5432"

[[services]]
name = "api"
kind = "process"
command = ["python", "-m", "app"]

[target]
base_url = "http://127.0.0.1:8000"

[load]
rate = 20

[[load.tasks]]
name = "browse"
path = "/movies"
"""


def experiment(body: str = "", extra: str = ""):
    return validate(tomllib.loads(HEAD.format(extra=extra) + body), "plan.toml")


def fault(name, at, for_, kind="latency"):
    if kind == "kill":
        return (
            f'[[faults]]\nname = "{name}"\nkind = "kill"\nservice = "api"\n'
            f'at = "{at}"\nfor = "{for_}"\n'
        )
    settings = 'latency = "300ms"\n' if kind == "latency" else ""
    return (
        f'[[faults]]\nname = "{name}"\nkind = "{kind}"\nroute = "db"\n'
        f'at = "{at}"\nfor = "{for_}"\n{settings}'
    )


def spans(windows):
    return [(w.start, w.end) for w in windows]


def test_one_fault_splits_the_timeline_in_three():
    plan = build_plan(experiment(fault("slow", "15s", "15s")), seed=1)
    assert spans(plan.windows("before")) == [(0, 15)]
    assert spans(plan.windows("during")) == [(15, 30)]
    assert spans(plan.windows("during:slow")) == [(15, 30)]
    assert spans(plan.windows("after")) == [(30, 60)]
    assert spans(plan.windows("after:slow")) == [(30, 60)]
    assert spans(plan.windows("all")) == [(0, 60)]


def test_fault_windows_are_sorted_by_start_and_during_merges_overlaps():
    body = fault("late", "40s", "10s") + fault("first", "10s", "10s", "down")
    body += fault("overlap", "15s", "10s", "timeout")
    plan = build_plan(experiment(body), seed=1)
    assert [f.fault.name for f in plan.faults] == ["first", "overlap", "late"]
    assert [(f.start, f.end) for f in plan.faults] == [(10, 20), (15, 25), (40, 50)]
    assert spans(plan.windows("during")) == [(10, 25), (40, 50)]
    assert spans(plan.windows("before")) == [(0, 10)]
    assert spans(plan.windows("after")) == [(50, 60)]
    # After one fault: until the next fault starts (or the end).
    assert spans(plan.windows("after:first")) == [(20, 40)]
    assert spans(plan.windows("after:overlap")) == [(25, 40)]
    assert spans(plan.windows("after:late")) == [(50, 60)]


def test_an_instant_fault_has_no_during_but_an_after():
    plan = build_plan(experiment(fault("kill api", "20s", "0s", "kill")), seed=1)
    assert plan.windows("during") == ()
    assert plan.windows("during:kill api") == ()
    assert spans(plan.windows("after:kill api")) == [(20, 60)]
    assert spans(plan.windows("before")) == [(0, 20)]


def test_without_faults_before_is_the_whole_timeline():
    plan = build_plan(experiment(), seed=1)
    assert spans(plan.windows("before")) == [(0, 60)]
    assert plan.windows("during") == ()
    assert plan.windows("after") == ()
    assert plan.faults == ()


def test_an_unknown_phase_is_a_key_error_naming_the_phases():
    plan = build_plan(experiment(fault("slow", "15s", "15s")), seed=1)
    with pytest.raises(KeyError, match="during:slow"):
        plan.windows("during:fast")


def test_phases_at_a_time():
    plan = build_plan(experiment(fault("slow", "15s", "15s")), seed=1)
    assert plan.phases_at(5) == ["before", "all"]
    assert plan.phases_at(15) == ["during", "all", "during:slow"]
    assert plan.phases_at(59.9) == ["after", "all", "after:slow"]
    assert plan.phases_at(60) == []


def test_window_arithmetic():
    window = Window(1.0, 3.5)
    assert window.length == 2.5
    assert window.contains(1.0)
    assert not window.contains(3.5)
    assert str(window) == "1s..3.5s"
    assert Window(3, 1).length == 0


def test_the_seed_comes_from_the_argument_then_the_file_then_chance():
    assert (build_plan(experiment(extra="seed = 7"), 3).seed, "given") == (3, "given")
    from_file = build_plan(experiment(extra="seed = 7"))
    assert (from_file.seed, from_file.seed_source) == (7, "file")
    chosen = build_plan(experiment())
    assert chosen.seed_source == "random"
    assert isinstance(chosen.seed, int)
    assert f"--seed {chosen.seed}" in chosen.describe()


def test_describe_reads_as_a_timeline():
    body = fault("slow db", "15s", "15s") + fault("kill api", "40s", "2s", "kill")
    body += """
[[hypotheses]]
name = "fast"
metric = "p95"
task = "browse"
below = "800ms"

[[hypotheses]]
name = "few errors"
metric = "error_rate"
phase = "after:slow db"
below = "1%"
"""
    text = build_plan(experiment(body, 'warmup = "5s"\nseed = 4'), None).describe()
    lines = text.splitlines()
    assert lines[:3] == [
        "experiment plan",
        "seed 4 (from the file)",
        "runs a 5s warm-up (not counted), then a 1m timeline",
    ]
    assert "  service api: process `python -m app`" in lines
    assert "  route db: 127.0.0.1:0 -> 127.0.0.1:5432 (on the embedded proxy)" in lines
    assert "  open model: 20 requests/s, uniform arrivals" in lines
    assert "  task browse (100%): GET /movies" in lines
    timeline = lines[lines.index("timeline") + 1 : lines.index("hypotheses") - 1]
    assert timeline == [
        "  0s..15s     before",
        "  15s..30s    fault 'slow db': latency on route db (downstream): "
        "latency 300ms, jitter 0s",
        "  40s..42s    fault 'kill api': kill service api with SIGKILL, "
        "restarted at 42s",
        "  42s..1m     after",
    ]
    assert lines[lines.index("hypotheses") + 1 :] == [
        "  fast: p95 of browse below 800ms, during (15s..30s, 40s..42s)",
        "  few errors: error_rate below 1.00%, after:slow db (30s..40s)",
    ]


@pytest.mark.parametrize(
    ("processes", "line"),
    [
        ("4", "  generator processes: 4, load shared"),
        ('"auto"', "  generator processes: one per core ("),
    ],
)
def test_describe_shows_the_generator_processes(processes, line):
    body = HEAD.replace("rate = 20\n", f"rate = 20\nprocesses = {processes}\n")
    plan = build_plan(validate(tomllib.loads(body.format(extra="")), "p.toml"), 1)
    assert any(text.startswith(line) for text in plan.describe().splitlines())
    one = build_plan(experiment(), 1).describe()
    assert "generator processes" not in one  # the default, 1, is not news


@pytest.mark.parametrize(
    ("value", "message"),
    [("0", "out of range"), ('"many"', "one of auto"), ("2.5", "not an integer")],
)
def test_processes_must_be_a_count_or_auto(value, message):
    from chaoskit.errors import SpecError

    body = HEAD.replace("rate = 20\n", f"rate = 20\nprocesses = {value}\n")
    with pytest.raises(SpecError) as caught:
        validate(tomllib.loads(body.format(extra="")), "p.toml")
    (issue,) = caught.value.issues
    assert issue.path == "load.processes"
    assert message in issue.message
