"""The maintenance window as the console shows it: open and for how long, or closed and until when.

Judged exactly as the engine judges it before each slice (``console.windows.judge`` with the engine's
expected cycle time), so the header never says "open" while the engine waits, nor the other way round.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from console.engine.facade import Engine
from console.model.events import RollState
from console.model.windows import MaintenanceWindow, judge
from console.tui.components.vocab import Clock, short_duration

GLYPH_OPEN = "◎"
GLYPH_CLOSED = "◌"


@dataclass(frozen=True)
class WindowStatus:
    """What the header and the banner say about the policy's maintenance windows right now."""

    open: bool  # a reboot cycle may start now (the window is open and a slice fits before it closes)
    header: str  # one piece for the header, glyph first
    short: str  # the same for a narrow terminal
    sentence: str  # for the banner: why nothing starts, and until when
    waiting: bool  # the running roll is waiting for a window at this moment
    closes_in: float | None = None  # seconds until the current window closes
    opens_at: float | None = None  # epoch seconds: when the next window a slice fits in opens


def when(at: float, now: float, clock: Clock, windows: Sequence[MaintenanceWindow] = ()) -> str:
    """``22:00`` today, ``Sat 22:00`` within a week, else the date — in the console's time zone, which is
    named (``22:00 UTC``) when a window is written in a zone with another offset at that moment."""
    local = dt.datetime.fromtimestamp(at, clock.tz).astimezone(clock.tz)
    today = dt.datetime.fromtimestamp(now, clock.tz).date()
    if local.date() == today:
        text = f"{local:%H:%M}"
    elif (local.date() - today).days < 7:
        text = f"{local:%a %H:%M}"
    else:
        text = f"{local:%Y-%m-%d %H:%M}"
    offset = local.utcoffset()
    if any(local.astimezone(w.zone).utcoffset() != offset for w in windows):
        text += f" {local:%Z}"
    return text


def window_status(engine: Engine, clock: Clock) -> WindowStatus | None:
    """None when the policy has no maintenance window (or the roll is over)."""
    windows = engine.policy.windows
    if not windows or engine.state.final:
        return None
    now = clock.now()
    expected = engine.expected_cycle()
    verdict = judge(windows, now, expected)
    waiting = engine.state is RollState.RUNNING and engine.waiting_for.startswith("maintenance window")
    if verdict.allowed:
        left = max(0.0, (verdict.window_end or now) - now)
        return WindowStatus(
            True,
            f"{GLYPH_OPEN} window open, closes in {short_duration(left)}",
            f"{GLYPH_OPEN} window closes in {short_duration(left)}",
            f"The maintenance window is open; it closes in {short_duration(left)}.",
            False,
            closes_in=left,
        )
    if verdict.next_start is not None:
        at = when(verdict.next_start, now, clock, windows)
        nxt = f"{at} (in {short_duration(verdict.next_start - now)})"
        until = f"no reboot starts until the next one opens at {nxt}"
    else:
        nxt = ""
        until = "no reboot starts, and no window opens in the coming week"
    if verdict.window_end is not None:  # open, but a slice would not finish before it closes
        left = max(0.0, verdict.window_end - now)
        header = (
            f"{GLYPH_CLOSED} window closes in {short_duration(left)}: too short for a slice "
            f"(~{short_duration(expected)})"
        )
        sentence = (
            f"The maintenance window closes in {short_duration(left)}, before a slice (expected "
            f"{short_duration(expected)}) could finish: {until}."
        )
        short = f"{GLYPH_CLOSED} window too short ({short_duration(left)} left)"
        return WindowStatus(
            False, header, short, sentence, waiting, closes_in=left, opens_at=verdict.next_start
        )
    if waiting:
        header = f"{GLYPH_CLOSED} waiting: next window opens {nxt or 'not within a week'}"
    else:
        header = f"{GLYPH_CLOSED} window closed, next opens {nxt or 'not within a week'}"
    short = f"{GLYPH_CLOSED} {'waiting: window' if waiting else 'window'} opens {nxt or 'not this week'}"
    sentence = f"Outside every maintenance window: {until}."
    return WindowStatus(False, header, short, sentence, waiting, opens_at=verdict.next_start)
