"""The load engine's own user error: a value in the load configuration is wrong."""

from __future__ import annotations

from chaoskit.errors import UsageError

__all__ = ["LoadConfigError"]

_UNSET = object()


class LoadConfigError(UsageError):
    """A load setting is invalid. Names the field, the value and what is allowed.

    ``field`` is relative to the ``[load]`` table (``tasks.weight``,
    ``model.rate``) so the spec module can put its own key path in front.
    """

    def __init__(
        self,
        field: str,
        message: str,
        value: object = _UNSET,
        *,
        allowed: str | None = None,
    ) -> None:
        self.field = field
        self.reason = message
        self.value = None if value is _UNSET else value
        self.allowed = allowed
        text = f"{field}: {message}"
        if value is not _UNSET:
            text += f" (got {value!r})"
        if allowed:
            text += f"; allowed: {allowed}"
        super().__init__(text)
