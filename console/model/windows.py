"""Maintenance windows: no reboot starts outside one, nor when its expected cycle would run past the end."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class MaintenanceWindow:
    """Opens at ``start`` on each of ``days`` (in ``tz``) and closes at ``end`` (the next day if earlier)."""

    days: frozenset[int]  # 0 = Monday
    start: dt.time
    end: dt.time
    tz: str = "UTC"

    @property
    def zone(self) -> dt.tzinfo:
        return ZoneInfo(self.tz)

    def _length(self) -> dt.timedelta:
        s = dt.datetime.combine(dt.date(2000, 1, 3), self.start)
        e = dt.datetime.combine(dt.date(2000, 1, 3), self.end)
        if e <= s:
            e += dt.timedelta(days=1)
        return e - s

    def occurrences(self, around: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
        """Openings from the day before ``around`` to a week after it, as aware datetimes."""
        local = around.astimezone(self.zone)
        out = []
        for offset in range(-1, 9):
            day = local.date() + dt.timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            opens = dt.datetime.combine(day, self.start, tzinfo=self.zone)
            out.append((opens, opens + self._length()))
        return out

    def describe(self) -> str:
        days = ",".join(DAYS[d] for d in sorted(self.days)) if len(self.days) < 7 else "daily"
        return f"{days} {self.start:%H:%M}–{self.end:%H:%M} {self.tz}"


@dataclass(frozen=True)
class WindowVerdict:
    allowed: bool
    reason: str
    window_end: float | None = None  # epoch seconds: end of the current window
    next_start: float | None = None  # epoch seconds: when the roll may try again


def judge(windows: Sequence[MaintenanceWindow], now: float, expected: float) -> WindowVerdict:
    """May a reboot cycle of ``expected`` seconds start at ``now`` (epoch seconds)?"""
    if not windows:
        return WindowVerdict(True, "no maintenance window configured")
    at = dt.datetime.fromtimestamp(now, dt.UTC)
    spans = sorted((o, c) for w in windows for o, c in w.occurrences(at))
    current_end = None
    for opens, closes in spans:
        if opens <= at < closes:
            current_end = max(current_end or closes, closes)
    if current_end is not None:
        left = (current_end - at).total_seconds()
        if left >= expected:
            return WindowVerdict(True, f"{left:.0f}s left in the maintenance window", current_end.timestamp())
        reason = (
            f"the maintenance window closes in {left:.0f}s, before an expected cycle of {expected:.0f}s could "
            "finish"
        )
    else:
        reason = "outside every maintenance window"
    after = current_end or at
    nxt = next((o for o, c in spans if o > after and (c - o).total_seconds() >= expected), None)
    if nxt is None:
        nxt = next((o for o, _ in spans if o > after), None)
    return WindowVerdict(
        False,
        reason,
        current_end.timestamp() if current_end else None,
        nxt.timestamp() if nxt else None,
    )


def parse_time(text: str) -> dt.time:
    parts = text.strip().split(":")
    if not 2 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"expected a time of day such as 22:00, got {text!r}")
    h, m = int(parts[0]), int(parts[1])
    s = int(parts[2]) if len(parts) == 3 else 0
    if not (0 <= h <= 24 and 0 <= m < 60 and 0 <= s < 60) or (h == 24 and (m or s)):
        raise ValueError(f"expected a time of day such as 22:00, got {text!r}")
    return dt.time(0, 0) if h == 24 else dt.time(h, m, s)
