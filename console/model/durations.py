"""Durations as people write them in inventories: ``30s``, ``5m``, ``1h30m``, ``2d``, ``250ms``."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

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


@dataclass(frozen=True)
class DurationStyle:
    """How ``format_duration`` writes a duration."""

    gap: str = ""  # between the two units: ``4m05s`` or ``4m 05s``
    unknown: str = "-"  # for None
    milliseconds: bool = False  # under a second: ``250ms`` (and ``0s`` for zero) rather than ``0.2s``
    days_from: int = 24  # hours from which a duration is written in days and hours


COMPACT = DurationStyle()
"""The console and the command line: ``1d02h``, ``1h02m``, ``4m05s``, ``12s``, ``0.4s``; ``-`` for unknown."""

SPACED = DurationStyle(gap=" ", unknown="—", milliseconds=True, days_from=48)
"""Reports and notifications: ``2d 03h``, ``47h 59m``, ``4m 05s``, ``12s``, ``4.2s``, ``250ms``; ``—``."""


def format_duration(seconds: float | None, style: DurationStyle = COMPACT) -> str:
    """Short human form: two units at most, whole seconds from 10 s on, tenths below."""
    if seconds is None:
        return style.unknown
    if seconds < 0:
        return "-" + format_duration(-seconds, style)
    if style.milliseconds and seconds < 1:
        return f"{seconds * 1000:.0f}ms" if seconds else "0s"
    if seconds < 10:
        return f"{seconds:.1f}s"
    m, s = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    if h >= style.days_from:
        d, h = divmod(h, 24)
        return f"{d}d{style.gap}{h:02d}h"
    if h:
        return f"{h}h{style.gap}{m:02d}m"
    if m:
        return f"{m}m{style.gap}{s:02d}s"
    return f"{s}s"
