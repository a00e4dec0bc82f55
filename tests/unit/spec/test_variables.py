"""``[vars]``, ``{vars.X}``, ``{env.X}``, ``{secret.X}``, ``--var`` and
``[environments.NAME]`` (issue 16.3), through ``spec.load`` as the CLI uses it."""

from __future__ import annotations

import pytest

from chaoskit import spec
from chaoskit.errors import SpecError
from chaoskit.plan import build_plan

FILE = """
[vars]
retry = "exponential"
rate = 20
db_password = { secret = true }

[environments.staging]
vars = { rate = 30, db_password = "stagingpw1" }
target = { timeout = "3s" }
services = [{ name = "api", env = { LEVEL = "debug" } }]

[environments.slow]
target = { timeout = "9s" }
vars = { rate = 5 }

[experiment]
name = "vars"
duration = "10s"

[[services]]
name = "api"
kind = "process"
command = ["python", "-m", "app", "--retry", "{vars.retry}",
           "--db", "postgresql://app:{vars.db_password}@127.0.0.1:5432/app"]
health = "http://127.0.0.1:8000/health"

[services.env]
DB_PASSWORD = "{vars.db_password}"
LEVEL = "{env.CK_LEVEL:-info}"
TOKEN = "{secret.CK_TOKEN}"

[target]
base_url = "http://127.0.0.1:8000"

[load]
rate = "{vars.rate}"

[[load.tasks]]
name = "a"
path = "/"
"""
ENVIRON = {"CK_TOKEN": "tok-from-env-1"}


@pytest.fixture
def file(tmp_path):
    path = tmp_path / "vars.toml"
    path.write_text(FILE, encoding="utf-8")
    return path


def load(file, *, variables=(), environment=None, environ=ENVIRON):
    return spec.load(file, variables=variables, environment=environment,
                     environ=environ)  # fmt: skip


def problems(file, **kwargs):
    with pytest.raises(SpecError) as caught:
        load(file, **kwargs)
    return [str(issue) for issue in caught.value.issues]


def test_defaults_vars_and_environment_values_are_bound_with_their_types(file):
    experiment = load(file, variables=["db_password=cli-pw-1"])
    api = experiment.services[0]
    assert api.command[4] == "exponential"
    assert api.env == {"DB_PASSWORD": "cli-pw-1", "LEVEL": "info",
                       "TOKEN": "tok-from-env-1"}  # fmt: skip
    assert experiment.load.rate == 20.0  # "{vars.rate}" alone keeps the number
    assert experiment.environment is None


def test_var_wins_over_default_and_environment(file):
    experiment = load(file, variables=["retry=linear", "rate=50"],
                      environment="staging")  # fmt: skip
    assert experiment.services[0].command[4] == "linear"
    assert experiment.load.rate == 50.0


def test_an_environment_overlays_any_key_deep(file):
    experiment = load(file, environment="staging")
    assert experiment.environment == "staging"
    assert experiment.target.timeout == 3.0
    assert experiment.target.base_url == "http://127.0.0.1:8000"  # kept
    api = experiment.services[0]
    assert api.env["LEVEL"] == "debug"  # merged into the item named api
    assert api.env["DB_PASSWORD"] == "stagingpw1"  # noqa: S105 - a test value
    assert api.command[0] == "python"
    assert "environment staging" in build_plan(experiment, 1).describe()


def test_environments_compose_each_over_the_one_before(file):
    """``--env staging,slow``: one file's environments combined (a short run
    through another engine, a broken fixture on the short timeline)."""
    experiment = load(file, environment="staging,slow")
    assert experiment.environment == "staging,slow"
    assert experiment.target.timeout == 9.0  # slow's, over staging's
    assert experiment.load.rate == 5.0
    assert experiment.services[0].env["LEVEL"] == "debug"  # staging's, kept
    assert load(file, environment="slow,staging").target.timeout == 3.0
    assert problems(file, environment="staging,fast")[0].startswith(
        "--env: is not an environment of this file (got 'fast')"
    )


def test_an_environment_item_of_another_kind_replaces_the_item(tmp_path):
    """A started service becomes an external one (staging): none of the
    process's keys (command, env) are carried over to it."""
    path = tmp_path / "kinds.toml"
    path.write_text(
        FILE.replace(
            'services = [{ name = "api", env = { LEVEL = "debug" } }]',
            'services = [{ name = "api", kind = "external", '
            'health = "http://127.0.0.1:9000/health" }]',
        ),
        encoding="utf-8",
    )
    experiment = load(path, environment="staging")
    api = experiment.services[0]
    assert api.kind == "external"
    assert str(api.health) == "http://127.0.0.1:9000/health"
    # Without the environment, the file's process is unchanged.
    assert load(path, variables=["db_password=pw123456"]).services[0].kind == "process"


