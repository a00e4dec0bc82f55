"""How the plan describes lock faults and integrity hypotheses."""

from __future__ import annotations

import tomllib

from chaoskit.plan import build_plan, fault_settings
from chaoskit.spec.validate import validate

FILE = """
[experiment]
name = "locks"
duration = "30s"

[[services]]
name = "db"
kind = "postgres"

[target]
base_url = "http://127.0.0.1:8000"

[load]
rate = 20

[[load.tasks]]
name = "write"
method = "POST"
path = "/w"
ack = { request = "$.id" }
json = { id = "{{ uuid() }}" }

[[faults]]
name = "table"
kind = "lock"
service = "db"
table = "watch_history"
mode = "share"
at = "5s"
for = "3s"

[[faults]]
name = "rows"
kind = "lock"
service = "db"
table = "watch_history"
where = "user_id = '1'"
at = "10s"
for = "3s"

[[faults]]
name = "file"
kind = "lock"
database = "app.db"
at = "20s"
for = "3s"

[[hypotheses]]
name = "nothing lost"
kind = "integrity"
read_back = { service = "db", query = "SELECT id FROM w" }
"""


def test_lock_faults_and_integrity_in_the_plan():
    experiment = validate(tomllib.loads(FILE), "locks.toml")
    table, rows, file = experiment.faults
    assert fault_settings(table) == {"table": "watch_history", "lock": "SHARE"}
    assert fault_settings(rows)["lock"] == "rows WHERE user_id = '1' FOR UPDATE"
    assert fault_settings(file) == {"database": "app.db", "lock": "BEGIN EXCLUSIVE"}
    text = build_plan(experiment, seed=1).describe()
    assert "lock table watch_history of service db: SHARE" in text
    assert "lock database app.db: BEGIN EXCLUSIVE" in text
    assert (
        "every write acknowledged is read back once from 'SELECT id FROM w' on db"
        in (text)
    )
