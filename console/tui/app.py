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
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from rich.text import Text
from textual import events
from textual.app import App, ComposeResult, ScreenStackError, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, Static

from console.engine.availability import HOST_ACTIONS, ROLL_ACTIONS
from console.engine.facade import Engine, EngineError
from console.engine.hostrun import HostRun
from console.model.budgets import plan
from console.model.events import Event, HostStateChanged, RollFinished, RollState, RollStateChanged
from console.tui.components.auditrunner import AuditRunner
from console.tui.components.grid import FleetGrid
from console.tui.components.keybar import KeyBar
from console.tui.components.logpane import LogPane, entries_for
from console.tui.components.plan import plan_text
from console.tui.components.status import (
    Tally,
    banner_text,
    counts_line,
    header_lines,
    in_flight,
    selection_line,
)
from console.tui.components.terminal import TERMINAL, console_driver_class, tty_alive
from console.tui.components.themes import (
    DEFAULT_THEME,
    ConsoleTheme,
    Settings,
    ThemeSet,
    load_themes,
    settings_path,
)
from console.tui.components.vocab import HOST_GLYPHS, Clock, match_states
from console.tui.screens.audit import AuditScreen
from console.tui.screens.dialogs import AbortDialog, Acknowledge, Confirm
from console.tui.screens.help import HelpScreen, help_text
from console.tui.screens.hostdetail import HostDetail
from console.tui.screens.timeline import TimelineScreen

EXIT_COMPLETE = 0
EXIT_STOPPED = 1
EXIT_OPERATOR = 130
TICK = 0.1  # seconds between redraws: events are coalesced into at most ~10 frames a second
STATUS_EVERY = 0.3  # header, banner and counts (a roll state change or an action redraws them at once)

# key, what it does, when it works (for the help screen and docs/console.md)
KEYS: tuple[tuple[str, str, str], ...] = (
    ("g", "start the roll (shows the plan, asks y/n)", "ready"),
    ("p", "pause: no new reboots; hosts in flight finish", "running"),
    ("r", "resume (after an automatic pause: read and acknowledge the reason first)", "pausing, paused"),
    ("s", "skip the selected host (asks first if it is in flight)", "host not done"),
    ("x", "retry the selected host's checks (never reboots it again)", "problem host"),
    ("a", "abort the roll: final, asks y (only y aborts)", "not over"),
    ("enter", "the selected host: facts, boot ids, checks, findings, timeline", ""),
    ("arrows/hjkl", "move the cursor; home/end, pgup/pgdn", ""),
    ("/", "filter the grid by name, group or state (e.g. 'fail', 'web reb'); esc clears", ""),
    ("f", "follow the active host (moving the cursor stops following)", ""),
    ("d", "drift audit of every host: findings, blocking first (before the start it runs the audit)", ""),
    ("o", "log: only the selected host / every host", ""),
    ("z", "tile size: auto, names, glyphs, dense", ""),
    ("w", "the roll's timeline, as `slowroll report` draws it: per host, or per slice (v); esc back", ""),
    ("t", "next theme (remembered)", ""),
    ("ctrl+p", "command palette: every action by name", ""),
    ("?", "this help", ""),
    ("q", "quit; while a roll runs: pause, let hosts in flight finish, then quit (exit 130)", ""),
    ("ctrl+c", "same as q: never stops a roll silently", ""),
)

# What the engine's hint means on this console's keys.
HINTS = {"start": "g starts it", "pause": "p pauses it", "resume": "r resumes"}
MAIN_ONLY = ("detail", "filter", "follow", "log_scope", "density", "skip", "retry", "audit")


