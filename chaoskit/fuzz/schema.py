"""A JSON Schema as the fuzzer uses it: its dialect, its references, its validator.

One owner for what a schema *is*: :class:`Schema` holds the parsed document,
the dialect (``$schema``; draft 2020-12 when absent), a ``referencing``
registry that resolves ``$ref`` the way the specification says (JSON-pointer
escapes, ``$id`` and ``$anchor``, recursion, other local files relative to the
schema) and a ``jsonschema-rs`` validator built on the same references. Nothing
is fetched: an ``http(s)`` reference resolves to a local file (:class:`RefMap`:
a schema under the schema's directory or a ``schema_dir`` that declares that
``$id``, or a URL prefix mapped to a directory), else it is refused with its
URL named.

Why jsonschema-rs and not jsonschema: measured on the JSON Schema Test Suite
(``benchmarks/results/fuzz.md``), jsonschema-rs disagrees with the suite on 1
test of draft 2020-12 (a custom metaschema's vocabulary) against 6 for
jsonschema, whose ``pattern`` is Python's ``re`` (``\\p{L}`` raises), and it
validates about 25 times faster (2 us against 50 us a test; 0.8 us against
420 us for the event sink's schema with errors listed), which matters since
every payload is validated before it is sent.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag, urlsplit

import jsonschema_rs
import referencing
import referencing.exceptions
import referencing.jsonschema
from jsonschema_specifications import REGISTRY as METASCHEMAS  # type: ignore[import-untyped]

from chaoskit.errors import UsageError

__all__ = [
    "DIALECTS",
    "RefMap",
    "Schema",
    "SchemaError",
    "load_json_file",
    "schema_from",
]

#: The dialects understood, by ``$schema`` URI (either scheme, with or without '#').
DIALECTS = {
    "https://json-schema.org/draft/2020-12/schema": "2020-12",
    "https://json-schema.org/draft/2019-09/schema": "2019-09",
    "http://json-schema.org/draft-07/schema": "7",
    "http://json-schema.org/draft-06/schema": "6",
    "http://json-schema.org/draft-04/schema": "4",
}
_SPECS = {
    "2020-12": referencing.jsonschema.DRAFT202012,
    "2019-09": referencing.jsonschema.DRAFT201909,
    "7": referencing.jsonschema.DRAFT7,
    "6": referencing.jsonschema.DRAFT6,
    "4": referencing.jsonschema.DRAFT4,
}
_VALIDATORS: dict[str, Callable[..., Any]] = {
    "2020-12": jsonschema_rs.Draft202012Validator,
    "2019-09": jsonschema_rs.Draft201909Validator,
    "7": jsonschema_rs.Draft7Validator,
    "6": jsonschema_rs.Draft6Validator,
    "4": jsonschema_rs.Draft4Validator,
}


class SchemaError(UsageError):
    """A schema the fuzzer cannot use: unreadable, a remote reference, or
    refused by the validator (the message names the file and the place)."""


def _norm(uri: str) -> str:
    uri = uri.rstrip("#")
    return uri.replace(
        "https://json-schema.org/draft-0", "http://json-schema.org/draft-0"
    )


def dialect_of(schema: object, source: str) -> str:
    """The dialect named by ``$schema`` ("2020-12" when there is none)."""
    if not isinstance(schema, Mapping) or "$schema" not in schema:
        return "2020-12"
    uri = schema["$schema"]
    for known, name in DIALECTS.items():
        if isinstance(uri, str) and _norm(uri) == _norm(known):
            return name
    allowed = ", ".join(DIALECTS)
    raise SchemaError(
        f"{source}: $schema {uri!r} is not a dialect known here: {allowed}"
    )


def load_json_file(path: Path, what: str = "schema") -> object:
    """A JSON document from ``path``.

    Raises:
        SchemaError: missing, unreadable or not JSON (the message names the file).
    """
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SchemaError(f"{what} file not found: {path}") from exc
    except (OSError, ValueError) as exc:
        raise SchemaError(f"cannot read {what} {path}: {exc}") from exc


@dataclass
class Schema:
    """A parsed schema with its dialect, references and validator.

    Attributes:
        root: the schema (an object or a boolean).
        source: where it came from (a file, or ``file#/pointer`` inside one).
        dialect: "2020-12", "2019-09", "7", "6" or "4".
        base_uri: the URI references are resolved against.
        registry: the ``referencing`` registry (local files crawled on demand).
        notes: what the fuzzer could not generate for, by key path, said once.
    """

    root: object
    source: str
    dialect: str
    base_uri: str
    registry: referencing.Registry[Any]
    validator: Any = field(repr=False)
    notes: list[str] = field(default_factory=list)
    _retriever: Any = field(default=None, repr=False)
    _rs_base: str | None = None
    _branches: dict[tuple[Any, ...], Any] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        # Short: Hypothesis shows strategies' arguments (the registry holds
        # every metaschema).
        return f"Schema({self.source!r}, dialect {self.dialect})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # Hypothesis's pretty printer walks dataclasses field by field.
        printer.text(repr(self))

    def resolver(self) -> Any:
        """A resolver at the root."""
        return self.registry.resolver(self.base_uri)

    def is_valid(self, instance: object) -> bool:
        """Whether ``instance`` is valid (the validator's word)."""
        return bool(self.validator.is_valid(instance))

    def errors(self, instance: object) -> list[Any]:
        """The validator's errors for ``instance`` (jsonschema-rs errors)."""
        return list(self.validator.iter_errors(instance))

    def branch_validator(self, path: tuple[Any, ...], index: int) -> Any:
        """A validator of the root with the choice at ``path`` (``.../oneOf``)
        narrowed to its branch ``index`` (cached), or None if it cannot be built."""
        key = (path, index)
        if key not in self._branches:
            root = copy.deepcopy(self.root)
            node: Any = root
            for part in path[:-1]:
                node = node[part]
            branch = node.pop(path[-1])[index]
            # As an allOf of one, the validator reports the branch's own errors.
            node["allOf"] = [*node.get("allOf", []), branch]
            self._branches[key] = self._validator(root)
        return self._branches[key]

    def without(self, location: tuple[Any, ...], keyword: str,
                item: str | None = None) -> Any:  # fmt: skip
        """A validator of the root with one keyword removed (cached): the
        keyword ``keyword`` of the schema object at ``location``, or only the
        name ``item`` from it (from a list: ``required``; a key of an object:
        ``dependentRequired``); None if it cannot be built.

        A payload this one accepts and the whole schema refuses breaks
        exactly that keyword (a seeded hole in a sink is this validator).
        """
        key = (("without", *location), keyword, item)
        if key not in self._branches:
            # Copied along the path only: the rest is shared, never changed.
            root = copy.copy(self.root)
            node: Any = root
            for part in location:
                node[part] = copy.copy(node[part])
                node = node[part]
            if item is not None and isinstance(node.get(keyword), list):
                node[keyword] = [n for n in node[keyword] if n != item]
            elif item is not None and isinstance(node.get(keyword), dict):
                node[keyword] = {k: v for k, v in node[keyword].items() if k != item}
            else:
                node.pop(keyword, None)
            self._branches[key] = self._validator(root)
        return self._branches[key]

    def relaxed(self, location: tuple[Any, ...], keyword: str,
                item: str | None = None) -> Schema | None:  # fmt: skip
        """This schema judged by :meth:`without` (the same root to generate
        from), or None if that validator cannot be built."""
        validator = self.without(location, keyword, item)
        return None if validator is None else replace(self, validator=validator)

    def _validator(self, root: object) -> Any:
        try:
            return _VALIDATORS[self.dialect](
                root,
                retriever=self._retriever,
                base_uri=self._rs_base,
                validate_formats=False,
            )
        except (ValueError, jsonschema_rs.ValidationError, SchemaError):
            return None

    def note(self, text: str) -> None:
        """Record ``text`` once."""
        if text not in self.notes:
            self.notes.append(text)


#: Files looked at for their ``$id`` in one directory tree (a bound, not a
#: filter: a schema directory is a few files, a checkout may be thousands).
_MAX_SCANNED = 5000
_MAX_SCANNED_BYTES = 4 * 1024 * 1024


def _no_fragment(uri: str) -> str:
    return urldefrag(uri)[0]


@dataclass
class RefMap:
    """Where an ``http(s)`` reference is found on disk (nothing is fetched).

    Attributes:
        schema_dirs: directories whose ``*.json`` files (recursively) answer
            for the ``$id`` they declare at their top.
        ref_bases: URL prefix -> directory: ``prefix + "a/b.json"`` is
            ``directory / "a/b.json"`` (as the JSON Schema Test Suite serves
            ``remotes/`` under ``http://localhost:1234/``).
    """

    schema_dirs: tuple[Path, ...] = ()
    ref_bases: tuple[tuple[str, Path], ...] = ()
    _ids: dict[str, Path] | None = field(default=None, repr=False)
    #: The last remote reference refused (the validator wraps it in its own words).
    refused: SchemaError | None = field(default=None, repr=False)

    def with_dir(self, directory: Path | None) -> RefMap:
        """A map for one schema (its own ``refused``), with ``directory``
        (the schema's own) searched first."""
        if directory is None or directory in self.schema_dirs:
            return RefMap(self.schema_dirs, self.ref_bases, self._ids)
        return RefMap((directory, *self.schema_dirs), self.ref_bases)

    def local(self, uri: str) -> Path | None:
        """The file that answers for ``uri``, or None."""
        uri = _no_fragment(uri)
        for prefix, directory in sorted(self.ref_bases, key=lambda p: -len(p[0])):
            if uri.startswith(prefix):
                root = directory.resolve()
                path = (root / unquote(uri[len(prefix) :])).resolve()
                # Never outside the mapped directory ("../" in a URL).
                if path.is_relative_to(root) and path.is_file():
                    return path
        return self.ids().get(uri.rstrip("#"))

    def ids(self) -> dict[str, Path]:
        """Every top-level ``$id`` (``id`` in draft 4) under the directories
        (read once, on the first remote reference)."""
        if self._ids is None:
            self._ids = {}
            for directory in self.schema_dirs:
                # Bounded while walking (a schema kept at the top of a
                # checkout must not read the whole tree); sorted: the first
                # file declaring an $id wins, the same on every machine.
                walked = islice(directory.rglob("*.json"), _MAX_SCANNED)
                for path in sorted(walked):
                    declared = _declared_id(path)
                    if declared and declared not in self._ids:
                        self._ids[declared] = path
        return self._ids

    def hint(self) -> str:
        """How to make a remote reference resolve (for a refusal)."""
        return (
            "no local schema declares that $id; put the file beside the schema or "
            "under --schema-dir DIR (fault key schema_dir), or map the URL's prefix "
            "to a directory with --ref-base URL=DIR (fault key ref_bases = "
            '{ "https://example.com/schemas/" = "schemas" })'
        )


def _declared_id(path: Path) -> str | None:
    try:
        if path.stat().st_size > _MAX_SCANNED_BYTES:
            return None
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # not a schema: nothing to register
    if not isinstance(document, dict):
        return None
    declared = document.get("$id", document.get("id"))
    if not isinstance(declared, str) or not urlsplit(declared).scheme:
        return None
    return _no_fragment(declared).rstrip("#")


def _retrieve(
    source: str, refs: RefMap, spec: Any
) -> Callable[[str], referencing.Resource[Any]]:
    def retrieve(uri: str) -> referencing.Resource[Any]:
        parts = urlsplit(uri)
        if parts.scheme in ("http", "https"):
            local = refs.local(uri)
            if local is None:
                refs.refused = SchemaError(
                    f"{source}: $ref to {uri} is remote: nothing is fetched; "
                    + refs.hint()
                )
                raise refs.refused
            path = local
        elif parts.scheme == "file":
            path = Path(unquote(parts.path))
        else:
            raise SchemaError(f"{source}: $ref to {uri} points nowhere known")
        contents = load_json_file(path, "referenced schema")
        # A file without $schema is read in the referring schema's dialect.
        return referencing.Resource.from_contents(contents, default_specification=spec)

    return retrieve


def _rs_retriever(
    retrieve: Callable[[str], referencing.Resource[Any]],
) -> Callable[[str], object]:
    def fetch(uri: str) -> object:
        return retrieve(urldefrag(uri)[0]).contents

    return fetch


def schema_from(
    root: object,
    source: str,
    base: Path | None = None,
    dialect: str | None = None,
    refs: RefMap | None = None,
) -> Schema:
    """A :class:`Schema` for ``root`` (references relative to the file ``base``;
    ``http(s)`` ones through ``refs`` and the files beside ``base``).

    Raises:
        SchemaError: not a schema, an unknown dialect, a remote or dangling
            reference, or refused by the validator.
    """
    if not isinstance(root, dict | bool):
        raise SchemaError(f"{source}: a JSON Schema must be an object or a boolean")
    dialect = dialect or dialect_of(root, source)
    spec = _SPECS[dialect]
    base_uri = base.resolve().as_uri() if base else "urn:chaoskit:schema"
    resource = referencing.Resource.from_contents(root, default_specification=spec)
    refs = (refs or RefMap()).with_dir(base.resolve().parent if base else None)
    retrieve = _retrieve(source, refs, spec)
    # The dialects' own metaschemas resolve offline (a schema may $ref them).
    registry: referencing.Registry[Any] = referencing.Registry(retrieve=retrieve)  # type: ignore[call-arg]
    registry = registry.combine(METASCHEMAS)
    pairs = [(base_uri, resource)]
    own = resource.id()
    if own:
        pairs.append((own.rstrip("#"), resource))
    # Crawled: every embedded $id and $anchor is known before a lookup.
    registry = registry.with_resources(pairs).crawl()
    rs_base = None if own else base_uri
    try:
        # `format` is an annotation, as the specifications (and the JSON
        # Schema Test Suite outside its optional tests) have it.
        validator = _VALIDATORS[dialect](
            root,
            retriever=_rs_retriever(retrieve),
            base_uri=rs_base,
            validate_formats=False,
        )
    except SchemaError:
        raise
    except (ValueError, jsonschema_rs.ValidationError) as exc:
        if refs.refused is not None:
            raise refs.refused from exc
        message = str(exc).splitlines()[0]
        if "http://" in message or "https://" in message:
            message += f" (remote references are not fetched: {refs.hint()})"
        raise SchemaError(
            f"{source}: the validator refuses the schema: {message}"
        ) from exc
    schema = Schema(root, source, dialect, base_uri, registry, validator,
                    _retriever=_rs_retriever(retrieve), _rs_base=rs_base)  # fmt: skip
    _check_refs(schema)
    return schema


def _check_refs(schema: Schema) -> None:
    """Resolve every ``$ref`` once, so a dangling or remote one is named now."""

    def walk(node: object, resolver: Any, where: str) -> None:
        if isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, resolver, f"{where}/{index}")
            return
        if not isinstance(node, dict):
            return
        if isinstance(node.get("$id"), str):
            resolver = resolver.in_subresource(
                referencing.Resource.from_contents(
                    node, default_specification=_SPECS[schema.dialect]
                )
            )
        for key in ("$ref", "$dynamicRef", "$recursiveRef"):
            ref = node.get(key)
            if isinstance(ref, str):
                lookup(resolver, ref, schema.source, f"{where}/{key}")
        for key, value in node.items():
            if key not in ("enum", "const", "examples", "default"):
                walk(value, resolver, f"{where}/{key}")

    walk(schema.root, schema.resolver(), "#")


def lookup(
    resolver: Any, ref: str, source: str, where: str
) -> referencing.jsonschema.Resolved[Any]:  # type: ignore[name-defined]
    """``ref`` resolved from ``resolver``.

    Raises:
        SchemaError: the reference is remote or points nowhere (named with its place).
    """
    try:
        return resolver.lookup(ref)
    except SchemaError:
        raise
    except referencing.exceptions.Unretrievable as exc:
        cause = exc.__cause__
        if isinstance(cause, SchemaError):
            raise SchemaError(f"{cause} (at {where})") from exc
        raise SchemaError(
            f"{source}: {where}: $ref {ref!r} cannot be retrieved"
        ) from exc
    except referencing.exceptions.Unresolvable as exc:
        raise SchemaError(f"{source}: {where}: $ref {ref!r} points nowhere") from exc
