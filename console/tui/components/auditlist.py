"""The drift audit's list: one line-API widget however many hosts, a cursor over host lines."""

from __future__ import annotations

from collections.abc import Hashable
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.strip import Strip

from console.model.findings import Severity
from console.tui.components.auditlines import HostLine
from console.tui.components.linelist import LineList
from console.tui.components.marks import severity_style
from console.tui.components.themes import ConsoleTheme


class AuditList(LineList, can_focus=True):
    """Lines of the audit; a cursor over host lines; enter opens the host. A line's key in the line cache
    is what it says and whether the cursor is on it: a line the next build makes again is not redrawn."""

    DEFAULT_CSS = """
    AuditList {
        height: 1fr;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
        padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "up", show=False),
        Binding("down,j", "move(1)", "down", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
        Binding("home", "edge(0)", "first", show=False),
        Binding("end", "edge(1)", "last", show=False),
        Binding("enter", "choose", "host"),
    ]

    class Chosen(Message):
        def __init__(self, host: str) -> None:
            super().__init__()
            self.host = host

    def __init__(self, theme: ConsoleTheme, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.console_theme = theme
        self.lines: list[HostLine] = []
        self.cursor = 0  # an index into lines (always a host line when there is one)

    @property
    def cursor_host(self) -> str | None:
        if 0 <= self.cursor < len(self.lines):
            return self.lines[self.cursor].host
        return None

    def set_lines(self, lines: list[HostLine]) -> None:
        """New content; the cursor stays on the same host (its first line) where it can."""
        keep = self.cursor_host
        self.lines = lines
        index = None
        if keep is not None:
            index = next((i for i, ln in enumerate(lines) if ln.host == keep), None)
        if index is None:
            index = self._nearest_host(min(self.cursor, max(0, len(lines) - 1)), 1)
        self.cursor = index if index is not None else 0
        self.virtual_size = Size(self.size.width, len(lines))
        self.refresh()

    def set_console_theme(self, theme: ConsoleTheme) -> None:
        self.console_theme = theme
        self.forget_lines()
        self.refresh()

    def _nearest_host(self, start: int, step: int) -> int | None:
        i = start
        while 0 <= i < len(self.lines):
            if self.lines[i].host is not None:
                return i
            i += step
        i = start - step
        while 0 <= i < len(self.lines):
            if self.lines[i].host is not None:
                return i
            i -= step
        return None

    def _move_to(self, index: int) -> None:
        self.cursor = index
        self.refresh()
        self.scroll_to_show(index)

    def action_move(self, step: int) -> None:
        host = self.cursor_host
        i = self.cursor + step
        # Next or previous host (its first line): a host's findings move together.
        while 0 <= i < len(self.lines) and (self.lines[i].host is None or self.lines[i].host == host):
            i += step
        if 0 <= i < len(self.lines):
            if step < 0:
                first = i
                while first > 0 and self.lines[first - 1].host == self.lines[i].host:
                    first -= 1
                i = first
            self._move_to(i)

    def action_page(self, direction: int) -> None:
        target = self.cursor + direction * max(1, self.scrollable_content_region.height - 1)
        target = max(0, min(len(self.lines) - 1, target))
        found = self._nearest_host(target, direction)
        if found is not None:
            self._move_to(found)

    def action_edge(self, end: int) -> None:
        found = self._nearest_host(len(self.lines) - 1, -1) if end else self._nearest_host(0, 1)
        if found is not None:
            self._move_to(found)

    def action_choose(self) -> None:
        host = self.cursor_host
        if host is not None:
            self.post_message(self.Chosen(host))

    def on_click(self, event: events.Click) -> None:
        index = event.y + self.scroll_offset.y
        if 0 <= index < len(self.lines) and self.lines[index].host is not None:
            if index == self.cursor and event.chain >= 2:
                self.action_choose()
            self._move_to(index)

    def _styles(self) -> dict[str, Style]:
        theme = self.console_theme
        return {
            "": Style(),
            "host": Style(bold=True),
            "bold": Style(bold=True),
            "dim": Style(color=theme.grid["dim"]),
            "block": severity_style(Severity.BLOCK, theme),
            "warn": severity_style(Severity.WARN, theme),
            "ignore": severity_style(Severity.IGNORE, theme),
            "error": Style(bold=True, color=theme.ui.get("error")),
            "ok": Style(bold=True, color=theme.ui.get("success")),
        }

    @property
    def line_count(self) -> int:
        return len(self.lines)

    @property
    def line_width(self) -> int:
        return self.scrollable_content_region.width or self.size.width

    def line_key(self, index: int) -> Hashable:
        return self.lines[index], index == self.cursor

    def draw_line(self, index: int, width: int, base: Style) -> Strip:
        line = self.lines[index]
        styles = self._styles()
        here = index == self.cursor and line.host is not None
        cursor_style = Style(bgcolor=self.console_theme.grid["cursor"])
        segs = [
            Segment("▸ " if here else "  ", base + Style(bold=True) + (cursor_style if here else Style()))
        ]
        for text, key in line.parts:
            if text:
                segs.append(Segment(text, base + styles.get(key, Style())))
        strip = Strip(segs)
        if strip.cell_length > width:
            strip = Strip.join([strip.crop(0, max(0, width - 1)), Strip([Segment("…", base)])])
        strip = strip.extend_cell_length(width, base)
        if here:
            strip = strip.apply_style(cursor_style)
        return strip
