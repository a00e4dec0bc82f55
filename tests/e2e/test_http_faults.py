"""HTTP faults end to end, through `chaoskit run`, `validate` and `rollback`.

The streaming API's /recommendations (tenacity retries) calls the recommender
through a ``protocol = "http"`` route of the embedded proxy; the request log
groups its attempts by X-Request-Id. A client that ignores Retry-After fails
``honours_retry_after`` with figures; a kill -9 of chaoskit mid-fault leaves the
HTTP fault in the ledger, and `chaoskit rollback` takes it away.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.e2e.test_cli_run import (
    _read,
    assert_gone,
    kill_9,
    pids_started,
)
from tests.e2e.test_experiments import REPO, chaoskit

_STREAMING = """
[experiment]
name = "http-retries"
duration = "{duration}"
warmup = "1s"
seed = 5

[[services]]
name = "db"
kind = "postgres"
durable = false

[[services]]
name = "reco"
kind = "process"
command = ["python", "-m", "fixtures.recommender", "--port", "{reco}"]
health = "http://127.0.0.1:{reco}/health"

[[proxy.routes]]
name = "db"
upstream = "{{services.db.address}}"

[[proxy.routes]]
name = "reco"
upstream = "127.0.0.1:{reco}"
protocol = "http"

[[services]]
name = "api"
kind = "process"
command = ["python", "-m", "fixtures.streaming", "--port", "{api}",
           "--db", "{{routes.db.listen}}", "--pool-min", "1", "--pool-max", "2",
           "--log-level", "warning", "--reco", "{{routes.reco.listen}}",
           "--reco-retry", "exponential", "--reco-attempts", "4",
           "--reco-wait", "50ms", "--reco-retry-after", "{retry_after}"]
health = "http://127.0.0.1:{api}/health"

[target]
base_url = "http://127.0.0.1:{api}"

[load]
model = "closed"
users = 2
think = "300ms"

[[load.tasks]]
name = "recommendations"
path = "/recommendations?user={{{{ user }}}}"

[[faults]]
name = "503 twice"
kind = "http_status"
route = "reco"
at = "1s"
for = "2s"
status = 503
first = 2
match = {{ path = "^/recommendations" }}

[[faults]]
name = "429"
kind = "http_status"
route = "reco"
at = "3.5s"
for = "3s"
status = 429
every = 2
headers = {{ "Retry-After" = "1" }}

[[hypotheses]]
name = "503s retried"
kind = "backoff"
route = "reco"
phase = "during:503 twice"
group_by = "header:X-Request-Id"
max_attempts = 3

