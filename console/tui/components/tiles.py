"""How the fleet grid draws its rows: a group's line (its counts by state and by drift mark) or a row of tiles.

A tile is ``[lead] glyph [name][mark] [trail]``; the cursor is shown by brackets (``[● web-01]``) and a
tint, never by colour alone. The mark is the host's most severe drift finding (``▲`` warn, ``■`` block; see
``marks.py``), right after its name; dense tiles draw it small in their lead column.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from console.engine.facade import Engine
from console.engine.hostrun import HostRun
from console.model.events import HostState
from console.model.findings import Severity
from console.tui.components.marks import DENSE_GLYPH, SEVERITY_GLYPH, severity_style, tile_mark
from console.tui.components.themes import ConsoleTheme
from console.tui.components.vocab import HOST_GLYPHS, HOST_ORDER, ellipsize

Density = Literal["auto", "names", "glyphs", "dense"]
TileKey = tuple[HostState, Severity | None]  # what a tile shows of its host: the state and the drift mark
Tally = tuple[dict[HostState, int], dict[Severity, int]]  # a group's members by state and by drift mark


def tile_key(run: HostRun) -> TileKey:
    return run.state, (tile_mark(run.findings) if run.findings else None)


def counts_of(engine: Engine, hosts: Iterable[str]) -> dict[HostState, int]:
    out: dict[HostState, int] = {}
    for name in hosts:
        state = engine.hosts[name].state
        out[state] = out.get(state, 0) + 1
    return out


def marks_of(engine: Engine, hosts: Iterable[str]) -> dict[Severity, int]:
    """How many of ``hosts`` carry each drift mark."""
    out: dict[Severity, int] = {}
    runs = engine.hosts
    for name in hosts:
        findings = runs[name].findings
        if findings:
            mark = tile_mark(findings)
            if mark is not None:
                out[mark] = out.get(mark, 0) + 1
    return out


class GroupTallies:
    """Each group line's counts (by state, by drift mark), kept up to date from the hosts marked dirty
    rather than counted on every redraw (5,000 members: 3-5 ms a frame under a storm of events)."""

    def __init__(self, engine: Engine, groups: list[tuple[str, list[str]]]) -> None:
        self.engine = engine
        self._members = dict(groups)
        self._group_of = {h: g for g, members in groups for h in members}
        self._tallies: dict[str, Tally] = {}
        self._counted: dict[str, TileKey] = {}  # what the tallies hold per host

    def of(self, group: str) -> Tally:
        """Every member of ``group`` by state and by drift mark (zero counts may be left in)."""
        tally = self._tallies.get(group)
        if tally is None:
            states: dict[HostState, int] = {}
            marks: dict[Severity, int] = {}
            runs = self.engine.hosts
            counted = self._counted
            for name in self._members[group]:
                key = counted[name] = tile_key(runs[name])
                states[key[0]] = states.get(key[0], 0) + 1
                if key[1] is not None:
                    marks[key[1]] = marks.get(key[1], 0) + 1
            tally = self._tallies[group] = (states, marks)
        return tally

    def recount(self, hosts: Iterable[str]) -> None:
        """Move ``hosts`` (they may have changed) to their current state and mark in the tallies."""
        runs = self.engine.hosts
        for name in hosts:
            tally = self._tallies.get(self._group_of.get(name, ""))
            if tally is None:
                continue
            old, new = self._counted[name], tile_key(runs[name])
            if old == new:
                continue
            self._counted[name] = new
            for counts, before, after in ((tally[0], old[0], new[0]), (tally[1], old[1], new[1])):
                if before is not None:
                    counts[before] -= 1
                if after is not None:
                    counts[after] = counts.get(after, 0) + 1

    def clear(self) -> None:
        """Count afresh when each group line is drawn next."""
        self._tallies.clear()


def group_line(group: str, shown: int, members: int, tally: Tally, theme: ConsoleTheme, base: Style) -> Strip:
    """``web (12)  ● 7 done  ⟳ 2 rebooting …  drift  ■ 1 block``: ``shown`` of ``members`` pass the filter."""
    counts, marks = tally
    group_style = base + Style(color=theme.grid["group"], bold=True)
    dim = base + Style(color=theme.grid["dim"])
    size = f"{shown} of {members}" if shown != members else f"{shown}"
    segs = [Segment(f" {group} ", group_style), Segment(f"({size})", dim)]
    for state in HOST_ORDER:
        n = counts.get(state, 0)
        if n:
            segs.append(Segment("  ", base))
            segs.append(Segment(HOST_GLYPHS[state], base + theme.state_style(state)))
            segs.append(Segment(f" {n} {state.value}", dim))
    if any(marks.values()):
        segs.append(Segment("   drift", dim))
        for sev, word in ((Severity.BLOCK, "block"), (Severity.WARN, "warn")):
            if marks.get(sev):
                segs.append(Segment("  ", base))
                segs.append(Segment(SEVERITY_GLYPH[sev], base + severity_style(sev, theme)))
                segs.append(Segment(f" {marks[sev]} {word}", dim))
    return Strip(segs)


def tile_row(
    hosts: tuple[str, ...],
    runs: Mapping[str, HostRun],
    *,
    cursor: str | None,
    density: Density,
    name_width: int,
    theme: ConsoleTheme,
    base: Style,
    styles: Mapping[HostState, Style],
) -> Strip:
    """A row of tiles; ``styles``: each state's style on ``base``."""
    cursor_bg = Style(bgcolor=theme.grid["cursor"])
    bracket = base + Style(color=theme.ui.get("accent", theme.ui["primary"]), bold=True) + cursor_bg
    segs = []
    for name in hosts:
        run = runs[name]
        state = run.state
        style = styles[state]
        here = name == cursor
        glyph = HOST_GLYPHS[state]
        mark = tile_mark(run.findings) if run.findings else None
        if density == "dense":
            if here:
                segs.append(Segment("▸", bracket))
            elif mark is not None:
                segs.append(Segment(DENSE_GLYPH[mark], base + severity_style(mark, theme)))
            else:
                segs.append(Segment(" ", base))
            segs.append(Segment(glyph, style + Style(underline=True) if here else style))
            continue
        label = glyph if density == "glyphs" else f"{glyph} {ellipsize(name, name_width):<{name_width}}"
        if here:
            segs.append(Segment("[", bracket))
            segs.append(Segment(label, style + (Style(underline=True) if state.problem else cursor_bg)))
        else:
            segs.append(Segment(" ", base))
            segs.append(Segment(label, style))
        if mark is not None:
            mark_style = base + severity_style(mark, theme)
            segs.append(Segment(SEVERITY_GLYPH[mark], mark_style + cursor_bg if here else mark_style))
            segs.append(Segment("]", bracket) if here else Segment(" ", base))
        elif here:
            segs.append(Segment("]", bracket))
            segs.append(Segment(" ", base))
        else:
            segs.append(Segment("  ", base))
    return Strip(segs)
