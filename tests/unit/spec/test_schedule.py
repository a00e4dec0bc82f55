"""Fault schedules: seeded starts, repeats, jitter, and what validation refuses
(every rule judged on every seed's windows)."""

from __future__ import annotations

import tomllib

import pytest

from chaoskit.errors import SpecError
from chaoskit.plan import build_plan
from chaoskit.spec.schedule import parse_at
from chaoskit.spec.validate import validate

HEAD = """
[experiment]
name = "schedule"
duration = "60s"

[[proxy.routes]]
name = "db"
upstream = "127.0.0.1:5432"

[[services]]
name = "api"
kind = "process"
command = ["python", "-m", "app"]

[[services]]
name = "pg"
kind = "postgres"

[target]
base_url = "http://127.0.0.1:8000"

[load]
rate = 20

[[load.tasks]]
name = "browse"
path = "/movies"
"""


def load(body: str):
    return validate(tomllib.loads(HEAD + body), "schedule.toml")


def problems(body: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load(body)
    return [f"{i.path}: {i.message}" for i in caught.value.issues]


def fault(name: str, kind: str = "kill", **keys: object) -> str:
    target = {"route": "db"} if kind in ("latency", "down") else {"service": "api"}
    if kind == "lock":
        target = {"service": "pg", "table": "orders"}
    lines = [f'[[faults]]\nname = "{name}"\nkind = "{kind}"']
    for key, value in {**target, **keys}.items():
        lines.append(f"{key} = {value!r}".replace("'", '"'))
    if kind == "latency":
        lines.append('latency = "100ms"')
    return "\n".join(lines) + "\n"


def starts(seed: int, body: str) -> list[float]:
    return [w.start for w in build_plan(load(body), seed).faults]


def test_a_range_is_parsed_and_an_inverted_one_refused():
    assert parse_at("10s..14s") == (10.0, 14.0)
    assert parse_at("15s") == (15.0, 15.0)
    with pytest.raises(ValueError, match="inverted"):
        parse_at("14s..10s")
    assert problems(fault("k", at="14s..10s", **{"for": "1s"})) == [
        "faults[0].at: is inverted: the low end (14s) is above the high end (10s)"
    ]


def test_a_drawn_start_is_reproducible_with_the_seed_and_moves_with_another():
    body = fault("k", at="10s..14s", **{"for": "1s"})
    first = starts(7, body)
    assert first == starts(7, body)
    assert 10 <= first[0] <= 14
    draws = {starts(seed, body)[0] for seed in range(8)}
    assert len(draws) > 4, "different seeds draw different starts"
    # Another fault does not move this one's draw.
    assert starts(7, body + fault("other", "pause", at="40s", **{"for": "1s"}))[
        0
    ] == pytest.approx(first[0])


def test_every_with_count_gives_that_many_windows_each_its_own_phase():
    body = fault("flap", "pause", at="5s", every="10s", count=3, **{"for": "2s"})
    plan = build_plan(load(body), 1)
    assert [(w.label, w.start, w.end) for w in plan.faults] == [
        ("flap#1", 5, 7),
        ("flap#2", 15, 17),
        ("flap#3", 25, 27),
    ]
    spans = lambda phase: [(w.start, w.end) for w in plan.windows(phase)]  # noqa: E731
    assert spans("during") == [(5, 7), (15, 17), (25, 27)]
    assert spans("during:flap") == spans("during")
    assert spans("during:flap#2") == [(15, 17)]
    # after:<fault> is after each occurrence, until the next one starts;
    # after is after the last occurrence only.
    assert spans("after:flap") == [(7, 15), (17, 25), (27, 60)]
    assert spans("after:flap#1") == [(7, 15)]
    assert spans("after") == [(27, 60)]
    assert spans("before") == [(0, 5)]
    text = plan.describe()
    assert "fault 'flap' (2 of 3)" in text
    assert "every 10s, 3 times" in text


def test_without_count_it_repeats_until_the_end_and_jitter_moves_each_start():
    body = fault("flap", at="10s", every="15s", jitter="3s", **{"for": "2s"})
    plan = build_plan(load(body), 5)
    nominal = [10, 25, 40, 55]  # a 5th: 70s, past the end
    assert [w.occurrences for w in plan.faults] == [4, 4, 4, 4]
    for window, base in zip(plan.faults, nominal, strict=True):
        assert base <= window.start <= base + 3
        assert window.end == pytest.approx(window.start + 2)
    assert [w.start for w in plan.faults] != nominal
    assert [w.start for w in build_plan(load(body), 5).faults] == [
        w.start for w in plan.faults
    ]


def test_latency_keeps_its_own_jitter_and_schedules_with_shift_and_count():
    body = fault("slow", "latency", at="5s", every="10s", count=2, shift="1s")
    body = body.replace("\n", '\nfor = "2s"\njitter = "20ms"\n', 1)
    experiment = load(body)
    assert experiment.faults[0].jitter == 0.02  # Toxiproxy's latency jitter
    assert experiment.faults[0].schedule_jitter == 1.0
    assert len(build_plan(experiment, 1).faults) == 2


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (
            {"at": "5s", "every": "1s", "count": 3, "for": "2s"},
            "faults[0].every: is shorter than for (2s): one occurrence would still "
            "run when the next starts",
        ),
        (
            {"at": "5s", "every": "3s", "count": 3, "for": "2s", "jitter": "2s"},
            "faults[0].every: is shorter than for (2s + jitter 2s): one occurrence "
            "would still run when the next starts",
        ),
        (
            {"at": "5s", "count": 3, "for": "2s"},
            "faults[0].count: repeats a fault, so it needs every",
        ),
        (
            {"at": "40s", "every": "10s", "count": 3, "for": "5s"},
            "faults[0].count: occurrence 3 of 3 may run until 1m5s (latest start 1m "
            "plus for 5s), after experiment.duration (1m)",
        ),
        (
            {"at": "50s..58s", "for": "5s"},
            "faults[0].at: it may run until 1m3s (latest start 58s plus for 5s), "
            "after experiment.duration (1m)",
        ),
        (
            {"at": "70s..80s", "for": "5s"},
            "faults[0].at: is not inside the timeline (experiment.duration = 1m)",
        ),
    ],
)
def test_schedules_that_do_not_fit_are_refused_at_their_key(keys, expected):
    assert problems(fault("k", "pause", **keys)) == [expected]


