"""chaoskit's plugin inside Locust's own processes (master, workers, or both in one).

Loaded next to the locustfile (``-f locustfile.py,<this file>``): chaoskit does
that for the processes it starts; workers started elsewhere need the same
``-f`` (``python -m chaoskit.locust`` prints this file's path). It needs only
the standard library and Locust, never chaoskit, whose asyncio process Locust's
gevent monkey-patching must not touch.

* Each **worker** turns every request event into one compact record (name,
  method, start, response time, length, status, exception, user class and
  number, the body pattern it matched, whether it carried its marker) and sends
  them in batches over Locust's own worker-to-master messages: one compact JSON
  text a batch (``{"json": "{\"r\": [...], ...}"}``), sent when it holds
  ``batch`` records or about ``max_batch_bytes``, else every ``flush_s``. So a
  worker sends at most ``1 / flush_s`` messages a second plus one per full
  batch, none larger than about ``max_batch_bytes``. Its buffer is bounded:
  records beyond ``max_buffer`` are counted as lost, never held without limit.
* The **master** forwards each batch to chaoskit's loopback socket
  (``CHAOSKIT_LOCUST``: the address, a token, the settings) as it came, one
  line, with the worker's id put in front: it never decodes the records. (A
  batch sent as a plain dict, as this plugin did before, is still accepted.)
  Once a second it sends the user counts of every worker, and its config to
  any worker that has not answered yet, also one that joins mid-run. It starts
  the load only when chaoskit says ``go``, and drives the user count from
  chaoskit's stages when it has them (unless the locustfile has a
  ``LoadTestShape`` of its own).
* A response body is scanned for the body patterns only when a pattern needs
  it (user patterns; the built-in ones on failures) and it has been read
  already: a ``stream=True`` request whose body the locustfile has not read is
  never read by this plugin (that would wait for the whole stream, and take it
  from the locustfile). Markers read the status and headers only.

* ``classes`` in the config (from ``[[load.users]]``) set a user class's
  ``weight``, ``fixed_count`` and ``wait_time`` in every process, before any
  user starts (the master spreads users, the workers wait between tasks).

Integrity hypotheses: a locustfile records what a write acknowledged with
:func:`ack` (and what may or may not have been written with :func:`maybe`)::

    from chaoskit_locust import ack, maybe
    with self.client.post("/orders", json=order, catch_response=True) as r:
        if r.status_code == 201:
            ack("create order", r.json()["id"])
        else:
            maybe("create order", order["key"])
"""

from __future__ import annotations

import itertools
import json
import os
import re
import socket
import sys
import time
import weakref
from typing import Any

import gevent
from locust import User, between, events
from locust.runners import MasterRunner, WorkerRunner
from requests import Response as _RequestsResponse

__all__ = ["ack", "maybe"]

CONFIG_ENV = "CHAOSKIT_LOCUST"
MESSAGE = "chaoskit_records"
CONFIG_MESSAGE = "chaoskit_config"
HELLO_MESSAGE = "chaoskit_hello"
_BODY_SCAN = 65536
_RECORD_BYTES = 96  # a record's JSON beyond its name and exception text
_USERS_PER_WORKER = 1_000_000  # user numbers are unique across workers


class _State:
    """One per process, kept on the ``events`` object so that importing this
    file twice (by path and by name) still registers everything once."""

    def __init__(self) -> None:
        self.records: list[list[Any]] = []
        self.acks: list[list[str]] = []
        self.maybes: list[list[str | None]] = []
        self.lost = 0
        self.size = 0  # the buffered records' JSON, estimated, in bytes
        self.worker_index = 0
        self.batch = 500
        self.max_batch_bytes = 256 * 1024
        self.flush_s = 0.2
        self.max_buffer = 100_000
        self.patterns: list[tuple[str, re.Pattern[bytes]]] = []
        self.builtin: list[tuple[str, re.Pattern[bytes]]] = []
        self.markers: dict[str, tuple[str | None, str | None, frozenset[int]]] = {}
        self.send: Any = None  # where a batch's JSON text goes
        self.users: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()
        self.next_user = 0

    def configure(self, config: dict[str, Any]) -> None:
        self.batch = int(config.get("batch", self.batch))
        self.max_batch_bytes = int(config.get("max_batch_bytes", self.max_batch_bytes))
        self.flush_s = float(config.get("flush_s", self.flush_s))
        self.max_buffer = int(config.get("max_buffer", self.max_buffer))
        self.patterns = [
            (n, re.compile(p.encode())) for n, p in config.get("patterns", {}).items()
        ]
        self.builtin = [
            (n, re.compile(p.encode())) for n, p in config.get("builtin", {}).items()
        ]
        self.markers = {
            name: (m.get("header"), m.get("equals"), frozenset(m.get("status", ())))
            for name, m in config.get("markers", {}).items()
        }

    def user_number(self, user: object) -> int:
        number = self.users.get(user)
        if number is None:
            number = self.users[user] = self.next_user
            self.next_user += 1
        return self.worker_index * _USERS_PER_WORKER + number

    def take(self) -> str | None:
        """The buffered records, acks and losses as one compact JSON object
        text (None when there is nothing); the buffer is emptied."""
        if not (self.records or self.acks or self.maybes or self.lost):
            return None
        batch = {"r": self.records, "a": self.acks, "m": self.maybes, "lost": self.lost}
        self.records, self.acks, self.maybes, self.lost = [], [], [], 0
        self.size = 0
        return json.dumps(batch, separators=(",", ":"))

    def flush(self) -> None:
        batch = self.take()
        if batch is not None and self.send is not None:
            self.send(batch)


