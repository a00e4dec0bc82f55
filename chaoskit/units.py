"""Durations, ratios and sizes as users write them: ``"250ms"``, ``"1%"``, ``"10KB"``.

Pure functions; imports nothing from chaoskit. Errors are ``ValueError`` with the
offending text and the accepted forms, so callers can put them next to a key path.
"""

from __future__ import annotations

import math
import re

__all__ = [
    "format_duration",
    "format_size",
    "parse_duration",
    "parse_rate",
    "parse_ratio",
    "parse_size",
]

_DURATION = re.compile(
    r"^\s*(?P<num>\d+(?:\.\d+)?|\.\d+)\s*(?P<unit>us|µs|ms|s|m|h)\s*$",
    re.ASCII,  # full-width digits is not a duration: ASCII digits only
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
        if not text.isascii():  # float() takes full-width digits; a ratio is ASCII
            raise ValueError(wrong)
        try:
            ratio = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            raise ValueError(wrong) from None
    else:
        raise ValueError(wrong)  # noqa: TRY004 - callers catch ValueError for all bad input
    if not (0.0 <= ratio <= 1.0):  # also rejects NaN
        raise ValueError(f"{value!r} is not a ratio between 0 and 1 (0% to 100%)")
    return ratio


_SIZE = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*$", re.IGNORECASE
)
_SIZE_UNITS = {
    "b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2,
    "gb": 1000**3, "gib": 1024**3,
}  # fmt: skip
_PER = {"s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0, "hour": 3600.0}


def parse_size(value: str | int) -> int:
    """Bytes from ``"10KB"``, ``"1MiB"``, ``"512B"`` or an integer.

    Raises:
        ValueError: not a size, or negative.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size")  # noqa: TRY004 - callers catch ValueError
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{value!r} is not a size: it must be >= 0")
        return value
    match = _SIZE.match(value)
    if match is None:
        raise ValueError(f'{value!r} is not a size; use bytes or "10KB", "1MiB"')
    return int(float(match[1]) * _SIZE_UNITS[(match[2] or "b").lower()])


def format_size(size: float) -> str:
    """Bytes as ``"1.5MB"`` (decimal units, like the sizes users write)."""
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if abs(size) >= factor:
            return f"{size / factor:.3g}{unit}"
    return f"{size:.3g}B"


def parse_rate(value: str | int | float) -> float:
    """Growth per second from ``"1MB/min"``, ``"5/s"``, ``"2/h"`` or a number (per s).

    The amount is a size (``KB``/``MB``/``GB``, bytes) or a plain count; the
    unit of time is ``s``, ``min`` or ``h``.

    Raises:
        ValueError: not ``<amount>/<s|min|h>`` or a number, or negative.
    """
    wrong = (
        f'{value!r} is not a growth rate; use "1MB/min", "10/s", "2KB/h" '
        "or a number per second"
    )
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value) or value < 0:
            raise ValueError(wrong)
        return float(value)
    if not isinstance(value, str) or "/" not in value:
        raise ValueError(wrong)
    amount, _, per = value.rpartition("/")
    seconds = _PER.get(per.strip().lower())
    if seconds is None:
        raise ValueError(wrong)
    try:
        count = (
            parse_size(amount.strip())
            if amount.strip()[-1:].isalpha()
            else float(amount)
        )
    except (ValueError, IndexError):
        raise ValueError(wrong) from None
    if not math.isfinite(count) or count < 0:
        raise ValueError(wrong)
    return count / seconds
