"""Load-engine benchmark: chaoskit (open and closed) vs Locust vs wrk, against nginx.

Usage (as root, on a 2-core machine; nginx, wrk and tcpdump from Debian, and
Locust in a throwaway virtualenv given with ``--locust``)::

    python -m benchmarks.load --locust /tmp/locustvenv/bin/locust --duration 10

The server (nginx, one worker) is pinned to CPU 1 and every generator to CPU 0.
Throughput runs use keep-alive connections and a tiny static response. For
each generator it prints requests/s per core (requests over generator CPU
seconds), CPU per 1000 requests and the wall rate. The latency runs send a
fixed 500 requests/s and compare what each tool reports with the wire timing
taken by tcpdump on loopback (request packet to response packet).

``python -m benchmarks.load gen ...`` is the chaoskit generator itself, run in
a pinned subprocess.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log crit;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_temp_path {tmp};
    proxy_temp_path {tmp};
    fastcgi_temp_path {tmp};
    uwsgi_temp_path {tmp};
    scgi_temp_path {tmp};
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "ok\\n"; }}
        # Requests handled, counted by the server (benchmarks/locust.py).
        location = /nginx_status {{ stub_status; }}
    }}
}}
"""

LOCUSTFILE = """
from locust import HttpUser, FastHttpUser, task, constant, constant_throughput
import os
RATE = float(os.environ.get("BENCH_USER_RATE", "0"))
WAIT = constant_throughput(RATE) if RATE else constant(0)

class Fast(FastHttpUser):
    wait_time = WAIT
    @task
    def get(self):
        self.client.get("/")

class Slow(HttpUser):
    wait_time = WAIT
    @task
    def get(self):
        self.client.get("/")
"""


AUTOARR_CLASSES = [
    ("HealthCheck", 40),
    ("Monitoring", 30),
    ("Browsing", 20),
    ("ConfigurationAudit", 5),
    ("ContentRequest", 3),
    ("Admin", 2),
]
"""AutoArr's user classes and their weights (issue 16)."""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, int(len(ordered) * q / 100 + 0.5) - 1))
    return ordered[index]


