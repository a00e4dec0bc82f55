"""Issue 13.6 and 12.7: a secret given any way a user gives one is in no file a
run writes and never on the console; ids in payloads are not secrets.

Real commands: `chaoskit validate`, `run --dry-run`, `run` (a real process
service, the embedded proxy, real load) and `fuzz` against the event sink. Every
file in the report directory (journal, report.json, report.html, junit.xml,
CSVs, chaoskit.log, the service logs) and every console stream is searched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import free_port
from tests.integration.fuzz.eventsink import SCHEMA, eventsink

REPO = Path(__file__).resolve().parents[2]

JWT = "pl4nted-jwt-s3cret"  # {secret.CK_E2E_JWT}, a --jwt-secret flag value
DB_PASSWORD = "pl4nted-db-passw0rd"  # noqa: S105 - planted by --set
URL_PASSWORD = "pl4nted-url-pw"  # noqa: S105 - in a postgresql:// URL
API_KEY = "pl4nted-api-k3y"  # --var of a `secret = true` variable, a header
SINK_KEY = "pl4nted-sink-k3y"  # chaoskit fuzz -H 'X-Sink-Key: ...'
SECRETS = (JWT, DB_PASSWORD, URL_PASSWORD, API_KEY)


def write_experiment(tmp_path: Path) -> Path:
    port = free_port()
    path = tmp_path / "secrets.toml"
    path.write_text(f"""
[vars]
api_key = {{ secret = true }}
rate = 10

[environments.ci]
vars = {{ rate = 20 }}

[experiment]
name = "secrets"
duration = "2s"
seed = 5

[[services]]
name = "app"
kind = "process"
command = ["python", "-m", "tests.e2e.app", "--port", "{port}",
           "--jwt-secret", "{{secret.CK_E2E_JWT}}"]
health = "http://127.0.0.1:{port}/health"

[services.env]
DATABASE_URL = "postgresql://app:{URL_PASSWORD}@127.0.0.1:5432/app"
DB_PASSWORD = "changeme"

[[proxy.routes]]
name = "app"
upstream = "127.0.0.1:{port}"

[target]
base_url = "http://{{routes.app.listen}}"
headers = {{ X-Api-Key = "{{vars.api_key}}" }}

[load]
rate = "{{vars.rate}}"

[[load.tasks]]
name = "ok"
path = "/ok"

[[hypotheses]]
name = "no errors"
phase = "all"
metric = "error_rate"
below = "5%"
""")
    return path


def chaoskit(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CK_E2E_JWT": JWT}
    return subprocess.run(
        [sys.executable, "-m", "chaoskit", *args],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip


def leaks(secrets: tuple[str, ...], *texts: str, directory: Path | None = None):
    """(where, secret) for every secret found in the texts or any file."""
    found = [
        (f"console #{i}", s)
        for i, text in enumerate(texts)
        for s in secrets
        if s in text
    ]
    for file in sorted(directory.rglob("*")) if directory else []:
        if file.is_file():
            data = file.read_bytes()
            found += [(str(file), s) for s in secrets if s.encode() in data]
    return found


def test_no_secret_in_any_artefact_or_on_the_console(tmp_path):
    path = write_experiment(tmp_path)
    reports = tmp_path / "report"
    given = ("--set", f"services.0.env.DB_PASSWORD={DB_PASSWORD}",
             "--var", f"api_key={API_KEY}", "--env", "ci")  # fmt: skip
    checked = chaoskit("validate", str(path), *given)
    dry = chaoskit("run", str(path), "--dry-run", *given)
    run = chaoskit("run", str(path), "--report-dir", str(reports), *given)
    assert checked.returncode == 0, checked.stderr
    assert dry.returncode == 0, dry.stderr
    assert run.returncode == 0, run.stdout + run.stderr
    consoles = [r.stdout + r.stderr for r in (checked, dry, run)]
    assert leaks(SECRETS, *consoles, directory=reports) == []
    # Masked, not dropped: the places still say there was a value.
    banner = (reports / "app.stdout.log").read_text()
    assert "--jwt-secret ***" in banner
    assert "--jwt-secret ***" in checked.stdout
    report = json.loads((reports / "report.json").read_text())
    assert "DB_PASSWORD=***" in report["command"]
    assert "api_key=***" in report["command"]
    assert {"report.json", "report.html", "junit.xml", "journal.jsonl"} <= {
        p.name for p in reports.iterdir()
    }
    # The environment chosen is recorded (issue 16.3), its values used.
    assert report["experiment"]["environment"] == "ci"
    assert "environment ci" in (reports / "report.html").read_text()
    assert "Env:" in run.stdout
    assert "open model: 20 requests/s" in checked.stdout


def test_fuzz_masks_header_values_and_keeps_ids(tmp_path):
    reports = tmp_path / "fuzz"
    with eventsink("--break", "progress-range", log=tmp_path / "sink.log") as url:
        done = subprocess.run(
            [sys.executable, "-m", "chaoskit", "fuzz", "--schema", str(SCHEMA),
             "--url", url, "--max-examples", "300", "--rule", "out-of-range",
             "-H", f"X-Sink-Key: {SINK_KEY}", "-H", "X-Trace: visible-trace",
             "--show-header", "x-trace", "--report-dir", str(reports)],
            cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert leaks((SINK_KEY,), done.stdout, done.stderr, directory=reports) == []
    assert "X-Sink-Key: ***" in done.stdout
    assert "X-Trace: visible-trace" in done.stdout  # --show-header
    findings = json.loads((reports / "findings.json").read_text())["findings"]
    bodies = [json.loads(f["body"]) for f in findings if f.get("body")]
    # The minimal failing payload is the one sent: its session_id is kept.
    ids = [b["session_id"] for b in bodies if isinstance(b, dict) and "session_id" in b]
    assert ids
    assert "***" not in ids


TOKEN = "pl4nted-b34rer-t0ken"  # noqa: S105 - {secret.CK_E2E_TOKEN}
BASIC = "pl4nted-h34lth-pw"  # a password in a health URL


def test_no_secret_in_fuzz_curl_lines_or_in_errors_naming_a_url(tmp_path):
    """Two places the first test does not reach: the curl reproductions of an
    `invalid-payloads` fault's findings (sent with the target's Authorization
    header), and an error message that echoes a URL with a password in it (a
    health check that never answers: the run aborts and says where it looked).
    Every file of both report directories (the ledger and the guardian's log
    too) and the consoles are searched."""
    port, closed = free_port(), free_port()
    fuzzed = tmp_path / "fuzzed.toml"
    fuzzed.write_text(f"""
