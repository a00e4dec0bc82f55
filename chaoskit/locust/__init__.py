"""The Locust engine: a locustfile (user classes, waits, ``on_start``, tags, a
``LoadTestShape``) as the steady load, over a Locust master and its workers.

Locust itself runs in its own processes (gevent must not patch chaoskit's);
``plugin/chaoskit_locust.py`` is loaded into each of them and forwards every
request to chaoskit, where :func:`~chaoskit.locust.samples.to_sample` makes it
a sample like the native engine's.
"""

from __future__ import annotations

from chaoskit.locust.config import (
    INSTALL_HINT,
    LocustConfig,
    locust_installed,
    plugin_path,
)
from chaoskit.locust.engine import LocustEngine, WorkerLoss
from chaoskit.locust.samples import to_sample

__all__ = [
    "INSTALL_HINT",
    "LocustConfig",
    "LocustEngine",
    "WorkerLoss",
    "locust_installed",
    "plugin_path",
    "to_sample",
]