def test_a_short_pause_inside_a_long_one_is_refused_naming_both_windows():
    body = fault("long", "pause", at="10s", **{"for": "20s"})
    body += fault("short", "pause", at="15s", **{"for": "2s"})
    assert problems(body) == [
        "faults[1].at: ('short', 15s..17s) overlaps faults[0] ('long', 10s..30s) on "
        "service api; faults on one service cannot overlap (it has one state: the "
        "end of one window would undo the other)"
    ]


def test_two_locks_on_one_table_are_refused_and_on_two_tables_accepted():
    first = fault("lock a", "lock", at="10s", **{"for": "5s"})
    second = fault("lock b", "lock", at="12s", **{"for": "5s"})
    assert len(problems(first + second)) == 1
    assert "on table orders of service pg" in problems(first + second)[0]
    load(first + second.replace('table = "orders"', 'table = "users"'))


def test_occurrences_are_expanded_before_overlaps_are_judged():
    pause = fault("pause", "pause", at="20s", **{"for": "3s"})
    kills = fault("flap", at="2s", every="6s", count=4, **{"for": "1s"})
    # flap runs 2-3, 8-9, 14-15, 20-21: its 4th occurrence meets the pause.
    [problem] = problems(pause + kills)
    assert "('flap', occurrence 4 of 4, 20s..21s) overlaps faults[0] ('pause', " in (
        problem
    )
    # A drawn start: refused when any seed could make them meet.
    drawn = fault("late", "pause", at="14s..19s", **{"for": "2s"})
    [problem] = problems(drawn + fault("p", "pause", at="20s", **{"for": "3s"}))
    assert "within 14s..21s" in problem


def test_toxics_on_one_route_stack_but_two_downs_do_not():
    slow = fault("slow", "latency", at="10s", **{"for": "10s"})
    slower = fault("slower", "latency", at="12s", **{"for": "2s"})
    load(slow + slower)
    down = fault("down", "down", at="10s", **{"for": "10s"})
    again = fault("again", "down", at="12s", **{"for": "2s"})
    assert len(problems(down + again)) == 1
