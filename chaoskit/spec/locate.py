"""Where a pydantic error is, in the file's terms: walking the model along ``loc``.

pydantic's ``loc`` mixes TOML keys with union tags (``faults.0.toxic.latency``)
and member names (``below.str``); walking the model's types along it tells
which parts are keys, what the value's type is, its constraints, and the
model that owns the key (for unknown keys and did-you-means).
"""

from __future__ import annotations

import re
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, BeforeValidator
from pydantic.fields import FieldInfo

from chaoskit.spec.model import Experiment
from chaoskit.units import parse_duration, parse_ratio

__all__ = [
    "Where",
    "describe",
    "is_model",
    "matching_members",
    "raw_at",
    "takes_text_only",
    "toml_keys",
    "toml_path",
    "type_at",
    "union_members",
    "unit_of",
    "walk",
]


@dataclass
class Where:
    parts: list[str | int] = field(default_factory=list)
    annotation: Any = Experiment
    metadata: list[Any] = field(default_factory=list)
    owner: type[BaseModel] | None = None
    """The model whose key the last part is (for unknown keys and missing ones)."""
    kind_path: bool = False
    """The error is about the union's tag (``kind``)."""

    @property
    def path(self) -> str:
        return toml_path(self.parts)


def toml_path(parts: Iterable[str | int]) -> str:
    """``["load", "tasks", 1, "weight"]`` -> ``load.tasks[1].weight``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else f'"{part}"'
            text += f".{name}" if text else name
    return text


def walk(loc: tuple[int | str, ...]) -> Where:
    where = Where()
    for part in loc:
        tp = _strip(where)
        members = union_members(tp)
        if members is not None:
            tags = _tags(members)
            if isinstance(part, str) and part in tags:
                where.annotation = tags[part]
                continue
            if all(not is_model(m) for m in members) and isinstance(part, str):
                # `str | float`: pydantic names the member tried; follow it
                # when it is a container (`int | tuple[UserClassSection, ...]`
                # names `tuple[UserClassSection, ...]`), so the path goes on.
                named = [
                    m
                    for m in members
                    if get_origin(m) in (tuple, list, dict)
                    and _type_name(m) == part.split("[")[0]
                ]
                if len(named) == 1:
                    where.annotation = named[0]
                continue
        if is_model(tp):
            where.owner = tp
            info = _field(tp, str(part))
            where.parts.append(str(part))
            where.annotation = info.annotation if info else None
            where.metadata = list(info.metadata) if info else []
            continue
        where.parts.append(part)
        args = get_args(tp)
        origin = get_origin(tp)
        where.owner = None
        where.metadata = []
        if origin in (tuple, list) and args:
            where.annotation = args[0]
        elif origin is dict and len(args) == 2:
            where.annotation = args[1]
        else:
            where.annotation = None
    _strip(where)
    return where


def _strip(where: Where) -> Any:
    """The annotation without ``Annotated`` and ``None`` (metadata kept)."""
    tp = where.annotation
    while True:
        if get_origin(tp) is Annotated:
            args = get_args(tp)
            for item in args[1:]:
                # Field(gt=0) inside Annotated keeps its constraints in .metadata
                where.metadata.extend([item, *getattr(item, "metadata", [])])
            tp = args[0]
            continue
        members = union_members(tp)
        if members is not None and len(members) == 1:
            tp = members[0]
            continue
        break
    where.annotation = tp
    return tp


def _type_name(tp: Any) -> str:
    return str(getattr(get_origin(tp) or tp, "__name__", ""))


def union_members(tp: Any) -> list[Any] | None:
    if get_origin(tp) in (Union, types.UnionType):
        return [a for a in get_args(tp) if a is not type(None)]
    return None


def _tags(members: list[Any]) -> dict[str, Any]:
    """Union tag -> member: ``Tag("toxic")`` metadata, or the ``kind`` literal."""
    tags: dict[str, Any] = {}
    for member in members:
        base: Any = member
        meta: tuple[Any, ...] = ()
        if get_origin(member) is Annotated:
            base, *rest = get_args(member)
            meta = tuple(rest)
        for item in meta:
            tag = getattr(item, "tag", None)
            if isinstance(tag, str):
                tags[tag] = base
        if is_model(base) and "kind" in base.model_fields:
            for value in get_args(base.model_fields["kind"].annotation):
                tags.setdefault(str(value), base)
    return tags


def is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _field(model: type[BaseModel], key: str) -> FieldInfo | None:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info
    return None


def toml_keys(model: type[BaseModel]) -> list[str]:
    """The keys a table of ``model`` accepts, as written in TOML (aliases)."""
    return [info.alias or name for name, info in model.model_fields.items()]


def unit_of(metadata: list[Any]) -> str | None:
    for item in metadata:
        if isinstance(item, BeforeValidator):
            if item.func is parse_duration:
                return "duration"
            if item.func is parse_ratio:
                return "ratio"
    return None


def describe(annotation: Any, metadata: Sequence[Any] = ()) -> str:
    """What a value of this type is, for a person: ``a duration``, ``a table``."""
    unit = unit_of(list(metadata))
    if unit is not None:
        return f"a {unit}"
    members = union_members(annotation)
    if members is not None:
        names = dict.fromkeys(describe(member) for member in members)
        return " or ".join(names)
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *meta = get_args(annotation)
        return describe(inner, meta)
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in get_args(annotation))
    if origin in (tuple, list):
        args = get_args(annotation)
        if args and is_model(args[0]):
            return "an array of tables"
        return "an array"
    if origin is dict or is_model(annotation):
        return "a table"
    simple = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
    }
    return simple.get(annotation, "a value")


def raw_at(table: Mapping[str, Any], parts: Sequence[str | int]) -> Mapping[str, Any]:
    """The raw table at ``parts`` (empty when it is not there or not a table)."""
    node: Any = table
    for part in parts:
        if isinstance(node, dict) and isinstance(part, str):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return {}
    return node if isinstance(node, dict) else {}


def matching_members(members: Sequence[Any], raw: object) -> list[Any]:
    """The members of a union of models that a raw item can be: those whose
    ``kind`` allows the item's kind (all of them when that says nothing)."""
    kind = raw.get("kind") if isinstance(raw, dict) else None
    fitting = []
    for member in members:
        model = get_args(member)[0] if get_origin(member) is Annotated else member
        field = getattr(model, "model_fields", {}).get("kind")
        if field is not None and kind in get_args(field.annotation):
            fitting.append(member)
    return fitting or list(members)


def type_at(table: Mapping[str, Any], parts: Sequence[str | int]) -> Any:
    """The model's type for the raw value at ``parts`` (None when unknown),
    union members chosen by the raw items' ``kind``."""
    tp: Any = Experiment
    node: Any = table
    for part in parts:
        tp = _bare(tp)
        members = union_members(tp)
        if members is not None:
            fitting = matching_members(members, node)
            if len(fitting) != 1:
                return None
            tp = _bare(fitting[0])
        if is_model(tp) and isinstance(part, str):
            info = _field(tp, part)
            if info is None:
                return None
            tp = info.annotation
        elif get_origin(tp) in (tuple, list) and isinstance(part, int):
            tp = get_args(tp)[0]
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        else:
            return None
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return tp


def takes_text_only(tp: Any) -> bool:
    """Whether a value of this type can only be a string (``str``, ``str | None``)."""
    tp = _bare(tp)
    members = union_members(tp)
    if members is not None:
        return all(takes_text_only(member) for member in members)
    return tp is str


def _bare(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    members = union_members(tp)
    return members[0] if members is not None and len(members) == 1 else tp
