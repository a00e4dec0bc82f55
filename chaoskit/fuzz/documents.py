"""Where payload schemas live: a schema file, examples, OpenAPI, AsyncAPI.

:class:`PayloadSource` names one of them (what ``chaoskit fuzz`` flags and an
``invalid-payloads`` fault's keys say) and :func:`load_source` turns it into a
:class:`~chaoskit.fuzz.model.PayloadModel`. An OpenAPI operation's JSON
request body schema and an AsyncAPI message's payload are used in place: the
model's root is a ``$ref`` into the document, so the document's own ``$ref``
(``#/components/schemas/...``) resolve inside it. Documents are read as JSON:
no YAML library is a dependency (convert a YAML document once with any tool).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from chaoskit.fuzz.examples import load_examples
from chaoskit.fuzz.model import PayloadModel, load_model, model_from_schema
from chaoskit.fuzz.schema import RefMap, SchemaError, load_json_file

__all__ = ["PayloadSource", "load_source"]

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass(frozen=True)
class PayloadSource:
    """Exactly one of: ``schema``; ``examples``; ``openapi`` with
    ``operation`` (``"POST /events"``); ``asyncapi`` with ``message``.
    ``schema_dirs`` and ``ref_bases`` say where ``http(s)`` references are
    found on disk (:class:`~chaoskit.fuzz.schema.RefMap`)."""

    schema: Path | None = None
    examples: Path | None = None
    openapi: Path | None = None
    operation: str | None = None
    asyncapi: Path | None = None
    message: str | None = None
    schema_dirs: tuple[Path, ...] = ()
    ref_bases: tuple[tuple[str, Path], ...] = ()

    def given(self) -> list[str]:
        """The sources set, by name."""
        return [
            n for n in ("schema", "examples", "openapi", "asyncapi") if getattr(self, n)
        ]

    def check(self) -> str | None:
        """What is wrong with the combination, or None."""
        given = self.given()
        if len(given) != 1:
            got = ", ".join(given) or "none"
            return (
                f"give exactly one of schema, examples, openapi, asyncapi (got {got})"
            )
        if self.openapi is not None and not self.operation:
            return 'openapi needs an operation, e.g. "POST /events"'
        if self.asyncapi is not None and not self.message:
            return "asyncapi needs a message name"
        return None

    def describe(self) -> str:
        """For the console: where the payloads come from."""
        if self.openapi is not None:
            return f"{self.openapi} ({self.operation})"
        if self.asyncapi is not None:
            return f"{self.asyncapi} (message {self.message})"
        return str(self.schema or self.examples)


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _dict(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _openapi_pointer(document: dict[str, object], operation: str, source: str) -> str:
    method, _, path = operation.strip().partition(" ")
    method, path = method.lower(), path.strip()
    paths = _dict(document.get("paths"))
    if method not in _METHODS or not path:
        raise SchemaError(
            f'{source}: operation {operation!r}: write it as "POST /events"'
        )
    if path not in paths:
        close = difflib.get_close_matches(path, list(paths), 1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SchemaError(
            f"{source}: no path {path!r} in paths{hint}; "
            f"paths: {', '.join(paths) or 'none'}"
        )
    item = _dict(paths[path])
    if method not in item:
        have = ", ".join(m.upper() for m in item if m in _METHODS)
        raise SchemaError(
            f"{source}: {path} has no {method.upper()} operation (has: {have})"
        )
    body = _dict(_dict(item[method]).get("requestBody"))
    if "$ref" in body and isinstance(body["$ref"], str):  # components/requestBodies
        ref = body["$ref"]
        target: object = document
        for part in ref.lstrip("#/").split("/"):
            target = _dict(target).get(part.replace("~1", "/").replace("~0", "~"))
        body = _dict(target)
    content = _dict(body.get("content"))
    media = next((m for m in content if m.split(";")[0].strip().endswith("json")), None)
    if media is None:
        raise SchemaError(
            f"{source}: {operation} has no JSON request body (content types: "
            f"{', '.join(content) or 'none'})"
        )
    if "schema" not in _dict(content[media]):
        raise SchemaError(f"{source}: {operation}: request body {media} has no schema")
    if "$ref" in _dict(_dict(item[method]).get("requestBody")):
        ref = str(_dict(_dict(item[method]).get("requestBody"))["$ref"])
        return ref + "/" + _pointer("content", media, "schema")[2:]
    return _pointer("paths", path, method, "requestBody", "content", media, "schema")


def _asyncapi_pointer(document: dict[str, object], name: str, source: str) -> str:
    messages = _dict(_dict(document.get("components")).get("messages"))
    if name in messages:
        return _pointer("components", "messages", name, "payload")
    # AsyncAPI 2.x: messages inline in channels' publish/subscribe operations;
    # 3.x: in channels' messages maps.
    for channel_name, channel in _dict(document.get("channels")).items():
        for verb in ("publish", "subscribe"):
            message = _dict(_dict(_dict(channel).get(verb)).get("message"))
            if message.get("name") == name or message.get("messageId") == name:
                return _pointer("channels", channel_name, verb, "message", "payload")
        for key, entry in _dict(_dict(channel).get("messages")).items():
            if key == name and "payload" in _dict(entry):
                return _pointer("channels", channel_name, "messages", key, "payload")
    known = list(messages)
    close = difflib.get_close_matches(name, known, 1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise SchemaError(
        f"{source}: no message {name!r}{hint}; "
        f"components.messages: {', '.join(known) or 'none'}"
    )


def load_source(source: PayloadSource, base_dir: Path | None = None) -> PayloadModel:
    """The payload model ``source`` names (paths relative to ``base_dir``).

    Raises:
        SchemaError: a missing or unreadable file, an operation or message not
            in the document, or a schema that cannot be used.
    """
    problem = source.check()
    if problem is not None:
        raise SchemaError(problem)

    def at(path: Path) -> Path:
        return path if base_dir is None else base_dir / path

    refs = RefMap(
        tuple(at(d) for d in source.schema_dirs),
        tuple((prefix, at(d)) for prefix, d in source.ref_bases),
    )
    for directory in (*refs.schema_dirs, *(d for _, d in refs.ref_bases)):
        if not directory.is_dir():
            raise SchemaError(f"schema directory not found: {directory}")
    if source.schema is not None:
        return load_model(at(source.schema), refs)
    if source.examples is not None:
        return load_examples(at(source.examples))
    path = at(source.openapi or source.asyncapi)  # type: ignore[arg-type]
    document = load_json_file(
        path, "openapi document" if source.openapi else "asyncapi document"
    )
    if not isinstance(document, dict):
        raise SchemaError(f"{path}: not a JSON object")
    if source.openapi is not None:
        pointer = _openapi_pointer(document, str(source.operation), str(path))
    else:
        pointer = _asyncapi_pointer(document, str(source.message), str(path))
    # The payload schema in place: its $refs resolve inside the document.
    # The base is a name beside the document (never read), so the document is
    # retrieved as the file it is.
    root = {"$ref": path.resolve().name + pointer}
    beside = path.resolve().parent / ".chaoskit-payload.json"
    return model_from_schema(root, f"{path}{pointer}", beside, refs=refs)
