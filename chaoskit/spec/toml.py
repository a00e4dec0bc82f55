"""Reading an experiment file, and ``--set key.path=value`` overrides.

Both work on the raw TOML table, before validation: an override is checked
exactly like a value written in the file, so ``--set faults.0.latency=3x``
gets the same message as ``latency = "3x"`` would.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from chaoskit.errors import SpecError, SpecIssue

__all__ = ["apply_overrides", "parse_override", "read_table"]

_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_NOUNS = {
    "faults": ("fault", "faults"),
    "hypotheses": ("hypothesis", "hypotheses"),
    "services": ("service", "services"),
    "routes": ("route", "routes"),
    "tasks": ("task", "tasks"),
    "abort": ("abort condition", "abort conditions"),
    "probes": ("probe", "probes"),
}


def read_table(path: str | Path) -> dict[str, Any]:
    """The file's TOML table.

    Raises:
        SpecError: the file cannot be read, or it is not valid TOML (the
            issue gives the line and column).
    """
    file = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        reason = error.strerror or str(error)
        raise SpecError(
            file, [SpecIssue("(file)", f"cannot read it: {reason}")]
        ) from None
    try:
        # utf-8-sig: a byte-order mark (Windows editors write one) is not text.
        text = data.decode("utf-8-sig")
        return tomllib.loads(text)
    except UnicodeDecodeError as error:
        issue = SpecIssue("(file)", f"not UTF-8 text (byte {error.start})")
        raise SpecError(file, [issue]) from None
    except tomllib.TOMLDecodeError as error:
        # tomllib (3.11) puts the position only in the message.
        message = str(error)
        match = _POSITION.search(message)
        where = f"line {match[1]}, column {match[2]}" if match else "(file)"
        message = _POSITION.sub("", message) if match else message
        opened = _unclosed_string(text)
        if opened is not None and (match is None or "\\n" in message):
            # "at end of document" or "illegal character '\n'": say where
            # the string that never ends starts.
            where, message = (
                f"line {opened[0]}, column {opened[1]}",
                ("unterminated string: the quote opened here is never closed"),
            )
        elif match is None and _END_OF_DOCUMENT.search(message):
            where = f"line {text.rstrip().count(chr(10)) + 1} (the end of the file)"
            message = _END_OF_DOCUMENT.sub("", message)
        issue = SpecIssue(where, f"not valid TOML: {message[:1].lower()}{message[1:]}")
        raise SpecError(file, [issue]) from None


_END_OF_DOCUMENT = re.compile(r"\s*\(at end of document\)")


def _unclosed_string(text: str) -> tuple[int, int] | None:
    """(line, column) where a string opens that is not closed, if one is.

    A small scan of TOML's four string forms and comments, used only to
    place an error tomllib reports without a position.
    """
    line, column, i = 1, 1, 0
    while i < len(text):
        char = text[i]
        if char == "#":
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        if char in "\"'":
            triple = text.startswith(char * 3, i)
            quote = char * 3 if triple else char
            j = i + len(quote)
            while True:
                if j >= len(text) or (not triple and text[j] == "\n"):
                    return line, column
                if char == '"' and text[j] == "\\":
                    j += 2
                    continue
                if text.startswith(quote, j):
                    break
                j += 1
            j += len(quote)
            skipped = text[i:j]
            newlines = skipped.count("\n")
            line += newlines
            column = (
                len(skipped) - skipped.rfind("\n")
                if newlines
                else column + len(skipped)
            )
            i = j
            continue
        if char == "\n":
            line, column = line + 1, 1
        else:
            column += 1
        i += 1
    return None


def parse_override(text: str) -> tuple[list[str], object]:
    """``"faults.0.latency=2s"`` -> (``["faults", "0", "latency"]``, ``"2s"``).

    The value is read as a TOML value when it is one (numbers, booleans,
    quoted strings, arrays, inline tables), else taken as plain text, so
    ``2s`` and ``"2s"`` mean the same. A key part may be quoted to hold dots.

    Raises:
        ValueError: no ``=``, or an empty key part.
    """
    key, sep, raw = text.partition("=")
    if not sep:
        raise ValueError("expected key.path=value")
    parts = _split_key(key.strip())
    value_text = raw.strip()
    try:
        value: object = tomllib.loads(f"v = {value_text}")["v"]
    except tomllib.TOMLDecodeError:
        value = value_text
    return parts, value


def apply_overrides(table: dict[str, Any], overrides: Iterable[str]) -> list[SpecIssue]:
    """Apply each ``key.path=value`` to ``table`` in place; return the problems.

    Every part of the path but the last must exist (an integer part indexes
    an array); the last may be a new key of an existing table, which is then
    validated like any key of the file.
    """
    issues = []
    for text in overrides:
        where = f"--set {text.partition('=')[0].strip()}"
        try:
            parts, value = parse_override(text)
        except ValueError as error:
            issues.append(SpecIssue(where, str(error), allowed="key.path=value"))
            continue
        problem = _assign(table, parts, value)
        if problem is not None:
            issues.append(SpecIssue(where, problem))
    return issues


def _split_key(key: str) -> list[str]:
    parts = re.findall(r'"([^"]*)"|([^."]+)', key)
    names = [quoted or bare.strip() for quoted, bare in parts]
    if not names or any(not name for name in names) or ".." in key:
        raise ValueError(f"{key!r} is not a key path; expected key.path=value")
    return names


def _assign(table: dict[str, Any], parts: list[str], value: object) -> str | None:
    """Set ``value`` at ``parts``; a message when the path does not exist."""
    node: Any = table
    walked = ""
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit():
                return (
                    f"{walked} is an array: index it with a number (0..{len(node) - 1})"
                )
            index = int(part)
            if index >= len(node):
                return f"there is no {walked}[{index}] ({_has(walked, len(node))})"
            if last:
                node[index] = value
                return None
            node, walked = node[index], f"{walked}[{index}]"
        elif isinstance(node, dict):
            if last:
                node[part] = value
                return None
            if part not in node:
                where = f"[{walked}]" if walked else "the file"
                return f"there is no {_join(walked, part)} in {where}"
            node, walked = node[part], _join(walked, part)
        else:
            return f"{walked} is a value ({node!r}), not a table or an array"
    return None  # unreachable: the loop returns at the last part


def _join(walked: str, part: str) -> str:
    bare = re.fullmatch(r"[A-Za-z0-9_-]+", part) is not None
    name = part if bare else f'"{part}"'
    return f"{walked}.{name}" if walked else name


def _has(walked: str, count: int) -> str:
    last = walked.rsplit(".", 1)[-1].split("[")[0]
    one, many = _NOUNS.get(last, ("item", "items"))
    return f"the file has {count} {one if count == 1 else many}"
