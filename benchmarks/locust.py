"""Locust alone vs Locust under chaoskit vs chaoskit's native engine, same load.

Usage (nginx from Debian; Locust from the dev group)::

    python -m benchmarks.locust --paired 11                 # HttpUser, A/B pairs
    python -m benchmarks.locust --paired 6 --user Fast      # FastHttpUser
    python -m benchmarks.locust --repeat 1                  # + plugin loaded, native
    python -m benchmarks.locust --plugin-only               # the plugin's CPU alone

nginx (one worker, a tiny static answer) is pinned to CPU 1; every load
process (Locust's master and 2 workers, chaoskit itself) to CPU 0. The same
locustfile (``User``: ``HttpUser`` or ``FastHttpUser``, no wait) runs

* A, alone: ``locust --master`` + 2 ``locust --worker``, headless;
* B, under chaoskit: ``chaoskit run`` of an experiment with ``engine =
  "locust"``, the same users and workers (every request forwarded);
* the native engine: ``chaoskit run`` with a closed model of the same users
  (no think time).

**Every run is counted the same way, at the server**: nginx's stub_status
(requests handled) is polled every 50 ms, less the polls themselves. The
load's start is the first poll that sees more than 10 requests; only the
steady part counts, from 2 s after that start to 1 s before its end (imports,
spawning and the stop left out). CPU seconds of every load process (Locust's
master and workers; under chaoskit, chaoskit's own process too) are read from
/proc every 50 ms over the same window. Requests/s per core = requests over
those CPU seconds.

Every process gets a session of its own (``start_new_session``), as chaoskit
starts Locust's: with the kernel's autogroup scheduling (on here) a session is
a scheduling group, so Locust alone started in one shared session got one
share of a busy CPU where chaoskit's three processes got three.

``--paired N``: N pairs of A and B, one after the other, in alternating order
(AB, BA, AB, ...) so that a machine that gets busier or quieter during the
session weighs on both; each pair's overhead is ``1 - B/A`` (per core and
wall), and the median over the pairs is reported.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from benchmarks.load import start_nginx

REPO = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")
POLL_S = 0.05
STARTED_AT = 10  # requests the server must have seen for the load to be on
LOCUSTFILE = """
from locust import FastHttpUser, HttpUser, constant, task

class Slow(HttpUser):
    wait_time = constant(0)
    @task
    def get(self):
        self.client.get("/", name="get")

class Fast(FastHttpUser):
    wait_time = constant(0)
    @task
    def get(self):
        self.client.get("/", name="get")
"""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a live process (None once gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


class Series(threading.Thread):
    """A reading over time, every ``POLL_S``; ``between`` takes differences."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.series: list[tuple[float, float]] = []  # (monotonic s, value)
        self.done = threading.Event()

    def read(self) -> float:
        raise NotImplementedError

    def run(self) -> None:
        while not self.done.is_set():
            value = self.read()
            self.series.append((time.monotonic(), value))
            time.sleep(POLL_S)

    def stop(self) -> None:
        self.done.set()
        self.join()

    def between(self, start: float, end: float) -> float:
        """The reading's growth from ``start`` to ``end`` (monotonic seconds)."""
        return self.at(end) - self.at(start)

    def at(self, when: float) -> float:
        before = [value for at, value in self.series if at <= when]
        return before[-1] if before else 0.0


class Sampler(Series):
    """CPU seconds of a set of processes; ``pids()`` names them at each poll;
    a process that exits keeps its last reading, so the sum never goes back."""

    def __init__(self, pids: Callable[[], Iterable[int]]) -> None:
        super().__init__()
        self.pids = pids
        self.last: dict[int, float] = {}

    def read(self) -> float:
        for pid in self.pids():
            used = cpu_s(pid)
            if used is not None:
                self.last[pid] = used
        return sum(self.last.values())


