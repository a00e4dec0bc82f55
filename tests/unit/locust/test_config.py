"""What the Locust engine hands its plugin: chaoskit's stages as points, the
patterns and markers the workers match."""

from __future__ import annotations

from pathlib import Path

from chaoskit.load.shapes import Burst, Shape, Stage
from chaoskit.locust import LocustConfig, plugin_path
from chaoskit.runner.load import build_locust_config
from chaoskit.spec import load


def config(**changes: object) -> LocustConfig:
    base: dict[str, object] = {
        "locustfile": Path("/x/locustfile.py"), "base_url": "http://127.0.0.1:1",
        "duration": 10.0, "users": 10,
    }  # fmt: skip
    return LocustConfig(**{**base, **changes})  # type: ignore[arg-type]


def test_without_a_shape_there_are_no_points():
    assert config().shape_points() == []
    assert config().plugin_settings()["shape"] == []


def test_stages_and_bursts_become_users_over_time():
    shape = Shape((Stage(4.0, 10), Stage(6.0, 10))).with_bursts(Burst(2.0, 1.0, at=6.0))
    points = dict(config(shape=shape).shape_points())
    assert points[0.0] == 0
    assert points[2.0] == 5  # half-way up the ramp
    assert points[5.0] == 10
    assert points[6.25] == 20  # the burst doubles it
    assert points[8.0] == 10
    assert max(points) >= 10.0


def test_a_long_run_is_sampled_in_a_bounded_number_of_points():
    shape = Shape((Stage(86_400.0, 100),))
    points = config(duration=86_400.0, shape=shape).shape_points()
    assert len(points) <= 4002


def test_the_workers_match_user_patterns_and_the_builtin_lock_unless_replaced():
    settings = config(error_patterns={"queue_full": "queue is full"}).plugin_settings()
    assert settings["patterns"] == {"queue_full": "queue is full"}
    assert "lock" in settings["builtin"]  # type: ignore[operator]
    replaced = config(error_patterns={"lock": "locked!"}).plugin_settings()
    assert replaced["builtin"] == {}
    assert config(spawn_rate=None).plugin_settings()["spawn_rate"] == 10.0


def test_the_plugin_file_is_shipped_beside_the_package():
    path = plugin_path()
    assert path.name == "chaoskit_locust.py"
    assert path.is_file()
    # It runs inside Locust: the standard library and Locust only.
    imports = [
        line.split()[1] for line in path.read_text().splitlines()
        if line.startswith(("import ", "from "))
    ]  # fmt: skip
    assert imports
    assert not [name for name in imports if name.split(".")[0] == "chaoskit"]


def test_load_users_classes_are_the_classes_run_with_their_shares_and_waits():
    """``[[load.users]]`` with ``engine = "locust"``: the classes named run,
    and each one's weight, fixed count and think time reach the plugin."""
    case = Path(__file__).parents[1] / "spec" / "cases" / "valid"
    experiment = load(case / "locust-classes.toml")
    built = build_locust_config(experiment, "http://127.0.0.1:8100", base_dir=case)
    assert built.user_classes == ("EventSinkUser", "InvalidEventUser")
    assert built.users == 10
    assert built.plugin_settings()["classes"] == {
        "EventSinkUser": {"weight": 3.0, "think": [0.2, 0.5]},
        "InvalidEventUser": {"fixed_count": 2},
    }
