"""Fuzzing benchmark: chaoskit's payload fuzzer against the event sink, and
Schemathesis on the sink's OpenAPI document, on the same broken rules.

Usage (from the repository root, with the ``bench`` group installed)::

    .venv/bin/python -m pip install --group bench
    .venv/bin/python -m benchmarks.fuzz --seeds 3 --limit 60

Measures, each run bounded in time:

* payloads generated per second (Hypothesis drawing cases, no network);
* requests sent per second against the correct sink (generation, the
  request, the checks; one worker thread, as ``chaoskit fuzz`` runs);
* per ``--break`` rule of the sink, per seed: the time to the first failure
  and the minimal payload reported (its size in bytes and fields), for
  chaoskit with every rule, chaoskit with the one rule that finds it
  (``--rule``), and ``st run`` (Schemathesis, every check, ``--mode all``,
  ``--max-failures 1``) on ``/openapi.json``, ``POST /events`` only.

Schemathesis's time is its wall time to the end of the run (it stops at the
first failure), including its start-up (about a second); chaoskit's is from
the first request to the first failing answer, and the minimal payload is
what its shrinker made of it within ``--shrink`` seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from hypothesis import HealthCheck, Phase, given, seed, settings

from chaoskit.fuzz.checks import CheckConfig, Failure, Outcome
from chaoskit.fuzz.engine import FuzzConfig, FuzzSession, fuzz
from chaoskit.fuzz.model import load_model
from chaoskit.fuzz.rules import Case, Rule
from chaoskit.fuzz.strategies import cases

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "fixtures" / "eventsink" / "schema.json"
MODEL = load_model(SCHEMA)
#: The sink's --break rules: the check that catches each, and the rule to focus.
BREAKS = {
    "progress-range": ("no-5xx", Rule.OUT_OF_RANGE),
    "missing-field": ("invalid-refused", Rule.MISSING_REQUIRED),
}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Sink:
    """``python -m fixtures.eventsink`` on a free port, stopped by PID."""

    def __init__(self, *flags: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fixtures.eventsink", "--port", str(self.port),
             *flags],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the event sink did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def generated_per_second(count: int) -> float:
    """Cases Hypothesis draws per second (no network), over ``count`` cases."""
    drawn = [0]

    @seed(1)
    @settings(max_examples=count, database=None, deadline=None,
              phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(cases(MODEL))
    def draw(case: Case) -> None:
        drawn[0] += 1

    started = time.perf_counter()
    draw()
    return drawn[0] / (time.perf_counter() - started)


def sent_per_second(seconds: float) -> tuple[float, int]:
    """Requests sent and judged per second against the correct sink."""
    with Sink() as sink:
        result = fuzz(
            MODEL,
            FuzzConfig(url=sink.url, seed=1, max_examples=10**6, time_limit=seconds),
        )
    return result.requests / result.elapsed, result.requests


@dataclass
class Found:
    tool: str
    rule: str
    seed: int
    seconds: float | None
    requests: int | None
    size: int | None
    fields: int | None
    example: str
    own_seconds: float | None = None
    """Schemathesis's own duration (its summary line), start-up left out."""


def _measure(body: bytes | str | None) -> tuple[int | None, int | None]:
    if body is None:
        return None, None
    raw = body.encode() if isinstance(body, str) else body
    try:
        value = json.loads(raw)
    except ValueError:
        return len(raw), None
    return len(raw), len(value) if isinstance(value, dict) else None


