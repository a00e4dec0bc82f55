"""The loopback rule on every address the experiment holds, references bound.

Which keys hold addresses is read from the model: a field typed
:data:`~chaoskit.spec.model.HostPort` or :data:`~chaoskit.spec.model.Url`
carries an :class:`~chaoskit.spec.model.Address` marker, and :func:`addresses`
walks the raw table along the model's types to find every such value (also in
items that are otherwise invalid, so one pass reports everything).

References are bound before the rule is applied, to what the run will bind
them to: ``{services.api.address}`` of an ``external`` service to its declared
``address`` (or its health URL's host and port), ``{routes.db.listen}`` to the
route's ``listen``; what chaoskit starts itself is on loopback. So a base URL
built from a remote external service is refused like a remote URL written out.
"""

from __future__ import annotations

import types
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from chaoskit.errors import SpecIssue
from chaoskit.hosts import LOOPBACK, host_of, is_loopback
from chaoskit.spec import refs
from chaoskit.spec.locate import matching_members, toml_path
from chaoskit.spec.model import Address, Experiment
from chaoskit.spec.parts import items

__all__ = ["addresses", "check_loopback", "known_values"]


def addresses(table: Mapping[str, Any]) -> Iterator[tuple[str, str, Address]]:
    """(TOML path, value as written, marker) of every address in ``table``."""
    yield from _walk(Experiment, table, [])


def check_loopback(table: Mapping[str, Any], allow_remote: bool) -> list[SpecIssue]:
    """Every address off loopback, unless ``allow_remote``; with the value it
    is bound to when references made it."""
    if allow_remote:
        return []
    known = known_values(table)
    issues = []
    for path, value, marker in addresses(table):
        if marker.form == "url" and value.startswith("/"):
            continue  # a path on the target (read_back.url = "/writes")
        bound = refs.bind(value, {**refs.placeholders(value), **known})
        host = host_of(bound)
        if host is None or is_loopback(host):
            continue
        via = f" (bound to {bound!r})" if bound != value else ""
        issues.append(
            SpecIssue(
                path,
                f"is not on loopback{via}; set experiment.allow_remote = true "
                "to allow other hosts",
                value,
                LOOPBACK,
            )
        )
    return issues


def known_values(table: Mapping[str, Any]) -> dict[str, str]:
    """What references bind to that the file itself says (declared addresses,
    route listens); anything chaoskit starts is left to loopback stand-ins."""
    known: dict[str, str] = {}
    for _, service in items(table, "services"):
        if not isinstance(service, dict) or not isinstance(service.get("name"), str):
            continue
        address = service.get("address")
        health = service.get("health")
        if not isinstance(address, str) and isinstance(health, str):
            address = _host_port(health)
        if service.get("kind") in ("external", "container") and isinstance(
            address, str
        ):
            _add(known, f"services.{service['name']}", address, "address")
    for _, route in items(table, "proxy", "routes"):
        if isinstance(route, dict) and isinstance(route.get("name"), str):
            listen = route.get("listen")
            if isinstance(listen, str):
                _add(known, f"routes.{route['name']}", listen, "listen")
    return known


def _add(known: dict[str, str], prefix: str, address: str, attribute: str) -> None:
    bound = refs.bind(address, refs.placeholders(address))
    host = host_of(bound)
    if host is None:
        return
    port = bound.rpartition(":")[2] if ":" in bound else ""
    known[f"{prefix}.{attribute}"] = bound
    known[f"{prefix}.host"] = host
    if port.isdigit():
        known[f"{prefix}.port"] = port


def _host_port(url: str) -> str | None:
    """``http://h:8000/health`` -> ``h:8000`` (``tcp://`` too)."""
    rest = url.partition("://")[2]
    return rest.split("/", 1)[0].rpartition("@")[2] or None if rest else None


# --- walking the raw table along the model's types ---------------------------------


def _walk(
    tp: Any, raw: object, path: list[str | int]
) -> Iterator[tuple[str, str, Address]]:
    tp, marker = _strip(tp)
    if marker is not None:
        if isinstance(raw, str):
            yield toml_path(path), raw, marker
        return
    members = _members(tp)
    if members is not None:
        for member in matching_members(members, raw):
            yield from _walk(member, raw, path)
        return
    origin = get_origin(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(raw, dict):
        for name, info in tp.model_fields.items():
            key = info.alias or name
            if key in raw:
                annotation: Any = info.annotation
                if info.metadata:
                    annotation = Annotated[annotation, *info.metadata]
                yield from _walk(annotation, raw[key], [*path, key])
    elif origin in (tuple, list) and isinstance(raw, list):
        (item_tp, *_) = get_args(tp)
        for index, item in enumerate(raw):
            yield from _walk(item_tp, item, [*path, index])
    elif origin is dict and isinstance(raw, dict):
        value_tp = get_args(tp)[1]
        for key, value in raw.items():
            yield from _walk(value_tp, value, [*path, str(key)])


def _strip(tp: Any) -> tuple[Any, Address | None]:
    """The type without ``Annotated``/``None``, and its address marker if any."""
    marker = None
    while True:
        if get_origin(tp) is Annotated:
            base, *meta = get_args(tp)
            marker = next((m for m in meta if isinstance(m, Address)), marker)
            tp = base
            continue
        members = _members(tp)
        if members is not None and len(members) == 1:
            tp = members[0]
            continue
        return tp, marker


def _members(tp: Any) -> list[Any] | None:
    if get_origin(tp) in (Union, types.UnionType):
        return [a for a in get_args(tp) if a is not type(None)]
    return None
