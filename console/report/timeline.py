"""The timeline of a roll: one row per host, its phases on a shared time axis, drawn in text.

Everything here is pure: ``timeline_rows`` and ``timeline_axis`` draw plain data
(``[(host, [(start, end, phase), ...]), ...]``), which ``spans_from_states`` makes from a host's state
changes. The report draws a recorded roll with them (``console.report.build.timeline_from_journal``) and the
console draws a live one (``timeline_from_engine``), so both show the same picture.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple, Protocol

from console.model.durations import SPACED, format_duration
from console.model.events import RollState

PHASE_OF_STATE: Mapping[str, str] = {
    "prechecking": "precheck",
    "draining": "precheck",
    "rebooting": "down",
    "down": "down",
    "booting": "verify",
    "checking": "verify",
    "baking": "verify",
    "done": "done",
    "failed": "failed",
    "unhealthy": "failed",
    "blocked": "failed",
    "reboot-unconfirmed": "failed",
    "skipped": "skipped",
}
GLYPHS: Mapping[str, str] = {
    "precheck": "·",
    "down": "▒",
    "verify": "░",
    "done": "█",
    "failed": "✘",
    "skipped": "»",
}
MARKERS = frozenset({"done", "failed", "skipped"})  # drawn where they happen, one cell wide
# When phases share a cell, the one that matters most is drawn.
_PRIORITY = {"precheck": 1, "verify": 2, "down": 3, "skipped": 4, "done": 5, "failed": 6}
TIMELINE_LEGEND = (
    "· pre-check   ▒ rebooting/down   ░ booting/checking/baking   █ done   ✘ failed/unhealthy/blocked"
    "   » skipped"
)


class Span(NamedTuple):
    """One phase of one host: ``start``/``end`` in epoch seconds (equal for a marker)."""

    start: float
    end: float
    phase: str  # a key of GLYPHS


TimelineRow = tuple[str, Sequence[tuple[float, float, str]]]


def spans_from_states(transitions: Iterable[tuple[float, str]], end: float) -> list[Span]:
    """Spans from a host's state changes ``(at, state)`` in time order; the last one runs to ``end``.

    States with no phase (``pending``, states this module does not know) are left blank.
    """
    items = list(transitions)
    out: list[Span] = []
    for i, (at, state) in enumerate(items):
        phase = PHASE_OF_STATE.get(state)
        if phase is None:
            continue
        if phase in MARKERS:
            if not (out and out[-1].phase == phase and out[-1].start == at):
                out.append(Span(at, at, phase))
            continue
        until = max(at, items[i + 1][0] if i + 1 < len(items) else end)
        if out and out[-1].phase == phase and out[-1].end == at:
            out[-1] = Span(out[-1].start, until, phase)  # rebooting → down: one stretch of downtime
        else:
            out.append(Span(at, until, phase))
    return out


def _bounds(rows: Sequence[TimelineRow], start: float | None, end: float | None) -> tuple[float, float]:
    times = [t for _, spans in rows for s in spans for t in (s[0], s[1])]
    t0 = start if start is not None else min(times, default=0.0)
    t1 = end if end is not None else max(times, default=t0)
    if t1 <= t0:
        t1 = t0 + 1.0
    return t0, t1


def timeline_name_width(rows: Sequence[TimelineRow], width: int) -> int:
    """The name column ``timeline_rows`` chooses for ``rows`` at ``width`` (from the longest name)."""
    longest = max((len(name) for name, _ in rows), default=4)
    return max(4, min(longest, max(8, width // 4)))


def _bar_cells(width: int, name_width: int) -> int:
    return max(10, width - name_width - 3)  # "name │" + bar + "│"


def timeline_rows(
    rows: Sequence[TimelineRow],
    width: int,
    *,
    start: float | None = None,
    end: float | None = None,
    name_width: int | None = None,
) -> list[str]:
    """One line per host, ``width`` characters each: the name, then its phases on a shared time axis.

    ``rows`` is plain data: ``[(host, [(start, end, phase), ...]), ...]`` with phases from ``GLYPHS``;
    time runs from ``start`` (default: the earliest span) to ``end`` (default: the latest).
    A phase always gets at least one cell; where phases share a cell the most important is drawn
    (failed > done > skipped > down > checking > pre-check). Every glyph is one cell wide.
    ``name_width`` fixes the name column (default: from the longest name), so a caller can draw a few
    rows at a time — the ones on screen — and still line them up with the others.
    """
    t0, t1 = _bounds(rows, start, end)
    name_w = name_width or timeline_name_width(rows, width)
    cells = _bar_cells(width, name_w)
    scale = cells / (t1 - t0)

    def col(t: float) -> int:
        return min(cells - 1, max(0, math.floor((t - t0) * scale)))

    out = []
    for name, spans in rows:
        bar = [" "] * cells
        rank = [0] * cells
        for s_start, s_end, phase in spans:
            glyph = GLYPHS.get(phase)
            if glyph is None:
                continue
            first = col(s_start)
            last = first if phase in MARKERS else max(first, math.ceil((s_end - t0) * scale) - 1)
            for c in range(first, min(last, cells - 1) + 1):
                if _PRIORITY[phase] >= rank[c]:
                    bar[c], rank[c] = glyph, _PRIORITY[phase]
        label = name if len(name) <= name_w else name[: name_w - 1] + "…"
        out.append(f"{label:<{name_w}} │{''.join(bar)}│")
    return out


def timeline_axis(
    rows: Sequence[TimelineRow],
    width: int,
    *,
    start: float | None = None,
    end: float | None = None,
    name_width: int | None = None,
) -> str:
    """The time scale under ``timeline_rows`` (same arguments): elapsed time at a few ticks."""
    t0, t1 = _bounds(rows, start, end)
    name_w = name_width or timeline_name_width(rows, width)
    cells = _bar_cells(width, name_w)
    line = [" "] * (name_w + 2 + cells + 1)
    ticks = 4 if cells >= 40 else 2 if cells >= 20 else 1
    labels: list[tuple[int, str]] = []
    for k in range(ticks + 1):
        label = "+" + format_duration(k * (t1 - t0) / ticks, SPACED)
        pos = name_w + 2 + round(k * (cells - 1) / ticks)
        labels.append((pos if k < ticks else max(0, pos - len(label) + 1), label))
    # The first and last labels always; a middle one only where it leaves a gap on both sides.
    chosen = [labels[0], labels[-1]] if ticks else labels[:1]
    for pos, label in labels[1:-1]:
        if all(pos > p + len(t) + 1 or pos + len(label) + 1 < p for p, t in chosen):
            chosen.append((pos, label))
    for pos, label in chosen:
        for i, ch in enumerate(label):
            if pos + i < len(line):
                line[pos + i] = ch
    return "".join(line).rstrip()


class _HostLike(Protocol):
    @property
    def timeline(self) -> Sequence[tuple[float, str, str]]: ...  # (at, state, note), in time order


class _EngineLike(Protocol):
    @property
    def hosts(self) -> Mapping[str, _HostLike]: ...

    @property
    def state(self) -> RollState: ...

    @property
    def finished_at(self) -> float | None: ...

    def clock(self) -> float: ...


def timeline_from_engine(engine: _EngineLike) -> list[TimelineRow]:
    """The timeline of a live roll: each ``engine.hosts[name].timeline`` up to now (or the roll's end)."""
    # finished_at is also set when run() returns paused; only a final roll's end is the end of time.
    now = engine.finished_at if engine.state.final and engine.finished_at is not None else engine.clock()
    out: list[TimelineRow] = []
    for name, run in engine.hosts.items():
        changes = [(float(at), str(state)) for at, state, _note in run.timeline]
        out.append((name, spans_from_states(changes, now)))
    return out
