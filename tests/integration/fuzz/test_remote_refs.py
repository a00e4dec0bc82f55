"""Remote ``$ref`` on the command line and in an experiment: resolved from
local files (``--schema-dir``, ``--ref-base``; ``schema_dir``, ``ref_bases``),
refused with exit 2, the URL named and no traceback otherwise."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema_rs

from fixtures.eventsink.strict import strict_sink
from tests.integration.fuzz.eventsink import REPO

BASE = "https://example.com/schemas/"
EVENT = {
    "$id": BASE + "event.json",
    "type": "object",
    "properties": {"user": {"$ref": BASE + "user.json"}, "n": {"type": "integer"}},
    "required": ["user"],
}
USER = {
    "type": "object",
    "properties": {"name": {"type": "string", "minLength": 2}},
    "required": ["name"],
}
EXPERIMENT = """
[experiment]
name = "remote-refs"
duration = "20s"

[target]
base_url = "http://127.0.0.1:8100"

[load]
rate = 5

[[load.tasks]]
name = "send"
path = "/events"

[[faults]]
name = "garbage"
kind = "invalid-payloads"
at = "5s"
for = "10s"
rate = 30
schema = "api/event.json"
{extra}

[[hypotheses]]
name = "refused"
kind = "fuzz"
"""


def chaoskit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaoskit", *args],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def layout(tmp_path: Path) -> Path:
    (tmp_path / "api").mkdir()
    (tmp_path / "people").mkdir()
    event = tmp_path / "api" / "event.json"
    event.write_text(json.dumps(EVENT))
    (tmp_path / "people" / "user.json").write_text(json.dumps(USER))
    return event


def test_fuzz_refuses_an_unmapped_url_then_resolves_it_mapped(tmp_path: Path) -> None:
    event = layout(tmp_path)
    refused = chaoskit("fuzz", "--schema", str(event), "--url", "http://127.0.0.1:9")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"$ref to {BASE}user.json is remote" in refused.stderr
    assert "--ref-base URL=DIR" in refused.stderr
    assert "Traceback" not in refused.stdout + refused.stderr
    bad = chaoskit(
        "fuzz", "--schema", str(event), "--url", "http://127.0.0.1:9",
        "--ref-base", "people",
    )  # fmt: skip
    assert bad.returncode == 2
    assert "URL=DIR" in bad.stderr, bad.stderr
    resolved = {**EVENT, "properties": {**EVENT["properties"], "user": USER}}
    validator = jsonschema_rs.Draft202012Validator(resolved)
    with strict_sink(validator) as url:
        done = chaoskit(
            "fuzz", "--schema", str(event), "--url", url, "--max-examples", "40",
            "--ref-base", f"{BASE}={tmp_path / 'people'}",
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    # The same file declaring its $id answers from a --schema-dir.
    (tmp_path / "people" / "user.json").write_text(
        json.dumps({**USER, "$id": BASE + "user.json"})
    )
    with strict_sink(validator) as url:
        done = chaoskit(
            "fuzz", "--schema", str(event), "--url", url, "--max-examples", "40",
            "--schema-dir", str(tmp_path / "people"),
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_validate_names_the_fault_key_and_the_url(tmp_path: Path) -> None:
    layout(tmp_path)
    path = tmp_path / "experiment.toml"
    path.write_text(EXPERIMENT.format(extra=""))
    refused = chaoskit("validate", str(path))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    output = refused.stdout + refused.stderr
    assert "faults[0].schema" in output
    assert f"{BASE}user.json" in output
    assert "Traceback" not in output
    path.write_text(EXPERIMENT.format(extra='ref_bases = { "people" = "people" }'))
    wrong = chaoskit("validate", str(path))
    assert wrong.returncode == 2
    assert 'faults[0].ref_bases."people": the key is not an http(s) URL prefix' in (
        wrong.stdout + wrong.stderr
    )
    path.write_text(EXPERIMENT.format(extra='schema_dir = ["people", "nowhere"]'))
    missing = chaoskit("validate", str(path))
    assert missing.returncode == 2
    assert "faults[0].schema_dir[1]: is not a directory" in (
        missing.stdout + missing.stderr
    )
    path.write_text(EXPERIMENT.format(extra=f'ref_bases = {{ "{BASE}" = "people" }}'))
    mapped = chaoskit("validate", str(path))
    assert mapped.returncode == 0, mapped.stdout + mapped.stderr
