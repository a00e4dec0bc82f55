"""What the Locust engine runs: a frozen :class:`LocustConfig`.

Built from ``[load]`` by :func:`chaoskit.runner.load.build_locust_config`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from chaoskit.load.shapes import Shape
from chaoskit.records import BUILTIN_BODY_PATTERNS

__all__ = ["INSTALL_HINT", "LocustConfig", "locust_installed", "plugin_path"]

INSTALL_HINT = "pip install 'chaoskit[locust]'"
_MAX_POINTS = 4000


def locust_installed() -> bool:
    """Whether Locust can be imported here (without importing it)."""
    try:
        return importlib.util.find_spec("locust") is not None
    except ValueError:  # a stand-in None in sys.modules: not importable
        return False


def plugin_path() -> Path:
    """The plugin file each Locust process loads beside the locustfile."""
    return Path(__file__).parent / "plugin" / "chaoskit_locust.py"


@dataclass(frozen=True)
class LocustConfig:
    """A locustfile as the load.

    Args:
        locustfile: the file (absolute).
        base_url: Locust's ``--host``.
        duration: seconds (warm-up plus timeline); Locust is also given a
            ``--run-time`` a minute longer, so it ends even if chaoskit dies.
        users: the user count (or the base of ``shape``).
        spawn_rate: users started per second (default: all at once).
        shape: chaoskit's stages, profile and bursts as users over time.
        workers: local worker processes (0: the master runs the users).
        master_bind: where the master listens for workers (``None``: a free
            loopback port, local workers only).
        expect_workers: workers that must connect before the load starts.
        expect_timeout: how long to wait for them.
        error_patterns, markers: matched in the workers, on each response.
        class_settings: user class -> its ``weight``, ``fixed_count`` and
            ``think`` (``[low, high]`` seconds) from ``[[load.users]]``, set on
            the locustfile's class in every Locust process.
    """

    locustfile: Path
    base_url: str
    duration: float
    users: int
    spawn_rate: float | None = None
    shape: Shape | None = None
    user_classes: tuple[str, ...] = ()
    class_settings: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    exclude_tags: tuple[str, ...] = ()
    workers: int = 2
    master_bind: tuple[str, int] | None = None
    expect_workers: int = 2
    expect_timeout: float = 60.0
    error_patterns: Mapping[str, str] = field(default_factory=dict)
    markers: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    stop_timeout: float = 10.0
    """At the end, how long users may finish their task (Locust's
    ``--stop-timeout``), so a write's answer is not cut off."""
    batch: int = 500
    """Records a worker sends in one message at most."""
    max_batch_bytes: int = 256 * 1024
    """About the largest message (JSON text) a worker sends."""
    flush_s: float = 0.2
    """A batch that is not full is sent after this long."""
    max_buffer: int = 100_000

    def shape_points(self) -> list[tuple[float, int]]:
        """``shape`` sampled as (seconds, users) points; empty without one."""
        if self.shape is None:
            return []
        step = max(0.25, self.duration / _MAX_POINTS)
        count = int(self.duration / step) + 1
        return [
            (round(i * step, 3), round(self.shape.value_at(i * step)))
            for i in range(count + 1)
        ]

    def plugin_settings(self) -> dict[str, object]:
        """What the plugin in the master (and from it each worker) is told."""
        return {
            "patterns": dict(self.error_patterns),
            "builtin": {
                k: v for k, v in BUILTIN_BODY_PATTERNS.items()
                if k not in self.error_patterns
            },
            "markers": {k: dict(v) for k, v in self.markers.items()},
            "classes": {k: dict(v) for k, v in self.class_settings.items()},
            "batch": self.batch,
            "max_batch_bytes": self.max_batch_bytes,
            "flush_s": self.flush_s,
            "max_buffer": self.max_buffer,
            "expect_workers": self.expect_workers,
            "expect_timeout": self.expect_timeout,
            "stop_timeout": self.stop_timeout,
            "shape": [list(p) for p in self.shape_points()],
            "spawn_rate": self.spawn_rate or float(max(self.users, 1)),
        }  # fmt: skip
