"""Durations as people write them in inventories: ``30s``, ``5m``, ``1h30m``, ``2d``, ``250ms``."""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


class DurationError(ValueError):
    """A duration that cannot be read; the message says what was expected."""


def parse_duration(value: object) -> float:
    """Return seconds for ``value``: a bare number (seconds) or a string such as ``1h30m``."""
    if isinstance(value, bool):
        raise DurationError(f"expected a duration such as 30s, 5m or 1h30m, got {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise DurationError(f"expected a finite duration such as 30s or 5m, got {value!r}")
        if value < 0:
            raise DurationError(f"a duration cannot be negative, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise DurationError(f"expected a duration such as 30s, 5m or 1h30m, got {value!r}")
    text = value.strip().replace(" ", "")
    if not text:
        raise DurationError("expected a duration such as 30s, 5m or 1h30m, got an empty string")
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    pos = 0
    total = 0.0
    seen: list[str] = []
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        unit = match.group(2)
        if unit in seen:
            raise DurationError(f"unit {unit!r} appears twice in duration {value!r}")
        seen.append(unit)
        total += float(match.group(1)) * _UNITS[unit]
        pos = match.end()
    if pos != len(text) or not seen:
        raise DurationError(
            f"expected a duration such as 30s, 5m, 1h30m or 2d (units ms, s, m, h, d, w), got {value!r}"
        )
    return total


def format_duration(seconds: float | None) -> str:
    """Short human form: ``1h02m``, ``4m05s``, ``12s``, ``0.4s``; ``-`` for unknown."""
    if seconds is None:
        return "-"
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    s = round(seconds)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    if d:
        return f"{d}d{h:02d}h"
    if h:
        return f"{h}h{m:02d}m"
    if m:
        return f"{m}m{s:02d}s"
    return f"{s}s"
