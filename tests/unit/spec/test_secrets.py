"""The credential-shaped values of an experiment, found for every writer to mask."""

from __future__ import annotations

from chaoskit.spec.validate import validate

TABLE = {
    "experiment": {"name": "s", "duration": "5s"},
    "services": [
        {
            "name": "api",
            "kind": "process",
            "command": ["python", "-m", "app", "--jwt-secret", "jwt-1234",
                        "--db", "postgresql://u:url-pw-1@127.0.0.1/db", "--port", "80"],
            "env": {"DB_PASSWORD": "db-pw-1", "API_KEY": "key-1234",
                    "DB_HOST": "127.0.0.1", "LOG_LEVEL": "debug"},
        }
    ],
    "target": {"base_url": "http://127.0.0.1:1", "headers": {"X-Sink-Key": "sink-1",
               "X-Tenant": "tenant-1", "Content-Type": "application/json"}},
    "load": {"rate": 1, "tasks": [{"name": "a", "path": "/"}]},
}  # fmt: skip


def test_credential_values_are_found_and_ordinary_ones_are_not():
    secrets = set(validate(TABLE, "s.toml").secrets)
    assert {"jwt-1234", "url-pw-1", "db-pw-1", "key-1234", "sink-1", "tenant-1"} <= (
        secrets
    )
    # DB_HOST is masked where it is written as DB_HOST=..., but its value is
    # not a literal secret: "127.0.0.1" must not vanish from every report.
    assert not {"127.0.0.1", "debug", "80", "app", "application/json"} & secrets


def test_an_http_faults_answer_headers_and_short_values_are_not_secrets():
    # Seen on a real plan: Retry-After = "1" masked every "1" ("a ***s warm-up").
    table = {
        **TABLE,
        "target": {"base_url": "http://127.0.0.1:1", "headers": {"X-Shard": "7"}},
        "proxy": {"routes": [{"name": "up", "upstream": "127.0.0.1:2",
                              "protocol": "http"}]},
        "faults": [{"name": "429", "kind": "http_status", "route": "up", "at": "1s",
                    "for": "1s", "status": 429,
                    "headers": {"Retry-After": "1", "X-Upstream": "long-enough"}}],
    }  # fmt: skip
    secrets = set(validate(table, "s.toml").secrets)
    assert not {"1", "7", "long-enough"} & secrets
    assert {"jwt-1234", "db-pw-1"} <= secrets


def test_a_cors_preflights_headers_are_not_secrets():
    # Seen on a real plan: Access-Control-Request-Method = "POST" masked every
    # POST of every task ("task paused: *** /events").
    preflight = {
        "name": "preflight",
        "method": "OPTIONS",
        "path": "/events",
        "headers": {
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    }
    table = {**TABLE, "load": {"rate": 1, "tasks": [preflight]}}  # fmt: skip
    secrets = set(validate(table, "s.toml").secrets)
    assert not {"POST", "http://localhost:3000", "content-type"} & secrets