def run_pinned(
    cmd: list[str], cpu: int | str, env: dict[str, str] | None = None
) -> tuple[str, float]:
    """Run ``cmd`` on one CPU; its stdout and CPU seconds (user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        ["taskset", "-c", str(cpu), *cmd],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-2000:], file=sys.stderr)
    return done.stdout + done.stderr, cpu_s


# -- the chaoskit generator (runs in the pinned subprocess) -------------------------


def gen(args: argparse.Namespace) -> None:
    import uvloop

    from chaoskit.load import ClosedModel, LoadConfig, LoadEngine, OpenModel, TaskSpec
    from chaoskit.load.config import UserClass
    from chaoskit.load.processes import ProcessEngine
    from chaoskit.metrics import Recorder

    model: OpenModel | ClosedModel
    if args.model == "open":
        model = OpenModel(rate=args.rate, max_in_flight=args.cap, users=args.users)
    else:
        model = ClosedModel(users=args.users)
    # --classes N: AutoArr's first N user classes by weight, each with its own
    # task (no think time, so the generator's own cost is what is measured).
    classes = tuple(
        UserClass(name, (TaskSpec(f"{name}-get", "/"),), weight=weight)
        for name, weight in AUTOARR_CLASSES[: args.classes]
    )
    config = LoadConfig(
        base_url=args.url,
        model=model,
        tasks=() if classes else (TaskSpec("get", "/"),),
        classes=classes,
        duration=args.duration,
    )
    recorder = Recorder()

    async def main() -> object:
        if args.processes > 1:
            # The parent merges every process's samples into its recorder.
            engine = ProcessEngine(config, args.processes, [recorder])
            await engine.prepare()
            return await engine.run()
        return await LoadEngine(config, recorder).run()

    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        status = profiler.runcall(uvloop.run, main())
        stats = pstats.Stats(profiler).sort_stats("tottime")
        stats.print_stats(int(os.environ.get("PROFILE_LINES", "18")))
    else:
        status = uvloop.run(main())
    total = recorder.snapshot().total
    print(
        "RESULT "
        + json.dumps(
            {
                "completed": status.completed,  # type: ignore[attr-defined]
                "dropped": status.dropped,  # type: ignore[attr-defined]
                "errors": status.errors,  # type: ignore[attr-defined]
                "elapsed": status.elapsed_s,  # type: ignore[attr-defined]
                "latency_p50": total.latency.p50,
                "latency_p99": total.latency.p99,
                "service_p50": total.service.p50,
                "service_p99": total.service.p99,
                "lag_p50": total.lag.p50,
                "lag_p99": total.lag.p99,
            }
        )
    )


def parse_result(output: str) -> dict[str, float]:
    for line in output.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line[7:]))
    raise RuntimeError(f"no RESULT line in:\n{output[-3000:]}")


# -- wire timing with tcpdump -------------------------------------------------------


class Capture:
    """tcpdump on loopback for one port; request->response times from the pcap."""

    def __init__(self, port: int, path: Path) -> None:
        self.path = path
        self.proc = subprocess.Popen(
            [
                "tcpdump",
                "-i",
                "lo",
                "-s",
                "128",
                "-B",
                "16384",
                "-w",
                str(path),
                f"tcp port {port} and tcp[tcpflags] & tcp-push != 0",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)

    def stop(self) -> list[float]:
        time.sleep(0.5)
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=10)
        return wire_latencies(self.path)


def wire_latencies(path: Path) -> list[float]:
    """Milliseconds from each request packet to its response, per connection."""
    data = path.read_bytes()
    offset = 24
    pending: dict[int, float] = {}
    out: list[float] = []
    while offset + 16 <= len(data):
        sec, usec, caplen, _ = struct.unpack_from("<IIII", data, offset)
        packet = data[offset + 16 : offset + 16 + caplen]
        offset += 16 + caplen
        ts = sec + usec / 1e6
        ip = packet[14:]  # Linux loopback is captured as Ethernet
        if len(ip) < 20 or ip[0] >> 4 != 4:
            continue
        tcp = ip[(ip[0] & 15) * 4 :]
        sport, dport = struct.unpack_from("!HH", tcp)
        payload = tcp[(tcp[12] >> 4) * 4 :]
        if payload.startswith(b"GET "):
            pending[sport] = ts
        elif payload.startswith(b"HTTP/1.1") and dport in pending:
            out.append((ts - pending.pop(dport)) * 1e3)
    return out


# -- the benchmark ------------------------------------------------------------------


def start_nginx(port: int, tmp: Path, cpu: str = "1") -> subprocess.Popen[bytes]:
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port))
    proc = subprocess.Popen(
        ["taskset", "-c", cpu, "nginx", "-c", str(conf), "-p", str(tmp)]
    )
    time.sleep(0.5)
    return proc


def locust(
    args: argparse.Namespace, user: str, users: int, rate: float, tmp: Path
) -> tuple[dict[str, float], float]:
    locustfile = tmp / "locustfile.py"
    locustfile.write_text(LOCUSTFILE)
    csv = tmp / f"locust-{user}-{users}"
    _, cpu = run_pinned(
        [
            args.locust,
            "-f",
            str(locustfile),
            "--headless",
            "-u",
            str(users),
            "-r",
            str(users),
            "-t",
            f"{int(args.duration)}s",
            "--host",
            args.url,
            "--csv",
            str(csv),
            "--only-summary",
            "--stop-timeout",
            "1",
            "--exit-code-on-error",
            "0",
            user,
        ],
        args.cpus,
        {"BENCH_USER_RATE": str(rate)},
    )
    rows = (csv.parent / (csv.name + "_stats.csv")).read_text().splitlines()
    header = rows[0].split(",")
    total = dict(zip(header, rows[-1].split(","), strict=False))
    return {
        "completed": float(total["Request Count"]),
        "elapsed": float(args.duration),
        "latency_p50": float(total["50%"]),
        "latency_p99": float(total["99%"]),
    }, cpu


def chaoskit(
    args: argparse.Namespace,
    model: str,
    users: int,
    rate: float,
    profile: bool = False,
    classes: int = 0,
    processes: int = 1,
) -> tuple[dict[str, float], float, str]:
    out, cpu = run_pinned(
        [
            sys.executable,
            "-m",
            "benchmarks.load",
            "gen",
            "--url",
            args.url,
            "--model",
            model,
            "--users",
            str(users),
            "--rate",
            str(rate),
            "--duration",
            str(args.duration),
            "--classes",
            str(classes),
            "--processes",
            str(processes),
        ]
        + (["--profile"] if profile else []),
        args.cpus,
    )
    return parse_result(out), cpu, out


def wrk(args: argparse.Namespace, connections: int) -> tuple[dict[str, float], float]:
    out, cpu = run_pinned(
        ["wrk", "-t1", f"-c{connections}", f"-d{int(args.duration)}s", args.url + "/"],
        args.cpus,
    )
    requests = 0.0
    for line in out.splitlines():
        if "requests in" in line:
            requests = float(line.split()[0])
    return {"completed": requests, "elapsed": float(args.duration)}, cpu


def progress(run: int, name: str, result: dict[str, float], cpu: float) -> None:
    wall = result["completed"] / result["elapsed"]
    extra = f", dropped {result['dropped']:.0f}" if "dropped" in result else ""
    per_core = result["completed"] / cpu
    print(
        f"run {run}: {name}: {wall:.0f}/s, {per_core:.0f}/s per core{extra}", flush=True
    )


def bench(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="chaoskit-bench-"))
    port = args.port
    args.url = f"http://127.0.0.1:{port}"
    nginx = start_nginx(port, tmp, args.server_cpu)
    rows: list[tuple[str, float, float, float]] = []
    try:
        has_wrk = shutil.which("wrk") is not None
        six = 6 if args.classes else 0
        for run in range(args.runs):
            for name, fn in (
                *([("wrk (1 thread, 64 conns)", lambda: wrk(args, 64))] * has_wrk),
                *(
                    [
                        (
                            "chaoskit closed, 6 classes (64 users)",
                            lambda: chaoskit(args, "closed", 64, 0, classes=six)[:2],
                        )
                    ]
                    * bool(six)
                ),
                (
                    "chaoskit closed (64 users)",
                    lambda: chaoskit(args, "closed", 64, 0)[:2],
                ),
                (
                    "locust FastHttpUser (64 users)",
                    lambda: locust(args, "Fast", 64, 0, tmp),
                ),
                (
                    "locust HttpUser (64 users)",
                    lambda: locust(args, "Slow", 64, 0, tmp),
                ),
            ):
                result, cpu = fn()
                rows.append((name, result["completed"], result["elapsed"], cpu))
                progress(run, name, result, cpu)
            closed_rate = rows[-3][1] / rows[-3][2]
            offered = round(closed_rate * 0.9)
            for classes in (0, six) if six else (0,):
                result, cpu, _ = chaoskit(args, "open", 64, offered, classes=classes)
                label = ", 6 classes" if classes else ""
                name = f"chaoskit open{label} ({offered}/s, cap 512)"
                rows.append((name, result["completed"], result["elapsed"], cpu))
                progress(run, name, result, cpu)
            if args.processes > 1:
                n = args.processes
                for model, rate, name in (
                    ("closed", 0, f"chaoskit closed, {n} processes (64 users)"),
                    ("open", offered, f"chaoskit open, {n} processes ({offered}/s)"),
                ):
                    result, cpu, _ = chaoskit(args, model, 64, rate, processes=n)
                    rows.append((name, result["completed"], result["elapsed"], cpu))
                    progress(run, name, result, cpu)
        print("\n## Throughput (medians)\n")
        print("| generator | req/s (wall) | req/s per core | CPU ms per 1000 req |")
        print("| --- | ---: | ---: | ---: |")
        names = list(dict.fromkeys(r[0].split(" (")[0] for r in rows))
        for prefix in names:
            mine = [r for r in rows if r[0].split(" (")[0] == prefix]
            wall = sorted(r[1] / r[2] for r in mine)[len(mine) // 2]
            per_core = sorted(r[1] / r[3] for r in mine)[len(mine) // 2]
            cost = 1e6 / per_core
            print(f"| {mine[0][0]} | {wall:.0f} | {per_core:.0f} | {cost:.1f} |")
        print("\nPer core against Locust FastHttpUser, run by run:\n")
        locust_runs = [r[1] / r[3] for r in rows if r[0].startswith("locust Fast")]
        for prefix in names:
            if not prefix.startswith("chaoskit"):
                continue
            mine = [r[1] / r[3] for r in rows if r[0].split(" (")[0] == prefix]
            ratios = [m / f for m, f in zip(mine, locust_runs, strict=False)]
            text = " / ".join(f"{x:.1f}x" for x in ratios)
            print(f"- {prefix}: {text}")
        if args.latency_off:
            return
        print("\n## Latency at a fixed 500 requests/s (ms)\n")
        print("| generator | reported p50 | p99 | wire p50 | wire p99 | lag p50 |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        capture = Capture(port, tmp / "open.pcap")
        result, _, _ = chaoskit(args, "open", 64, 500)
        wire = capture.stop()
        print(
            f"| chaoskit open, from intended start | {result['latency_p50']:.3f} | "
            f"{result['latency_p99']:.3f} | {percentile(wire, 50):.3f} | "
            f"{percentile(wire, 99):.3f} | {result['lag_p50']:.3f} |"
        )
        print(
            f"| chaoskit open, from actual send | {result['service_p50']:.3f} | "
            f"{result['service_p99']:.3f} | {percentile(wire, 50):.3f} | "
            f"{percentile(wire, 99):.3f} | |"
        )
        capture = Capture(port, tmp / "locust.pcap")
        result, _ = locust(args, "Fast", 10, 50, tmp)
        wire = capture.stop()
        print(
            f"| locust FastHttpUser (10 users x 50/s) | {result['latency_p50']:.3f} | "
            f"{result['latency_p99']:.3f} | {percentile(wire, 50):.3f} | "
            f"{percentile(wire, 99):.3f} | |"
        )
        if args.profile:
            _, _, out = chaoskit(args, "closed", 64, 0, profile=True)
            print("\n## Profile (chaoskit closed, cProfile, tottime)\n")
            print(textwrap.indent(out.split("RESULT")[0][-6000:], "    "))
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load")
    sub = parser.add_subparsers(dest="command")
    g = sub.add_parser("gen", help="the chaoskit generator (internal)")
    g.add_argument("--url", required=True)
    g.add_argument("--model", choices=["open", "closed"], default="closed")
    g.add_argument("--users", type=int, default=64)
    g.add_argument("--rate", type=float, default=1000)
    g.add_argument("--cap", type=int, default=512, help="open model: in-flight cap")
    g.add_argument("--duration", type=float, default=10)
    g.add_argument("--profile", action="store_true")
    g.add_argument("--classes", type=int, default=0, help="AutoArr's first N classes")
    g.add_argument("--processes", type=int, default=1, help="generator processes")
    parser.add_argument("--locust", default="/tmp/locustvenv/bin/locust")  # noqa: S108
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--classes", action="store_true", help="also run chaoskit with six classes"
    )
    parser.add_argument(
        "--processes", type=int, default=2,
        help="also run chaoskit with this many generator processes (1: not)",
    )  # fmt: skip
    parser.add_argument(
        "--cpus", default="0",
        help="the generators' CPUs (taskset list), e.g. 0 or 0,1",
    )  # fmt: skip
    parser.add_argument("--server-cpu", default="1", help="nginx's CPU (taskset list)")
    parser.add_argument(
        "--no-latency", dest="latency_off", action="store_true",
        help="throughput only (no tcpdump latency runs)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.command == "gen":
        gen(args)
    else:
        bench(args)


if __name__ == "__main__":
    main()
