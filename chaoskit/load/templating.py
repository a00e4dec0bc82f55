"""The small template language for request values: ``{{ randint(1, 20) }}``.

No ``eval``: a template is split into literal text and ``{{ expression }}``
parts, each expression is parsed by a tiny recursive-descent parser into a name
or a call of one of a fixed set of functions with literal arguments, and checked
when the experiment is loaded. The grammar::

    expression := NAME | NAME "(" [literal ("," literal)*] ")"
    literal    := INT | FLOAT | STRING ('...' or "...") | "-" number

Names are ``user`` (the virtual user's number) and the values the user captured
from earlier responses. Functions:

======================  =====================================================
``randint(a, b)``       an integer in ``a..b`` (both included)
``uniform(a, b)``       a float in ``a..b``
``choice(x, y, ...)``   one of the arguments
``uuid()``              a random (seeded) UUID4 string
``randstr(n)``          ``n`` random letters and digits
``key()``               hot-key mode: a record key, most often one of the hot keys
``seq()``               the user's request counter (1, 2, 3, ...)
======================  =====================================================

A template that is exactly one expression renders to the typed value (so a JSON
body gets an integer from ``randint``); anything else renders to text. Random
values come from the caller's seeded ``random.Random``, so a seed reproduces
every value.
"""

from __future__ import annotations

import random
import re
import string
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

__all__ = ["FUNCTIONS", "RenderContext", "Template", "TemplateError"]

Value = int | float | str


class TemplateError(ValueError):
    """A template does not parse, or names an unknown function or value."""


class RenderContext(Protocol):
    """What an expression can read: the user, its captured values, its randomness."""

    @property
    def user(self) -> int:
        """The user's number."""
        ...

    @property
    def seq(self) -> int:
        """The user's request counter."""
        ...

    @property
    def rng(self) -> random.Random:
        """The user's seeded randomness."""
        ...

    @property
    def values(self) -> Mapping[str, object]:
        """Values captured from earlier responses."""
        ...

    def hot_key(self) -> int:
        """A record key for hot-key mode."""
        ...


_ALPHABET = string.ascii_letters + string.digits


def _randint(ctx: RenderContext, args: tuple[Value, ...]) -> Value:
    low, high = args
    return ctx.rng.randint(int(low), int(high))


def _uniform(ctx: RenderContext, args: tuple[Value, ...]) -> Value:
    low, high = args
    return ctx.rng.uniform(float(low), float(high))


def _choice(ctx: RenderContext, args: tuple[Value, ...]) -> Value:
    return args[ctx.rng.randrange(len(args))]


def _uuid(ctx: RenderContext, args: tuple[Value, ...]) -> Value:
    return str(uuid.UUID(int=ctx.rng.getrandbits(128), version=4))


def _randstr(ctx: RenderContext, args: tuple[Value, ...]) -> Value:
    return "".join(ctx.rng.choices(_ALPHABET, k=int(args[0])))


def _key(ctx: RenderContext, args: tuple[Value, ...]) -> Value:
    return ctx.hot_key()


def _seq(ctx: RenderContext, args: tuple[Value, ...]) -> Value:
    return ctx.seq


@dataclass(frozen=True)
class _Function:
    call: Callable[[RenderContext, tuple[Value, ...]], Value]
    arity: tuple[int, int | None]  # min, max (None: any)
    numeric: bool = False


FUNCTIONS: Mapping[str, _Function] = {
    "randint": _Function(_randint, (2, 2), numeric=True),
    "uniform": _Function(_uniform, (2, 2), numeric=True),
    "choice": _Function(_choice, (1, None)),
    "uuid": _Function(_uuid, (0, 0)),
    "randstr": _Function(_randstr, (1, 1), numeric=True),
    "key": _Function(_key, (0, 0)),
    "seq": _Function(_seq, (0, 0)),
}
"""The functions a template may call, by name."""

_TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<str>'[^']*'|\"[^\"]*\")|(?P<punct>[(),]))"
)
_EXPRESSION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


@dataclass(frozen=True)
class _Name:
    name: str


@dataclass(frozen=True)
class _Call:
    function: _Function
    args: tuple[Value, ...]