class Served(Series):
    """Requests nginx handled (stub_status), less this poller's own."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port
        self.polls = 0

    def read(self) -> float:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", "/nginx_status")
            text = conn.getresponse().read().decode()
        finally:
            conn.close()
        self.polls += 1
        # "Active connections: 1\nserver accepts handled requests\n 4 4 9\n..."
        handled = int(text.splitlines()[2].split()[2])
        return float(handled - self.polls)

    def window(self, args: argparse.Namespace) -> tuple[float, float]:
        """The steady part of the load: from 2 s after it started to 1 s
        before its end, as the polls that bound it."""
        base = self.series[0][1]
        first = next(at for at, n in self.series if n - base > STARTED_AT)
        start, end = first + 2.0, first + args.duration - 1.0
        inside = [at for at, _ in self.series if start <= at <= end]
        return inside[0], inside[-1]


def pid_files(reports: Path) -> list[int]:
    pids = []
    for path in reports.glob("locust-*.pid"):
        try:
            pids.append(int(json.loads(path.read_text())["pid"]))
        except (OSError, ValueError, KeyError):
            continue
    return pids


def measured(
    args: argparse.Namespace, served: Served, samplers: dict[str, Sampler]
) -> dict[str, float]:
    start, end = served.window(args)
    return {
        "requests": served.between(start, end),
        "seconds": end - start,
        **{name: s.between(start, end) for name, s in samplers.items()},
    }


def locust_alone(
    args: argparse.Namespace, port: int, tmp: Path, *, plugin: bool = False
) -> dict[str, float]:
    """Locust's master and 2 workers; with ``plugin``, chaoskit's plugin loaded
    too (each request recorded and sent to a master that drops it)."""
    from chaoskit.locust import plugin_path

    locustfile = tmp / "bench_locustfile.py"
    bind = free_port()
    files = f"{plugin_path()},{locustfile}" if plugin else str(locustfile)
    common = ["taskset", "-c", "0", sys.executable, "-m", "locust", "-f", files]
    served = Served(port)
    served.start()
    master = subprocess.Popen(
        [*common, "--master", "--headless",
         "--master-bind-host", "127.0.0.1", "--master-bind-port", str(bind),
         "--expect-workers", "2", "-u", str(args.users), "-r", str(args.users),
         "-t", f"{args.duration}s", "--host", f"http://127.0.0.1:{port}",
         "--only-summary", "--loglevel", "WARNING", args.user],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # as chaoskit starts Locust's processes
    )  # fmt: skip
    workers = [
        subprocess.Popen(
            [
                *common,
                "--worker",
                "--master-host",
                "127.0.0.1",
                "--master-port",
                str(bind),
                "--loglevel",
                "WARNING",
                args.user,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(2)
    ]
    everyone = [master.pid, *(w.pid for w in workers)]
    sampler = Sampler(lambda: everyone)
    sampler.start()
    master.wait(timeout=args.duration + 120)
    for worker in workers:
        worker.wait(timeout=60)
    sampler.stop()
    served.stop()
    r = measured(args, served, {"cpu_locust": sampler})
    return {**r, "cpu_chaoskit": 0.0}


def chaoskit_run(
    args: argparse.Namespace, port: int, tmp: Path, engine: str
) -> dict[str, float]:
    name = f"under-{engine}"
    load = (
        f'engine = "locust"\nlocustfile = "bench_locustfile.py"\n'
        f'user_classes = ["{args.user}"]\nusers = {args.users}\nworkers = 2'
        if engine == "locust"
        else f'model = "closed"\nusers = {args.users}\n\n'
        '[[load.tasks]]\nname = "get"\npath = "/"'
    )
    experiment = tmp / f"{name}.toml"
    experiment.write_text(
        f'[experiment]\nname = "{name}"\nduration = "{args.duration}s"\n\n'
        f'[target]\nbase_url = "http://127.0.0.1:{port}"\n\n[load]\n{load}\n'
    )
    reports = tmp / name
    served = Served(port)
    served.start()
    proc = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, "-m", "chaoskit", "run",
         str(experiment), "--report-dir", str(reports)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # as chaoskit starts Locust's processes
    )  # fmt: skip
    locust = Sampler(lambda: pid_files(reports))
    own = Sampler(lambda: [proc.pid])
    locust.start()
    own.start()
    proc.wait(timeout=args.duration + 180)
    locust.stop()
    own.stop()
    served.stop()
    if proc.returncode != 0:
        raise SystemExit(f"chaoskit run exited {proc.returncode}: see {reports}")
    return measured(args, served, {"cpu_locust": locust, "cpu_chaoskit": own})


PLUGIN_COST = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
import locust  # gevent patches this process, as in a worker
import chaoskit_locust as plugin
import requests
from locust.rpc.protocol import Message

N = int(sys.argv[2])
response = requests.Response()
response.status_code, response._content = 200, b'{"ok": true}'
context = {"chaoskit_user": ("Slow", 3)}


class Master:  # the master's sink: forward() as in the plugin, lines kept
    def __init__(self):
        self.lines = []
    def send_text(self, line):
        self.lines.append(line)
    send = plugin._Sink.send
    forward = plugin._Sink.forward


def measure(form):
    state = plugin._state()
    state.configure({"builtin": {"lock": "database is locked"}})
    sent = []
    if form == "json":  # as the plugin sends it now
        state.send = lambda text: sent.append(
            Message("chaoskit_records", {"json": text}, "worker").serialize())
    else:  # the older form: the batch as a dict, msgpack all the way down
        def take():
            if not state.records:
                return None
            batch = {"r": state.records, "a": [], "m": [], "lost": 0}
            state.records, state.size = [], 0
            return batch
        state.take = take
        state.send = lambda batch: sent.append(
            Message("chaoskit_records", batch, "worker").serialize())
    start = time.process_time()
    for _ in range(N):
        plugin.on_request("GET", "get", 1.234, 12, response=response,
                          context=context, exception=None, start_time=time.time())
    state.flush()
    worker = time.process_time() - start
    master = Master()
    start = time.process_time()
    for raw in sent:
        message = Message.unserialize(raw)
        master.forward(message.node_id, message.data)
    took = time.process_time() - start
    print(json.dumps({"run": "plugin cost", "form": form, "requests": N,
                      "messages": len(sent),
                      "bytes_per_request": round(sum(map(len, sent)) / N, 1),
                      "worker_us": round(worker / N * 1e6, 2),
                      "master_us": round(took / N * 1e6, 2)}))

measure("json")
measure("dict")
"""


