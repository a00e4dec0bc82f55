"""Load over time: stages, ramps, steps, spikes, bursts, and named profiles.

A :class:`Shape` maps seconds since the start of the load to a target: an
arrival rate (open model) or a number of users (closed model). It is a list of
stages, each moving linearly from the previous target to its own over its
duration (a zero duration is a jump, k6's ``stages``), times any bursts that
are active. Pure values: the engine asks ``value_at(t)``, so shapes are tested
without any clock (unlike locust's ``shape.py``, which reads time itself).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from chaoskit.load.errors import LoadConfigError

__all__ = ["PRESETS", "Burst", "Shape", "Stage"]


@dataclass(frozen=True, slots=True)
class Stage:
    """Move linearly to ``target`` over ``duration`` seconds (0: jump at once)."""

    duration: float
    target: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.duration) and self.duration >= 0):
            raise LoadConfigError(
                "stages.duration", "must be a duration >= 0", self.duration
            )
        if not (math.isfinite(self.target) and self.target >= 0):
            raise LoadConfigError("stages.target", "must be a number >= 0", self.target)


@dataclass(frozen=True, slots=True)
class Burst:
    """A sudden multiple of the load for a few seconds, once or repeated.

    Starting ``at`` seconds in, the target is multiplied by ``factor`` for
    ``length`` seconds; with ``every`` set, again every ``every`` seconds.
    """

    factor: float
    length: float
    at: float = 0.0
    every: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.factor) and self.factor >= 0):
            raise LoadConfigError("burst.factor", "must be a number >= 0", self.factor)
        if not (math.isfinite(self.length) and self.length > 0):
            raise LoadConfigError("burst.length", "must be a duration > 0", self.length)
        if not (math.isfinite(self.at) and self.at >= 0):
            raise LoadConfigError("burst.at", "must be a duration >= 0", self.at)
        if self.every is not None and not self.every > self.length:
            raise LoadConfigError(
                "burst.every", "must be longer than burst.length", self.every
            )

    def active(self, t: float) -> bool:
        """Whether the burst is on at ``t`` seconds."""
        if t < self.at:
            return False
        offset = t - self.at
        if self.every is not None:
            offset %= self.every
        return offset < self.length


@dataclass(frozen=True, slots=True)
class Shape:
    """Target over time: ``start``, then each stage in turn, times active bursts.

    After the last stage the last target holds.
    """

    stages: tuple[Stage, ...] = ()
    start: float = 0.0
    bursts: tuple[Burst, ...] = ()

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and self.start >= 0):
            raise LoadConfigError("start", "must be a number >= 0", self.start)

    @property
    def duration(self) -> float:
        """Sum of the stage durations."""
        return sum(stage.duration for stage in self.stages)

    @property
    def peak(self) -> float:
        """The largest target the shape can reach (bursts included)."""
        base = max([self.start, *(s.target for s in self.stages)])
        factor = max([1.0, *(b.factor for b in self.bursts)])
        return base * factor

    def value_at(self, t: float) -> float:
        """The target ``t`` seconds after the start."""
        value = self.start
        elapsed = 0.0
        for stage in self.stages:
            if t < elapsed + stage.duration:
                fraction = (t - elapsed) / stage.duration
                value = value + (stage.target - value) * fraction
                break
            elapsed += stage.duration
            value = stage.target
        for burst in self.bursts:
            if burst.active(t):
                value *= burst.factor
        return value

    def scaled(self, factor: float) -> Shape:
        """This shape with every target times ``factor`` (a class's own rate
        following the load's ramp, stages or profile)."""
        stages = tuple(Stage(s.duration, s.target * factor) for s in self.stages)
        return Shape(stages, self.start * factor, self.bursts)

    def with_bursts(self, *bursts: Burst) -> Shape:
        """This shape with bursts added."""
        return Shape(self.stages, self.start, (*self.bursts, *bursts))

    @classmethod
    def constant(cls, target: float) -> Shape:
        """The same target throughout."""
        return cls((), start=target)

    @classmethod
    def ramp(cls, target: float, over: float, *, start: float = 0.0) -> Shape:
        """From ``start`` to ``target`` linearly over ``over`` seconds, then hold."""
        return cls((Stage(over, target),), start=start)

    @classmethod
    def steps(cls, first: float, step: float, every: float, count: int) -> Shape:
        """``count`` plateaus of ``every`` seconds: ``first``, ``first + step``, ..."""
        if count < 1:
            raise LoadConfigError("steps.count", "must be at least 1", count)
        stages: list[Stage] = []
        for i in range(count):
            level = first + i * step
            stages += [Stage(0.0, level), Stage(every, level)]
        return cls(tuple(stages))

    @classmethod
    def spike(cls, base: float, factor: float, *, at: float, length: float) -> Shape:
        """``base``, jumping to ``base * factor`` at ``at`` for ``length`` seconds."""
        return cls.constant(base).with_bursts(Burst(factor, length, at=at))

    @classmethod
    def preset(cls, name: str, base: float, duration: float) -> Shape:
        """A named profile (see :data:`PRESETS`) scaled to ``base`` and ``duration``.

        Raises:
            LoadConfigError: the name is not a preset, or duration is not > 0.
        """
        build = PRESETS.get(name)
        if build is None:
            raise LoadConfigError(
                "profile", "is not a known profile", name, allowed=", ".join(PRESETS)
            )
        if not duration > 0:
            raise LoadConfigError(
                "duration", "a profile needs a duration > 0", duration
            )
        return build(base, duration)


def _plan(base: float, duration: float, *parts: tuple[float, float]) -> Shape:
    """Stages given as (fraction of the duration, multiple of the base)."""
    return Shape(tuple(Stage(f * duration, m * base) for f, m in parts))


PRESETS: Mapping[str, Callable[[float, float], Shape]] = {
    # Steady reference load, no ramp: the band a recovery check compares with.
    "baseline": lambda b, d: Shape.constant(b),
    # An ordinary day: a short ramp, then the base load.
    "normal": lambda b, d: _plan(b, d, (0.1, 1), (0.9, 1)),
    # Busy hour: normal, then twice the base for a third of the run, then back.
    "peak": lambda b, d: _plan(b, d, (0.1, 1), (0.2, 1), (0.1, 2), (0.3, 2), (0.1, 1)),
    # Beyond the expected: plateaus at 1x, 2x, 3x, 4x the base.
    "stress": lambda b, d: _plan(
        b,
        d,
        (0.1, 1),
        (0.15, 1),
        (0.05, 2),
        (0.15, 2),
        (0.05, 3),
        (0.15, 3),
        (0.05, 4),
        (0.3, 4),
    ),
    # Sudden 5x surge for a tenth of the run, 40% in.
    "spike": lambda b, d: Shape.spike(b, 5.0, at=0.4 * d, length=0.1 * d),
    # Soak: the base load held for a long run after a short ramp.
    "endurance": lambda b, d: _plan(b, d, (0.05, 1), (0.95, 1)),
    # Find the limit: a straight ramp from zero to 10x the base.
    "breaking": lambda b, d: _plan(b, d, (1.0, 10)),
}
"""Named profiles: name -> ``(base, duration) -> Shape``."""
