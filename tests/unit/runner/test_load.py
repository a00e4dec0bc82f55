"""``build_load_config``: the spec's [load] becomes the engine's LoadConfig."""

from __future__ import annotations

import tomllib

import pytest

from chaoskit.errors import SpecError
from chaoskit.load import PRESETS, ClosedModel, OpenModel, TaskSpec, Think
from chaoskit.runner.load import build_load_config, check_load_config
from chaoskit.spec.model import PROFILES
from chaoskit.spec.validate import validate

URL = "http://127.0.0.1:8000"
HEAD = """
[experiment]
name = "load"
duration = "40s"
warmup = "5s"

[target]
base_url = "http://127.0.0.1:8000"
headers = { X-Client = "chaoskit", X-Both = "target" }
timeout = "3s"
"""
TASKS = """
[[load.tasks]]
name = "browse"
weight = 3
path = "/movies"
headers = { X-Both = "task" }

[[load.tasks]]
name = "upload"
method = "post"
path = "/files"
form = { caption = "x" }
files = { f = { size = "1MB", filename = "a.bin" } }
expect = [201, "2xx"]
timeout = "1s"
"""


def config(load: str, tasks: str = TASKS, seed: int = 5):
    experiment = validate(tomllib.loads(HEAD + load + tasks), "load.toml")
    return build_load_config(experiment, seed, URL, file="load.toml")


def test_every_profile_in_the_spec_has_a_preset():
    assert set(PROFILES) == set(PRESETS)


def test_open_model_with_a_ramp_then_a_constant_rate():
    built = config('[load]\nrate = 100\nramp = "10s"\nmax_in_flight = 50\nusers = 7\n')
    assert isinstance(built.model, OpenModel)
    assert (built.model.rate, built.model.max_in_flight, built.model.users) == (
        100,
        50,
        7,
    )
    shape = built.model.target()
    assert shape.value_at(0) == 0
    assert shape.value_at(5) == pytest.approx(50)
    assert shape.value_at(30) == 100
    assert built.duration == 45  # warm-up + timeline
    assert (built.seed, built.timeout, built.base_url) == (5, 3.0, URL)


def test_tasks_carry_every_setting():
    browse, upload = config("[load]\nrate = 10\n").tasks
    assert browse.weight == 3
    assert dict(browse.headers) == {"X-Client": "chaoskit", "X-Both": "task"}
    assert upload.method == "POST"
    assert upload.files is not None
    assert upload.files["f"].size == 1_000_000
    assert upload.files["f"].filename == "a.bin"
    assert dict(upload.form or {}) == {"caption": "x"}
    assert upload.expect == (201, "2xx")
    assert upload.timeout == 1.0


def test_closed_model_with_think_range_and_spawn_rate():
    built = config(
        '[load]\nmodel = "closed"\nusers = 20\nthink = "0.5s..2s"\nspawn_rate = 4\n'
    )
    assert isinstance(built.model, ClosedModel)
    assert built.model.users == 20
    assert built.model.think == Think(0.5, 2.0)
    assert built.model.spawn_rate == 4
    assert built.model.shape is None


def test_a_profile_scales_to_the_base_and_the_whole_load():
    built = config('[load]\nrate = 10\nprofile = "breaking"\n')
    shape = built.model.target()
    assert shape.duration == pytest.approx(45)
    assert shape.value_at(45) == pytest.approx(100)


def test_stages_and_bursts():
    load = """
[load]
stages = [{ duration = "10s", target = 40 }, { duration = "30s", target = 40 }]
bursts = [{ factor = 2, length = "2s", at = "20s" }]
"""
    built = config(load)
    assert isinstance(built.model, OpenModel)
    assert built.model.rate == 40  # the stages' peak is the base
    assert built.model.target().value_at(5) == pytest.approx(20)
    assert built.model.target().value_at(21) == pytest.approx(80)


