"""Durations and ratios as users write them: ``"250ms"``, ``"15s"``, ``"2m"``, ``"1%"``.

Pure functions; imports nothing from chaoskit. Errors are ``ValueError`` with the
offending text and the accepted forms, so callers can put them next to a key path.
"""

from __future__ import annotations

import math
import re

__all__ = ["format_duration", "parse_duration", "parse_ratio", "parse_size"]

_DURATION = re.compile(
    r"^\s*(?P<num>\d+(?:\.\d+)?|\.\d+)\s*(?P<unit>us|µs|ms|s|m|h)\s*$"
)
_UNIT_SECONDS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
DURATION_FORMS = 'a number with a unit: "500us", "250ms", "15s", "2m", "1h"'


def parse_duration(value: str | int | float) -> float:
    """Seconds from ``"250ms"``-style text; a bare number is already seconds.

    Raises:
        ValueError: the text is not a duration, or it is negative or not finite.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(value) if isinstance(value, str) else None
        if match is None:
            raise ValueError(f"{value!r} is not a duration; use {DURATION_FORMS}")
        seconds = float(match["num"]) * _UNIT_SECONDS[match["unit"]]
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{value!r} is not a duration: it must be finite and >= 0")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest readable form: ``0.25 -> "250ms"``, ``90 -> "1m30s"``."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f}us"
    if seconds < 1:
        return f"{seconds * 1e3:.3g}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:.0f}s" if rest >= 0.5 else f"{int(minutes)}m"


def parse_ratio(value: str | int | float) -> float:
    """A ratio in [0, 1] from ``"1%"``, ``"0.5%"`` or a number like ``0.01``.

    Raises:
        ValueError: not a ratio, or outside [0, 1].
    """
    wrong = f'{value!r} is not a ratio; use a percentage like "1%" or 0.01'
    if isinstance(value, int | float) and not isinstance(value, bool):
        ratio = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            ratio = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            raise ValueError(wrong) from None
    else:
        raise ValueError(wrong)  # noqa: TRY004 - callers catch ValueError for all bad input
    if not (0.0 <= ratio <= 1.0):  # also rejects NaN
        raise ValueError(f"{value!r} is not a ratio between 0 and 1 (0% to 100%)")
    return ratio


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)


def parse_size(value: str | int) -> int:
    """A size in bytes: ``1048576``, ``"512KB"``, ``"1MB"``, ``"1MiB"`` (KB = 1024).

    Raises:
        ValueError: not a size (the message shows the allowed forms).
    """
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = _SIZE.match(str(value))
    if not match:
        raise ValueError(
            f'{value!r} is not a size: write e.g. 1048576, "512KB" or "1MB"'
        )
    unit = (match.group(2) or "b").lower()[0]
    return int(
        float(match.group(1)) * {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit]
    )