[experiment]
name = "fuzzed"
duration = "5s"
seed = 3

[[services]]
name = "sink"
kind = "process"
command = ["python", "-m", "fixtures.eventsink", "--port", "{port}",
           "--break", "missing-field"]
health = "http://127.0.0.1:{port}/health"

[target]
base_url = "http://127.0.0.1:{port}"
headers = {{ Authorization = "Bearer {{secret.CK_E2E_TOKEN}}" }}

[load]
rate = 5

[[load.tasks]]
name = "health"
path = "/health"

[[faults]]
name = "garbage"
kind = "invalid-payloads"
at = "1s"
for = "3s"
rate = 20
path = "/events"
schema = "{REPO / "fixtures" / "eventsink" / "schema.json"}"
rules = ["missing-required"]
allowed = [400, 422]
headers = {{ Authorization = "Bearer {{secret.CK_E2E_TOKEN}}" }}

[[hypotheses]]
name = "garbage is refused"
kind = "fuzz"
fault = "garbage"
""")
    aborted = tmp_path / "aborted.toml"
    aborted.write_text(f"""
[experiment]
name = "aborted"
duration = "2s"

[[services]]
name = "api"
kind = "external"
health = "http://monitor:{BASIC}@127.0.0.1:{closed}/health"
health_timeout = "1s"

[target]
base_url = "http://127.0.0.1:{closed}"

[load]
rate = 1

[[load.tasks]]
name = "a"
path = "/"
""")
    env = {**os.environ, "CK_E2E_TOKEN": TOKEN}
    runs = {}
    for path in (fuzzed, aborted):
        runs[path.stem] = subprocess.run(
            [sys.executable, "-m", "chaoskit", "run", str(path), "--report-dir",
             str(tmp_path / "reports" / path.stem)],
            cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
            env=env,
        )  # fmt: skip
    fuzz_run, abort_run = runs["fuzzed"], runs["aborted"]
    assert fuzz_run.returncode == 1, fuzz_run.stdout + fuzz_run.stderr
    assert abort_run.returncode == 3, abort_run.stdout + abort_run.stderr
    consoles = [r.stdout + r.stderr for r in runs.values()]
    found = leaks((TOKEN, BASIC), *consoles, directory=tmp_path / "reports")
    assert found == []
    # Masked, not dropped: the reproductions still send an Authorization header,
    # and the error still says which URL it tried.
    reports = tmp_path / "reports"
    curls = [
        line for file in reports.rglob("*") if file.is_file()
        for line in file.read_text(errors="replace").splitlines()
        if "curl " in line
    ]  # fmt: skip
    assert curls, "the fuzz findings have curl reproductions"
    assert any("Authorization: ***" in line for line in curls), curls[:3]
    assert f"monitor:***@127.0.0.1:{closed}" in abort_run.stdout + abort_run.stderr
