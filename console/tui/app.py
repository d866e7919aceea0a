"""The slowroll console: a Textual app on top of the engine.

The engine is driven only through its public commands; the app subscribes to its events, marks what is
dirty, and redraws ~10 times a second. ``run_console`` is the entry point the CLI awaits.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from textual import events
from textual.app import App, ComposeResult, ScreenStackError
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import Input, Static

from console.engine.facade import Engine
from console.model.budgets import plan
from console.model.events import Event, HostStateChanged, RollFinished, RollState, RollStateChanged
from console.model.exits import EXIT_OPERATOR, EXIT_STOPPED
from console.tui.commandline import CommandInput, CommandLine
from console.tui.components.auditrunner import AuditRunner
from console.tui.components.grid import FleetGrid
from console.tui.components.keybar import KeyBar
from console.tui.components.logpane import LogPane, entries_for
from console.tui.components.plan import plan_text
from console.tui.components.terminal import TERMINAL, console_driver_class, tty_alive
from console.tui.components.themes import (
    DEFAULT_THEME,
    ConsoleTheme,
    Settings,
    ThemeSet,
    load_themes,
    settings_path,
)
from console.tui.components.vocab import Clock
from console.tui.control import RollControl
from console.tui.filtering import Filtering, FilterInput
from console.tui.keys import KEYS, KeyRules
from console.tui.quitting import Quitting
from console.tui.screens.audit import AuditScreen
from console.tui.screens.help import HelpScreen, help_text
from console.tui.screens.hostdetail import HostDetail
from console.tui.screens.timeline import TimelineScreen
from console.tui.statuslines import STATUS_EVERY, StatusLines

AUTO_PAUSED = "The roll paused by itself"  # the title of the notice an automatic pause raises
TICK = 0.1  # seconds between redraws: events are coalesced into at most ~10 frames a second
OPERATOR_MOVED_RECENTLY = 5.0  # s: an automatic pause leaves alone a cursor the operator has just moved


class SlowrollApp(KeyRules, RollControl, Quitting, StatusLines, Filtering, CommandLine, App[int]):
    """The console. Build it with an engine; ``await app.run_async()``; then ``await app.settle_roll()``.

    Its parts are mixins in their own modules: which keys work now and the palette (``keys``), the roll
    actions (``control``), quitting and the exit code (``quitting``), the status lines (``statuslines``)
    the grid's filter (``filtering``) and the ``:`` command line (``commandline``)."""

    CSS_PATH = "app.tcss"
    TITLE = "slowroll"
    ENABLE_COMMAND_PALETTE = True
    COMMAND_PALETTE_DISPLAY = "^p"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("g", "start", "start", tooltip="Start the roll (shows the plan first)"),
        Binding("p", "pause", "pause", tooltip="No new reboots; hosts in flight finish"),
        Binding("r", "resume", "resume"),
        Binding("a", "abort", "abort"),
        Binding("s", "skip", "skip"),
        Binding("x", "retry", "retry"),
        Binding("enter", "detail", "host"),
        Binding("slash", "filter", "filter", key_display="/"),
        Binding("colon", "command_line", "command", key_display=":", show=False),
        Binding("escape", "clear_filter", "clear filter", key_display="esc"),
        Binding("n", "problem(1)", "next problem", show=False),
        Binding("N", "problem(-1)", "previous problem", show=False),
        Binding("f", "follow", "follow"),
        Binding("d", "audit", "audit"),
        Binding("o", "log_scope", "log"),
        Binding("z", "density", "zoom", show=False),
        Binding("w", "timeline", "timeline", show=False),
        Binding("t", "next_theme", "theme"),
        Binding("question_mark", "help", "help", key_display="?"),
        Binding("q", "quit_console", "quit"),
        Binding("ctrl+c", "quit_console", "quit", show=False, priority=True, system=True),
    ]

    def __init__(
        self,
        engine: Engine,
        *,
        simulated: bool = False,
        speed: float = 1.0,
        clock: Clock | None = None,
        env: Mapping[str, str] | None = None,
        theme: str | None = None,
        drive: bool = True,
        audit_on_open: bool = False,
    ) -> None:
        """``env`` replaces os.environ for finding the config folder; ``theme`` overrides the remembered one
        (without remembering it); ``drive=False`` never runs the engine (a staged scene, for snapshots)."""
        super().__init__()
        self.drive = drive
        self.audit_on_open = audit_on_open
        self.engine = engine
        self.simulated = simulated
        self.speed = speed
        self.clock = clock or Clock()
        self.env = env
        self.themes: ThemeSet = load_themes(env)
        self.settings = Settings.load(settings_path(env))
        wanted = theme or self.settings.theme or DEFAULT_THEME
        self._startup_notes: list[str] = list(self.themes.problems)
        if self.settings.problem:
            self._startup_notes.append(self.settings.problem)
        if wanted not in self.themes.themes:
            self._startup_notes.append(
                f"{self.settings.path}: theme {wanted!r} is not known; using {DEFAULT_THEME}. "
                f"Known: {', '.join(self.themes.names())}"
            )
            wanted = DEFAULT_THEME
        self.console_theme: ConsoleTheme = self.themes.themes[wanted]
        for t in self.themes.themes.values():
            self.register_theme(t.textual_theme())
        self.theme = self.console_theme.textual_name
        self.planned_slices = len(plan(engine.inventory)[0])
        self.roll_task: asyncio.Task[None] | None = None
        self.result: RollFinished | None = None
        self.roll_error: str | None = None
        self.quitting = False
        self.forced = False
        self.exit_code = EXIT_OPERATOR
        self.follow = False
        self.log_host_only = False
        self._last_active: str | None = None
        self._bindings_sig: object = None
        self._status_cache: dict[str, object] = {}
        self._status_lines: dict[str, int] = {}
        self._status_at = 0.0
        self._filter_before = ""
        self._unsubscribe = engine.subscribe(self.handle_engine_event)
        names = [h.name for h in engine.inventory.hosts]
        self.grid = FleetGrid(engine, self.console_theme, id="grid")
        self.auditor = AuditRunner(
            engine, self.clock, self.notify, enabled=drive, on_end=self.grid.mark_dirty
        )
        self.log_pane = LogPane(
            self.console_theme, self.clock, host_width=max((len(n) for n in names), default=8), id="log"
        )
        self.key_presses = 0
        self._mounted = False
        self._ticks = 0

    # ------------------------------------------------------------------------------------------------
    # Layout

    def compose(self) -> ComposeResult:
        yield Static(id="header")
        yield Static(id="banner")
        yield Static(id="counts")
        yield self.grid
        yield Static(id="selection")
        with Vertical(id="lower"):
            # The filter and command lines open at the top of the lower pane: they never take the grid's rows.
            yield FilterInput(
                placeholder="filter: name, group or state (fail, reb, web …); enter keeps it, esc clears it",
                id="filter",
            )
            yield CommandInput(
                placeholder="command: host NAME, filter TEXT, log TEXT, theme NAME, help, quit", id="command"
            )
            yield Static(id="log-title")
            with VerticalScroll(id="plan"):
                yield Static(id="plan-text")
            yield self.log_pane
        yield KeyBar(id="keys")

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self.query_one("#command", Input).display = False
        ready = self.engine.state is RollState.READY
        self.query_one("#plan").display = ready
        self.log_pane.display = not ready
        self._update_plan()
        self.grid.focus()
        self._size_lower()
        self._refresh_status(force=True)
        self.set_interval(TICK, self._tick)
        if ready and self.drive and self.audit_on_open:
            self.auditor.start_on_open()
        self._mounted = True
        for note in self._startup_notes:
            self.notify(note, title="settings", severity="warning", timeout=12)
        if (
            self.engine.state is not RollState.READY
            and not self.engine.state.final
            and self.roll_task is None
        ):
            # Built over a roll that is already under way (resumed): drive it.
            self._launch()

    def on_unmount(self) -> None:
        self._mounted = False
        self.auditor.close()

    def on_resize(self, event: events.Resize) -> None:
        self._status_lines.clear()
        self._update_plan()
        self._size_lower()
        self._refresh_status(force=True)
        # Once more after the new layout: during the resize the old width can still be in effect, and a
        # header laid out for it keeps its old height (blank lines under it at 80 columns).
        self.call_after_refresh(self._relayout_status)

    def _update_plan(self) -> None:
        """The plan on the first screen; the reason of each slice only where it fits on the line."""
        wide = (self.size.width or 80) >= 110
        self.query_one("#plan-text", Static).update(plan_text(self.engine, self.console_theme, reasons=wide))

    def _size_lower(self) -> None:
        """The log (or the plan) gets what the grid does not need: at least 7 rows, 30% on a tall terminal."""
        width, height = self.size
        least = 7 if height < 32 else max(9, int(height * 0.3))
        header = max(2, self.query_one("#header").outer_size.height)
        banner = max(1, self.query_one("#banner").outer_size.height)
        fixed = header + banner + 1 + 1 + 1  # counts, selection, footer
        spare = height - fixed - self.grid.rows_needed(max(10, width - 3))
        want = max(least, spare)
        lower = self.query_one("#lower")
        if lower.styles.height is None or lower.styles.height.value != want:
            lower.styles.height = want
        self._place_notices(want)

    def _place_notices(self, lower: int) -> None:
        """Notices sit over the grid's lower right, no taller than the grid: never over the banner, the log
        (where the pause reason is), the selection line nor the key bar. Dialogs hide them (app.tcss)."""
        try:
            rack = self.screen_stack[0].get_child_by_id("textual-toastrack")
        except (NoMatches, IndexError):
            return
        bottom = lower + 2  # the selection line and the key bar
        if rack.styles.margin.bottom != bottom:
            rack.styles.margin = (0, 0, bottom, 0)
        tallest = max(1, self.grid.outer_size.height)
        if rack.styles.max_height is None or rack.styles.max_height.value != tallest:
            rack.styles.max_height = tallest

    # ------------------------------------------------------------------------------------------------
    # Engine events: mark dirty, never redraw here

    def handle_engine_event(self, event: Event) -> None:
        if isinstance(event, HostStateChanged):
            self.grid.mark_dirty(event.host)
        self.log_pane.add(entries_for(event))
        if isinstance(event, HostStateChanged) and event.new.in_flight:
            self._last_active = event.host
        elif isinstance(event, RollStateChanged):
            self._drop_stale_notices()
            # The roll's state is shown at once (not at the next tick): PAUSING must never lag.
            if self._mounted and self.is_running:
                with contextlib.suppress(NoMatches, ScreenStackError):
                    self._refresh_status(force=True)
            if event.automatic and event.new is RollState.PAUSING:
                self.bell()
                where = self._cursor_to_problem(event.host)
                self.notify(
                    f"{event.host or 'A service check'}: see the banner. No new reboots. r reviews and resumes."
                    + where,
                    title=AUTO_PAUSED,
                    severity="error",
                    timeout=8,
                )
        elif isinstance(event, RollFinished):
            self.result = event

    def _drop_stale_notices(self) -> None:
        """The roll's state changed: a notice about the old one ("not now — already paused") would now
        contradict the banner. Errors stay until their time is up (they are never dropped unseen), but for
        the automatic pause's own notice: the banner now says what came after it."""
        stale = [n for n in self._notifications if n.severity != "error" or n.title == AUTO_PAUSED]
        for notice in stale:
            self._unnotify(notice, refresh=False)
        if stale:
            self._refresh_notifications()

    def _tick(self) -> None:
        if not self._mounted or not self.screen_stack:
            return
        try:
            self._tick_once()
        except (NoMatches, ScreenStackError):  # the app is closing: its widgets are already gone
            return

    def _tick_once(self) -> None:
        self._ticks += 1
        if self._ticks % 10 == 0:
            self.grid.mark_dirty()  # once a second, everything: a safety net, cheap enough
        self.grid.tick()
        self.log_pane.tick()
        if self.follow:
            target = self._active_host()
            if target is not None and target != self.grid.cursor:
                self.grid.select(target)
        if time.monotonic() - self._status_at >= STATUS_EVERY:
            self._refresh_status()
        else:
            self._refresh_selection()
        self.refresh_keys()
        self._size_lower()
        if isinstance(self.screen, HostDetail):
            self.screen.update_detail()
        if self.quitting and self._settled():
            self._finish()

    def _active_host(self) -> str | None:
        """The host to follow: in flight, not skipped, and shown (follow moves among the filtered hosts)."""
        hosts = self.engine.hosts

        def active(name: str) -> bool:
            run = hosts[name]
            return run.state.in_flight and not run.skipped and self.grid.shows(name)

        last = self._last_active
        if last is not None and active(last):
            return last
        return next((name for name in self.engine.current_slice if active(name)), None)

    def on_fleet_grid_cursor_moved(self, message: FleetGrid.CursorMoved) -> None:
        if message.by_operator and self.follow:
            self.follow = False
            self.notify("Stopped following: you moved the cursor (f follows again).", timeout=3)
        if self.log_host_only:
            self.log_pane.show_host(message.host)
        self._refresh_selection()

    def on_fleet_grid_opened(self, message: FleetGrid.Opened) -> None:
        self.action_detail()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """Focus moved (tab, a click): the log's title says so at once (the bar is CSS)."""
        self._refresh_selection()

    # ------------------------------------------------------------------------------------------------
    # Looking around

    def action_detail(self) -> None:
        if self.grid.cursor is not None:
            self.push_screen(HostDetail(self.engine, self.grid.cursor, self.console_theme, self.clock))

    def action_audit(self) -> None:
        if self.engine.state is RollState.READY and self.engine.audit_results is None:
            self.auditor.start()
        self.push_screen(AuditScreen(self.auditor))

    def _cursor_to_problem(self, host: str | None) -> str:
        """The roll paused by itself over ``host``: the cursor goes there, unless the operator moved it in the
        last few seconds (it is theirs then). Says where the cursor went, for the notice."""
        if host is None or host not in self.engine.hosts or not self._mounted:
            return ""
        if time.monotonic() - self.grid.operator_moved_at < OPERATOR_MOVED_RECENTLY:
            return " n goes to the problem host."
        if self.follow:
            self.follow = False  # following would carry the cursor away from the problem
        self.grid.select(host)
        return f" The cursor is on {host} (enter: its checks)."

    def action_problem(self, step: int) -> None:
        """n / N: the next / previous problem host anywhere in the fleet (the filter is cleared if it hides
        them all)."""
        if self.grid.jump_to_problem(step) is None:
            self.notify("No host has a problem.", timeout=3)

    def action_follow(self) -> None:
        self.follow = not self.follow
        if self.follow:
            target = self._active_host()
            if target is not None:
                self.grid.select(target)
            self.notify(
                "Following the active host." if target else "Following: no host is in flight yet.", timeout=3
            )
        else:
            self.notify("Stopped following.", timeout=2)
        self._refresh_status(force=True)

    def action_log_scope(self) -> None:
        self.log_host_only = not self.log_host_only
        self.log_pane.show_host(self.grid.cursor if self.log_host_only else None)
        self._refresh_status(force=True)

    def action_density(self) -> None:
        density = self.grid.cycle_density()
        self.notify(f"Tiles: {density}.", timeout=2)
        self._refresh_status(force=True)

    def action_next_theme(self) -> None:
        self.set_console_theme(self.themes.next_after(self.console_theme.name))

    def set_console_theme(self, name: str, *, remember: bool = True) -> None:
        theme = self.themes.themes[name]
        self.console_theme = theme
        self.theme = theme.textual_name
        self.grid.set_console_theme(theme)
        self.log_pane.set_console_theme(theme)
        self._update_plan()
        for screen in self.screen_stack:
            if isinstance(screen, HostDetail):
                screen.console_theme = theme
                screen.update_detail(force=True)
        self._refresh_status(force=True)
        if not remember:
            return
        try:
            self.settings.set_theme(name)
        except OSError as exc:
            self.notify(f"Theme {name} (not remembered: {exc})", severity="warning", timeout=6)
        else:
            self.notify(f"Theme: {name} — {theme.description}", timeout=3)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(help_text(KEYS, self.console_theme)))

    def action_timeline(self) -> None:
        self.push_screen(TimelineScreen(self.engine, self.clock))


