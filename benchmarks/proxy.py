"""Benchmark ``chaoskit proxy`` against a direct connection to the same upstream.

Run: ``.venv/bin/python -m benchmarks.proxy`` (``make bench``). One run measures,
each as a ratio against a direct connection on the same machine:

1. round trips of 64-byte messages over one persistent connection (p50, p99,
   mean): what the proxy adds per round trip, i.e. over two hops;
2. a new connection per request (connect, 64 B there and back, close), one at a
   time: connections per second;
3. bulk throughput one way (upstream to client, MB = 10**6 bytes) with no toxic,
   and through a 50 ms ``latency`` toxic on that stream;
4. HTTP/1.1 round trips (a small GET and its 200, one keep-alive connection)
   direct, through a plain TCP route, and through a ``protocol = "http"`` route
   with no HTTP fault (the request parsed, re-sent and logged): what the HTTP
   view adds.

Layout: the proxy is its own process (``python -m chaoskit proxy --port 0``),
pinned to CPU 0; this process (the load client, plain blocking sockets) and the
upstream (a uvloop echo server and a byte source) share CPU 1. The upstream is
the same process for both paths, so its cost cancels out of the ratios. Every
path gets a warm-up, then ``--reps`` interleaved repetitions (direct and proxy
alternate which goes first); the table shows medians across repetitions. Every
loop is bounded by a count and a deadline, and the whole run by ``--budget``.

Results: a table on stdout and JSON in ``benchmarks/out/``, with the proxy's CPU
per unit of work (schedstat) and the load other processes put on the machine
meanwhile (it is shared). ``--profile perf|py-spy`` also samples the proxy
(figures from such a run are perturbed: the profiler shares CPU 1 with the
client); ``--proxy-src DIR`` runs the proxy from another tree, for before/after.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import platform
import re
import select
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

OUT_DIR = Path(__file__).resolve().parent / "out"
PROXY_CPU = 0
LOAD_CPU = 1
MSG = bytes(range(64))  # one small request/reply
MB = 1_000_000
MiB = 1 << 20
LATENCY_MS = 50
PROXY_ARGS = ["--host", "127.0.0.1", "--port", "0", "--seed", "1"]
# Counted on the proxy by --profile perf-stat: where a round trip's time goes.
PERF_STAT_PROXY = [
    "syscalls:sys_enter_epoll_wait",
    "syscalls:sys_enter_epoll_pwait",
    "syscalls:sys_enter_read",
    "syscalls:sys_enter_write",
    "syscalls:sys_enter_writev",
    "context-switches",
    "sched:sched_wakeup",
    "task-clock",
]
# A blocking socket with SO_RCVTIMEO: no poll() per call (as settimeout adds),
# yet a stuck peer cannot hang the run.
RECV_TIMEOUT_S = 5


# -- the upstream: echo and byte source (its own process, uvloop) ----------------------


class _Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def eof_received(self) -> bool:
        return False  # close when the client does


_BLOCK = bytes(MiB)


class _Source(asyncio.Protocol):
    """Reads an 8-byte big-endian count, then sends that many bytes."""

    def __init__(self) -> None:
        self.head = b""
        self.left = 0
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport
        transport.set_write_buffer_limits(high=4 * MiB)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.head += data
        if len(self.head) >= 8:
            self.left = int.from_bytes(self.head[:8], "big")
            self.head = self.head[8:]
            self._pump()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._pump()

    def _pump(self) -> None:
        while self.left > 0 and not self.paused:
            n = min(self.left, MiB)
            self.transport.write(_BLOCK if n == MiB else _BLOCK[:n])
            self.left -= n

    def eof_received(self) -> bool:
        return False


HTTP_REQUEST = b"GET /items/7 HTTP/1.1\r\nHost: bench\r\nX-Request-Id: r-1\r\n\r\n"
HTTP_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class _HttpOk(asyncio.Protocol):
    """A minimal HTTP/1.1 server: each request (no body) gets HTTP_RESPONSE."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            self.buf = self.buf[end + 4 :]
            self.transport.write(HTTP_RESPONSE)

    def eof_received(self) -> bool:
        return False


def run_upstream() -> None:
    """Serve echo, source and HTTP on loopback until SIGTERM; print the ports."""
    import uvloop

    async def main() -> None:
        loop = asyncio.get_running_loop()
        echo = await loop.create_server(_Echo, "127.0.0.1", 0, backlog=4096)
        source = await loop.create_server(_Source, "127.0.0.1", 0, backlog=4096)
        http = await loop.create_server(_HttpOk, "127.0.0.1", 0, backlog=4096)
        ports = [s.sockets[0].getsockname()[1] for s in (echo, source, http)]
        print(f"upstream echo={ports[0]} source={ports[1]} http={ports[2]}", flush=True)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        await stop.wait()

    uvloop.run(main())


# -- child processes -------------------------------------------------------------------


