"""The experiment's ``[[probes]]`` bound to what is running, and abort
conditions on probe metrics.

A process probe on a service follows the service's current pid (a restart by
a fault is followed); a container probe its container; a postgres probe on a
service connects to the server's own address (``{services.NAME.dsn}``), never
through a proxy route; URLs and DSNs may use ``{references}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chaoskit.events import ProbeSeries
from chaoskit.probes import (
    ContainerReader,
    HttpReader,
    PostgresReader,
    ProcessReader,
    Reader,
    Watched,
)
from chaoskit.runner.environment import Environment
from chaoskit.services.container import ContainerService
from chaoskit.services.process import ProcessService
from chaoskit.spec import model, refs
from chaoskit.spec.model import format_probe_value

__all__ = ["ProbeAborts", "watch_probes"]


def _process(probe: model.Probe, env: Environment) -> tuple[Reader, str]:
    if probe.pid is not None:
        pid = probe.pid
        return ProcessReader(lambda: pid), f"pid {pid}"
    service = env.services[str(probe.service)]
    assert isinstance(service, ProcessService)  # noqa: S101 - validated by spec
    return ProcessReader(lambda: service.pid), f"service {probe.service}"


def _container(probe: model.Probe, env: Environment) -> tuple[Reader, str]:
    service = env.services[str(probe.service)]
    assert isinstance(service, ContainerService)  # noqa: S101 - validated by spec

    async def container() -> Any:
        return service.container

    return ContainerReader(container), f"service {probe.service}"


def _reader(probe: model.Probe, env: Environment) -> tuple[Reader, str]:
    if probe.kind == "process":
        return _process(probe, env)
    if probe.kind == "container":
        return _container(probe, env)
    if probe.kind == "postgres":
        if probe.service is not None:
            dsn = env.values[f"services.{probe.service}.dsn"]
            target = f"service {probe.service}"
        else:
            dsn = refs.bind(str(probe.dsn), env.values)
            target = "dsn"  # the DSN may carry a password: never shown
        return PostgresReader(dsn, connect_timeout=probe.sample_timeout), target
    url = refs.bind(str(probe.url), env.values)
    reader = HttpReader(
        url,
        json_path=probe.json_path,
        metric=probe.metric,
        labels=probe.labels,
        timeout=probe.sample_timeout,
    )
    labels = ",".join(f'{k}="{v}"' for k, v in probe.labels.items())
    what = probe.json_path or (
        f"{probe.metric}{{{labels}}}" if labels else probe.metric
    )
    return reader, f"{url} {what}"


def watch_probes(experiment: model.Experiment, env: Environment) -> list[Watched]:
    """A reader and an empty series for every probe of the experiment."""
    watched = []
    for probe in experiment.probes:
        reader, target = _reader(probe, env)
        series = ProbeSeries(probe.name, probe.kind, target, probe.every, probe.metrics)
        watched.append(Watched(reader, series, probe.every, probe.sample_timeout))
    return watched


class ProbeAborts:
    """``[[abort]]`` entries with ``probe``: each sample past the bound starts
    (or continues) a streak; a streak of ``for`` seconds stops the run."""

    def __init__(
        self, conditions: tuple[model.AbortCondition, ...], abort: Callable[[str], None]
    ) -> None:
        self.conditions = [c for c in conditions if c.probe is not None]
        self.abort = abort
        self._since: dict[int, float] = {}

    def __call__(
        self, series: ProbeSeries, t: float, values: Mapping[str, float | None]
    ) -> None:
        for i, condition in enumerate(self.conditions):
            if condition.probe != series.name:
                continue
            value = values.get(condition.metric)
            if value is None or value <= condition.limit:
                self._since.pop(i, None)  # a gap or a value inside ends the streak
                continue
            since = self._since.setdefault(i, t)
            if t - since >= condition.hold_s:
                shown = format_probe_value(condition.metric, value)
                bound = format_probe_value(condition.metric, condition.limit)
                held = f" for {condition.hold_s:g}s" if condition.hold_s else ""
                self.abort(
                    f"abort condition: {series.name}.{condition.metric} {shown} "
                    f"above {bound}{held}"
                )
