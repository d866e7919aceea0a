"""The roll's timeline in the console: the picture ``slowroll report`` draws, while the roll runs.

Every row is drawn by ``console.report.timeline.timeline_rows`` — the report's own renderer — from
``timeline_from_engine``: one row per host, in the order they were rolled (slice, then inventory order;
hosts not rolled yet last), or one row per slice (all of its hosts' phases on one line), which is how a big
fleet opens. ``v`` switches. Only the rows on screen are drawn (line API), so it stays cheap with thousands
of hosts; it is redrawn twice a second while it is open, the time axis running from the roll's start to now.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import ClassVar, cast

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.screen import Screen
from textual.strip import Strip
from textual.widgets import Static

from console.engine.facade import Engine
from console.model.events import HostState
from console.report.timeline import (
    GLYPHS,
    MARKERS,
    PHASE_OF_STATE,
    TIMELINE_LEGEND,
    Span,
    TimelineRow,
    spans_from_states,
    timeline_axis,
    timeline_from_engine,
    timeline_name_width,
    timeline_rows,
)
from console.tui.components.context import ConsoleContext
from console.tui.components.keybar import KeyBar
from console.tui.components.linelist import LineList
from console.tui.components.status import Piece, pack
from console.tui.components.themes import ConsoleTheme
from console.tui.components.vocab import HOST_GLYPHS, ROLL_GLYPHS, Clock

REFRESH = 0.5  # seconds between redraws while the screen is open
HOSTS_MAX = 100  # a bigger fleet opens on slices
PHASE_STATE: dict[str, HostState] = {
    "precheck": HostState.PRECHECKING,
    "down": HostState.DOWN,
    "verify": HostState.CHECKING,
    "done": HostState.DONE,
    "failed": HostState.FAILED,
    "skipped": HostState.SKIPPED,
}
PHASE_OF_GLYPH = {glyph: phase for phase, glyph in GLYPHS.items()}
SLICE_LEGEND = "slices: ● all done   ✘ a host with a problem   ▸ under way"


def _until(engine: Engine) -> float:
    """Now, or the end of a roll that is over (as ``timeline_from_engine`` draws it)."""
    if engine.state.final and engine.finished_at is not None:
        return engine.finished_at
    return engine.clock()


class Spans:
    """Each host's spans, as ``timeline_from_engine`` makes them, without redoing the finished ones.

    A host whose last change is a marker (done, failed, skipped) or who has no change yet draws the same
    until its next change; only hosts in their cycle run "to now" and are redone. With 2,000 hosts that
    takes a refresh from ~35 ms to a few."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[int, list[Span]]] = {}

    def of(self, engine: Engine) -> dict[str, list[Span]]:
        end = _until(engine)
        out: dict[str, list[Span]] = {}
        for name, run in engine.hosts.items():
            changes = run.timeline
            kept = self._kept.get(name)
            if kept is not None and kept[0] == len(changes):
                out[name] = kept[1]
                continue
            spans = spans_from_states([(float(at), str(state)) for at, state, _ in changes], end)
            if not changes or PHASE_OF_STATE.get(str(changes[-1][1])) in MARKERS:
                self._kept[name] = (len(changes), spans)
            else:
                self._kept.pop(name, None)
            out[name] = spans
        return out


def host_rows(engine: Engine, spans: dict[str, list[Span]] | None = None) -> list[TimelineRow]:
    """One row per host in the order they were rolled (slice, then inventory order); not rolled yet last.

    The label starts with the host's state glyph, as on the grid."""
    spans = spans if spans is not None else dict(timeline_from_engine(engine))
    position = {name: i for i, name in enumerate(engine.hosts)}

    def order(name: str) -> tuple[int, int]:
        index = engine.hosts[name].slice_index
        return (index if index is not None else 1 << 30, position[name])

    return [(f"{HOST_GLYPHS[engine.hosts[n].state]} {n}", spans[n]) for n in sorted(engine.hosts, key=order)]


