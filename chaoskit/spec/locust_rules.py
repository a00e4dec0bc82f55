"""Rules of ``[load]`` with ``engine = "locust"``: which keys apply, what fits.

The locustfile's users make the load, so the native engine's tasks, rates and
flows do not apply; chaoskit's ``users`` (or ``user_count``), ``spawn_rate``,
``ramp``, ``stages``, ``profile`` and ``bursts`` drive the user count.
``[[load.users]]`` classes name the locustfile's ``User`` classes: their
``weight``, ``fixed_count`` and ``think`` replace the class's own, and their
tasks' names and groups name its requests for the hypotheses, so one
experiment runs on either engine (an environment switches it). Whether the
locustfile exists and Locust is installed is checked where the experiment file
is known
(:func:`chaoskit.runner.load.check_load_config`).
"""

from __future__ import annotations

from chaoskit.errors import SpecIssue
from chaoskit.spec.classes import check_classes
from chaoskit.spec.model import LoadSection

__all__ = ["LOCUST_ONLY", "NATIVE_ONLY", "check_locust_load", "split_host_port"]

LOCUST_ONLY = (
    "locustfile", "user_classes", "workers", "master_bind", "expect_workers",
    "expect_workers_timeout", "markers",
)  # fmt: skip
"""Keys that mean something to the Locust engine only."""
NATIVE_ONLY = (
    "tasks", "rate", "think", "max_in_flight", "arrivals", "flow",
    "hot_keys", "max_requests", "processes",
)  # fmt: skip
"""Keys the locustfile replaces (its tasks, waits, on_start...)."""


def split_host_port(text: str) -> tuple[str, int] | None:
    """``"127.0.0.1:5557"`` -> ``("127.0.0.1", 5557)``; None when not that shape."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host, int(port)


def check_locust_load(load: LoadSection) -> list[SpecIssue]:
    """What does not fit in a Locust ``[load]``, each under its key path
    (``master_bind`` off loopback is the loopback rule's: ``spec.addresses``)."""
    given = load.model_fields_set
    issues = [
        SpecIssue(
            f"load.{key}",
            "is a setting of the native engine; the locustfile says it",
            None,
            "locustfile, user_classes, tags, exclude_tags, users, user_count, "
            "spawn_rate, ramp, stages, profile, bursts, workers, master_bind, "
            "expect_workers, markers",
        )
        for key in NATIVE_ONLY
        if key in given
    ]
    if "model" in given and load.model == "open":
        issues.append(
            SpecIssue(
                "load.model",
                "Locust runs users (a closed model) only",
                load.model,
                'model = "closed", or engine = "native" for an open model',
            )
        )
    if load.locustfile is None:
        issues.append(
            SpecIssue(
                "load.locustfile",
                'is required with engine = "locust"',
                None,
                'a path relative to the experiment file, e.g. "locustfile.py"',
            )
        )
    issues += check_classes(load, locust=True)
    if load.user_total is None and not load.stages and load.profile is None:
        issues.append(
            SpecIssue(
                "load.user_count" if load.classes else "load.users",
                'is required with engine = "locust" (or stages, or a profile)',
                None,
                "user_count = N with [[load.users]] classes"
                if load.classes
                else "users = 20 (a LoadTestShape in the locustfile then takes over)",
            )
        )
    shapes = [key for key in ("ramp", "profile", "stages") if key in given]
    if len(shapes) > 1:
        issues.append(
            SpecIssue(
                f"load.{shapes[1]}", f"cannot be combined with load.{shapes[0]}",
                None, "one of ramp, profile, stages",
            )
        )  # fmt: skip
    if (load.expect_workers is None) != (load.master_bind is None):
        missing = "expect_workers" if load.expect_workers is None else "master_bind"
        issues.append(
            SpecIssue(
                f"load.{missing}",
                "master_bind and expect_workers go together (workers started "
                "elsewhere connect to master_bind)",
                None,
                'master_bind = "127.0.0.1:5557" and expect_workers = N',
            )
        )
    if load.master_bind is not None:
        if split_host_port(load.master_bind) is None:
            issues.append(
                SpecIssue("load.master_bind", "is not host:port", load.master_bind,
                          '"127.0.0.1:5557"')
            )  # fmt: skip
        if load.expect_workers is not None and load.expect_workers < load.workers:
            issues.append(
                SpecIssue(
                    "load.expect_workers",
                    "counts every worker, the local ones too",
                    load.expect_workers,
                    f">= workers ({load.workers})",
                )
            )
    for name, marker in load.markers.items():
        if marker.json_path is not None:
            issues.append(
                SpecIssue(
                    f"load.markers.{name}.json_path",
                    "Locust markers read a header or a status (the body stays in "
                    "the worker)",
                    marker.json_path,
                    'header = "X-Fallback" or status = [203]',
                )
            )
        elif marker.header is None and not marker.status:
            issues.append(
                SpecIssue(f"load.markers.{name}", "marks nothing", None,
                          'header = "X-Fallback" or status = [203]')
            )  # fmt: skip
    return issues