class FilterInput(Input):
    """The filter line: typing filters live, enter keeps the filter, escape clears it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "clear filter")]

    class Cancelled(Message):
        pass

    def action_cancel(self) -> None:
        self.value = ""
        self.post_message(self.Cancelled())


class SlowrollApp(App[int]):
    """The console. Build it with an engine; ``await app.run_async()``; then ``await app.settle_roll()``."""

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
            yield Static(id="log-title")
            with VerticalScroll(id="plan"):
                yield Static(id="plan-text")
            yield self.log_pane
        yield FilterInput(
            placeholder="filter: name, group or state (fail, reb, web …); enter keeps it, esc clears it",
            id="filter",
        )
        yield KeyBar(id="keys")

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
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

    def _relayout_status(self) -> None:
        self._status_lines.clear()
        self._refresh_status(force=True)

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

    # ------------------------------------------------------------------------------------------------
    # Engine events: mark dirty, never redraw here

    def handle_engine_event(self, event: Event) -> None:
        if isinstance(event, HostStateChanged):
            self.grid.mark_dirty(event.host)
        self.log_pane.add(entries_for(event))
        if isinstance(event, HostStateChanged) and event.new.in_flight:
            self._last_active = event.host
        elif isinstance(event, RollStateChanged):
            # The roll's state is shown at once (not at the next tick): PAUSING must never lag.
            if self._mounted and self.is_running:
                with contextlib.suppress(NoMatches, ScreenStackError):
                    self._refresh_status(force=True)
            if event.automatic and event.new is RollState.PAUSING:
                self.bell()
                self.notify(
                    f"{event.host or 'A service check'}: see the banner. No new reboots. r reviews and resumes.",
                    title="The roll paused by itself",
                    severity="error",
                    timeout=8,
                )
        elif isinstance(event, RollFinished):
            self.result = event

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

    def _settled(self) -> bool:
        return self.engine.state not in (
            RollState.RUNNING,
            RollState.PAUSING,
            RollState.ABORTING,
        ) and not in_flight(self.engine)

    def _active_host(self) -> str | None:
        hosts = self.engine.hosts
        last = self._last_active
        if last is not None and hosts[last].state.in_flight and not hosts[last].skipped:
            return last
        for name in self.engine.current_slice:
            if hosts[name].state.in_flight and not hosts[name].skipped:
                return name
        return None

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

    def on_fleet_grid_cursor_moved(self, message: FleetGrid.CursorMoved) -> None:
        if message.by_operator and self.follow:
            self.follow = False
            self.notify("Stopped following: you moved the cursor (f follows again).", timeout=3)
        if self.log_host_only:
            self.log_pane.show_host(message.host)
        self._refresh_selection()

    # ------------------------------------------------------------------------------------------------
    # Which actions make sense now

    @property
    def on_main(self) -> bool:
        return len(self.screen_stack) == 1

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in MAIN_ONLY and not self.on_main and action not in ("skip", "retry"):
            return False
        if action in ("skip", "retry") and not self.on_main:
            return False
        reason = self.why_not(action)
        return None if reason else True

    def why_not(self, action: str) -> str | None:
        """Why ``action`` is not available now (None: it is): the engine's answer, with the key that helps."""
        if action in ("start", "resume") and self.quitting:
            return "the console is quitting"
        if action in ROLL_ACTIONS:
            answer = self.engine.availability(action)
        elif action in HOST_ACTIONS:
            host = self.grid.cursor
            if host is None:
                return "no host is selected"
            answer = self.engine.availability(action, host)
        elif action == "detail" and self.grid.cursor is None:
            return "no host is selected (the filter hides every host)"
        else:
            return None
        if answer:
            return None
        hint = HINTS.get(answer.hint or "")
        return f"{answer.reason} ({hint})" if hint else answer.reason

    def on_key(self, event: events.Key) -> None:
        """A key whose action is unavailable says why, instead of doing nothing silently."""
        self.key_presses += 1
        if not self.on_main and not isinstance(self.screen, (HostDetail, HelpScreen, TimelineScreen)):
            return
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            keys = binding.key.split(",")
            if event.key in keys or (event.character and event.character in keys):
                reason = self.why_not(binding.action)
                if reason:
                    event.stop()
                    self.notify(f"{binding.description}: not now — {reason}.", severity="warning", timeout=4)
                return

    # ------------------------------------------------------------------------------------------------
    # Roll actions (all through the engine's public commands)

    def _engine_call(self, what: str, call: Any, *args: Any, **kwargs: Any) -> bool:
        try:
            call(*args, **kwargs)
        except EngineError as exc:
            self.notify(f"{what}: {exc}", severity="error", timeout=6)
            return False
        self._refresh_status(force=True)
        return True

    def action_start(self) -> None:
        body = plan_text(self.engine, self.console_theme, limit=12, reasons=False)

        def answered(yes: bool | None) -> None:
            if yes and self.why_not("start") is None and self._engine_call("start", self.engine.start):
                self._launch()
                self.query_one("#plan").display = False
                self.log_pane.display = True

        self.push_screen(Confirm("Start the roll?", body, yes="start rebooting", no="not now"), answered)

    def _launch(self) -> None:
        if not self.drive:
            return
        self.roll_task = asyncio.ensure_future(self._drive())
        self.roll_task.set_name("slowroll console: engine.run")

    async def _drive(self) -> None:
        try:
            await self.auditor.settle()
            self.result = await self.engine.run(stop_when_paused=False)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the console must show it, not vanish
            self.roll_error = repr(exc)
            self.notify(f"The roll stopped on an internal error: {exc!r}", severity="error", timeout=30)
        self._status_cache.clear()

    def action_pause(self) -> None:
        if self._engine_call("pause", self.engine.pause, ""):
            self.notify("Paused: no new reboot will be issued; hosts in flight finish.", timeout=4)

    def action_resume(self) -> None:
        if not self.engine.auto_paused:
            self._engine_call("resume", self.engine.resume)
            return
        reason = self.engine.reason

        def answered(yes: bool | None) -> None:
            if yes and self.why_not("resume") is None:
                self._engine_call("resume", self.engine.resume, why=f"acknowledged: {reason}")

        self.push_screen(Acknowledge(self.engine, self.console_theme), answered)

    def action_skip(self) -> None:
        host = self.grid.cursor
        if host is None:
            return
        run: HostRun = self.engine.hosts[host]
        if not run.state.in_flight:
            if self._engine_call("skip", self.engine.skip, host):
                self.notify(f"Skipped {host}.", timeout=3)
            return
        body = (
            f"{host} is {HOST_GLYPHS[run.state]} {run.state.value} right now. Skipping it means the roll stops "
            "waiting for it. It keeps its budget slot until it is healthy, and it is never rebooted again "
            "in this roll."
        )

        def answered(yes: bool | None) -> None:
            if yes and self._engine_call("skip", self.engine.skip, host):
                self.notify(f"Skipped {host} (in flight).", timeout=3)

        self.push_screen(
            Confirm(f"Skip {host} while it is {run.state.value}?", body, yes="skip it"), answered
        )

    def action_retry(self) -> None:
        host = self.grid.cursor
        if host is not None and self._engine_call("retry", self.engine.retry, host):
            self.notify(f"Retrying {host}'s checks (it is not rebooted again).", timeout=3)

    def action_abort(self) -> None:
        def answered(yes: bool | None) -> None:
            if yes is True and self.why_not("abort") is None:
                self._engine_call("abort", self.engine.abort)

        self.push_screen(AbortDialog(len(in_flight(self.engine))), answered)

    # ------------------------------------------------------------------------------------------------
    # Looking around

    def action_detail(self) -> None:
        if self.grid.cursor is not None:
            self.push_screen(HostDetail(self.engine, self.grid.cursor, self.console_theme, self.clock))

    def action_audit(self) -> None:
        if self.engine.state is RollState.READY and self.engine.audit_results is None:
            self.auditor.start()
        self.push_screen(AuditScreen(self.auditor))

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        self._filter_before = self.grid.filter_text
        box.value = self.grid.filter_text
        box.display = True
        box.focus()

    def apply_filter(self, text: str) -> None:
        terms = text.lower().split()
        if not terms:
            self.grid.set_filter("", None)
            self._refresh_status()
            return
        tests = []
        for term in terms:
            states = match_states(term)
            if states:
                tests.append(lambda r, s=frozenset(states): r.state in s)
            else:
                tests.append(
                    lambda r, t=term: t in r.name.lower() or any(t in g.lower() for g in r.host.groups)
                )

        def predicate(run: HostRun) -> bool:
            return all(t(run) for t in tests)

        self.grid.set_filter(text.strip(), predicate)
        self._refresh_status()

    def on_filter_input_cancelled(self, event: FilterInput.Cancelled) -> None:
        self.apply_filter("")
        self._close_filter()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.apply_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self._close_filter()

    def _close_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = False
        self.grid.focus()

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        if getattr(event.widget, "id", None) == "filter":
            self.query_one("#filter", Input).display = False

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

    # ------------------------------------------------------------------------------------------------
    # Quitting: never leaves a roll in the middle silently

    def action_quit_console(self) -> None:
        while not self.on_main and isinstance(self.screen, ModalScreen):
            self.pop_screen()
        state = self.engine.state
        if self.quitting:
            flying = in_flight(self.engine)

            def leave(yes: bool | None) -> None:
                if yes:
                    self.forced = True
                    self._finish()

            self.push_screen(
                Confirm(
                    "Leave without waiting?",
                    f"{len(flying)} host(s) are still in their reboot cycle: "
                    + ", ".join(f"{r.name} ({r.state.value})" for r in flying[:10])
                    + ".\nIf you leave now nobody checks that they come back healthy. "
                    "No new reboot is issued either way.",
                    yes="leave now",
                    no="keep waiting",
                ),
                leave,
            )
            return
        if state is RollState.READY or state.final:
            self._finish()
            return
        if state is RollState.PAUSED:

            def answered(yes: bool | None) -> None:
                if yes:
                    self._finish()

            self.push_screen(
                Confirm(
                    "Quit the console?",
                    "The roll is paused and nothing is in flight. It stays paused; no host is touched after you "
                    "leave. " + self._later(),
                    yes="quit",
                    no="stay",
                ),
                answered,
            )
            return
        flying = in_flight(self.engine)
        if state is RollState.RUNNING:
            title = "Pause and quit?"
            body = (
                f"The roll is running with {len(flying)} host(s) in flight. Quitting pauses it first: no new "
                "reboot is issued, the hosts in flight finish their cycle (this screen keeps showing them), then "
                "the console exits with code 130. " + self._later()
            )
            yes = "pause, then quit"
        else:
            title = "Quit when the hosts in flight have finished?"
            body = (
                f"The roll is {state.value}: no new reboot is issued; {len(flying)} host(s) in flight finish "
                "first, then the console exits."
            )
            yes = "quit when settled"

        def confirmed(answer: bool | None) -> None:
            if not answer:
                return
            self.begin_quit("the operator quit the console")

        self.push_screen(Confirm(title, body, yes=yes, no="stay"), confirmed)

    def _later(self) -> str:
        if self.simulated:
            return "(A simulated roll cannot be resumed later: its fleet lives in this process.)"
        return "`slowroll resume` continues it later, from the journal."

    def begin_quit(self, reason: str) -> None:
        """Pause (if running), then exit once nothing is in flight."""
        if self.engine.state is RollState.RUNNING:
            with contextlib.suppress(EngineError):
                self.engine.pause(reason)
        self.quitting = True
        self._refresh_status(force=True)
        if self._settled():
            self._finish()

    def _finish(self) -> None:
        self.exit_code = self.compute_exit_code()
        self.exit(self.exit_code)

    def compute_exit_code(self) -> int:
        state = self.engine.state
        if state is RollState.COMPLETE:
            return EXIT_COMPLETE
        if state is RollState.ABORTED:
            return EXIT_STOPPED
        if state is RollState.PAUSED and self.engine.auto_paused and not self.forced:
            return EXIT_STOPPED
        return EXIT_OPERATOR

    async def settle_roll(self, *, wait: bool = True, out: Any = None) -> None:
        """After the app has exited: make sure the roll is left paused with nothing in flight, then stop
        driving it. Also the safety net when the console itself crashed."""
        task = self.roll_task
        if task is None:
            return
        if not task.done() and wait and not self.forced:
            if self.engine.state is RollState.RUNNING:
                with contextlib.suppress(EngineError):
                    self.engine.pause("the console closed")
            announced = False
            while not self._settled() and not task.done():
                if not announced and out is not None:
                    names = ", ".join(r.name for r in in_flight(self.engine))
                    print(f"slowroll: waiting for hosts in flight to finish: {names}", file=out, flush=True)
                    announced = True
                waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()

                def wake(_: Event, w: asyncio.Future[None] = waiter) -> None:
                    if not w.done():
                        w.set_result(None)

                unsubscribe = self.engine.subscribe(wake)
                try:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(waiter, 1.0)
                finally:
                    unsubscribe()
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        self._unsubscribe()

    # ------------------------------------------------------------------------------------------------
    # Command palette: every action by name

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        entries = (
            ("Start the roll", "show the plan, then start after y", "start"),
            ("Pause the roll", "no new reboots; hosts in flight finish", "pause"),
            ("Resume the roll", "after an automatic pause: acknowledge the reason first", "resume"),
            ("Skip the selected host", "the roll stops waiting for it", "skip"),
            ("Retry the selected host", "re-run its checks (never reboots it again)", "retry"),
            ("Abort the roll", "final; asks for y", "abort"),
            ("Host detail", "facts, boot ids, checks, findings and timeline of the selected host", "detail"),
            ("Filter the grid", "by name, group or state", "filter"),
            ("Follow the active host", "toggle", "follow"),
            ("Drift audit", "every host's findings, blocking first; before the start: audit now", "audit"),
            ("Log: selected host or every host", "toggle", "log_scope"),
            ("Tile size", "auto, names, glyphs, dense", "density"),
            ("Timeline", "each host's or slice's phases over time, as in slowroll report", "timeline"),
            ("Next theme", f"themes: {', '.join(self.themes.names())}", "next_theme"),
            ("Help", "every key and every glyph", "help"),
            ("Quit", "while a roll runs: pause, let hosts in flight finish, then quit", "quit_console"),
        )
        for title, help_, action in entries:
            reason = self.why_not(action)
            yield SystemCommand(
                title,
                help_ if reason is None else f"not now: {reason}",
                lambda a=action: self._palette(a),
            )
        for name, theme in self.themes.themes.items():
            yield SystemCommand(
                f"Theme: {name}", theme.description or theme.source, lambda n=name: self.set_console_theme(n)
            )
        yield SystemCommand("Screenshot", "Save an SVG 'screenshot' of the screen", self.deliver_screenshot)

    def _palette(self, action: str) -> None:
        reason = self.why_not(action)
        if reason:
            self.notify(f"not now — {reason}.", severity="warning", timeout=4)
            return
        self.call_later(self.run_action, action)


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
        return EXIT_COMPLETE if engine.state is RollState.COMPLETE else EXIT_STOPPED
    return app.exit_code
