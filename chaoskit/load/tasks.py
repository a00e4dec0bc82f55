"""Tasks compiled for the hot path: seeded weighted choice, request bytes, captures.

A :class:`CompiledTask` turns a :class:`~chaoskit.load.config.TaskSpec` into the
exact HTTP/1.1 request bytes for one user, rendering templates with the user's
seeded randomness; a task without templates is serialised once and reused.
"""

from __future__ import annotations

import bisect
import json
import math
import random
from collections.abc import Mapping, Sequence
from urllib.parse import quote, urlencode

from chaoskit.jsonpath import extract
from chaoskit.load.config import HotKeys, TaskSpec, parse_expect
from chaoskit.load.templating import Template

__all__ = ["CompiledTask", "TaskChooser", "UserState", "extract"]

_BOUNDARY = "chaoskit-7e3f9a1c5b2d4e6f"


class UserState:
    """One user's identity, randomness and captured values (a render context).

    Args:
        user: the user number.
        seed: the run's seed; the user's randomness is derived from it and the
            number, so each user's sequence is the same whatever the others do.
        hot_keys: the hot-key settings for ``{{ key() }}``.
    """

    __slots__ = ("hot_keys", "rng", "seq", "user", "values")

    def __init__(
        self, user: int, seed: int | str, hot_keys: HotKeys | None = None
    ) -> None:
        self.user = user
        self.seq = 0
        self.rng = random.Random(f"{seed}:{user}")
        self.values: dict[str, object] = {}
        self.hot_keys = hot_keys

    def hot_key(self) -> int:
        """A key: one of the hot ones with the configured probability."""
        hot = self.hot_keys or HotKeys()
        if self.rng.random() < hot.ratio:
            return self.rng.randint(1, hot.hot)
        return self.rng.randint(hot.hot + 1, hot.space)

    def bearer(self, name: str | None) -> str | None:
        """The captured value used as the bearer token, if any."""
        if name is None:
            return None
        value = self.values.get(name)
        return None if value is None else str(value)


_UNPARSED = object()


def _number(found: object) -> float | None:
    """A number from a header's text or a JSON value; None if it is not one."""
    if isinstance(found, bool) or found is None:
        return None
    try:
        value = float(found.strip() if isinstance(found, str) else found)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class TaskChooser:
    """Seeded weighted choice: ``rng.random()`` bisected into cumulative weights."""

    def __init__(self, tasks: Sequence[CompiledTask]) -> None:
        self.tasks = tuple(tasks)
        total = 0.0
        self._cumulative: list[float] = []
        for task in self.tasks:
            total += task.weight
            self._cumulative.append(total)
        self._total = total

    def choose(self, rng: random.Random) -> CompiledTask:
        """One task, in proportion to the weights (no draw when there is one)."""
        if len(self.tasks) == 1:
            return self.tasks[0]
        index = bisect.bisect_right(self._cumulative, rng.random() * self._total)
        return self.tasks[min(index, len(self.tasks) - 1)]


