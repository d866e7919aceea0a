"""The log pane: engine events and check output as timestamped lines, for one host or for all.

Bounded in memory (a deque of ``MAX_LINES``); drawn with the line API; appends are coalesced (the app calls
``tick`` ~10 times a second) so a burst of thousands of events costs one redraw.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

from console.eventtext import Words, event_lines
from console.model.durations import format_duration
from console.model.events import Event, HostState, RollState, WindowWait
from console.tui.components.linelist import LineList
from console.tui.components.themes import ConsoleTheme
from console.tui.components.vocab import Clock, ellipsize, host_label, roll_label

MAX_LINES = 5000
LINE_CHARS = 400


@dataclass(frozen=True, slots=True)
class LogEntry:
    at: float | None  # None: a continuation line (output under the line above)
    host: str | None
    text: str
    level: str = "info"  # info, ok, warn, error


class LogWords(Words):
    """The log pane's words: each state with its glyph, compact durations, every skip marked, and a short
    last line (the banner says the rest)."""

    marks_every_skip = True
    finish_in_full = False

    def host_state(self, state: HostState) -> str:
        return host_label(state)

    def roll_change(self, old: RollState, new: RollState) -> str:
        return roll_label(new)

    def duration(self, seconds: float) -> str:
        return format_duration(seconds)

    def log_level(self, level: str) -> str:
        return {"warn": "WARN ", "error": "ERROR "}.get(level, "")


LOG_WORDS = LogWords()


def entries_for(event: Event) -> list[LogEntry]:
    """The log lines one event deserves (none for events not worth a line). A wait for the maintenance
    window is not one: the header and the banner say it while it lasts."""
    if isinstance(event, WindowWait):
        return []
    out: list[LogEntry] = []
    for line in event_lines(event, LOG_WORDS):
        text = f"{line.who} {line.text}" if line.headed else line.text
        out.append(LogEntry(event.at, line.host, text, line.level))
        if line.hidden:
            out.append(LogEntry(None, line.host, f"  … {line.hidden} earlier line(s)", line.level))
        for detail in line.detail:
            out.append(LogEntry(None, line.host, "  │ " + ellipsize(detail, LINE_CHARS), line.level))
    return out


class LogPane(LineList):
    """The last ``MAX_LINES`` log lines, all hosts or one. A line's key in the line cache is its entry:
    scrolling by a line redraws only the line that came in."""

    DEFAULT_CSS = """
    LogPane {
        overflow-x: hidden;
        overflow-y: scroll;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(
        self,
        theme: ConsoleTheme,
        clock: Clock,
        *,
        host_width: int = 12,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.console_theme = theme
        self.clock = clock
        self.host_width = max(6, min(20, host_width))
        self.entries: deque[LogEntry] = deque(maxlen=MAX_LINES)
        self.only_host: str | None = None
        self.search_text = ""
        self._view: deque[LogEntry] = deque()
        self._dirty = False
        self.auto_scroll = True

    # ------------------------------------------------------------------------------------------------

    def _matches(self, entry: LogEntry) -> bool:
        if self.only_host is not None and entry.host != self.only_host:
            return False
        wanted = self.search_text
        return not wanted or wanted in entry.text.lower() or wanted in (entry.host or "").lower()

    def add(self, new: list[LogEntry]) -> None:
        for entry in new:
            if len(self.entries) == self.entries.maxlen:
                evicted = self.entries[0]
                if self._view and self._view[0] is evicted:
                    self._view.popleft()
            self.entries.append(entry)
            if self._matches(entry):
                self._view.append(entry)
            self._dirty = True

    def search(self, text: str) -> None:
        """Only the lines that contain ``text`` (any case; in the line or its host; "": every line)."""
        self.search_text = text.strip().lower()
        self.show_host(self.only_host)

    def show_host(self, host: str | None) -> None:
        """Only ``host``'s lines (None: every line)."""
        self.only_host = host
        self._view = deque(e for e in self.entries if self._matches(e))
        self._dirty = True
        self.tick(force_end=True)

    @property
    def view(self) -> list[LogEntry]:
        return list(self._view)

    def set_console_theme(self, theme: ConsoleTheme) -> None:
        self.console_theme = theme
        self.forget_lines()
        self.refresh()

    def _prefix_width(self) -> int:
        return 8 + 2 + self.host_width + 1

    def tick(self, *, force_end: bool = False) -> None:
        if force_end:
            self.auto_scroll = True
        if not self._dirty:
            return
        self._dirty = False
        size = Size(max(1, self.scrollable_content_region.width), len(self._view))
        if size != self.virtual_size:
            # Not ``self.virtual_size = size``: that asks for a layout of the whole screen (every widget
            # drawn again, thousands of tiles) each time a line arrives. The pane's own size does not change,
            # and its vertical scrollbar is always there, so updating the scrollbars is enough.
            self.set_reactive(Widget.virtual_size, size)
            self._scroll_update(size)
        if self.auto_scroll:
            self.scroll_end(animate=False, x_axis=False)
        self.refresh()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value < old_value and not self._dirty:
            self.auto_scroll = False  # the reader scrolled up: stop jumping to the newest line
        if new_value >= self.max_scroll_y:
            self.auto_scroll = True

    # ------------------------------------------------------------------------------------------------

    @property
    def line_count(self) -> int:
        return len(self._view)

    def _room(self, width: int) -> int:
        return max(1, min(width, self.scrollable_content_region.width or width) - self._prefix_width())

    def line_key(self, index: int) -> Hashable:
        return self._view[index]  # the room its text has follows from the width, in every key

    def draw_empty(self, index: int, width: int, base: Style) -> Strip:
        if index == 0 and not self._view:
            text = f" nothing logged for {self.only_host} yet" if self.only_host else " nothing logged yet"
            dim = base + Style(color=self.console_theme.grid["dim"], italic=True)
            return Strip([Segment(text, dim)]).adjust_cell_length(width, base)
        return Strip.blank(width, base)

    def draw_line(self, index: int, width: int, base: Style) -> Strip:
        entry = self._view[index]
        theme = self.console_theme
        dim = base + Style(color=theme.grid["dim"])
        text_style = base
        if entry.level == "error":
            text_style = base + Style(color=theme.ui.get("error"), bold=True)
        elif entry.level == "warn":
            text_style = base + Style(color=theme.ui.get("warning"))
        elif entry.level == "ok":
            text_style = base + Style(color=theme.ui.get("success"))
        stamp = self.clock.stamp(entry.at) if entry.at is not None else ""
        who = ellipsize(entry.host or "·", self.host_width) if entry.at is not None else ""
        segs = [
            Segment(f"{stamp:<8}  ", dim),
            Segment(f"{who:<{self.host_width}} ", base + Style(bold=entry.host is not None)),
            Segment(ellipsize(entry.text, self._room(width)), text_style),
        ]
        return Strip(segs).adjust_cell_length(width, base)