def _pinned(cpu: int | None, argv: list[str]) -> list[str]:
    # taskset execs the command, so the PID we get is the Python process itself.
    return argv if cpu is None else ["taskset", "-c", str(cpu), *argv]


def _spawn(
    argv: list[str], pattern: str, log: Path, src: str | None = None
) -> tuple[subprocess.Popen[bytes], re.Match[str]]:
    """Start a child and wait (20 s at most) for the line that says it is up."""
    with log.open("wb") as err:
        # ``-m`` puts the working directory first on sys.path: run from ``src``.
        env = {**os.environ, "PYTHONPATH": src} if src else None
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=err, env=env, cwd=src
        )
    assert proc.stdout is not None
    seen = b""
    deadline = time.monotonic() + 20.0  # a loaded machine starts Python slowly
    while time.monotonic() < deadline and proc.poll() is None:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            seen += chunk
            match = re.search(pattern, seen.decode(errors="replace"))
            if match:
                return proc, match
    _stop(proc)
    raise RuntimeError(f"{argv} did not start: {seen!r}; see {log}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM by PID, then SIGKILL if it has not gone within 5 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    if proc.stdout is not None:
        proc.stdout.close()


# -- the load client (blocking sockets) ------------------------------------------------


def _client(addr: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(addr, timeout=RECV_TIMEOUT_S)
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(
        socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", RECV_TIMEOUT_S, 0)
    )
    return sock


def _exchange(
    sock: socket.socket, view: memoryview, message: bytes = MSG, size: int = len(MSG)
) -> None:
    """Send ``message``, read ``size`` bytes of reply into ``view``."""
    sock.sendall(message)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:])
        if n == 0:
            raise ConnectionError("the upstream closed mid-reply")
        got += n


def round_trips(
    addr: tuple[str, int],
    count: int,
    seconds: float,
    message: bytes = MSG,
    reply: bytes = MSG,
) -> list[int]:
    """Round-trip times (ns) of ``message`` and its ``reply`` over one connection
    (64 bytes echoed, or an HTTP GET and its 200)."""
    buf = bytearray(len(reply))
    view = memoryview(buf)
    samples: list[int] = []
    clock = time.perf_counter_ns
    with _client(addr) as sock:
        end = clock() + int(seconds * 1e9)
        for _ in range(count):
            t0 = clock()
            _exchange(sock, view, message, len(reply))
            t1 = clock()
            samples.append(t1 - t0)
            if t1 > end:
                break
    if buf != reply:
        raise RuntimeError("the reply came back altered")
    return samples


def connects(addr: tuple[str, int], count: int, seconds: float) -> dict[str, float]:
    """Connections per second, one at a time: connect, 64 B there and back, close."""
    buf = bytearray(len(MSG))
    view = memoryview(buf)
    clock = time.perf_counter_ns
    t0 = clock()
    end = t0 + int(seconds * 1e9)
    done = 0
    for _ in range(count):
        with _client(addr) as sock:
            _exchange(sock, view)
        done += 1
        if clock() > end:
            break
    return {"conn_s": done / ((clock() - t0) / 1e9), "n": done}


def bulk(addr: tuple[str, int], nbytes: int, seconds: float) -> dict[str, float]:
    """Ask the source for ``nbytes`` and time them: first byte to last byte.

    The steady rate leaves out the time to the first byte (50 ms under the
    latency toxic): that is latency, not throughput. ``total_mb_s`` keeps it.
    """
    buf = bytearray(4 * MiB)
    view = memoryview(buf)
    clock = time.perf_counter_ns
    with _client(addr) as sock:
        t0 = clock()
        end = t0 + int(seconds * 1e9)
        sock.sendall(nbytes.to_bytes(8, "big"))
        first = got = sock.recv_into(view)
        t_first = clock()
        now = t_first
        while got < nbytes and now < end:
            n = sock.recv_into(view)
            if n == 0:
                break
            got += n
            now = clock()
    steady_s = max(now - t_first, 1) / 1e9
    return {
        "mb_s": (got - first) / MB / steady_s,
        "total_mb_s": got / MB / ((now - t0) / 1e9),
        "first_byte_ms": (t_first - t0) / 1e6,
        "bytes": got,
        "complete": got >= nbytes,
    }


def busy_ns() -> int:
    """CPU time the whole machine has spent busy so far (ns, every CPU)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    # user nice system idle iowait irq softirq steal: all but idle and iowait.
    ticks = sum(int(f) for i, f in enumerate(fields[:8]) if i not in (3, 4))
    return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def wait_quiet(max_wait_s: float, threshold: float = 0.15) -> tuple[float, float]:
    """Wait (bounded) for other work on the machine to drop below ``threshold``
    CPUs over half a second; return that load and the seconds waited."""
    start = time.monotonic()
    while True:
        b0, t0 = busy_ns(), time.perf_counter_ns()
        time.sleep(0.5)
        load = (busy_ns() - b0) / (time.perf_counter_ns() - t0)
        waited = time.monotonic() - start
        if load < threshold or waited >= max_wait_s:
            return load, waited


def cpu_ns(pid: int) -> int:
    """CPU time a process has used so far (ns, every thread), from schedstat."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[0])
    return total


