"""The console's visual vocabulary: a glyph and a word for every state, and short text formatting.

Colour is a theme's business (see ``themes.py``); meaning is carried here, by shape and by word, so that
nothing on screen depends on telling two colours apart.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, tzinfo

from console.model.durations import format_duration
from console.model.events import HostState, RollState

HOST_GLYPHS: dict[HostState, str] = {
    HostState.PENDING: "○",
    HostState.PRECHECKING: "◔",
    HostState.DRAINING: "◒",
    HostState.REBOOTING: "⟳",
    HostState.DOWN: "↓",
    HostState.BOOTING: "↑",
    HostState.CHECKING: "◑",
    HostState.BAKING: "◕",
    HostState.DONE: "●",
    HostState.FAILED: "✘",
    HostState.SKIPPED: "⊘",
    HostState.BLOCKED: "■",
    HostState.UNHEALTHY: "!",
    HostState.UNCONFIRMED: "?",
}

HOST_MEANING: dict[HostState, str] = {
    HostState.PENDING: "waiting for its turn; not touched yet",
    HostState.PRECHECKING: "facts and checks before its reboot (nothing changed yet)",
    HostState.DRAINING: "being taken out of service before its reboot",
    HostState.REBOOTING: "reboot command sent",
    HostState.DOWN: "not answering: rebooting",
    HostState.BOOTING: "back with a new boot id; waiting for systemd",
    HostState.CHECKING: "checks and drift audit after the reboot",
    HostState.BAKING: "healthy; checks repeat for the bake time",
    HostState.DONE: "rebooted, checked and baked",
    HostState.FAILED: "a problem after its reboot: it holds its budget slot",
    HostState.SKIPPED: "skipped by the operator",
    HostState.BLOCKED: "a pre-flight finding says it would not come back: not rebooted",
    HostState.UNHEALTHY: "failed its checks before its turn: not rebooted",
    HostState.UNCONFIRMED: "cannot tell whether its reboot happened",
}

# Grid order for counts and the legend: the life of a host, then the problems.
HOST_ORDER: tuple[HostState, ...] = tuple(HOST_GLYPHS)

ROLL_GLYPHS: dict[RollState, str] = {
    RollState.READY: "◇",
    RollState.RUNNING: "▶",
    RollState.PAUSING: "◐",
    RollState.PAUSED: "‖",
    RollState.ABORTING: "⊗",
    RollState.ABORTED: "✖",
    RollState.COMPLETE: "✔",
}


def host_word(state: HostState) -> str:
    return state.value


def host_label(state: HostState) -> str:
    """Glyph and word, e.g. ``⟳ rebooting``."""
    return f"{HOST_GLYPHS[state]} {state.value}"


def roll_label(state: RollState) -> str:
    """Glyph and word in capitals, e.g. ``◐ PAUSING``."""
    return f"{ROLL_GLYPHS[state]} {state.value.upper()}"


def match_states(text: str) -> set[HostState]:
    """Host states a filter word names: exact word, or the start of one (``fail``, ``reb``)."""
    word = text.strip().lower().removeprefix("state:").strip()
    if not word:
        return set()
    exact = {s for s in HostState if s.value == word}
    if exact:
        return exact
    if word in ("problem", "problems"):
        return {HostState.FAILED, HostState.BLOCKED, HostState.UNHEALTHY, HostState.UNCONFIRMED}
    if word in ("flight", "in-flight", "active"):
        return {s for s in HostState if s.in_flight}
    return {s for s in HostState if s.value.startswith(word) and len(word) >= 3}


class Clock:
    """Wall-clock seconds and how to print them; tests inject a frozen one (and UTC)."""

    def __init__(self, now: Callable[[], float] = time.time, tz: tzinfo | None = None) -> None:
        self.now = now
        self.tz = tz

    def stamp(self, at: float) -> str:
        return datetime.fromtimestamp(at, self.tz).strftime("%H:%M:%S")

    def elapsed(self, since: float | None, until: float | None = None) -> str:
        if since is None:
            return "-"
        return clock_duration((until if until is not None else self.now()) - since)


def clock_duration(seconds: float) -> str:
    """``h:mm:ss`` (``m:ss`` under an hour): steady width for a header that updates every second."""
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def short_duration(seconds: float | None) -> str:
    return format_duration(seconds)


def ellipsize(text: str, width: int) -> str:
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    return text[: max(0, width - 1)] + "…"
