"""Probes: what the system under test does inside, sampled on the run's clock.

A probe is a :class:`Reader` (one sample: metric -> value) for a process
(psutil), a container (the Docker stats API), a PostgreSQL server
(``pg_stat_activity``, ``pg_locks``, ``pg_stat_database``) or an HTTP endpoint
(a JSON value or a Prometheus metric). The :class:`Sampler` runs each on its
own task, on ticks of the timeline, with a bounded time per sample; a sample
that fails is a gap in the :class:`~chaoskit.events.ProbeSeries`, never an
error of the run. Nothing here blocks the event loop: psutil and the docker
SDK run in worker threads, PostgreSQL and HTTP are asyncio clients.

Like ``services``, ``load`` and ``faults``, this package knows nothing of the
others: the runner hands each reader what it watches (a pid callable, a
container callable, a DSN, a URL).
"""

from __future__ import annotations

from chaoskit.probes.base import Reader, ReadError
from chaoskit.probes.container import ContainerReader
from chaoskit.probes.http import HttpReader, parse_prometheus
from chaoskit.probes.postgres import PostgresReader
from chaoskit.probes.process import ProcessReader
from chaoskit.probes.sampler import Sampler, Watched

__all__ = [
    "ContainerReader",
    "HttpReader",
    "PostgresReader",
    "ProcessReader",
    "ReadError",
    "Reader",
    "Sampler",
    "Watched",
    "parse_prometheus",
]
