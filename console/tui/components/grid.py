"""The fleet grid: one tile per host, grouped, drawn as ONE line-API widget.

Thousands of hosts stay cheap: the layout (which host sits on which row) is computed only when the width,
height, filter or density changes; a frame renders only the visible rows, and the app refreshes the grid at
most ~10 times a second however many events arrive (``mark_dirty`` + ``tick``). How a row looks is
``tiles.py``'s business.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Literal

from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.strip import Strip

from console.engine.facade import Engine
from console.engine.hostrun import HostRun
from console.model.events import Event, FindingsReported, HostState
from console.tui.components.linelist import LineList
from console.tui.components.themes import ConsoleTheme
from console.tui.components.tiles import Density, GroupTallies, counts_of, group_line, marks_of, tile_row

DENSITIES: tuple[Density, ...] = ("auto", "names", "glyphs", "dense")
NO_GROUP = "(no group)"
MAX_NAME = 24
TILES_PER_TICK = 1000  # tiles' worth of rows redrawn per tick (12 rows of dense tiles at 160 columns)


@dataclass(frozen=True)
class _Row:
    kind: Literal["group", "tiles"]
    group: str
    hosts: tuple[str, ...] = ()


class FleetGrid(LineList, can_focus=True):
    """Every host as a tile; arrows / hjkl move the cursor; enter opens the host.

    A row's key in the line cache is its place: a row is forgotten whenever a host on it (or, for a group
    line, in its group) changes, or the cursor comes or goes, and the layout forgets them all."""

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
        Binding("end,G", "edge(1)", "last", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
    ]

    class CursorMoved(Message):
        def __init__(self, host: str | None, by_operator: bool) -> None:
            super().__init__()
            self.host = host
            self.by_operator = by_operator

    class Opened(Message):
        def __init__(self, host: str) -> None:
            super().__init__()
            self.host = host

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
        self.tallies = GroupTallies(engine, self._groups)
        self._name_width = min(MAX_NAME, max((len(n) for n in self._order), default=4))
        self._filter: Callable[[HostRun], bool] | None = None
        self.filter_text = ""
        self.density: Density = "auto"
        self.effective_density: Density = "names"
        self._rows: list[_Row] = []
        self._pos: dict[str, tuple[int, int]] = {}
        self._visible: list[str] = []
        self._layout_key: tuple[object, ...] | None = None
        self._dirty = True
        self._dirty_all = True
        self._dirty_hosts: set[str] = set()
        self._stale: dict[int, None] = {}  # rows to redraw, in the order they went stale
        self._per_row = 1  # tiles on a full row, in the layout in force
        self._group_row: dict[str, int] = {}
        self._styles: dict[object, dict[HostState, Style]] = {}
        self.cursor: str | None = self._order[0] if self._order else None
        self.operator_moved_at = float("-inf")  # time.monotonic() of the operator's last cursor move
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

    def shows(self, host: str) -> bool:
        """Whether ``host`` has a tile now (the filter keeps it)."""
        self._ensure_layout()
        return host in self._pos

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
            self.forget_lines()
            self.tallies.clear()  # counted afresh when their lines are drawn
            stale.update(dict.fromkeys(range(top, min(bottom, len(self._rows)))))
        self.tallies.recount(hosts)
        for name in hosts:
            where = self._pos.get(name)
            if where is not None:
                for row in (where[0], self._group_row[self._rows[where[0]].group]):
                    self.forget_line(row)  # whatever draws it next draws it as it is now
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
        self.forget_lines()
        self._stale.clear()
        self.tallies.clear()
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
        self.forget_lines()
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
        if by_operator:
            self.operator_moved_at = time.monotonic()
        if changed:
            for name in (old, host):
                if name in self._pos:
                    row = self._pos[name][0]
                    self.forget_line(row)
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

    def jump_to_problem(self, step: int) -> str | None:
        """Move to the next (``step`` 1) or previous (-1) problem host in grid order, wrapping around; a
        filter that hides every problem host is cleared. The problems are the engine's (``problems()``)."""
        problems = {r.name for r in self.engine.problems()}
        if not problems:
            return None
        self._ensure_layout()
        order = self._visible
        shown = [h for h in order if h in problems]
        if not shown:
            first = next(h for h in self._order if h in problems)
            self.select(first, by_operator=True)
            return first
        start = order.index(self.cursor) if self.cursor in self._pos else (-1 if step > 0 else 0)
        n = len(order)
        for k in range(1, n + 1):
            host = order[(start + step * k) % n]
            if host in problems:
                self._set_cursor(host, by_operator=True)
                return host
        return None

    def _scroll_to_cursor(self) -> None:
        if self.cursor not in self._pos:
            return
        row = self._pos[self.cursor][0]
        self.scroll_to_show(row, top=row - 1 if row > 0 and self._rows[row - 1].kind == "group" else row)

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
            if hosts[x] == self.cursor:
                self.post_message(self.Opened(hosts[x]))  # a click on the selected tile opens it
            else:
                self._set_cursor(hosts[x], by_operator=True)

    # ------------------------------------------------------------------------------------------------
    # Drawing

    @property
    def line_count(self) -> int:
        return len(self._rows)

    def line_key(self, index: int) -> Hashable:
        return index

    def render_line(self, y: int) -> Strip:
        self._ensure_layout()
        index = self.scroll_offset.y + y
        strip = self.render_index(index)
        if self.cursor in self._pos and self._pos[self.cursor][0] == index:
            self.rendered_cursor = self.cursor
        return strip

    def draw_line(self, index: int, width: int, base: Style) -> Strip:
        row = self._rows[index]
        theme = self.console_theme
        if row.kind == "group":
            members = next((len(m) for g, m in self._groups if g == row.group), len(row.hosts))
            if self._filter is None:  # every member is on the line
                tally = self.tallies.of(row.group)
            else:
                tally = counts_of(self.engine, row.hosts), marks_of(self.engine, row.hosts)
            strip = group_line(row.group, len(row.hosts), members, tally, theme, base)
        else:
            key = (theme.name, base)
            styles = self._styles.get(key)
            if styles is None:
                styles = {st: base + theme.state_style(st) for st in HostState}
                self._styles = {key: styles}
            strip = tile_row(
                row.hosts,
                self.engine.hosts,
                cursor=self.cursor,
                density=self.effective_density,
                name_width=self._name_width,
                theme=theme,
                base=base,
                styles=styles,
            )
        return strip.adjust_cell_length(width, base)