def test_a_flow_with_login_bearer_heartbeat_and_hot_keys():
    load = """
[load]
model = "closed"
users = 3
error_patterns = { locked = "database is locked" }
hot_keys = { hot = 2, ratio = "90%", space = 100 }
max_requests = 500

[load.flow]
bearer = "token"
refresh = "login"
heartbeat = { name = "beat", path = "/beat", method = "POST" }
heartbeat_every = "5s"
on_stop = [{ name = "logout", path = "/logout", method = "POST" }]

[[load.flow.on_start]]
name = "login"
path = "/login"
method = "POST"
json = { user = "u{{ user }}" }
capture = { token = "$.token" }

[[load.tasks]]
name = "write"
path = "/rows/{{ key() }}"
method = "PUT"
"""
    built = config(load, tasks="")
    assert built.flow is not None
    assert [t.name for t in built.flow.on_start] == ["login"]
    assert built.flow.on_start[0].json == {"user": "u{{ user }}"}
    assert [t.name for t in built.flow.on_stop] == ["logout"]
    assert built.flow.heartbeat is not None
    assert built.flow.heartbeat_every == 5
    assert (built.flow.bearer, built.flow.refresh) == ("token", "login")
    assert built.hot_keys is not None
    assert built.hot_keys.ratio == 0.9
    assert dict(built.error_patterns) == {"locked": "database is locked"}
    assert built.max_requests == 500


def test_a_refresh_step_of_its_own_is_built_as_a_task():
    load = """
[load]
model = "closed"
users = 2

[load.flow]
bearer = "token"

[load.flow.refresh]
name = "refresh"
path = "/auth/refresh"
method = "POST"
json = { refresh_token = "{{ rt }}" }
capture = { token = "$.access_token" }

[[load.flow.on_start]]
name = "login"
path = "/login"
method = "POST"
capture = { token = "$.access_token", rt = "$.refresh_token" }

[[load.tasks]]
name = "me"
path = "/me"
"""
    built = config(load, tasks="")
    assert built.flow is not None
    refresh = built.flow.refresh
    assert isinstance(refresh, TaskSpec)
    assert (refresh.name, refresh.path, refresh.method) == (
        "refresh",
        "/auth/refresh",
        "POST",
    )
    assert refresh.capture == {"token": "$.access_token"}


def test_engine_refusals_become_issues_under_their_key_paths():
    tasks = """
[[load.tasks]]
name = "a"
path = "no-slash"

[[load.tasks]]
name = "b"
path = "/b"
method = "FETCH"
files = { f = { size = "lots" } }
"""
    with pytest.raises(SpecError) as caught:
        config("[load]\nrate = 10\n", tasks=tasks)
    assert caught.value.file == "load.toml"
    assert [(i.path, i.message) for i in caught.value.issues] == [
        ("load.tasks[0].path", "must start with '/'"),
        (
            "load.tasks[1].files.f.size",
            '\'lots\' is not a size; use bytes or "10KB", "1MiB"',
        ),
    ]


def test_template_errors_name_the_task_by_index():
    tasks = (
        '[[load.tasks]]\nname = "a"\npath = "/a"\n'
        '[[load.tasks]]\nname = "b"\npath = "/{{ nope() }}"\n'
    )
    with pytest.raises(SpecError) as caught:
        config("[load]\nrate = 10\n", tasks=tasks)
    (issue,) = caught.value.issues
    assert issue.path == "load.tasks[1]"
    assert "nope" in issue.message


def test_a_flow_on_the_open_model_is_refused_by_the_spec():
    with pytest.raises(SpecError) as caught:
        config('[load]\nrate = 10\n[load.flow]\nbearer = "t"\n')
    assert [i.path for i in caught.value.issues] == ["load.flow"]


def test_check_load_config_binds_references_to_stand_ins():
    text = HEAD.replace("http://127.0.0.1:8000", "http://{services.api.address}")
    text += '[[services]]\nname = "api"\nkind = "external"\n[load]\nrate = 1\n' + TASKS
    experiment = validate(tomllib.loads(text), "x.toml")
    assert check_load_config(experiment, file="x.toml") == []


def test_markers_reach_the_engine_and_their_mistakes_have_key_paths():
    tasks = (
        '[[load.tasks]]\nname = "a"\npath = "/a"\n'
        'marker = { header = "X-Fallback", equals = "cache" }\n'
    )
    built = config("[load]\nrate = 10\n", tasks=tasks)
    assert built.marker_headers() == frozenset({b"x-fallback"})
    assert built.tasks[0].marker is not None
    assert built.tasks[0].marker.equals == "cache"
    bad = (
        '[[load.tasks]]\nname = "a"\npath = "/a"\nmarker = { json_path = "x" }\n'
        '[[load.tasks]]\nname = "b"\npath = "/b"\nmarker = { equals = "y" }\n'
    )
    with pytest.raises(SpecError) as caught:
        config("[load]\nrate = 10\n", tasks=bad)
    assert [(i.path, i.message) for i in caught.value.issues] == [
        ("load.tasks[0].marker.json_path", "is not a JSON path"),
        ("load.tasks[1].marker", "matches nothing"),
    ]