class CompiledTask:
    """A task ready to render requests.

    Args:
        spec: the task.
        host: the ``Host`` header value.
        prefix: the base URL's path, put in front of every path.
        names: the captured names templates may use.
        seed: seeds the generated upload files.
        timeout: the default timeout when the task has none.
        user_class: the user class it belongs to (``""``: no classes).
    """

    def __init__(
        self,
        spec: TaskSpec,
        *,
        host: str,
        prefix: str,
        names: frozenset[str],
        seed: int,
        timeout: float,
        user_class: str = "",
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.user_class = user_class
        self.weight = spec.weight
        self.method = spec.method
        self.expect = parse_expect(spec.expect)
        self.captures = tuple(spec.capture.items())
        self.marker = spec.marker
        self.timeout = spec.timeout if spec.timeout is not None else timeout
        self.acks = spec.ack_id is not None or spec.ack_request is not None
        """Whether requests of this task are recorded for integrity checks."""
        self.observes = spec.observe
        """Numbers read from each response (empty for almost every task)."""
        self._observed_headers = tuple(
            p.removeprefix("header:").lower().encode("latin-1")
            if p.startswith("header:")
            else None
            for p in spec.observe
        )
        self._prefix = prefix.rstrip("/")
        self._path = Template(spec.path, names)
        self._query = [(k, Template(v, names)) for k, v in spec.query.items()]
        self._headers = [(k, Template(v, names)) for k, v in spec.headers.items()]
        self._form = [(k, Template(v, names)) for k, v in (spec.form or {}).items()]
        self._json = _compile_json(spec.json, names)
        self._files = [
            (field, upload.filename, upload.content_type,
             random.Random(f"{seed}:{spec.name}:{field}").randbytes(upload.size))
            for field, upload in (spec.files or {}).items()
        ]  # fmt: skip
        self._host = host
        self.stream = spec.stream
        """A stream task's settings (None: an HTTP request)."""
        stream = spec.stream
        self.subscribe = (
            Template(stream.subscribe, names)
            if stream is not None and stream.subscribe is not None
            else None
        )
        self.messages = tuple(
            (Template(m.send, names), m.expect)
            for m in (stream.messages if stream is not None else ())
        )
        templates = [
            self._path,
            *(t for _, t in self._query + self._headers + self._form),
        ]
        static = all(t.static for t in templates) and _json_static(self._json)
        self._cached: bytes | None = None
        if static:
            self._cached = self._serialise(None, None)

    def build(self, user: UserState | None, token: str | None = None) -> bytes:
        """The request bytes for ``user`` (``None`` only for a static task)."""
        if self._cached is not None and token is None:
            return self._cached
        return self._serialise(user, token)

    def target(self, ctx: UserState) -> str:
        """The request target (prefix, path and query) rendered for ``ctx``."""
        target = self._prefix + self._path.render(ctx)
        if self._query:
            params = urlencode([(k, t.render(ctx)) for k, t in self._query])
            target += ("&" if "?" in target else "?") + params
        return quote(target, safe="/?&=%:@!$'()*+,;~-._")

    def header_pairs(self, ctx: UserState) -> list[tuple[str, str]]:
        """The task's own headers rendered for ``ctx`` (line breaks removed)."""
        return [(k, _header_value(t.render(ctx))) for k, t in self._headers]

    def _serialise(self, user: UserState | None, token: str | None) -> bytes:
        ctx: UserState = user if user is not None else UserState(0, 0)
        target = self.target(ctx)
        headers = [f"Host: {self._host}", "User-Agent: chaoskit"]
        body = b""
        if self._files:
            body = self._multipart(ctx)
            headers.append(f"Content-Type: multipart/form-data; boundary={_BOUNDARY}")
        elif self._form:
            body = urlencode([(k, t.render(ctx)) for k, t in self._form]).encode()
            headers.append("Content-Type: application/x-www-form-urlencoded")
        elif self._json is not None:
            value = _render_json(self._json, ctx)
            body = json.dumps(value, separators=(",", ":")).encode()
            headers.append("Content-Type: application/json")
        if body or self.method in ("POST", "PUT", "PATCH"):
            headers.append(f"Content-Length: {len(body)}")
        if token is not None:
            headers.append(f"Authorization: Bearer {_header_value(token)}")
        headers += [f"{k}: {v}" for k, v in self.header_pairs(ctx)]
        head = (
            f"{self.method} {target} HTTP/1.1\r\n" + "\r\n".join(headers) + "\r\n\r\n"
        )
        return head.encode("latin-1") + body

    def _multipart(self, ctx: UserState) -> bytes:
        parts: list[bytes] = []
        for key, template in self._form:
            parts.append(
                f'--{_BOUNDARY}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'
                f"{template.render(ctx)}\r\n".encode()
            )
        for key, filename, content_type, data in self._files:
            parts.append(
                f'--{_BOUNDARY}\r\nContent-Disposition: form-data; name="{key}"; '
                f'filename="{filename}"\r\n'
                f"Content-Type: {content_type}\r\n\r\n".encode()
                + data
                + b"\r\n"
            )
        parts.append(f"--{_BOUNDARY}--\r\n".encode())
        return b"".join(parts)

    def observed(
        self, body: bytes, headers: tuple[tuple[bytes, bytes], ...]
    ) -> list[float | None]:
        """Each ``observe`` probe's number in a response (None: absent or not one)."""
        document: object = _UNPARSED
        out: list[float | None] = []
        for probe, header in zip(self.observes, self._observed_headers, strict=True):
            found: object = None
            if header is not None:
                for key, value in headers:
                    if key == header:
                        found = value.decode("latin-1")
                        break
            else:
                if document is _UNPARSED:
                    try:
                        document = json.loads(body)
                    except ValueError:
                        document = None
                found = extract(document, probe)
            out.append(_number(found))
        return out

    def marked(
        self, status: int, body: bytes, headers: tuple[tuple[bytes, bytes], ...]
    ) -> bool:
        """Whether a response carries this task's marker (False without one)."""
        marker = self.marker
        if marker is None:
            return False
        if status in marker.status:
            return True
        want = marker.equals
        if marker.header is not None:
            name = marker.header.lower().encode("latin-1")
            for key, value in headers:
                if key == name and (
                    want is None or value.decode("latin-1").strip() == want
                ):
                    return True
        if marker.json_path is not None:
            try:
                found = extract(json.loads(body), marker.json_path)
            except ValueError:
                return False
            if found is not None:
                text = found if isinstance(found, str) else json.dumps(found)
                return want is None or text == want
        return False

    def capture(self, body: bytes, user: UserState) -> None:
        """Read this task's captures from a JSON response body into ``user``."""
        if not self.captures:
            return
        try:
            document = json.loads(body)
        except ValueError:
            return
        for name, path in self.captures:
            value = extract(document, path)
            if value is not None:
                user.values[name] = value

    def acknowledged(self, body: bytes, raw: bytes) -> str | None:
        """The id a successful response acknowledged (``ack.id`` in the answer,
        else the request's own ``ack.request`` key); None if it names none."""
        if self.spec.ack_id is not None:
            key = _json_key(body, self.spec.ack_id)
            if key is not None:
                return key
        return self.request_key(raw)

    def request_key(self, raw: bytes) -> str | None:
        """The write's own key (``ack.request``) from the request bytes."""
        if self.spec.ack_request is None:
            return None
        return _json_key(raw.partition(b"\r\n\r\n")[2], self.spec.ack_request)

    def __repr__(self) -> str:
        return f"CompiledTask({self.name!r}, {self.method} {self.spec.path!r})"


def _json_key(body: bytes, path: str) -> str | None:
    """The value at ``path`` in a JSON body, as text; None if absent or not JSON."""
    try:
        value = extract(json.loads(body), path)
    except ValueError:
        return None
    return None if value is None or isinstance(value, dict | list) else str(value)


def _header_value(text: str) -> str:
    """A header value without line breaks: a captured value cannot add headers."""
    return text.replace("\r", " ").replace("\n", " ")


def _compile_json(value: object, names: frozenset[str]) -> object:
    if isinstance(value, str):
        return Template(value, names)
    if isinstance(value, Mapping):
        return {str(k): _compile_json(v, names) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_compile_json(v, names) for v in value]
    return value


def _json_static(value: object) -> bool:
    if isinstance(value, Template):
        return value.static
    if isinstance(value, dict):
        return all(_json_static(v) for v in value.values())
    if isinstance(value, list):
        return all(_json_static(v) for v in value)
    return True


def _render_json(value: object, ctx: UserState) -> object:
    if isinstance(value, Template):
        return value.value(ctx)
    if isinstance(value, dict):
        return {k: _render_json(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_json(v, ctx) for v in value]
    return value