def plugin_cost(number: int) -> None:
    """CPU per request of the plugin alone: the worker's record and batch (as
    Locust sends it: msgpack), the master's decode and line to chaoskit, in
    the JSON-text form and the older dict form."""
    from chaoskit.locust import plugin_path

    subprocess.run(
        ["taskset", "-c", "0", sys.executable, "-c", PLUGIN_COST,
         str(plugin_path().parent), str(number)],
        check=True,
    )  # fmt: skip


def row(label: str, r: dict[str, float], **extra: object) -> dict[str, object]:
    cpu = r["cpu_locust"] + r["cpu_chaoskit"]
    return {
        **extra, "run": label, "requests": int(r["requests"]),
        "seconds": round(r["seconds"], 2),
        "rps": round(r["requests"] / r["seconds"], 1),
        "cpu_locust_s": round(r["cpu_locust"], 2),
        "cpu_chaoskit_s": round(r["cpu_chaoskit"], 2),
        "rps_per_core": round(r["requests"] / cpu, 1) if cpu else 0.0,
    }  # fmt: skip


def paired(args: argparse.Namespace, port: int, tmp: Path) -> None:
    """``args.paired`` A/B pairs in alternating order; each pair's overhead,
    then the medians."""
    per_core: list[float] = []
    wall: list[float] = []
    for number in range(1, args.paired + 1):
        order = ["A", "B"] if number % 2 else ["B", "A"]
        runs: dict[str, dict[str, object]] = {}
        for side in order:
            if side == "A":
                runs[side] = row("Locust alone", locust_alone(args, port, tmp))
            else:
                r = chaoskit_run(args, port, tmp, "locust")
                runs[side] = row("Locust under chaoskit", r)
        a, b = runs["A"], runs["B"]
        core = 1 - float(b["rps_per_core"]) / float(a["rps_per_core"])  # type: ignore[arg-type]
        rate = 1 - float(b["rps"]) / float(a["rps"])  # type: ignore[arg-type]
        per_core.append(core)
        wall.append(rate)
        print(json.dumps({
            "pair": number, "order": "".join(order), "user": args.user,
            "A": a, "B": b, "overhead_per_core": round(core, 4),
            "overhead_wall": round(rate, 4),
        }), flush=True)  # fmt: skip
    print(json.dumps({
        "pairs": len(per_core), "user": args.user, "users": args.users,
        "median_overhead_per_core": round(statistics.median(per_core), 4),
        "min_per_core": round(min(per_core), 4),
        "max_per_core": round(max(per_core), 4),
        "median_overhead_wall": round(statistics.median(wall), 4),
    }), flush=True)  # fmt: skip


def rounds(args: argparse.Namespace, port: int, tmp: Path) -> None:
    for number in range(1, args.repeat + 1):
        results = {
            "Locust alone": locust_alone(args, port, tmp),
            "Locust alone, plugin loaded": locust_alone(args, port, tmp, plugin=True),
            "Locust under chaoskit": chaoskit_run(args, port, tmp, "locust"),
            "chaoskit native (closed)": chaoskit_run(args, port, tmp, "native"),
        }
        for label, r in results.items():
            print(json.dumps(row(label, r, round=number, user=args.user)), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.locust")
    parser.add_argument("--plugin-only", action="store_true",
                        help="only the plugin's CPU per request")  # fmt: skip
    parser.add_argument("--paired", type=int, default=0, metavar="N",
                        help="N pairs: Locust alone / under chaoskit")  # fmt: skip
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--user", choices=["Slow", "Fast"], default="Slow")
    args = parser.parse_args()
    if args.plugin_only:
        plugin_cost(200_000)
        return
    with tempfile.TemporaryDirectory(prefix="chaoskit-bench-") as raw:
        tmp = Path(raw)
        (tmp / "bench_locustfile.py").write_text(LOCUSTFILE)
        port = free_port()
        nginx = start_nginx(port, tmp)
        try:
            if args.paired:
                paired(args, port, tmp)
            else:
                rounds(args, port, tmp)
        finally:
            nginx.terminate()
            nginx.wait(timeout=10)


if __name__ == "__main__":
    main()
