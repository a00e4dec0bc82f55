"""Locust alone vs Locust under chaoskit vs chaoskit's native engine, same load.

Usage (nginx from Debian; Locust from the dev group)::

    python -m benchmarks.locust --users 20 --duration 15 --repeat 2

nginx (one worker, a tiny static answer) is pinned to CPU 1; every load
process (Locust's master and 2 workers, chaoskit itself) to CPU 0. The same
locustfile (``User``: ``HttpUser`` or ``FastHttpUser``, no wait) runs

* alone: ``locust --master`` + 2 ``locust --worker``, headless; requests from
  Locust's own per-second history CSV;
* under chaoskit: ``chaoskit run`` of an experiment with ``engine = "locust"``,
  the same users and workers; requests from samples.tsv (every request the
  workers forwarded);
* the native engine: ``chaoskit run`` with a closed model of the same users
  (no think time).

Only the steady part counts: from 2 s after the first request to 1 s before
the end (imports, spawning and the stop left out). CPU seconds of every
process involved are read from /proc every 50 ms over that window (Locust's
master and workers; chaoskit's own process apart). Requests/s per core =
requests over those CPU seconds.
"""

from __future__ import annotations

import argparse
import csv as csv_module
import json
import os
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


class Sampler(threading.Thread):
    """CPU seconds of a set of processes over time, every 50 ms.

    ``pids()`` names the processes at each poll; a process that exits keeps its
    last reading, so the sum never goes back.
    """

    def __init__(self, pids: Callable[[], Iterable[int]]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.last: dict[int, float] = {}
        self.series: list[tuple[float, float]] = []  # (monotonic s, CPU s)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for pid in self.pids():
                used = cpu_s(pid)
                if used is not None:
                    self.last[pid] = used
            self.series.append((time.monotonic(), sum(self.last.values())))
            time.sleep(0.05)

    def stop(self) -> None:
        self.done.set()
        self.join()

    def between(self, start: float, end: float) -> float:
        """CPU seconds used from ``start`` to ``end`` (monotonic seconds)."""
        return self._at(end) - self._at(start)

    def _at(self, when: float) -> float:
        before = [cpu for at, cpu in self.series if at <= when]
        return before[-1] if before else 0.0


def pid_files(reports: Path) -> list[int]:
    pids = []
    for path in reports.glob("locust-*.pid"):
        try:
            pids.append(int(json.loads(path.read_text())["pid"]))
        except (OSError, ValueError, KeyError):
            continue
    return pids


def window(args: argparse.Namespace, first: float) -> tuple[float, float]:
    """The steady part of a run that started at ``first``: spawned, not ending."""
    return first + 2.0, first + args.duration - 1.0


def locust_alone(
    args: argparse.Namespace, url: str, tmp: Path, *, plugin: bool = False
) -> dict[str, float]:
    """Locust's master and 2 workers; with ``plugin``, chaoskit's plugin loaded
    too (each request recorded, nothing sent: no chaoskit to send to)."""
    from chaoskit.locust import plugin_path

    locustfile = tmp / "bench_locustfile.py"
    port = free_port()
    csv = tmp / "alone"
    files = f"{plugin_path()},{locustfile}" if plugin else str(locustfile)
    common = [sys.executable, "-m", "locust", "-f", files]
    master = subprocess.Popen(
        ["taskset", "-c", "0", *common, "--master", "--headless",
         "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
         "--expect-workers", "2", "-u", str(args.users), "-r", str(args.users),
         "-t", f"{args.duration}s", "--host", url, "--csv", str(csv),
         "--csv-full-history", "--only-summary", "--loglevel", "WARNING",
         args.user],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    workers = [
        subprocess.Popen(
            [
                "taskset",
                "-c",
                "0",
                *common,
                "--worker",
                "--master-host",
                "127.0.0.1",
                "--master-port",
                str(port),
                "--loglevel",
                "WARNING",
                args.user,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
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
    # Locust's history: one cumulative row a second (wall clock).
    with (tmp / "alone_stats_history.csv").open() as handle:
        rows = [r for r in csv_module.DictReader(handle) if r["Name"] == "Aggregated"]
    offset = time.monotonic() - time.time()
    counted = [
        (float(r["Timestamp"]) + offset, float(r["Total Request Count"]))
        for r in rows if float(r["Total Request Count"]) > 0
    ]  # fmt: skip
    start, end = window(args, counted[0][0])
    inside = [c for c in counted if start <= c[0] <= end]
    (t_a, n_a), (t_b, n_b) = inside[0], inside[-1]
    return {"requests": n_b - n_a, "seconds": t_b - t_a,
            "cpu_locust": sampler.between(t_a, t_b), "cpu_chaoskit": 0.0}  # fmt: skip


def chaoskit_run(
    args: argparse.Namespace, url: str, tmp: Path, engine: str
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
        f'[target]\nbase_url = "{url}"\n\n[load]\n{load}\n'
    )
    reports = tmp / name
    proc = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, "-m", "chaoskit", "run",
         str(experiment), "--report-dir", str(reports)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    locust = Sampler(lambda: pid_files(reports))
    own = Sampler(lambda: [proc.pid])
    locust.start()
    own.start()
    proc.wait(timeout=args.duration + 180)
    locust.stop()
    own.stop()
    # Samples are on chaoskit's monotonic clock, which is this one's.
    with (reports / "samples.tsv").open() as handle:
        ends = sorted(
            int(r["end_ns"]) / 1e9
            for r in csv_module.DictReader(handle, delimiter="\t")
        )
    start, end = window(args, ends[0])
    count = sum(1 for e in ends if start <= e < end)
    return {"requests": count, "seconds": end - start,
            "cpu_locust": locust.between(start, end),
            "cpu_chaoskit": own.between(start, end)}  # fmt: skip


PLUGIN_COST = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
import locust  # gevent patches this process, as in a worker
import chaoskit_locust as plugin
import requests
from locust.rpc.protocol import Message

N = int(sys.argv[2])
state = plugin._state()
state.configure({"builtin": {"lock": "database is locked"}})
sent = []
state.send = lambda batch: sent.append(
    Message("chaoskit_records", batch, "worker").serialize()
)
response = requests.Response()
response.status_code, response._content = 200, b'{"ok": true}'
context = {"chaoskit_user": ("Slow", 3)}
start = time.process_time()
for _ in range(N):
    plugin.on_request("GET", "get", 1.234, 12, response=response, context=context,
                      exception=None, start_time=time.time())
state.flush()
worker = time.process_time() - start
start = time.process_time()
for raw in sent:
    message = Message.unserialize(raw)
    json.dumps({"worker": message.node_id, **message.data}, separators=(",", ":"))
master = time.process_time() - start
print(json.dumps({"run": "plugin cost", "requests": N,
                  "worker_us": round(worker / N * 1e6, 2),
                  "master_us": round(master / N * 1e6, 2)}))
"""


def plugin_cost(number: int) -> None:
    """CPU per request of the plugin alone: the worker's record and batch
    (msgpack, as Locust sends it), the master's decode and JSON line."""
    from chaoskit.locust import plugin_path

    subprocess.run(
        ["taskset", "-c", "0", sys.executable, "-c", PLUGIN_COST,
         str(plugin_path().parent), str(number)],
        check=True,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.locust")
    parser.add_argument("--plugin-only", action="store_true",
                        help="only the plugin's CPU per request")  # fmt: skip
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--user", choices=["Slow", "Fast"], default="Slow")
    args = parser.parse_args()
    plugin_cost(200_000)
    if args.plugin_only:
        return
    with tempfile.TemporaryDirectory(prefix="chaoskit-bench-") as raw:
        tmp = Path(raw)
        (tmp / "bench_locustfile.py").write_text(LOCUSTFILE)
        port = free_port()
        nginx = start_nginx(port, tmp)
        url = f"http://127.0.0.1:{port}"
        try:
            for round_ in range(1, args.repeat + 1):
                results = {
                    "Locust alone": locust_alone(args, url, tmp),
                    "Locust alone, plugin loaded": locust_alone(
                        args, url, tmp, plugin=True
                    ),
                    "Locust under chaoskit": chaoskit_run(args, url, tmp, "locust"),
                    "chaoskit native (closed)": chaoskit_run(args, url, tmp, "native"),
                }
                for label, r in results.items():
                    cpu = r["cpu_locust"] + r["cpu_chaoskit"]
                    print(json.dumps({
                        "round": round_, "run": label, "user": args.user,
                        "requests": int(r["requests"]),
                        "seconds": round(r["seconds"], 1),
                        "rps": round(r["requests"] / r["seconds"], 1),
                        "cpu_locust_s": round(r["cpu_locust"], 2),
                        "cpu_chaoskit_s": round(r["cpu_chaoskit"], 2),
                        "rps_per_core": round(r["requests"] / cpu, 1) if cpu else 0,
                    }), flush=True)  # fmt: skip
        finally:
            nginx.terminate()
            nginx.wait(timeout=10)


if __name__ == "__main__":
    main()
