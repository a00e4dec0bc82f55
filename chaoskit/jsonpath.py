"""A small JSON path (``$.a.b[0]``, ``$['a']``): markers, acknowledgements,
read-backs and HTTP probes all read values out of JSON documents this way.

A leaf: imports nothing from chaoskit.
"""

from __future__ import annotations

__all__ = ["extract"]


def extract(document: object, path: str) -> object:
    """The value at a small JSON path (``$.a.b[0]``, ``$['a']``); ``None`` if absent."""
    node = document
    position = 1  # after "$"
    while position < len(path) and node is not None:
        char = path[position]
        if char == ".":
            end = position + 1
            while end < len(path) and path[end] not in ".[":
                end += 1
            key = path[position + 1 : end]
            node = node.get(key) if isinstance(node, dict) else None
            position = end
        elif char == "[":
            end = path.index("]", position)
            token = path[position + 1 : end].strip()
            if token[:1] in "'\"":
                key = token[1:-1]
                node = node.get(key) if isinstance(node, dict) else None
            elif isinstance(node, list) and token.lstrip("-").isdigit():
                index = int(token)
                node = node[index] if -len(node) <= index < len(node) else None
            else:
                node = None
            position = end + 1
        else:
            return None
    return node