def _state() -> _State:
    state = getattr(events, "_chaoskit_state", None)
    if state is None:
        state = _State()
        events._chaoskit_state = state  # type: ignore[attr-defined]
    return state


def ack(name: str, key: object) -> None:
    """A write named ``name`` acknowledged ``key`` (for integrity hypotheses)."""
    _state().acks.append([name, str(key)])


def maybe(name: str, key: object | None = None) -> None:
    """A write whose outcome is unknown (a timeout, a 503); ``key`` when known."""
    _state().maybes.append([name, None if key is None else str(key)])


# -- every request, as a record -------------------------------------------------------


def _context(self: User) -> dict[str, Any]:
    context = _ORIGINAL_CONTEXT(self)
    return {
        "chaoskit_user": (type(self).__name__, _state().user_number(self)),
        **context,
    }


def _matched(patterns: list[tuple[str, re.Pattern[bytes]]], body: bytes) -> str:
    for name, pattern in patterns:
        if pattern.search(body):
            return name
    return ""


def _read_body(response: Any) -> bytes | None:
    """The response's body if it has been read already, else None: reading
    it here would wait for a ``stream=True`` body and take it from the user."""
    if isinstance(response, _RequestsResponse):  # HttpUser
        content = response._content  # False until read
        return content if isinstance(content, bytes) else None
    cached = getattr(response, "_cached_content", None)  # FastHttpUser
    if isinstance(cached, bytes):
        return cached
    kind = type(response)
    if hasattr(kind, "_cached_content") or isinstance(
        getattr(kind, "content", None), property
    ):
        return None  # reading ``content`` could fetch it
    content = getattr(response, "content", None)  # a custom client's plain value
    if isinstance(content, str):
        return content.encode()
    return content if isinstance(content, bytes) else None


def on_request(
    request_type: str,
    name: str,
    response_time: float,
    response_length: int,
    response: Any = None,
    context: dict[str, Any] | None = None,
    exception: BaseException | None = None,
    start_time: float | None = None,
    **_: Any,
) -> None:
    state = _state()
    if len(state.records) >= state.max_buffer:
        state.lost += 1
        return
    status = int(getattr(response, "status_code", 0) or 0)
    pattern = ""
    marked = False
    if response is not None:
        if state.patterns or (exception is not None and state.builtin):
            body = _read_body(response)
            if body:
                head = body[:_BODY_SCAN]
                pattern = _matched(state.patterns, head) if state.patterns else ""
                if not pattern and exception is not None and state.builtin:
                    pattern = _matched(state.builtin, head.lower())
        marker = state.markers.get(name) if state.markers else None
        if marker is not None:
            header, equals, statuses = marker
            headers = getattr(response, "headers", None)
            value = headers.get(header) if header and headers is not None else None
            marked = status in statuses or (
                value is not None and (equals is None or value == equals)
            )
    user_class, user = (context or {}).get("chaoskit_user", ("", -1))
    if user < 0:
        user = state.worker_index * _USERS_PER_WORKER
    kind = text = ""
    if exception is not None:
        kind = type(exception).__name__
        text = str(exception)[:300]
    started = (
        start_time if start_time is not None else time.time() - response_time / 1000
    )
    state.records.append(
        [name, request_type, started, response_time, response_length or 0, status,
         kind, text, pattern, marked, user_class, user]
    )  # fmt: skip
    state.size += len(name) + len(text) + _RECORD_BYTES
    if len(state.records) >= state.batch or state.size >= state.max_batch_bytes:
        state.flush()