def slice_rows(engine: Engine, spans: dict[str, list[Span]] | None = None) -> tuple[list[TimelineRow], int]:
    """One row per slice started so far, all its hosts' phases on one line; and how many hosts are in none."""
    spans = spans if spans is not None else dict(timeline_from_engine(engine))
    members: dict[int, list[str]] = {}
    outside = 0
    for name, run in engine.hosts.items():
        if run.slice_index is None:
            outside += 1
        else:
            members.setdefault(run.slice_index, []).append(name)
    rows: list[TimelineRow] = []
    for index in sorted(members):
        names = members[index]
        runs = [engine.hosts[n] for n in names]
        if any(r.state.problem for r in runs):
            mark = "✘"
        elif all(r.state is HostState.DONE or r.skipped for r in runs):
            mark = "●"
        else:
            mark = "▸"
        rows.append((f"{mark} slice {index + 1} ({len(names)})", [s for n in names for s in spans[n]]))
    return rows, outside


def coloured(line: str, theme: ConsoleTheme, *, bars_from: int = 0) -> list[Segment]:
    """``line`` as segments, each timeline glyph (from ``bars_from`` on) in its phase's colours."""
    styles = {glyph: theme.state_style(PHASE_STATE[phase]) for glyph, phase in PHASE_OF_GLYPH.items()}
    segments: list[Segment] = []
    if bars_from:
        segments.append(Segment(line[:bars_from]))
    run, run_style = "", None
    for ch in line[bars_from:]:
        style = styles.get(ch)
        if style != run_style and run:
            segments.append(Segment(run, run_style))
            run = ""
        run += ch
        run_style = style
    if run:
        segments.append(Segment(run, run_style))
    return segments