_Expr = _Name | _Call


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise TemplateError(f"unexpected {text[position:].strip()!r} in {text!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match[kind]))
        position = match.end()
    return tokens


def _literal(kind: str, token: str) -> Value:
    if kind == "num":
        return float(token) if "." in token else int(token)
    if kind == "str":
        return token[1:-1]
    raise TemplateError(
        f"{token!r} is not a literal; arguments are numbers or quoted text"
    )


def _parse(text: str, names: frozenset[str] | None) -> _Expr:
    tokens = _tokens(text)
    if not tokens:
        raise TemplateError("empty expression '{{ }}'")
    kind, head = tokens[0]
    if kind != "name":
        raise TemplateError(f"{text.strip()!r}: an expression starts with a name")
    if len(tokens) == 1:
        if names is not None and head != "user" and head not in names:
            known = ", ".join(sorted({"user", *names}))
            raise TemplateError(f"unknown name {head!r}; known names: {known}")
        return _Name(head)
    function = FUNCTIONS.get(head)
    if function is None:
        raise TemplateError(
            f"unknown function {head!r}; functions: {', '.join(sorted(FUNCTIONS))}"
        )
    if tokens[1] != ("punct", "(") or tokens[-1] != ("punct", ")"):
        raise TemplateError(f"{text.strip()!r}: write a call as {head}(...)")
    args: list[Value] = []
    inner = tokens[2:-1]
    for index, (kind, token) in enumerate(inner):
        if index % 2 == 1:
            if (kind, token) != ("punct", ","):
                raise TemplateError(f"{text.strip()!r}: separate arguments with commas")
            continue
        args.append(_literal(kind, token))
    if inner and inner[-1] == ("punct", ","):
        raise TemplateError(f"{text.strip()!r}: trailing comma")
    low, high = function.arity
    if len(args) < low or (high is not None and len(args) > high):
        wanted = str(low) if low == high else f"at least {low}"
        raise TemplateError(f"{head}() takes {wanted} argument(s), got {len(args)}")
    if function.numeric and not all(isinstance(a, int | float) for a in args):
        raise TemplateError(f"{head}() takes numbers, got {args!r}")
    return _Call(function, tuple(args))


class Template:
    """A compiled template: literal text and expressions.

    Args:
        text: the template.
        names: the names an expression may use besides ``user`` (captured
            values); ``None`` skips the check.

    Raises:
        TemplateError: the text does not parse, or uses an unknown name or function.
    """

    __slots__ = ("_parts", "_single", "static", "text")

    def __init__(self, text: str, names: frozenset[str] | None = None) -> None:
        self.text = text
        parts: list[str | _Expr] = []
        position = 0
        for match in _EXPRESSION.finditer(text):
            if match.start() > position:
                parts.append(text[position : match.start()])
            parts.append(_parse(match[1], names))
            position = match.end()
        if position < len(text):
            parts.append(text[position:])
        if "{{" in "".join(p for p in parts if isinstance(p, str)):
            raise TemplateError(f"{text!r}: '{{{{' without a closing '}}}}'")
        self._parts = tuple(parts)
        self.static = all(isinstance(p, str) for p in parts)
        """True when the template has no expressions (render once, reuse)."""
        self._single = len(parts) == 1 and not isinstance(parts[0], str)

    @staticmethod
    def _eval(expr: _Expr, ctx: RenderContext) -> object:
        if isinstance(expr, _Call):
            return expr.function.call(ctx, expr.args)
        if expr.name == "user":
            return ctx.user
        return ctx.values.get(expr.name, "")

    def value(self, ctx: RenderContext) -> object:
        """The rendered value: typed when the template is one expression, else text."""
        if self._single:
            return self._eval(self._parts[0], ctx)  # type: ignore[arg-type]
        return self.render(ctx)

    def render(self, ctx: RenderContext) -> str:
        """The rendered text."""
        out: list[str] = []
        for part in self._parts:
            out.append(part if isinstance(part, str) else str(self._eval(part, ctx)))
        return "".join(out)

    def __repr__(self) -> str:
        return f"Template({self.text!r})"
