"""``{services.db.address}`` references: parse, check, bind."""

from __future__ import annotations

import pytest

from chaoskit.spec import refs


def test_find_parses_each_reference_in_order():
    found = refs.find("postgresql://{services.db.address}/x?port={routes.db.port}")
    assert [(r.namespace, r.name, r.attribute) for r in found] == [
        ("services", "db", "address"),
        ("routes", "db", "port"),
    ]
    assert found[0].text == "{services.db.address}"
    assert found[0].key == "services.db.address"


def test_a_name_may_hold_dots():
    (ref,) = refs.find("{services.db.primary.address}")
    assert (ref.name, ref.attribute) == ("db.primary", "address")


@pytest.mark.parametrize(
    "text", ["{{ user }}", '{"a": 1}', "{}", "{word}", "plain", "{ services.db.port }"]
)
def test_templates_json_and_plain_braces_are_not_references(text):
    assert refs.find(text) == []


def test_check_accepts_declared_names():
    text = (
        "{services.db.address} {services.db.port} {routes.db.listen} {routes.db.port}"
    )
    text += " {services.db.host} {routes.db.host}"
    assert refs.check(text, services=["db"], routes=["db"]) == []


def test_check_reports_undeclared_names_with_a_suggestion():
    (problem,) = refs.check("{services.dbb.address}", services=["db"], routes=[])
    assert problem.message == "{services.dbb.address}: there is no service 'dbb'"
    assert (problem.allowed, problem.suggestion) == ("db", "db")


def test_check_reports_unknown_attributes_and_namespaces():
    problems = refs.check(
        "{routes.db.address} {service.db.port} {services.db}",
        services=["db"],
        routes=["db"],
    )
    assert [(p.ref, p.allowed, p.suggestion) for p in problems] == [
        ("{routes.db.address}", "listen, host, port", None),
        (
            "{service.db.port}",
            "{services.NAME.address|host|port}, {routes.NAME.listen|host|port}, "
            "{run.report.dir}, {vars.NAME}, {env.NAME}, {secret.NAME}",
            "services",
        ),
        ("{services.db}", "address, host, port", None),
    ]


def test_check_with_nothing_declared_says_so():
    (problem,) = refs.check("{routes.x.listen}", services=[], routes=[])
    assert problem.allowed == "(no proxy route is declared)"


def test_bind_substitutes_every_reference():
    values = {"services.db.address": "127.0.0.1:5432", "routes.db.port": "25432"}
    text = "--db {services.db.address} --port {routes.db.port} {{ user }}"
    assert refs.bind(text, values) == "--db 127.0.0.1:5432 --port 25432 {{ user }}"


def test_bind_without_a_value_names_the_reference():
    with pytest.raises(KeyError, match=r"services\.api\.port"):
        refs.bind("{services.api.port}", {})


def test_placeholders_are_loopback_stand_ins():
    text = "http://{services.api.address}:{routes.db.port}/{routes.db.host}"
    assert refs.placeholders(text) == {
        "services.api.address": "127.0.0.1:1",
        "routes.db.port": "1",
        "routes.db.host": "127.0.0.1",
    }