# -- statistics and report -------------------------------------------------------------


def _pct(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000


def rtt_stats(samples: list[int]) -> dict[str, Any]:
    s = sorted(samples)
    return {
        "p50_us": _pct(s, 0.50),
        "p99_us": _pct(s, 0.99),
        "mean_us": statistics.fmean(s) / 1000,
        "n": len(s),
    }


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs)


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import uvloop

    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "uvloop": uvloop.__version__,  # type: ignore[attr-defined]
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


# -- the run ---------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.deadline: float = time.monotonic() + args.budget
        self.procs: list[subprocess.Popen[bytes]] = []
        self.spy: subprocess.Popen[bytes] | None = None
        self.busy_pid = 0  # the --busy-poll-us proxy, when there is one
        self.pin = (
            not args.no_pin
            and shutil.which("taskset") is not None
            and len(os.sched_getaffinity(0)) >= 2
        )

    def proxy_pids(self) -> tuple[int, ...]:
        return (self.proxy_pid, self.busy_pid) if self.busy_pid else (self.proxy_pid,)

    def left(self) -> float:
        return self.deadline - time.monotonic()

    @contextlib.contextmanager
    def processes(self) -> Iterator[dict[str, tuple[str, int]]]:
        OUT_DIR.mkdir(exist_ok=True)
        if self.pin:
            os.sched_setaffinity(0, {LOAD_CPU})  # the client; the upstream inherits it
        try:
            up, m = _spawn(
                [sys.executable, "-m", "benchmarks.proxy", "--upstream"],
                r"upstream echo=(\d+) source=(\d+) http=(\d+)",
                OUT_DIR / "upstream.log",
            )
            self.procs.append(up)
            echo = ("127.0.0.1", int(m.group(1)))
            source = ("127.0.0.1", int(m.group(2)))
            http = ("127.0.0.1", int(m.group(3)))
            proxy, m = self._proxy("proxy", [])
            self.proxy_pid = proxy.pid
            self.upstream_pid = up.pid
            paths = {"echo": echo, "source": source, "http": http}
            if self.args.busy_poll_us:
                # The same proxy with --busy-poll-us, on the same CPU, measured
                # in the same run (interleaved) for round trips and bulk.
                busy, busy_m = self._proxy(
                    "busy", ["--busy-poll-us", str(self.args.busy_poll_us)]
                )
                self.busy_pid = busy.pid
                with httpx.Client(base_url=busy_m.group(1), timeout=5) as api:
                    for name, target in (("echo", echo), ("source", source)):
                        paths[f"busy_{name}"] = _create_proxy(api, name, target)
            with httpx.Client(base_url=m.group(1), timeout=5) as api:
                for name, target in (
                    ("echo", echo),
                    ("source", source),
                    ("latency", source),
                    ("http_tcp", http),
                    ("http", http),
                ):
                    paths[f"proxy_{name}"] = _create_proxy(api, name, target)
                api.post(
                    "/chaoskit/proxies/bench_http/http", json={"protocol": "http"}
                ).raise_for_status()
                api.post(
                    "/proxies/bench_latency/toxics",
                    json={
                        "type": "latency",
                        "stream": "downstream",
                        "attributes": {"latency": LATENCY_MS},
                    },
                ).raise_for_status()
            if self.args.profile and self.args.profile != "perf-stat":
                self.spy = self._profiler(proxy.pid)
            yield paths
        finally:
            for proc in reversed(self.procs):
                _stop(proc)
            if self.spy is not None:
                # py-spy writes its output when the proxy exits (stopped above).
                try:
                    self.spy.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    _stop(self.spy)

    def count_events(self) -> dict[str, subprocess.Popen[bytes]]:
        """``perf stat`` on each proxy ("proxy", and "busy" with --busy-poll-us):
        its syscalls, context switches and the wake-ups it makes."""
        exe = shutil.which("perf")
        if exe is None:
            raise RuntimeError("--profile perf-stat: perf is not on PATH")
        pids = {"proxy": self.proxy_pid}
        if self.busy_pid:
            pids["busy"] = self.busy_pid
        counters = {}
        for label, pid in pids.items():
            argv = [
                exe,
                "stat",
                "-x",
                ",",
                "-o",
                str(OUT_DIR / f"perf-stat-{label}.txt"),
            ]
            for event in PERF_STAT_PROXY:
                argv += ["-e", event]
            argv += ["-p", str(pid)]
            counters[label] = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # perf attaches asynchronously: let it, before counting
        return counters

    def events_counted(
        self, counters: dict[str, subprocess.Popen[bytes]], results: dict[str, Any]
    ) -> dict[str, dict[str, float]]:
        """Stop ``perf stat`` and give each proxy's counts per unit of its work:
        per round trip, per connection or per MB (one phase: use --only)."""
        out: dict[str, dict[str, float]] = {}
        for label, counter in counters.items():
            counter.send_signal(signal.SIGINT)
            counter.wait(timeout=10)
            counts: dict[str, float] = {}
            text = (OUT_DIR / f"perf-stat-{label}.txt").read_text()
            for line in text.splitlines():
                fields = line.split(",")
                if len(fields) > 2 and fields[0].replace(".", "").isdigit():
                    counts[fields[2]] = float(fields[0])
            # The busy proxy serves the "busy" paths; the default one the others.
            units = 0.0
            for runs in results.values():
                for path, measured in runs.items():
                    if path == "direct" or (path == "busy") != (label == "busy"):
                        continue
                    for r in measured:
                        units += r["bytes"] / MB if "bytes" in r else r.get("n", 0)
            out[label] = {name: n / max(units, 1) for name, n in counts.items()}
        return out

    def _proxy(
        self, name: str, options: list[str]
    ) -> tuple[subprocess.Popen[bytes], re.Match[str]]:
        """Start a ``chaoskit proxy`` pinned to the proxy CPU."""
        argv = [sys.executable, "-m", "chaoskit", "proxy", *PROXY_ARGS, *options]
        proxy, match = _spawn(
            _pinned(self.args.proxy_cpu if self.pin else None, argv),
            r"API on (http://[\d.]+:\d+)",
            OUT_DIR / f"{name}.log",
            # --proxy-src: another checkout's chaoskit, for before/after runs.
            self.args.proxy_src,
        )
        self.procs.append(proxy)
        return proxy, match

    def _profiler(self, pid: int) -> subprocess.Popen[bytes]:
        tool = self.args.profile
        exe = shutil.which(tool)
        if exe is None:
            raise RuntimeError(f"--profile {tool}: not on PATH")
        phase = self.args.only or "all"
        log = (OUT_DIR / f"{tool}.log").open("wb")
        if tool == "perf":
            # Software clock (this VM has no hardware counters); kernel and
            # uvloop/libuv frames included, where py-spy sees only Python.
            argv = [exe, "record", "-e", "cpu-clock", "-F", "999", "-g"]
            argv += ["-p", str(pid), "-o", str(OUT_DIR / f"perf-{phase}.data")]
        else:
            # Raw collapsed stacks (one line per stack and its sample count).
            argv = [exe, "record", "--pid", str(pid), "--rate", "500"]
            argv += ["--nonblocking", "--format", "raw"]
            argv += ["--output", str(OUT_DIR / f"py-spy-{phase}.txt")]
        # On the load CPU, not the proxy's: it perturbs the client, not the proxy.
        return subprocess.Popen(argv, stdout=log, stderr=log)

    def measure(
        self, measure: Callable[[], dict[str, Any]], label: str = "proxy"
    ) -> dict[str, Any]:
        """One measurement, plus how busy the proxy (the busy-poll one for
        ``label`` "busy") and the machine were."""
        pid = self.busy_pid if label == "busy" else self.proxy_pid
        ours = (*self.proxy_pids(), self.upstream_pid, os.getpid())
        cpu0, mine0, busy0 = cpu_ns(pid), sum(map(cpu_ns, ours)), busy_ns()
        t0 = time.perf_counter_ns()
        result = measure()
        wall = time.perf_counter_ns() - t0
        cpu = cpu_ns(pid) - cpu0
        # Share of one CPU: near 1.0 means CPU-bound, well under means waiting.
        result["proxy_cpu"] = cpu / wall
        if "n" in result:  # round trips or connections
            result["proxy_cpu_us_each"] = cpu / 1000 / result["n"]
        if "bytes" in result:  # CPU per MB moved: steadier than MB/s under load
            result["proxy_cpu_us_per_mb"] = cpu / 1000 / (result["bytes"] / MB)
        # Other people's work on this machine meanwhile (in CPUs; 10 ms ticks):
        # the machine is shared, so say when a figure was taken under load.
        mine = sum(map(cpu_ns, ours)) - mine0
        result["foreign_cpu"] = max(0.0, (busy_ns() - busy0 - mine) / wall)
        return result

    def run(self) -> dict[str, Any]:
        a = self.args
        results: dict[str, Any] = {}
        with self.processes() as p:

            def busy(key: str) -> dict[str, str]:
                return {"busy": f"busy_{key}"} if self.busy_pid else {}

            # Each phase: name, how to measure one path, and the paths.
            phases: list[tuple[str, Callable[[str], dict[str, Any]], dict[str, str]]]
            phases = [
                (
                    "rtt",
                    lambda k: rtt_stats(round_trips(p[k], a.rtt_count, a.rtt_seconds)),
                    {"direct": "echo", "proxy": "proxy_echo", **busy("echo")},
                ),
                (
                    "conn",
                    lambda k: connects(p[k], a.conn_count, a.conn_seconds),
                    {"direct": "echo", "proxy": "proxy_echo"},
                ),
                (
                    "bulk",
                    lambda k: bulk(p[k], a.bulk_mib * MiB, a.bulk_seconds),
                    {"direct": "source", "proxy": "proxy_source", **busy("source")},
                ),
                (
                    "latency",
                    lambda k: bulk(p[k], a.bulk_mib * MiB, a.bulk_seconds),
                    {"proxy": "proxy_latency"},
                ),
                (
                    "http",
                    lambda k: rtt_stats(
                        round_trips(
                            p[k],
                            a.rtt_count,
                            a.rtt_seconds,
                            HTTP_REQUEST,
                            HTTP_RESPONSE,
                        )
                    ),
                    {"direct": "http", "tcp": "proxy_http_tcp", "http": "proxy_http"},
                ),
            ]
            phases = [ph for ph in phases if a.only in (None, ph[0])]
            # Warm-up: every path, every kind of traffic, not recorded.
            for _, measure, paths in phases:
                for key in paths.values():
                    measure(key)
            counter = self.count_events() if a.profile == "perf-stat" else None
            for rep in range(a.reps):
                if self.left() < 0:
                    print(f"budget spent: stopping after {rep} repetitions")
                    break
                for name, measure, paths in phases:
                    order = list(paths.items())
                    if rep % 2:  # alternate which path goes first
                        order.reverse()
                    for label, key in order:
                        runs = results.setdefault(name, {}).setdefault(label, [])
                        run = self.measure(functools.partial(measure, key), label)
                        runs.append(run)
            if counter is not None:
                results["events"] = self.events_counted(counter, results)
            moved = self.pin and a.proxy_cpu != LOAD_CPU
            if moved and a.only in (None, "rtt") and self.left() > 0:
                results["layout"] = self.layouts(p)
            if moved and a.only in (None, "bulk") and self.left() > 0:
                results["bulk_layout"] = self.bulk_layouts(p)
        return results

    def layouts(self, p: dict[str, tuple[str, int]]) -> dict[str, list[Any]]:
        """Round trips with the processes moved, to split the proxy's added
        latency into its own CPU work and the cost of waking another CPU.

        ``same_cpu``: the proxies moved onto the load CPU (no cross-CPU wake-up
        on any path). ``direct_cross``: the upstream moved to the proxy's CPU,
        no proxy (two cross-CPU wake-ups per round trip, as against four
        through the proxy in the main layout).
        """
        a = self.args
        paths = {"direct": "echo", "proxy": "proxy_echo"}
        if self.busy_pid:
            paths["busy"] = "busy_echo"
        out: dict[str, list[Any]] = {f"same_cpu_{label}": [] for label in paths}
        out["direct_cross"] = []

        def rtt(key: str) -> dict[str, Any]:
            return rtt_stats(round_trips(p[key], a.rtt_count, a.rtt_seconds))

        try:
            for pid in self.proxy_pids():
                os.sched_setaffinity(pid, {LOAD_CPU})
            for key in paths.values():
                rtt(key)  # warm-up after the move
            for rep in range(3):
                order = list(paths.items())[:: -1 if rep % 2 else 1]
                for label, key in order:
                    run = self.measure(functools.partial(rtt, key), label)
                    out[f"same_cpu_{label}"].append(run)
            for pid in self.proxy_pids():
                os.sched_setaffinity(pid, {a.proxy_cpu})
            os.sched_setaffinity(self.upstream_pid, {a.proxy_cpu})
            rtt("echo")
            for _ in range(3):
                out["direct_cross"].append(rtt("echo"))
        finally:
            for pid in self.proxy_pids():
                os.sched_setaffinity(pid, {a.proxy_cpu})
            os.sched_setaffinity(self.upstream_pid, {LOAD_CPU})
        return out

    def bulk_layouts(self, p: dict[str, tuple[str, int]]) -> dict[str, list[Any]]:
        """Bulk with the processes moved. ``direct_cross``: the upstream on the
        proxy's CPU, no proxy: the data crosses CPUs once, as against twice
        through the proxy, which splits what the pass-through ratio loses to
        crossing CPUs from the proxy's own cost. ``same_cpu_proxy``: the proxy
        on the load CPU, so nothing crosses.
        """
        a = self.args
        out: dict[str, list[Any]] = {"direct_cross": [], "same_cpu_proxy": []}

        def run(key: str) -> dict[str, Any]:
            return bulk(p[key], a.bulk_mib * MiB, a.bulk_seconds)

        try:
            os.sched_setaffinity(self.upstream_pid, {a.proxy_cpu})
            run("source")  # warm-up after the move
            for _ in range(3):
                out["direct_cross"].append(run("source"))
            os.sched_setaffinity(self.upstream_pid, {LOAD_CPU})
            os.sched_setaffinity(self.proxy_pid, {LOAD_CPU})
            run("proxy_source")
            for _ in range(3):
                out["same_cpu_proxy"].append(
                    self.measure(functools.partial(run, "proxy_source"))
                )
        finally:
            os.sched_setaffinity(self.proxy_pid, {a.proxy_cpu})
            os.sched_setaffinity(self.upstream_pid, {LOAD_CPU})
        return out


