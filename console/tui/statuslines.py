"""The console's status lines (a part of ``SlowrollApp``): header, banner, counts, selection and the log's
title, each redrawn only when its text changed, and the key bars.

The text itself is ``components/status.py``'s; this is where it goes on screen.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from console.engine.facade import Engine
from console.model.events import RollState
from console.tui.components.grid import FleetGrid
from console.tui.components.keybar import KeyBar
from console.tui.components.status import Tally, banner_text, counts_line, header_lines, selection_line
from console.tui.components.themes import ConsoleTheme
from console.tui.components.vocab import Clock

STATUS_EVERY = 0.3  # header, banner and counts (a roll state change or an action redraws them at once)


class StatusLines:
    """Header, banner, counts and selection lines, and the footers' keys."""

    # The app this is a part of (``SlowrollApp``) sets these.
    engine: Engine
    grid: FleetGrid
    console_theme: ConsoleTheme
    clock: Clock
    planned_slices: int
    simulated: bool
    speed: float
    quitting: bool
    follow: bool
    log_host_only: bool
    roll_error: str | None
    _status_cache: dict[str, object]  # each line's text on screen
    _status_lines: dict[str, int]  # each line's height on screen
    _status_at: float  # time.monotonic() of the last refresh
    _bindings_sig: object  # what the footer's keys depended on when last refreshed

    def _relayout_status(self) -> None:
        self._status_lines.clear()
        self._refresh_status(force=True)

    def _refresh_status(self, *, force: bool = False) -> None:
        """Header, banner, counts and selection lines; each widget is updated only when its text changed."""
        if force:
            self._status_cache.clear()
        width = self.size.width or 80
        theme = self.console_theme
        tally = Tally(self.engine)  # one pass over the fleet for all three
        header = Text("\n").join(
            header_lines(
                self.engine,
                theme,
                self.clock,
                width - 2,
                planned_slices=self.planned_slices,
                simulated=self.simulated,
                speed=self.speed,
                quitting=self.quitting,
                tally=tally,
            )
        )
        self._update("header", header)
        banner = banner_text(
            self.engine,
            planned_slices=self.planned_slices,
            quitting=self.quitting,
            width=width - 2,
            tally=tally,
            clock=self.clock,
        )
        if self.roll_error:
            banner += f"  The roll stopped on an internal error: {self.roll_error}"
        if self.quitting and self.engine.state is RollState.PAUSED:
            banner = "Quitting…"
        self._update("banner", Text(banner))
        banner_widget = self.query_one("#banner")
        for rs in RollState:
            banner_widget.set_class(self.engine.state is rs, f"-{rs.value}")
        banner_widget.set_class(self.engine.auto_paused, "-automatic")
        right = []
        if self.grid.filter_text:
            right.append(
                f"filter “{self.grid.filter_text}”: {len(self.grid.visible_hosts)} of {len(self.engine.hosts)}"
            )
        if self.follow:
            right.append("following")
        if self.grid.density != "auto":
            right.append(self.grid.density)
        self._update("counts", counts_line(self.engine, theme, width - 2, "  ·  ".join(right), tally))
        self._status_at = time.monotonic()
        self._refresh_selection()

    def _refresh_selection(self) -> None:
        """What depends on the cursor: cheap, so it runs on every cursor move and every tick."""
        width = self.size.width or 80
        theme = self.console_theme
        self._update("selection", selection_line(self.engine, theme, self.grid.cursor, width - 2, self.clock))
        scope = (
            f"Log — only {self.grid.cursor}  (o: every host)"
            if self.log_host_only and self.grid.cursor
            else "Log — every host  (o: only the selected host)"
        )
        if self.engine.state is RollState.READY:
            scope = "The plan  (g starts the roll after a y/n)"
        if self.log_pane.search_text:
            scope += f"  · lines with “{self.log_pane.search_text}” (:log alone: all)"
        focused = self.focused
        if focused is not None and focused.id in ("log", "plan"):
            scope = f"▶ {scope}  · focused (tab: grid)"
        self._update("log-title", Text(scope))
        sig = (
            self.engine.state,
            self.quitting,
            self.grid.cursor and self.engine.can_skip(self.grid.cursor),
            self.grid.cursor and self.engine.can_retry(self.grid.cursor),
            len(self.screen_stack),
        )
        if sig != self._bindings_sig:
            self._bindings_sig = sig
            self.refresh_bindings()

    def refresh_keys(self) -> None:
        """The footer of the main screen and of the screen in front (dialogs change what it shows)."""
        bars = list(self.screen_stack[0].query(KeyBar))
        if self.screen is not self.screen_stack[0]:
            bars += list(self.screen.query(KeyBar))
        for bar in bars:
            bar.refresh_keys()

    def _update(self, widget_id: str, content: Text) -> None:
        """Show ``content`` if it changed; a new layout only when its height may change (layout makes
        the whole screen render again, which is what costs with thousands of tiles)."""
        old = self._status_cache.get(widget_id)
        if old == content:
            return
        self._status_cache[widget_id] = content
        widget = self.query_one(f"#{widget_id}", Static)
        width = max(1, widget.content_region.width or (self.size.width - 2))
        lines = len(content.wrap(self.console, width)) if widget_id in ("header", "banner") else 1
        layout = self._status_lines.get(widget_id) != lines
        self._status_lines[widget_id] = lines
        widget.update(content, layout=layout)