def chaoskit_first(
    brk: str, seed_value: int, focus: bool, limit: float, shrink: float
) -> Found:
    check, rule = BREAKS[brk]
    rules = frozenset({rule, Rule.VALID}) if focus else frozenset(Rule)
    first: list[tuple[float, int]] = []
    sent = [0]
    with (
        Sink("--break", brk) as sink,
        httpx.Client(base_url=sink.url, timeout=3.0, trust_env=False) as client,
    ):
        config = FuzzConfig(url=sink.url, seed=seed_value, max_examples=10**6,
                            time_limit=limit, rules=rules,
                            checks=CheckConfig(budget=2.0))  # fmt: skip

        def observe(case: Case, outcome: Outcome, failure: Failure | None) -> None:
            sent[0] += 1
            if failure is not None and failure.check == check and not first:
                first.append((time.monotonic(), sent[0]))

        started = time.monotonic()
        session = FuzzSession(MODEL, config, client, observe).start()
        while not session.join(0.05):
            if first and time.monotonic() > first[0][0] + shrink:
                session.stop()  # the time to shrink is up
        result = session.finish()
    hits = [f for f in result.findings if f.check == check]
    size, fields = _measure(hits[0].body if hits else None)
    return Found(
        "chaoskit --rule " + rule.value if focus else "chaoskit (every rule)",
        brk, seed_value,
        first[0][0] - started if first else None,
        first[0][1] if first else None, size, fields,
        (hits[0].body or b"").decode("utf-8", "replace") if hits else "",
    )  # fmt: skip


_CURL_BODY = re.compile(r"-d '(.*?)' http")


def schemathesis_first(brk: str, seed_value: int, limit: float) -> Found:
    with Sink("--break", brk) as sink, tempfile.TemporaryDirectory() as tmp:
        command = [
            str(Path(sys.executable).with_name("st")), "run",
            f"{sink.url}/openapi.json", "--checks", "all", "--mode", "all",
            "--seed", str(seed_value), "--max-failures", "1",
            "--max-time", str(int(limit)), "--include-path", "/events",
            "--warnings", "off", "--report", "ndjson", "--report-dir", tmp,
        ]  # fmt: skip
        started = time.monotonic()
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=limit + 30,
            check=False, cwd=tmp,
        )  # fmt: skip
        took = time.monotonic() - started
    found = done.returncode == 1 and "Reproduce with" in done.stdout
    match = _CURL_BODY.search(done.stdout)
    body = match.group(1) if match else None
    generated = re.search(r"(\d+) generated", done.stdout)
    own = re.search(r"failures? in ([\d.]+)s", done.stdout)
    size, fields = _measure(body)
    return Found(
        "schemathesis", brk, seed_value, took if found else None,
        int(generated.group(1)) if generated else None, size, fields, body or "",
        float(own.group(1)) if own else None,
    )  # fmt: skip


def machine() -> str:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    from importlib.metadata import version

    return (
        f"{os.cpu_count()} vCPUs ({cpu}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, hypothesis {version('hypothesis')}, "
        f"schemathesis {version('schemathesis')}, httpx {version('httpx')}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fuzz")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--limit", type=float, default=60.0,
                        help="seconds per run at most")  # fmt: skip
    parser.add_argument("--shrink", type=float, default=10.0,
                        help="seconds chaoskit shrinks after a failure")  # fmt: skip
    parser.add_argument("--send-seconds", type=float, default=10.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    print(machine(), flush=True)
    gen = generated_per_second(3000)
    print(f"generated: {gen:.0f} payloads/s", flush=True)
    rate, total = sent_per_second(args.send_seconds)
    print(
        f"sent: {rate:.0f} requests/s ({total} in {args.send_seconds:g} s)", flush=True
    )
    rows: list[Found] = []
    for brk in BREAKS:
        for seed_value in range(1, args.seeds + 1):
            for found in (
                chaoskit_first(brk, seed_value, False, args.limit, args.shrink),
                chaoskit_first(brk, seed_value, True, args.limit, args.shrink),
                schemathesis_first(brk, seed_value, args.limit),
            ):
                rows.append(found)
                shown = (
                    "not found" if found.seconds is None else f"{found.seconds:.2f}s"
                )
                if found.own_seconds is not None:
                    shown += f" (its own {found.own_seconds:.2f}s)"
                print(f"{brk} seed {seed_value} {found.tool}: {shown}, "
                      f"{found.requests} requests, {found.size} bytes, "
                      f"{found.fields} fields: {found.example[:160]}",
                      flush=True)  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({
            "machine": machine(), "command": shlex.join(sys.argv),
            "generated_per_s": gen, "sent_per_s": rate,
            "runs": [vars(r) for r in rows],
        }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