def _create_proxy(
    api: httpx.Client, name: str, target: tuple[str, int]
) -> tuple[str, int]:
    """A proxy ``bench_NAME`` in front of ``target``; its listen address."""
    reply = api.post(
        "/proxies",
        json={
            "name": f"bench_{name}",
            "listen": "127.0.0.1:0",
            "upstream": f"127.0.0.1:{target[1]}",
        },
    )
    reply.raise_for_status()
    host, port = reply.json()["listen"].rsplit(":", 1)
    return host, int(port)


def _pair(runs: dict[str, list[dict[str, Any]]], key: str) -> dict[str, float]:
    d, p = _median(runs["direct"], key), _median(runs["proxy"], key)
    return {"direct": d, "proxy": p, "ratio": p / d, "added": p - d}


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    """Medians across repetitions, ratios, and the goals."""
    s: dict[str, Any] = {}
    if "rtt" in results:
        rtt = results["rtt"]
        for key in ("p50_us", "p99_us", "mean_us"):
            s[f"rtt_{key}"] = _pair(rtt, key)
        s["rtt_p50_us"]["cpu"] = _median(rtt["proxy"], "proxy_cpu_us_each")
        if "busy" in rtt:  # the --busy-poll-us proxy, against the same direct runs
            busy = {"direct": rtt["direct"], "proxy": rtt["busy"]}
            for key in ("p50_us", "p99_us", "mean_us"):
                s[f"busy_rtt_{key}"] = _pair(busy, key)
            s["busy_rtt_p50_us"]["cpu"] = _median(rtt["busy"], "proxy_cpu_us_each")
    if "conn" in results:
        s["conn_s"] = _pair(results["conn"], "conn_s")
        s["conn_s"]["cpu"] = _median(results["conn"]["proxy"], "proxy_cpu_us_each")
    if "bulk" in results:
        s["bulk_mb_s"] = _pair(results["bulk"], "mb_s")
        s["bulk_mb_s"]["cpu"] = _median(results["bulk"]["proxy"], "proxy_cpu")
        s["bulk_cpu_us_per_mb"] = _median(
            results["bulk"]["proxy"], "proxy_cpu_us_per_mb"
        )
        if "busy" in results["bulk"]:
            busy = {
                "direct": results["bulk"]["direct"],
                "proxy": results["bulk"]["busy"],
            }
            s["busy_bulk_mb_s"] = _pair(busy, "mb_s")
            s["busy_bulk_mb_s"]["cpu"] = _median(results["bulk"]["busy"], "proxy_cpu")
    if "bulk_layout" in results:
        lay = results["bulk_layout"]
        s["bulk_cross_mb_s"] = _median(lay["direct_cross"], "mb_s")
        same = {"direct": results["bulk"]["direct"], "proxy": lay["same_cpu_proxy"]}
        s["same_cpu_bulk_mb_s"] = _pair(same, "mb_s")
        s["same_cpu_bulk_mb_s"]["cpu"] = _median(lay["same_cpu_proxy"], "proxy_cpu")
    if "latency" in results:
        runs = {"proxy": results["latency"]["proxy"]}
        runs["direct"] = results["bulk"]["direct"] if "bulk" in results else []
        p = _median(runs["proxy"], "mb_s")
        d = _median(runs["direct"], "mb_s") if runs["direct"] else float("nan")
        s["latency_mb_s"] = {"direct": d, "proxy": p, "ratio": p / d}
        s["latency_mb_s"]["cpu"] = _median(runs["proxy"], "proxy_cpu")
        s["latency_cpu_us_per_mb"] = _median(runs["proxy"], "proxy_cpu_us_per_mb")
        s["latency_first_byte_ms"] = _median(runs["proxy"], "first_byte_ms")
        s["latency_complete"] = all(r["complete"] for r in runs["proxy"])
    if "http" in results:
        h = results["http"]
        for key in ("p50_us", "p99_us"):
            tcp = _pair({"direct": h["direct"], "proxy": h["tcp"]}, key)
            over = _pair({"direct": h["direct"], "proxy": h["http"]}, key)
            tcp["cpu"] = _median(h["tcp"], "proxy_cpu_us_each")
            over["cpu"] = _median(h["http"], "proxy_cpu_us_each")
            s[f"http_tcp_{key}"] = tcp
            s[f"http_http_{key}"] = over
        s["http_vs_tcp_p50_us"] = (
            s["http_http_p50_us"]["proxy"] - s["http_tcp_p50_us"]["proxy"]
        )
    if "layout" in results:
        lay = results["layout"]
        same = {"direct": lay["same_cpu_direct"], "proxy": lay["same_cpu_proxy"]}
        s["same_cpu_rtt_p50_us"] = _pair(same, "p50_us")
        s["same_cpu_rtt_p50_us"]["cpu"] = _median(same["proxy"], "proxy_cpu_us_each")
        if "same_cpu_busy" in lay:
            busy = {"direct": lay["same_cpu_direct"], "proxy": lay["same_cpu_busy"]}
            s["same_cpu_busy_rtt_p50_us"] = _pair(busy, "p50_us")
            s["same_cpu_busy_rtt_p50_us"]["cpu"] = _median(
                busy["proxy"], "proxy_cpu_us_each"
            )
        cross = {"direct": lay["direct_cross"], "proxy": lay["direct_cross"]}
        s["direct_cross_rtt_p50_us"] = _median(cross["direct"], "p50_us")
    foreign = [
        r["foreign_cpu"]
        for phase in ("rtt", "conn", "bulk", "latency", "http")
        for runs in results.get(phase, {}).values()
        for r in runs
    ]
    s["foreign_cpu_median"] = statistics.median(foreign) if foreign else 0.0
    s["foreign_cpu_max"] = max(foreign, default=0.0)
    goals: dict[str, bool] = {}
    if "rtt_p50_us" in s:
        goals["added p50 < 100 us (issue)"] = s["rtt_p50_us"]["added"] < 100
        # Two hops per round trip.
        goals["mean overhead per hop < 300 us (Toxiproxy)"] = (
            s["rtt_mean_us"]["added"] / 2 < 300
        )
    if "busy_rtt_p50_us" in s:
        goals["added p50 < 100 us with --busy-poll-us (issue)"] = (
            s["busy_rtt_p50_us"]["added"] < 100
        )
    if "busy_bulk_mb_s" in s:
        goals["pass-through >= 50% of direct with --busy-poll-us (issue)"] = (
            s["busy_bulk_mb_s"]["ratio"] >= 0.5
        )
    if "bulk_mb_s" in s:
        b = s["bulk_mb_s"]
        goals["pass-through >= 1 GB/s or >= 50% of direct (issue)"] = (
            b["proxy"] >= 1000 or b["ratio"] >= 0.5
        )
    if "latency_mb_s" in s:
        goals["through 50 ms latency >= 100 MB/s (Toxiproxy)"] = (
            s["latency_mb_s"]["proxy"] >= 100
        )
    if "http_vs_tcp_p50_us" in s:
        goals['protocol = "http" adds < 50 us p50 over a TCP route (issue 19)'] = (
            s["http_vs_tcp_p50_us"] < 50
        )
    s["goals"] = goals
    return s


