"""The fleet grid: one tile per host, grouped, drawn as ONE line-API widget.

Thousands of hosts stay cheap: the layout (which host sits on which row) is computed only when the width,
height, filter or density changes; a frame renders only the visible rows, and the app refreshes the grid at
most ~10 times a second however many events arrive (``mark_dirty`` + ``tick``).

A tile is ``[lead] glyph [name][mark] [trail]``; the cursor is shown by brackets (``[● web-01]``) and a
tint, never by colour alone. The mark is the host's most severe drift finding (``▲`` warn, ``■`` block; see
``marks.py``), right after its name; dense tiles draw it small in their lead column.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from console.engine.facade import Engine
from console.engine.hostrun import HostRun
from console.model.events import Event, FindingsReported, HostState
from console.model.findings import Severity
from console.tui.components.marks import DENSE_GLYPH, SEVERITY_GLYPH, severity_style, tile_mark
from console.tui.components.themes import ConsoleTheme
from console.tui.components.vocab import HOST_GLYPHS, HOST_ORDER, ellipsize

Density = Literal["auto", "names", "glyphs", "dense"]
DENSITIES: tuple[Density, ...] = ("auto", "names", "glyphs", "dense")
NO_GROUP = "(no group)"
MAX_NAME = 24
TILES_PER_TICK = 1000  # tiles' worth of rows redrawn per tick (12 rows of dense tiles at 160 columns)


@dataclass(frozen=True)
class _Row:
    kind: Literal["group", "tiles"]
    group: str
    hosts: tuple[str, ...] = ()


class FleetGrid(ScrollView, can_focus=True):
    """Every host as a tile; arrows / hjkl move the cursor; enter opens the host."""

    DEFAULT_CSS = """
    FleetGrid {
        overflow-x: hidden;
        overflow-y: auto;
        height: 1fr;
        scrollbar-size-vertical: 1;
    }
    """

    BINDINGS = [
        Binding("left,h", "move(-1, 0)", "left", show=False),
        Binding("right,l", "move(1, 0)", "right", show=False),
        Binding("up,k", "move(0, -1)", "up", show=False),
        Binding("down,j", "move(0, 1)", "down", show=False),
        Binding("home", "edge(0)", "first", show=False),
        Binding("end", "edge(1)", "last", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
    ]

    class CursorMoved(Message):
        def __init__(self, host: str | None, by_operator: bool) -> None:
            super().__init__()
            self.host = host
            self.by_operator = by_operator

    def __init__(
        self,
        engine: Engine,
        theme: ConsoleTheme,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.engine = engine
        self.console_theme = theme
        groups: dict[str, list[str]] = {g: [] for g in engine.inventory.groups}
        for h in engine.inventory.hosts:
            groups.setdefault(h.groups[0] if h.groups else NO_GROUP, []).append(h.name)
        self._groups: list[tuple[str, list[str]]] = [(g, m) for g, m in groups.items() if m]
        self._order: list[str] = [h for _, members in self._groups for h in members]
        self._group_of: dict[str, str] = {h: g for g, members in self._groups for h in members}
        # Each group line's counts (by state, by drift mark), kept up to date from the hosts marked dirty
        # rather than counted on every redraw (5,000 members: 3-5 ms a frame under a storm of events).
        self._tallies: dict[str, tuple[dict[HostState, int], dict[Severity, int]]] = {}
        self._counted: dict[str, tuple[HostState, Severity | None]] = {}  # what the tallies hold per host
        self._name_width = min(MAX_NAME, max((len(n) for n in self._order), default=4))
        self._filter: Callable[[HostRun], bool] | None = None
        self.filter_text = ""
        self.density: Density = "auto"
        self.effective_density: Density = "names"
        self._rows: list[_Row] = []
        self._pos: dict[str, tuple[int, int]] = {}
        self._visible: list[str] = []
        self._cache: dict[int, Strip] = {}
        self._layout_key: tuple[object, ...] | None = None
        self._dirty = True
        self._dirty_all = True
        self._dirty_hosts: set[str] = set()
        self._stale: dict[int, None] = {}  # rows to redraw, in the order they went stale
        self._per_row = 1  # tiles on a full row, in the layout in force
        self._group_row: dict[str, int] = {}
        self._styles: dict[object, dict[HostState, Style]] = {}
        self.cursor: str | None = self._order[0] if self._order else None
        self.rendered_cursor: str | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def on_mount(self) -> None:
        # Findings arrive without a change of state (the audit before the roll): redraw those tiles too.
        self._unsubscribe = self.engine.subscribe(self._on_engine_event)

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_engine_event(self, event: Event) -> None:
        if isinstance(event, FindingsReported):
            self.mark_dirty(event.host)

    # ------------------------------------------------------------------------------------------------
    # What is shown

    @property
    def visible_hosts(self) -> list[str]:
        self._ensure_layout()
        return list(self._visible)

    def set_filter(self, text: str, predicate: Callable[[HostRun], bool] | None) -> None:
        self.filter_text = text
        self._filter = predicate
        self._layout_key = None
        self._ensure_layout()
        if self.cursor not in self._pos:
            self._set_cursor(self._visible[0] if self._visible else None, by_operator=False)
        self.refresh_all()

    def cycle_density(self) -> Density:
        self.density = DENSITIES[(DENSITIES.index(self.density) + 1) % len(DENSITIES)]
        self._layout_key = None
        self.refresh_all()
        self.call_after_refresh(self._scroll_to_cursor)
        return self.density

    def set_console_theme(self, theme: ConsoleTheme) -> None:
        self.console_theme = theme
        self._styles.clear()
        self.refresh_all()

    def mark_dirty(self, host: str | None = None) -> None:
        """Something changed (``host``: only that host's tile and its group line)."""
        if host is None:
            self._dirty_all = True
        else:
            self._dirty_hosts.add(host)
        self._dirty = True

    def tick(self) -> bool:
        """Redraw what changed since the last tick; True when a redraw was asked for.

        At most ``TILES_PER_TICK`` tiles' worth of rows a tick, the rows waiting longest first: under a storm
        of events (a thousand a second over 10,000 hosts) every visible row changes every tick, and
        redrawing all of them in one frame kept a key press waiting behind it. The rest follow over the
        next ticks (a whole 160x48 screen of dense tiles within 0.3 s); the cursor's rows never wait.
        """
        if not self._dirty and not self._stale:
            return False
        self._dirty = False
        hosts, self._dirty_hosts = self._dirty_hosts, set()
        everything, self._dirty_all = self._dirty_all, False
        if self._filter is not None:
            # A state filter's membership changes as hosts move: keep the layout in step.
            self._layout_key = None
            self._ensure_layout()
            if self.cursor not in self._pos and self._visible:
                self._set_cursor(self._visible[0], by_operator=False)
            self.refresh_all()
            return True
        self._ensure_layout()
        top = self.scroll_offset.y
        bottom = top + self.size.height
        stale = self._stale
        if everything:  # the app's once-a-second safety net: every row, at the same pace
            self._cache.clear()
            self._tallies.clear()  # counted afresh when their lines are drawn
            stale.update(dict.fromkeys(range(top, min(bottom, len(self._rows)))))
        self._recount(hosts)
        for name in hosts:
            where = self._pos.get(name)
            if where is not None:
                for row in (where[0], self._group_row[self._rows[where[0]].group]):
                    self._cache.pop(row, None)  # whatever draws it next draws it as it is now
                    if top <= row < bottom:
                        stale[row] = None
        budget = max(4, TILES_PER_TICK // max(1, self._per_row))
        while stale and budget:
            row = next(iter(stale))
            del stale[row]
            if top <= row < bottom:  # scrolled away meanwhile: drawn afresh when it comes back
                self.refresh_line(row)
                budget -= 1
        return True

    def refresh_all(self) -> None:
        self._cache.clear()
        self._stale.clear()
        self._tallies.clear()
        self._dirty = False
        self.refresh()

    # ------------------------------------------------------------------------------------------------
    # Layout

    def _tile_width(self, density: Density) -> int:
        if density == "names":
            return self._name_width + 5  # [● name▲]
        if density == "glyphs":
            return 4  # [●▲]
        return 2  # ▸● (the mark, ▴ or ▪, takes the lead column)

    def _usable_width(self) -> int:
        return max(4, self.scrollable_content_region.width or self.size.width or 80)

    def _build_rows(self, density: Density, width: int) -> tuple[list[_Row], list[str]]:
        per_row = max(1, width // self._tile_width(density))
        rows: list[_Row] = []
        visible: list[str] = []
        for group, members in self._groups:
            shown = members
            if self._filter is not None:
                shown = [m for m in members if self._filter(self.engine.hosts[m])]
            if not shown:
                continue
            rows.append(_Row("group", group, tuple(shown)))
            for i in range(0, len(shown), per_row):
                rows.append(_Row("tiles", group, tuple(shown[i : i + per_row])))
            visible.extend(shown)
        return rows, visible

    def rows_needed(self, width: int) -> int:
        """Rows the whole fleet takes with names at ``width`` (the app sizes the log pane from this)."""
        per_row = max(1, width // self._tile_width("names"))
        return sum(1 + -(-len(members) // per_row) for _, members in self._groups)

    def _ensure_layout(self) -> None:
        width = self._usable_width()
        height = self.size.height
        key = (width, height, self.density, self.filter_text, id(self._filter))
        if key == self._layout_key:
            return
        self._layout_key = key
        if self.density != "auto":
            density: Density = self.density
            rows, visible = self._build_rows(density, width)
        else:
            for density in ("names", "glyphs", "dense"):
                rows, visible = self._build_rows(density, width)
                if len(rows) <= max(1, height):
                    break
        self.effective_density = density
        self._per_row = max(1, width // self._tile_width(density))
        self._stale.clear()  # rows are numbered anew (the caller redraws everything)
        self._rows = rows
        self._visible = visible
        self._pos = {}
        self._group_row = {}
        for y, row in enumerate(rows):
            if row.kind == "group":
                self._group_row[row.group] = y
            if row.kind == "tiles":
                for x, host in enumerate(row.hosts):
                    self._pos[host] = (y, x)
        self._cache.clear()
        self.virtual_size = Size(width, len(rows))

    def on_resize(self, event: events.Resize) -> None:
        self._layout_key = None
        self._ensure_layout()
        self.refresh_all()
        self.call_after_refresh(self._scroll_to_cursor)

    # ------------------------------------------------------------------------------------------------
    # Cursor

    def _set_cursor(self, host: str | None, *, by_operator: bool) -> None:
        changed = host != self.cursor
        old = self.cursor
        self.cursor = host
        if changed:
            for name in (old, host):
                if name in self._pos:
                    row = self._pos[name][0]
                    self._cache.pop(row, None)
                    self.refresh_line(row)
            self._scroll_to_cursor()
        self.post_message(self.CursorMoved(host, by_operator))

    def select(self, host: str, *, by_operator: bool = False) -> None:
        """Move the cursor to ``host`` (made visible: the filter is cleared if it hides it)."""
        self._ensure_layout()
        if host not in self._pos and self._filter is not None:
            self.set_filter("", None)
        if host in self._pos:
            self._set_cursor(host, by_operator=by_operator)

    def _scroll_to_cursor(self) -> None:
        if self.cursor not in self._pos:
            return
        row = self._pos[self.cursor][0]
        top = row - 1 if row > 0 and self._rows[row - 1].kind == "group" else row
        height = max(1, self.scrollable_content_region.height)
        y = self.scroll_offset.y
        if top < y:
            self.scroll_to(y=top, animate=False, immediate=True)
        elif row >= y + height:
            self.scroll_to(y=row - height + 1, animate=False, immediate=True)

    def action_move(self, dx: int, dy: int) -> None:
        self._ensure_layout()
        if not self._visible:
            return
        if self.cursor not in self._pos:
            self._set_cursor(self._visible[0], by_operator=True)
            return
        row, col = self._pos[self.cursor]
        if dx:
            i = self._visible.index(self.cursor) + dx
            i = max(0, min(len(self._visible) - 1, i))
            self._set_cursor(self._visible[i], by_operator=True)
            return
        y = row + dy
        while 0 <= y < len(self._rows) and self._rows[y].kind != "tiles":
            y += dy
        if 0 <= y < len(self._rows):
            hosts = self._rows[y].hosts
            self._set_cursor(hosts[min(col, len(hosts) - 1)], by_operator=True)

    def action_edge(self, end: int) -> None:
        self._ensure_layout()
        if self._visible:
            self._set_cursor(self._visible[-1 if end else 0], by_operator=True)

    def action_page(self, direction: int) -> None:
        self._ensure_layout()
        if self.cursor not in self._pos:
            return
        for _ in range(max(1, self.scrollable_content_region.height - 1)):
            self.action_move(0, direction)

    def on_click(self, event: events.Click) -> None:
        self._ensure_layout()
        y = event.y + self.scroll_offset.y
        if not 0 <= y < len(self._rows) or self._rows[y].kind != "tiles":
            return
        x = event.x // self._tile_width(self.effective_density)
        hosts = self._rows[y].hosts
        if 0 <= x < len(hosts):
            self._set_cursor(hosts[x], by_operator=True)

    # ------------------------------------------------------------------------------------------------
    # Drawing

    def _tile_key(self, run: HostRun) -> tuple[HostState, Severity | None]:
        return run.state, (tile_mark(run.findings) if run.findings else None)

    def _recount(self, hosts: Iterable[str]) -> None:
        """Move ``hosts`` (they may have changed) to their current state and mark in the group tallies."""
        runs = self.engine.hosts
        for name in hosts:
            tally = self._tallies.get(self._group_of.get(name, ""))
            if tally is None:
                continue
            old, new = self._counted[name], self._tile_key(runs[name])
            if old == new:
                continue
            self._counted[name] = new
            for counts, before, after in ((tally[0], old[0], new[0]), (tally[1], old[1], new[1])):
                if before is not None:
                    counts[before] -= 1
                if after is not None:
                    counts[after] = counts.get(after, 0) + 1

    def group_tally(self, group: str) -> tuple[dict[HostState, int], dict[Severity, int]]:
        """Every member of ``group`` by state and by drift mark (zero counts may be left in)."""
        tally = self._tallies.get(group)
        if tally is None:
            states: dict[HostState, int] = {}
            marks: dict[Severity, int] = {}
            runs = self.engine.hosts
            counted = self._counted
            for name in next(m for g, m in self._groups if g == group):
                key = counted[name] = self._tile_key(runs[name])
                states[key[0]] = states.get(key[0], 0) + 1
                if key[1] is not None:
                    marks[key[1]] = marks.get(key[1], 0) + 1
            tally = self._tallies[group] = (states, marks)
        return tally

    def counts_of(self, hosts: Iterable[str]) -> dict[HostState, int]:
        out: dict[HostState, int] = {}
        for name in hosts:
            state = self.engine.hosts[name].state
            out[state] = out.get(state, 0) + 1
        return out

    def marks_of(self, hosts: Iterable[str]) -> dict[Severity, int]:
        """How many of ``hosts`` carry each drift mark."""
        out: dict[Severity, int] = {}
        runs = self.engine.hosts
        for name in hosts:
            findings = runs[name].findings
            if findings:
                mark = tile_mark(findings)
                if mark is not None:
                    out[mark] = out.get(mark, 0) + 1
        return out

    def render_line(self, y: int) -> Strip:
        self._ensure_layout()
        index = self.scroll_offset.y + y
        width = self.size.width
        base = self.rich_style
        if index >= len(self._rows):
            return Strip.blank(width, base)
        strip = self._cache.get(index)
        if strip is None:
            strip = self._render_row(self._rows[index], base).adjust_cell_length(width, base)
            self._cache[index] = strip
        if self.cursor in self._pos and self._pos[self.cursor][0] == index:
            self.rendered_cursor = self.cursor
        return strip

    def _render_row(self, row: _Row, base: Style) -> Strip:
        theme = self.console_theme
        if row.kind == "group":
            if self._filter is None:  # every member is on the line
                counts, marks = self.group_tally(row.group)
            else:
                counts, marks = self.counts_of(row.hosts), self.marks_of(row.hosts)
            group_style = base + Style(color=theme.grid["group"], bold=True)
            dim = base + Style(color=theme.grid["dim"])
            total = len(row.hosts)
            members = next((len(m) for g, m in self._groups if g == row.group), total)
            size = f"{total} of {members}" if total != members else f"{total}"
            segs = [Segment(f" {row.group} ", group_style), Segment(f"({size})", dim)]
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
        density = self.effective_density
        cursor_bg = Style(bgcolor=theme.grid["cursor"])
        bracket = base + Style(color=theme.ui.get("accent", theme.ui["primary"]), bold=True) + cursor_bg
        key = (theme.name, base)
        styles = self._styles.get(key)
        if styles is None:
            styles = {st: base + theme.state_style(st) for st in HostState}
            self._styles = {key: styles}
        segs = []
        hosts = self.engine.hosts
        width = self._name_width
        for name in row.hosts:
            run = hosts[name]
            state = run.state
            style = styles[state]
            here = name == self.cursor
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
            label = glyph if density == "glyphs" else f"{glyph} {ellipsize(name, width):<{width}}"
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