# -- the processes -------------------------------------------------------------------


class _Sink:
    """The master's line to chaoskit: JSON lines out, ``go`` in."""

    def __init__(self, address: str, token: str) -> None:
        host, _, port = address.rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.sock.settimeout(None)
        self.reader = self.sock.makefile("rb")
        self.token = token
        self.broken = False

    def send(self, message: dict[str, Any]) -> None:
        self.send_text(json.dumps(message, separators=(",", ":")))

    def send_text(self, line: str) -> None:
        """One JSON object's text (no newline in it) as one line."""
        if self.broken:
            return
        try:
            self.sock.sendall(line.encode() + b"\n")
        except OSError:
            # chaoskit is gone: stop rather than load a service for nobody.
            self.broken = True
            os._exit(1)

    def forward(self, worker: str, data: Any) -> None:
        """A worker's batch, as it came: its JSON text with ``"worker"`` put
        in front (never decoded here), or the older plain dict."""
        if isinstance(data, dict) and isinstance(data.get("json"), str):
            text: str = data["json"]
            if text[:1] == "{" and text[-1:] == "}" and "\n" not in text:
                rest = "," + text[1:] if len(text) > 2 else "}"
                self.send_text('{"worker":' + json.dumps(worker) + rest)
        elif isinstance(data, dict):
            self.send({"worker": worker, **data})

    def wait_line(self) -> dict[str, Any]:
        line = self.reader.readline()
        if not line:
            os._exit(1)
        result: dict[str, Any] = json.loads(line)
        return result


def _shape_class(points: list[list[float]], spawn_rate: float) -> Any:
    from locust import LoadTestShape

    class ChaoskitStages(LoadTestShape):
        """chaoskit's stages, profile and bursts as Locust's user count."""

        def tick(self) -> tuple[int, float]:
            t = self.get_run_time()
            users = points[-1][1]
            for (t0, u0), (t1, u1) in itertools.pairwise(points):
                if t0 <= t < t1:
                    users = u0 + (u1 - u0) * (t - t0) / (t1 - t0) if t1 > t0 else u1
                    break
            return max(0, round(users)), spawn_rate

    return ChaoskitStages()


def _set_classes(environment: Any, settings: dict[str, dict[str, Any]]) -> None:
    """``[[load.users]]``'s weight, fixed count and think time on the
    locustfile's classes of those names: the master spreads users by the
    first two, each worker waits by the third."""
    for cls in environment.user_classes:
        found = settings.get(cls.__name__)
        if not found:
            continue
        if "weight" in found:
            cls.weight = found["weight"]
            cls.fixed_count = 0
        if "fixed_count" in found:
            cls.fixed_count = int(found["fixed_count"])
        if "think" in found:
            low, high = found["think"]
            cls.wait_time = between(low, high)


def _master_status(runner: Any, pids: dict[str, int]) -> dict[str, Any]:
    workers = {}
    if isinstance(runner, MasterRunner):
        for node in runner.clients.values():
            workers[node.id] = {
                "state": node.state,
                "users": sum(node.user_classes_count.values()),
                "index": runner.worker_indexes.get(node.id, -1),
                "pid": pids.get(node.id),
            }
    return {
        "status": {
            "users": runner.user_count,
            "target": runner.target_user_count or 0,
            "state": runner.state,
            "workers": workers,
        }
    }