def freeze_heap() -> None:
    """Keep full garbage collections short while the console runs.

    Everything built before the console starts (the inventory, thousands of host records and SSH objects,
    the simulator's servers in a demo) lives as long as the process. Left in the collector's care, each
    full collection walks all of it: with 2,000 simulated hosts that froze the event loop for 0.2–0.4 s
    at a time, and a key press waited behind it. ``gc.freeze()`` moves them out of the collector's view.
    """
    gc.collect()
    gc.freeze()


async def run_console(engine: Engine, *, simulated: bool, speed: float) -> int:
    """The CLI's entry point: run the console over ``engine`` until the operator quits; the exit code.

    SIGTERM and SIGHUP pause the roll, let the hosts in flight finish and exit (no question asked). When the
    terminal itself is gone (SIGHUP from a hang-up, or a write to it fails) the console stops drawing at once
    (see ``terminal.py``): nothing may wait on a terminal that nobody reads.
    """
    app = SlowrollApp(engine, simulated=simulated, speed=speed, audit_on_open=simulated)
    if sys.platform != "win32":
        app.driver_class = console_driver_class()
    freeze_heap()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    ttys = [fd for fd in (0, 1, 2) if os.isatty(fd)]
    asked: list[str] = []

    def quit_because(reason: str) -> None:  # the first reason is the one the journal keeps
        if not asked:
            asked.append(reason)
            app.call_later(app.begin_quit, reason)

    def on_interrupt() -> None:  # Ctrl-C from outside the terminal (kill -INT): same as q
        app.call_later(app.action_quit_console)

    def on_signal(name: str) -> None:  # nobody may be there to answer a question
        engine.log(f"the console got {name}", level="warn")
        if name == "SIGHUP" and not tty_alive(ttys):
            TERMINAL.hang_up("SIGHUP: the terminal hung up")  # quits through terminal_gone
            return
        quit_because(f"the console got {name}")

    def terminal_gone(why: str) -> None:
        engine.log(f"the console's terminal went away ({why}): it stops drawing", level="warn")
        quit_because("the console's terminal went away")

    def on_terminal_gone(why: str) -> None:  # from Textual's writer thread, or the SIGHUP handler
        loop.call_soon_threadsafe(terminal_gone, why)

    forget = TERMINAL.on_gone(on_terminal_gone)
    handlers: list[tuple[signal.Signals, Any]] = [
        (signal.SIGINT, on_interrupt),
        (signal.SIGTERM, lambda: on_signal("SIGTERM")),
        (signal.SIGHUP, lambda: on_signal("SIGHUP")),
    ]
    for sig, handler in handlers:
        try:
            loop.add_signal_handler(sig, handler)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    try:
        await app.run_async()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        forget()
        await app.settle_roll(out=sys.stderr)
    if app.return_value is None:
        # The console itself failed (it did not exit through q): never report "complete" by accident.
        return app.compute_exit_code() if engine.state is RollState.COMPLETE else EXIT_STOPPED
    return app.exit_code