[[hypotheses]]
name = "Retry-After honoured"
kind = "backoff"
route = "reco"
phase = "during:429"
group_by = "header:X-Request-Id"
honours_retry_after = true
"""


def _write(tmp_path: Path, retry_after: str) -> Path:
    path = tmp_path / f"http-{retry_after}.toml"
    path.write_text(
        _STREAMING.format(
            duration="8s", reco=free_port(), api=free_port(), retry_after=retry_after
        )
    )
    return path


def _run(tmp_path: Path, retry_after: str) -> tuple[int, dict[str, dict]]:
    reports = tmp_path / f"report-{retry_after}"
    result = chaoskit(
        "run", str(_write(tmp_path, retry_after)), "--report-dir", str(reports)
    )
    report = json.loads((reports / "report.json").read_text())
    assert all(f["rolled_back"] for f in report["faults"])
    assert [f["kind"] for f in report["faults"]] == ["http_status", "http_status"]
    return result.returncode, {h["name"]: h for h in report["hypotheses"]}


@pytest.mark.slow
def test_retries_through_503s_and_retry_after_judged_per_request_id(tmp_path):
    code, verdicts = _run(tmp_path, "honour")
    retried = verdicts["503s retried"]
    assert retried["passed"], retried
    data = retried["data"]
    assert data["source"] == "requests"
    assert data["group_by"] == "header:X-Request-Id"
    # The first two requests of the window got 503s and were retried: every
    # sequence that saw more than one attempt succeeded in the end. (A request
    # begun just before the window opened may get one of the two: its first
    # attempt then belongs to the phase before.)
    multi = [s for s in data["sequences"] if len(s["times_s"]) > 1]
    assert multi
    assert all(s["succeeded"] for s in multi)
    assert 1 <= sum(len(s["times_s"]) - 1 for s in multi) <= 2
    honoured = verdicts["Retry-After honoured"]
    assert honoured["passed"], honoured
    assert any(len(s["times_s"]) > 1 for s in honoured["data"]["sequences"])
    assert code == 0

    code, verdicts = _run(tmp_path, "ignore")
    assert code == 1
    rude = verdicts["Retry-After honoured"]
    assert not rude["passed"]
    assert rude["detail"].startswith("honours_retry_after: ")
    assert "before the Retry-After they were given" in rude["detail"]
    assert " of 1s" in rude["detail"]
    assert "honours_retry_after" in rude["data"]["broken"]


def test_validate_refuses_an_http_fault_on_a_tcp_route(tmp_path):
    path = _write(tmp_path, "honour")
    text = path.read_text().replace('protocol = "http"\n', "")
    path.write_text(text.replace("match = { path", 'match = { path = "(", x'))
    result = chaoskit("validate", str(path))
    assert result.returncode == 2
    err = result.stderr
    assert "faults[0].route" in err
    assert 'proxy.routes[1].protocol = "http"' in err
    assert "hypotheses[0].group_by" in err


def test_validate_names_bad_http_fault_keys(tmp_path):
    path = _write(tmp_path, "honour")
    text = path.read_text()
    text = text.replace(
        'match = { path = "^/recommendations" }', 'match = { path = "(" }'
    )
    text = text.replace("every = 2\n", 'every = 2\ndelay = "1s"\n')
    path.write_text(
        text.replace('group_by = "header:X-Request-Id"\nmax', 'group_by = "ip"\nmax')
    )
    result = chaoskit("validate", str(path))
    assert result.returncode == 2, result.stdout
    err = result.stderr
    assert "faults[0].match.path" in err
    assert "regular expression" in err
    assert "faults[1].delay" in err
    assert "http_status" in err
    assert "hypotheses[0].group_by" in err
    assert "header:<Name>" in err


_LIGHT = """
[experiment]
name = "http-kill"
duration = "40s"

[[services]]
name = "reco"
kind = "process"
command = ["python", "-m", "fixtures.recommender", "--port", "{reco}"]
health = "http://127.0.0.1:{reco}/health"

[[proxy.routes]]
name = "reco"
upstream = "127.0.0.1:{reco}"
protocol = "http"

[target]
base_url = "http://{{routes.reco.listen}}"

[load]
rate = 20

[[load.tasks]]
name = "recommendations"
path = "/recommendations?user=1"

[[faults]]
name = "upstream 503"
kind = "http_status"
route = "reco"
at = "500ms"
for = "35s"
status = 503
"""


def test_rollback_removes_the_http_fault_a_killed_run_left(tmp_path, separate_proxy):
    path = tmp_path / "kill.toml"
    path.write_text(_LIGHT.format(reco=free_port()))
    reports = tmp_path / "report"
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaoskit", "run", str(path), "--report-dir",
         str(reports), "--set", f"proxy.url={separate_proxy}"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not any(r.get("kind") == "fault_applied" for r in _read(reports)):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise AssertionError("the fault was never applied")
        time.sleep(0.1)
    listen = httpx.get(f"{separate_proxy}/proxies/reco").json()["listen"]
    assert httpx.get(f"http://{listen}/recommendations?user=1").status_code == 503
    kill_9(proc, reports)
    faults = httpx.get(f"{separate_proxy}/chaoskit/proxies/reco/http_faults").json()
    assert [f["type"] for f in faults] == ["status"]
    result = chaoskit("rollback", str(reports))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "remove http fault 'chaoskit-upstream-503' from proxy 'reco'" in result.stdout
    )
    assert httpx.get(f"{separate_proxy}/proxies").json() == {}
    for pid in pids_started(reports):
        assert_gone(pid)


def test_validate_says_http_faults_need_chaoskits_proxy_at_a_url(tmp_path):
    path = _write(tmp_path, "honour")
    result = chaoskit("validate", str(path), "--set", "proxy.url=http://127.0.0.1:8474")
    assert result.returncode == 0, result.stderr
    assert "must be `chaoskit proxy` (a real Toxiproxy answers 404" in result.stdout
    plain = chaoskit("validate", str(path))
    assert "a real Toxiproxy answers 404" not in plain.stdout
    assert "HTTP/1.1, requests logged by X-Request-Id" in plain.stdout