def test_chaoskit_env_chooses_the_environment(file):
    experiment = load(file, environ={**ENVIRON, "CHAOSKIT_ENV": "staging"})
    assert experiment.environment == "staging"


def test_an_unknown_environment_names_the_known_ones(file):
    assert problems(file, environment="stagin")[0] == (
        "--env: is not an environment of this file (got 'stagin'); "
        "allowed: staging, slow; did you mean 'staging'?"
    )
    found = problems(file, environ={**ENVIRON, "CHAOSKIT_ENV": "prod"})
    assert found[0].startswith("CHAOSKIT_ENV: is not an environment")


def test_a_missing_variable_names_itself_and_where_it_is_used(file):
    found = problems(file)  # db_password has no default and no --var
    assert found == [
        "services[0].command[6]: uses {vars.db_password}: the variable "
        "'db_password' has no value; allowed: --var db_password=..., a default "
        "in [vars], or the chosen environment's vars",
        "services[0].env.DB_PASSWORD: uses {vars.db_password}: the variable "
        "'db_password' has no value; allowed: --var db_password=..., a default "
        "in [vars], or the chosen environment's vars",
    ]


def test_unset_environment_variables_and_undeclared_vars_are_exit_2(file):
    found = problems(file, variables=["db_password=x1234", "retyr=1"], environ={})
    assert found[0] == (
        "--var retyr: is not a variable declared in [vars]; allowed: retry, rate, "
        "db_password; did you mean 'retry'?"
    )
    assert found[1].startswith(
        "services[0].env.TOKEN: uses {secret.CK_TOKEN}: the secret CK_TOKEN is not set"
    )


def test_a_misspelt_variable_gets_a_did_you_mean(file, tmp_path):
    path = tmp_path / "typo.toml"
    path.write_text(FILE.replace("{vars.retry}", "{vars.retri}"), encoding="utf-8")
    found = problems(path, variables=["db_password=x1234"])
    assert found == [
        "services[0].command[4]: uses {vars.retri}: there is no variable 'retri'; "
        "allowed: retry, rate, db_password; did you mean 'retry'?"
    ]


def test_a_variable_value_is_validated_like_a_value_written_in_place(file):
    found = problems(file, variables=["db_password=x1234", "rate=fast"])
    assert found == ["load.rate: is not a number (got 'fast')"]


def test_secrets_are_recorded_and_masked_in_the_plan(file):
    experiment = load(file, variables=["db_password=cli-pw-1"])
    assert {"cli-pw-1", "tok-from-env-1"} <= set(experiment.secrets)
    plan = build_plan(experiment, 1).describe()
    assert "cli-pw-1" not in plan
    assert "postgresql://app:***@127.0.0.1" in plan


def test_a_secret_quoted_back_by_an_error_is_masked(file):
    found = problems(file, variables=["db_password=cli-pw-1", "rate={vars.x}"])
    text = "\n".join(found)
    assert "cli-pw-1" not in text


def test_a_whole_reference_takes_the_type_of_the_key(tmp_path):
    """A number variable is a number for a numeric key, text in a command or env."""
    path = tmp_path / "typed.toml"
    path.write_text(
        FILE.replace('"--retry", "{vars.retry}"', '"--rate", "{vars.rate}"').replace(
            'LEVEL = "{env.CK_LEVEL:-info}"', 'LEVEL = "{vars.rate}"'
        ),
        encoding="utf-8",
    )
    experiment = load(path, variables=["db_password=x1234"])
    assert experiment.services[0].command[4] == "20"
    assert experiment.services[0].env["LEVEL"] == "20"
    assert experiment.load.rate == 20.0


def test_chaoskit_env_is_ignored_by_a_file_without_environments(tmp_path):
    path = tmp_path / "plain.toml"
    text = "[experiment]" + FILE.split("[experiment]", 1)[1]
    for ref, value in (("{vars.retry}", "x"), ('"{vars.rate}"', "5"),
                       ("{vars.db_password}", "pw12")):  # fmt: skip
        text = text.replace(ref, value)
    path.write_text(text, encoding="utf-8")
    experiment = load(path, environ={**ENVIRON, "CHAOSKIT_ENV": "staging"})
    assert experiment.environment is None
    with pytest.raises(SpecError, match=r"no \[environments.NAME\] table"):
        load(path, environment="staging")


def test_a_malformed_variable_reference_is_reported_wherever_it_is(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(
        FILE.replace('path = "/"', 'path = "/{vars.a.b}"'), encoding="utf-8"
    )
    assert problems(path, variables=["db_password=x1234"]) == [
        "load.tasks[0].path: {vars.a.b} is not a variable reference; allowed: "
        "{vars.NAME}, {env.NAME}, {env.NAME:-default}, {secret.NAME}"
    ]
