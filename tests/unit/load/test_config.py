"""Load configuration: an invalid value is refused, naming the field and the rule."""

from __future__ import annotations

import pytest

from chaoskit.errors import UsageError
from chaoskit.load import (
    ClosedModel,
    Flow,
    HotKeys,
    LoadConfig,
    LoadConfigError,
    OpenModel,
    TaskSpec,
    Think,
    Upload,
    parse_size,
)
from chaoskit.load.config import parse_expect

URL = "http://127.0.0.1:8000"
BROWSE = TaskSpec("browse", "/movies")


def config(**overrides):
    values = {
        "base_url": URL,
        "model": OpenModel(rate=10),
        "tasks": (BROWSE,),
        "duration": 5,
    }
    values.update(overrides)
    return LoadConfig(**values)


def test_a_valid_config_is_frozen():
    built = config()
    with pytest.raises(AttributeError):
        built.duration = 3  # type: ignore[misc]
    assert TaskSpec("x", "/", method="post").method == "POST"


@pytest.mark.parametrize(
    ("build", "field", "text"),
    [
        (
            lambda: config(base_url="http://10.1.2.3"),
            "base_url",
            "allowed: 127.0.0.0/8",
        ),
        (lambda: config(base_url="https://127.0.0.1"), "base_url", "http://"),
        (lambda: config(tasks=()), "tasks", "at least one"),
        (lambda: config(tasks=(BROWSE, BROWSE)), "tasks.name", "unique"),
        (lambda: config(duration=0), "duration", "out of range"),
        (lambda: config(timeout=0), "timeout", "out of range"),
        (lambda: config(max_requests=0), "max_requests", "at least 1"),
        (
            lambda: config(error_patterns={"locked": "(unclosed"}),
            "error_patterns.locked",
            "regex",
        ),
        (
            lambda: config(flow=Flow(heartbeat=BROWSE, heartbeat_every=1)),
            "flow.heartbeat",
            "closed model",
        ),
        (lambda: config(tasks=(TaskSpec("k", "/{{ key() }}"),)), "tasks.k", "hot_keys"),
        (
            lambda: config(tasks=(TaskSpec("t", "/{{ tok }}"),)),
            "tasks.t",
            "unknown name 'tok'",
        ),
        (lambda: TaskSpec("t", "movies"), "tasks.path", "start with '/'"),
        (lambda: TaskSpec("t", "/", method="HEAD"), "tasks.method", "allowed: GET"),
        (lambda: TaskSpec("t", "/", weight=0), "tasks.weight", "> 0"),
        (
            lambda: TaskSpec("t", "/", json={}, form={}),
            "tasks.json",
            "cannot be combined",
        ),
        (lambda: TaskSpec("t", "/", expect=("6xx",)), "tasks.expect", "allowed"),
        (
            lambda: TaskSpec("t", "/", capture={"id": "id"}),
            "tasks.capture.id",
            "JSON path",
        ),
        (lambda: TaskSpec(" ", "/"), "tasks.name", "empty"),
        (lambda: OpenModel(rate=0), "rate", "> 0"),
        (lambda: OpenModel(rate=1, max_in_flight=0), "max_in_flight", "1..100000"),
        (lambda: OpenModel(rate=1, arrivals="bursty"), "arrivals", "uniform, poisson"),  # type: ignore[arg-type]
        (lambda: ClosedModel(users=0), "users", "1..100000"),
        (lambda: ClosedModel(users=1, spawn_rate=0), "spawn_rate", "> 0"),
        (lambda: Think(2, 1), "think", "low <= high"),
        (lambda: Think.parse("soon"), "think", '"0.5s..2s"'),
        (lambda: HotKeys(ratio=2), "hot_keys.ratio", "0..1"),
        (lambda: HotKeys(hot=5, space=5), "hot_keys.space", "exceed"),
        (lambda: Upload(size=-1), "tasks.files.size", "0..256MiB"),
        (lambda: Flow(refresh="login"), "flow.refresh", "on_start step"),
        (lambda: Flow(heartbeat=BROWSE), "flow.heartbeat_every", "interval"),
    ],
)
def test_invalid_values_name_the_field_and_what_is_allowed(build, field, text):
    with pytest.raises(LoadConfigError) as caught:
        build()
    assert caught.value.field == field
    assert text in str(caught.value)
    assert isinstance(caught.value, UsageError)
    assert isinstance(caught.value, ValueError)


def test_bearer_must_be_a_captured_value():
    flow = Flow(
        on_start=(TaskSpec("login", "/login", capture={"token": "$.t"}),), bearer="jwt"
    )
    with pytest.raises(
        LoadConfigError, match=r"flow\.bearer: is not a captured value.*token"
    ):
        config(model=ClosedModel(users=1), flow=flow)


def test_remote_targets_need_allow_remote():
    assert config(base_url="http://example.com", allow_remote=True).allow_remote
    assert config(base_url="http://localhost:9").base_url
    assert config(base_url="http://[::1]:9").base_url


def test_think_time_forms():
    assert Think.parse("1s") == Think(1, 1)
    assert Think.parse("0.5s..2s") == Think(0.5, 2)
    assert Think.parse("250ms...1s") == Think(0.25, 1)
    assert Think.parse(0.1) == Think(0.1, 0.1)


def test_sizes_and_expected_statuses():
    assert parse_size("10KB") == 10_000
    assert parse_size("1MiB") == 1024**2
    assert parse_size(512) == 512
    for bad in ("ten", -1, True):
        with pytest.raises(ValueError, match="not a size"):
            parse_size(bad)  # type: ignore[arg-type]
    assert parse_expect(("2xx",)) == frozenset(range(200, 300))
    assert parse_expect((404, "5xx")) == frozenset({404, *range(500, 600)})