def table(s: dict[str, Any], reps: int) -> str:
    head = f"metric (median of {reps} runs)"
    rows = [
        f"{head:<44}{'direct':>9}{'proxy':>9}{'ratio':>8}{'added':>9}{'proxy CPU':>14}"
    ]
    labels = {
        "rtt_p50_us": ("round trip p50 (us)", "{:.1f} us/rt"),
        "rtt_p99_us": ("round trip p99 (us)", ""),
        "rtt_mean_us": ("round trip mean (us)", ""),
        "conn_s": ("new connection per request (conn/s)", "{:.0f} us/conn"),
        "bulk_mb_s": ("bulk one way, no toxic (MB/s)", "{:.0%} busy"),
        "latency_mb_s": (f"bulk, {LATENCY_MS} ms latency toxic (MB/s)", "{:.0%} busy"),
        "busy_rtt_p50_us": ("round trip p50, busy-poll (us)", "{:.1f} us/rt"),
        "busy_rtt_p99_us": ("round trip p99, busy-poll (us)", ""),
        "busy_rtt_mean_us": ("round trip mean, busy-poll (us)", ""),
        "busy_bulk_mb_s": ("bulk one way, no toxic, busy-poll (MB/s)", "{:.0%} busy"),
        "same_cpu_rtt_p50_us": ("round trip p50, all on one CPU (us)", "{:.1f} us/rt"),
        "same_cpu_busy_rtt_p50_us": (
            "round trip p50, one CPU, busy-poll (us)",
            "{:.1f} us/rt",
        ),
        "same_cpu_bulk_mb_s": ("bulk one way, all on one CPU (MB/s)", "{:.0%} busy"),
        "http_tcp_p50_us": ("HTTP GET p50, TCP route (us)", "{:.1f} us/req"),
        "http_http_p50_us": ('HTTP GET p50, protocol = "http" (us)', "{:.1f} us/req"),
        "http_tcp_p99_us": ("HTTP GET p99, TCP route (us)", "{:.1f} us/req"),
        "http_http_p99_us": ('HTTP GET p99, protocol = "http" (us)', "{:.1f} us/req"),
    }
    for key, (label, cpu) in labels.items():
        if key in s:
            v = s[key]
            added = f"{v['added']:>+9.1f}" if "added" in v else " " * 9
            used = cpu.format(v["cpu"]) if cpu and "cpu" in v else ""
            rows.append(
                f"{label:<44}{v['direct']:>9.1f}{v['proxy']:>9.1f}"
                f"{v['ratio']:>7.2f}x{added}{used:>14}"
            )
    for key, label in (
        ("bulk_cpu_us_per_mb", "proxy CPU per MB, no toxic (us)"),
        ("latency_cpu_us_per_mb", "proxy CPU per MB, latency toxic (us)"),
    ):
        if key in s:
            rows.append(f"{label:<44}{'':>9}{s[key]:>9.1f}")
    if "http_vs_tcp_p50_us" in s:
        rows.append(
            f"{'HTTP GET p50: http route minus TCP route (us)':<44}"
            f"{'':>9}{s['http_vs_tcp_p50_us']:>+9.1f}"
        )
    if "bulk_cross_mb_s" in s:
        rows.append(
            f"{'bulk one way, direct, upstream on CPU 0':<44}"
            f"{s['bulk_cross_mb_s']:>9.1f}"
        )
    if "direct_cross_rtt_p50_us" in s:
        rows.append(
            f"{'round trip p50, direct, upstream on CPU 0':<44}"
            f"{s['direct_cross_rtt_p50_us']:>9.1f}"
        )
    rows.append(
        f"\nother processes' load during measurements: median "
        f"{s['foreign_cpu_median']:.2f} CPU, max {s['foreign_cpu_max']:.2f} CPU"
        + (
            "  (machine not quiet: figures perturbed)"
            if s["foreign_cpu_median"] > 0.1
            else ""
        )
    )
    rows.append("")
    for goal, ok in s["goals"].items():
        rows.append(f"{'PASS' if ok else 'MISS'}  {goal}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.proxy", description=__doc__)
    ap.add_argument("--upstream", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument(
        "--wait-quiet",
        type=float,
        default=20.0,
        help="seconds at most to wait for other work on the machine to calm down",
    )
    ap.add_argument("--budget", type=float, default=100.0, help="seconds, whole run")
    ap.add_argument("--rtt-count", type=int, default=20_000)
    ap.add_argument("--rtt-seconds", type=float, default=1.0)
    ap.add_argument("--conn-count", type=int, default=2_000)
    ap.add_argument("--conn-seconds", type=float, default=1.0)
    ap.add_argument("--bulk-mib", type=int, default=256)
    ap.add_argument("--bulk-seconds", type=float, default=3.0)
    ap.add_argument("--only", choices=["rtt", "conn", "bulk", "latency", "http"])
    ap.add_argument(
        "--profile",
        choices=["py-spy", "perf", "perf-stat"],
        help="sample the proxy process (perf-stat: count its syscalls and "
        "context switches per unit of work; use with --only)",
    )
    ap.add_argument("--no-pin", action="store_true", help="do not pin to CPUs")
    ap.add_argument(
        "--proxy-cpu",
        type=int,
        default=PROXY_CPU,
        help=f"CPU for the proxy ({LOAD_CPU} = share the client's, to compare)",
    )
    ap.add_argument("--proxy-src", help="run the proxy from this source tree")
    ap.add_argument(
        "--busy-poll-us",
        type=int,
        default=50,
        help="also measure a proxy run with --busy-poll-us N, interleaved with "
        "the default one (0: do not)",
    )
    ap.add_argument("--tag", default="", help="suffix for the JSON file name")
    args = ap.parse_args(argv)
    if args.upstream:
        run_upstream()
        return 0
    load, waited = wait_quiet(args.wait_quiet)
    started = time.monotonic()
    bench = Bench(args)
    results = bench.run()
    summary = summarise(results)
    elapsed = time.monotonic() - started
    info = machine()
    pinning = (
        f"proxy on CPU {args.proxy_cpu}; client and upstream on CPU {LOAD_CPU}"
        if bench.pin
        else "not pinned"
    )
    print(
        f"chaoskit proxy benchmark: {info['cpu']} x{info['nproc']}, "
        f"Linux {info['kernel']}, Python {info['python']}, uvloop {info['uvloop']}"
    )
    print(
        f"{pinning}; {elapsed:.1f} s; load before: {load:.2f} CPU "
        f"after waiting {waited:.1f} s for a quiet machine\n"
    )
    print(table(summary, args.reps))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    doc = {
        "machine": info,
        "command": " ".join([sys.executable, "-m", "benchmarks.proxy", *sys.argv[1:]]),
        "args": vars(args),
        "pinning": pinning,
        "elapsed_s": elapsed,
        "load_before": {"cpus": load, "waited_s": waited},
        "summary": summary,
        "runs": results,
    }
    name = f"proxy-{stamp}{'-' + args.tag if args.tag else ''}.json"
    (OUT_DIR / name).write_text(json.dumps(doc, indent=2) + "\n")
    (OUT_DIR / "proxy-latest.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nJSON: {OUT_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