class TimelineView(LineList, can_focus=True):
    """The rows, drawn with the line API: only those on screen, each by the report's renderer. Every
    refresh moves the time axis (its end is now), so ``show`` forgets every drawn line; a line's key is
    its place."""

    DEFAULT_CSS = """
    TimelineView {
        height: 1fr;
        padding: 0 1;
    }
    """

    def __init__(self, theme: ConsoleTheme, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.console_theme = theme
        self.rows: list[TimelineRow] = []
        self.start = 0.0
        self.end = 1.0
        self.name_width = 8

    @property
    def draw_width(self) -> int:
        return max(20, self.scrollable_content_region.width or (self.app.size.width - 4))

    def show(
        self, rows: list[TimelineRow], start: float, end: float, name_width: int, theme: ConsoleTheme
    ) -> None:
        at_end = self.scroll_y >= self.max_scroll_y and self.scroll_y > 0
        self.rows, self.start, self.end, self.name_width = rows, start, end, name_width
        self.console_theme = theme
        self.forget_lines()
        self.virtual_size = Size(self.draw_width, len(rows))
        if at_end:
            self.scroll_end(animate=False)
        self.refresh()

    @property
    def line_count(self) -> int:
        return len(self.rows)

    @property
    def line_width(self) -> int:
        return self.draw_width

    def line_key(self, index: int) -> Hashable:
        return index

    def draw_empty(self, index: int, width: int, base: Style) -> Strip:
        return Strip.blank(width)

    def draw_line(self, index: int, width: int, base: Style) -> Strip:
        (line,) = timeline_rows(
            [self.rows[index]], width, start=self.start, end=self.end, name_width=self.name_width
        )
        return Strip(coloured(line, self.console_theme, bars_from=self.name_width + 2), width)


class TimelineScreen(Screen[None]):
    """The roll's timeline, live. esc / q / w goes back; v switches between hosts and slices."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,backspace", "close", "back"),
        Binding("w", "close", "back", show=False),
        Binding("v", "switch", "hosts/slices"),
    ]

    DEFAULT_CSS = """
    #timeline-title {
        height: 1;
        padding: 0 1;
        background: $panel;
        text-style: bold;
    }
    #timeline-axis, #timeline-legend {
        height: auto;
        padding: 0 1;
    }
    """

    def __init__(self, engine: Engine, clock: Clock) -> None:
        super().__init__()
        self.engine = engine
        self.clock = clock
        self.by_slice = len(engine.hosts) > HOSTS_MAX
        self._placed = False
        self._spans = Spans()

    @property
    def console_theme(self) -> ConsoleTheme:
        """The app's current theme: t still switches it while this screen is open."""
        return cast(ConsoleContext, self.app).console_theme

    def compose(self) -> ComposeResult:
        yield Static(id="timeline-title")
        yield TimelineView(self.console_theme, id="timeline-view")
        yield Static(id="timeline-axis")
        yield Static(id="timeline-legend")
        yield KeyBar()

    def on_mount(self) -> None:
        self.update_timeline()
        self.set_interval(REFRESH, self.update_timeline)
        self.query_one(TimelineView).focus()

    def on_resize(self) -> None:
        self.call_after_refresh(self.update_timeline)

    def update_timeline(self) -> None:
        engine = self.engine
        view = self.query_one(TimelineView)
        theme = self.console_theme
        dim = Style(color=theme.grid["dim"])
        mode = "slices" if self.by_slice else "hosts"
        other = "hosts" if self.by_slice else "slices"
        if engine.started_at is None:
            self.query_one("#timeline-title", Static).update(f"Timeline — {engine.inventory.name}")
            view.show([], 0.0, 1.0, 8, theme)
            self.query_one("#timeline-axis", Static).update(
                Text("The roll has not started: nothing to draw yet (g starts it).", dim)
            )
            self.query_one("#timeline-legend", Static).update("")
            return
        start, end = engine.started_at, _until(engine)
        spans = self._spans.of(engine)
        if self.by_slice:
            rows, outside = slice_rows(engine, spans)
        else:
            rows, outside = host_rows(engine, spans), 0
        width = view.draw_width
        name_width = timeline_name_width(rows, width)
        view.show(rows, start, end, name_width, theme)
        if not self._placed and rows:
            self._placed = True
            self._show_current(view, rows)
        width_all = (self.size.width or self.app.size.width) - 2
        pieces = [
            Piece(f"Timeline — {engine.inventory.name}", 100, Style(bold=True)),
            Piece(
                f"{ROLL_GLYPHS[engine.state]} {engine.state.value.upper()}",
                95,
                theme.roll_style(engine.state),
            ),
            Piece(f"{engine.done_count}/{len(engine.hosts)} done", 90),
            Piece(f"elapsed {self.clock.elapsed(start, end)}", 60),
            Piece(f"a row per {mode[:-1]} (v: per {other[:-1]})", 80),
        ]
        if self.by_slice and outside:
            pieces.append(Piece(f"{outside} host(s) in no slice yet", 50))
        self.query_one("#timeline-title", Static).update(pack(pieces, width_all, sep=" · "))
        axis = timeline_axis([], width, start=start, end=end, name_width=name_width)
        self.query_one("#timeline-axis", Static).update(Text(axis, dim))
        legend = Text()
        line = 0
        for i, item in enumerate(TIMELINE_LEGEND.split("   ")):
            if i and line + 3 + len(item) > width_all:
                legend.append("\n")
                line = 0
            elif i:
                legend.append("   ")
                line += 3
            for segment in coloured(item, theme):
                legend.append(segment.text, segment.style or "")
            line += len(item)
        if self.by_slice:
            legend.append("\n" + SLICE_LEGEND, dim)
        self.query_one("#timeline-legend", Static).update(legend)

    def _show_current(self, view: TimelineView, rows: list[TimelineRow]) -> None:
        """On opening: bring the slice under way (or the last one) into view."""
        if self.by_slice:
            view.scroll_end(animate=False)
            return
        current = set(self.engine.current_slice)
        for i, (label, _spans) in enumerate(rows):
            if label.split(" ", 1)[-1] in current:
                view.scroll_to(y=max(0, i - 2), animate=False)
                return

    def action_switch(self) -> None:
        self.by_slice = not self.by_slice
        self._placed = False
        self.query_one(TimelineView).scroll_home(animate=False)
        self.update_timeline()

    def action_close(self) -> None:
        self.dismiss(None)