def _run_master(environment: Any, runner: Any, config: dict[str, Any]) -> None:
    sink = _Sink(config["sink"], config["token"])
    state = _state()
    state.configure(config)
    _set_classes(environment, config.get("classes", {}))
    hellos: dict[str, int] = {}
    expected = int(config.get("expect_workers", 0))
    user_shape = environment.shape_class
    classes = sorted(u.__name__ for u in environment.user_classes)
    shape_name = type(user_shape).__name__ if user_shape else None
    sink.send({"hello": config["token"], "pid": os.getpid(), "shape": shape_name,
               "classes": classes})  # fmt: skip
    if isinstance(runner, MasterRunner):

        def forward(environment: Any, msg: Any, **_: Any) -> None:
            sink.forward(msg.node_id, msg.data)

        def hello(environment: Any, msg: Any, **_: Any) -> None:
            hellos[msg.node_id] = int(msg.data.get("pid", 0))

        runner.register_message(MESSAGE, forward)
        runner.register_message(HELLO_MESSAGE, hello)
        sent: dict[str, float] = {}

        def offer_config() -> None:
            now = time.monotonic()
            for node in list(runner.clients.values()):
                # Again every second until it answers: a worker announces itself
                # before its init hooks (this plugin's handler) have run, and
                # Locust drops a message no handler is registered for.
                if node.id not in hellos and now - sent.get(node.id, -1e9) >= 1.0:
                    runner.send_message(CONFIG_MESSAGE, config, client_id=node.id)
                    sent[node.id] = now

        deadline = time.monotonic() + float(config.get("expect_timeout", 60))
        while time.monotonic() < deadline:
            offer_config()
            if len(hellos) >= expected:
                break
            gevent.sleep(0.05)
        no_plugin = sorted(set(sent) - set(hellos))
        sink.send({"ready": sorted(hellos), "connected": sorted(sent),
                   "no_plugin": no_plugin})  # fmt: skip

        def offer_config_to_late_workers() -> None:
            # A worker that connects mid-run (restarted, or one more) gets its
            # patterns, markers and index too, or its records would lack them.
            while True:
                gevent.sleep(0.25)
                offer_config()

        gevent.spawn(offer_config_to_late_workers)
    else:
        state.send = lambda text: sink.forward("local", {"json": text})
        sink.send({"ready": ["local"], "connected": ["local"], "no_plugin": []})
        gevent.spawn(_flush_loop, state)
    go = sink.wait_line()
    if not go.get("go"):
        os._exit(1)
    points = config.get("shape")
    if points and user_shape is None:
        shape = _shape_class(points, float(config.get("spawn_rate", 1)))
        shape.runner = runner
        environment.shape_class = shape

    def report() -> None:
        while True:
            gevent.sleep(1.0)
            sink.send(_master_status(runner, hellos))

    def control() -> None:
        # chaoskit's "stop": users finish their task (--stop-timeout), every
        # worker flushes its last records before it reports stopped, then say so.
        sink.wait_line()
        deadline = time.monotonic() + float(config.get("stop_timeout", 10)) + 5
        quit_now = runner.quit

        def quit_once_stopped() -> None:
            # Headless Locust quits as soon as a shape's greenlet ends, which
            # runner.stop() does: the master would stop reading before the
            # workers' last records and their "stopped" arrive.
            while runner.state != "stopped" and time.monotonic() < deadline:
                gevent.sleep(0.05)
            quit_now()

        runner.quit = quit_once_stopped
        runner.stop()
        while runner.state != "stopped" and time.monotonic() < deadline:
            gevent.sleep(0.05)
        state.flush()
        sink.send({"stopped": runner.state})

    gevent.spawn(report)
    gevent.spawn(control)


def _flush_loop(state: _State) -> None:
    while True:
        gevent.sleep(state.flush_s)
        state.flush()


def _run_worker(runner: Any) -> None:
    state = _state()

    def configure(environment: Any, msg: Any, **_: Any) -> None:
        state.configure(msg.data)
        _set_classes(environment, msg.data.get("classes", {}))
        state.worker_index = max(runner.worker_index, 0)
        runner.send_message(HELLO_MESSAGE, {"pid": os.getpid()})

    state.send = lambda text: runner.send_message(MESSAGE, {"json": text})
    runner.register_message(CONFIG_MESSAGE, configure)
    gevent.spawn(_flush_loop, state)

    def flush_at_stop(**_: Any) -> None:
        state.flush()  # before the worker reports "client_stopped"

    events.test_stop.add_listener(flush_at_stop)


def on_init(environment: Any, runner: Any = None, **_: Any) -> None:
    if runner is None:
        return
    if isinstance(runner, WorkerRunner):
        _run_worker(runner)
        return
    raw = os.environ.get(CONFIG_ENV)
    if not raw:
        sys.stderr.write(
            "chaoskit_locust: no CHAOSKIT_LOCUST in the environment; only a "
            "chaoskit run starts a master with this plugin\n"
        )
        return
    _run_master(environment, runner, json.loads(raw))


if not getattr(events, "_chaoskit_registered", False):
    events._chaoskit_registered = True  # type: ignore[attr-defined]
    _ORIGINAL_CONTEXT = events._chaoskit_context = User.context  # type: ignore[attr-defined]
    User.context = _context  # type: ignore[method-assign]
    events.request.add_listener(on_request)
    events.init.add_listener(on_init)
else:
    _ORIGINAL_CONTEXT = getattr(events, "_chaoskit_context", User.context)
