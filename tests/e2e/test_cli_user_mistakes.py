"""Anything a user can type gets exit 2 and a message, never a traceback.

Exit 1 means "a hypothesis failed": a crash on a long name, a report directory
under a file or a deeply nested value used to show up as exactly that (issue
13, item 8). Each case here is one mistake, run through the real CLI.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

VALID = """
[experiment]
name = "{name}"
duration = "2s"

[[services]]
name = "{service}"
kind = "process"
command = ["python", "-c", "import time; time.sleep(30)"]

[target]
base_url = "http://127.0.0.1:9"

[load]
rate = 1

[[load.tasks]]
name = "a"
path = "/"
{extra}
"""


def write(tmp_path: Path, *, name: str = "ok", service: str = "svc",
          extra: str = "") -> Path:  # fmt: skip
    path = tmp_path / "experiment.toml"
    path.write_text(VALID.format(name=name, service=service, extra=extra))
    return path


def nested(depth: int) -> str:
    return "x = " + "[" * depth + "]" * depth


def _file_under_a_file(tmp_path: Path) -> list[str]:
    (tmp_path / "a-file").write_text("")
    return ["run", str(write(tmp_path)), "--report-dir", str(tmp_path / "a-file" / "r")]


CASES = {
    # case: (arguments from tmp_path, what the message says)
    "a 300-character experiment name": (
        lambda p: ["run", str(write(p, name="x" * 300)), "--report-dir", str(p / "r")],
        "experiment.name",
    ),
    "a 300-character experiment name (default report dir)": (
        lambda p: ["run", str(write(p, name="x" * 300))],
        "experiment.name",
    ),
    "a 300-character service name": (
        lambda p: ["run", str(write(p, service="s" * 300)),
                   "--report-dir", str(p / "r")],
        "services[0].name",
    ),
    "a service name with a slash": (
        lambda p: ["validate", str(write(p, service="a/b"))],
        "services[0].name",
    ),
    "a stream task with the open model": (
        lambda p: ["run", str(write(p, extra='kind = "sse"')),
                   "--report-dir", str(p / "r")],
        "load.tasks[0].kind: stream tasks need the closed model",
    ),
    "--report-dir under a file": (_file_under_a_file, "Not a directory"),
    "--report-dir that is a file": (
        lambda p: ["run", str(write(p)), "--report-dir", str(write(p))],
        "is a file",
    ),
    "--report-dir where nothing may be written": (
        lambda p: ["run", str(write(p)), "--report-dir", "/proc/chaoskit-test/r"],
        "cannot write there",
    ),
    "a deeply nested array (validate)": (
        lambda p: ["validate", str(write(p, extra=nested(5000)))],
        "nested too deeply",
    ),
    "a deeply nested inline table (run)": (
        lambda p: ["run", str(write(p, extra="x = " + "{a=" * 500 + "1" + "}" * 500)),
                   "--report-dir", str(p / "r")],
        "nested too deeply",
    ),
    "a load.rate no machine can offer": (
        lambda p: ["run", str(_bytes(p, VALID.format(
            name="ok", service="svc", extra="").replace("rate = 1", "rate = 1e8")
            .encode())), "--report-dir", str(p / "r")],
        "load.rate: asks for 100,000,000 requests/s",
    ),
    "FILE is a directory": (lambda p: ["run", str(p)], "is a directory"),
    "FILE does not exist": (
        lambda p: ["validate", str(p / "missing.toml")],
        "No such file",
    ),
    "FILE is not UTF-8": (
        lambda p: ["validate", str(_bytes(p, b"[experiment]\nname = '\xff\xfe'\n"))],
        "not UTF-8",
    ),
    "FILE is huge": (
        lambda p: ["validate", str(_bytes(p, b"#" * (5 * 1024 * 1024)))],
        "too large",
    ),
    "FILE is endless (/dev/zero)": (lambda p: ["validate", "/dev/zero"], "too large"),
    "a --set of a key that does not exist": (
        lambda p: ["validate", str(write(p)), "--set", "nope.x=1"],
        "--set nope.x",
    ),
    "a report JOURNAL that is not a journal": (
        lambda p: ["report", str(write(p))],
        "cannot read journal",
    ),
}  # fmt: skip


def _bytes(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "raw.toml"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", list(CASES))
def test_a_user_mistake_exits_2_with_a_message_and_no_traceback(tmp_path, case):
    arguments, expected = CASES[case]
    # In tmp_path: the default report directory (reports/...) goes there.
    result = subprocess.run(
        [sys.executable, "-m", "chaoskit", *arguments(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    assert expected in output
    # Nothing was started: no ledger, no report directory made.
    assert not list(tmp_path.rglob("ledger.json"))
    assert not (tmp_path / "reports").exists()
    assert not (tmp_path / "r").exists()
