"""Compiled tasks: exact request bytes, weighted choice, JSON-path captures."""

from __future__ import annotations

import collections
import json
import random

import pytest

from chaoskit.load.config import TaskSpec, Upload
from chaoskit.load.tasks import CompiledTask, TaskChooser, UserState, extract


def compile_task(spec, names=frozenset({"token", "id"})):
    return CompiledTask(
        spec, host="127.0.0.1:8000", prefix="/api", names=names, seed=1, timeout=5
    )


def split(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return lines[0], headers, body


def test_static_get_is_serialised_once_with_the_base_path():
    task = compile_task(TaskSpec("browse", "/movies", query={"page": "2"}))
    raw = task.build(None)
    assert raw is task.build(None)
    start, headers, body = split(raw)
    assert start == "GET /api/movies?page=2 HTTP/1.1"
    assert headers["Host"] == "127.0.0.1:8000"
    assert body == b""


def test_json_body_keeps_template_types_and_sets_length():
    task = compile_task(
        TaskSpec(
            "post",
            "/h",
            method="POST",
            json={"u": "{{ user }}", "n": ["{{ randint(1, 1) }}"]},
        )
    )
    start, headers, body = split(task.build(UserState(4, 0)))
    assert start == "POST /api/h HTTP/1.1"
    assert json.loads(body) == {"u": 4, "n": [1]}
    assert headers["Content-Length"] == str(len(body))
    assert headers["Content-Type"] == "application/json"


def test_form_headers_and_bearer_token():
    task = compile_task(
        TaskSpec(
            "f", "/f", method="POST", form={"a": "x y"}, headers={"X-Id": "{{ id }}"}
        )
    )
    state = UserState(1, 0)
    state.values["id"] = 9
    _, headers, body = split(task.build(state, token="t0k"))  # noqa: S106 - test value
    assert body == b"a=x+y"
    assert headers["Authorization"] == "Bearer t0k"
    assert headers["X-Id"] == "9"


def test_multipart_upload_carries_a_generated_file_of_the_given_size():
    task = compile_task(
        TaskSpec(
            "up",
            "/up",
            method="POST",
            files={"file": Upload(size=10_000)},
            form={"k": "v"},
        )
    )
    _, headers, body = split(task.build(None))
    assert headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert int(headers["Content-Length"]) == len(body) > 10_000
    assert b'name="file"; filename="upload.bin"' in body


def test_weighted_choice_follows_weights_and_the_seed():
    tasks = [compile_task(TaskSpec(n, "/", weight=w)) for n, w in (("a", 7), ("b", 3))]
    chooser = TaskChooser(tasks)
    picks = collections.Counter(
        chooser.choose(random.Random(i)).name for i in range(5000)
    )
    assert 0.67 < picks["a"] / 5000 < 0.73
    rng_a, rng_b = random.Random(9), random.Random(9)
    assert [chooser.choose(rng_a).name for _ in range(50)] == [
        chooser.choose(rng_b).name for _ in range(50)
    ]


def test_json_path_subset():
    doc = {"a": {"b": [{"c": 1}, {"c": 2}]}, "x y": 3}
    assert extract(doc, "$.a.b[1].c") == 2
    assert extract(doc, "$.a.b[-1].c") == 2
    assert extract(doc, "$['x y']") == 3
    assert extract(doc, "$.a.missing") is None
    assert extract(doc, "$.a.b[5]") is None
    assert extract([1], "$.a") is None


def test_capture_reads_values_into_the_user():
    task = compile_task(TaskSpec("login", "/l", capture={"token": "$.access_token"}))
    state = UserState(0, 0)
    task.capture(b'{"access_token": "t1"}', state)
    assert state.values == {"token": "t1"}
    task.capture(b"not json", state)
    assert state.values == {"token": "t1"}


def test_captured_values_cannot_inject_headers():
    task = compile_task(TaskSpec("h", "/h", headers={"X-Id": "{{ id }}"}))
    state = UserState(1, 0)
    state.values["id"] = "1\r\nX-Evil: yes"
    _, headers, _ = split(task.build(state, token="a\r\nX-Also: no"))  # noqa: S106
    assert "X-Evil" not in headers
    assert "X-Also" not in headers
    assert headers["X-Id"] == "1  X-Evil: yes"


def test_a_marker_must_match_something_and_paths_are_json_paths() -> None:
    from chaoskit.load.errors import LoadConfigError
    from chaoskit.load.taskspec import Marker

    with pytest.raises(LoadConfigError, match="matches nothing"):
        Marker()
    with pytest.raises(LoadConfigError, match="is not a JSON path"):
        Marker(json_path="fallback")
