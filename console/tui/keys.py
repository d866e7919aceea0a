"""Which actions make sense now (a part of ``SlowrollApp``): the engine's answer, the key that helps, the
footer's dimmed keys, a key that says why it does nothing, and the command palette."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual import events
from textual.app import SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Input

from console.engine.availability import HOST_ACTIONS, ROLL_ACTIONS
from console.engine.facade import Engine
from console.tui.components.grid import FleetGrid
from console.tui.components.themes import ThemeSet
from console.tui.screens.help import HelpScreen
from console.tui.screens.hostdetail import HostDetail
from console.tui.screens.timeline import TimelineScreen

# key, what it does, when it works (for the help screen and docs/console.md)
KEYS: tuple[tuple[str, str, str], ...] = (
    ("g", "start the roll (shows the plan, asks y/n)", "ready"),
    ("p", "pause: no new reboots; hosts in flight finish", "running"),
    ("r", "resume (after an automatic pause: read and acknowledge the reason first)", "pausing, paused"),
    ("s", "skip the selected host (asks first if it is in flight)", "host not done"),
    ("x", "retry the selected host's checks (never reboots it again)", "problem host"),
    ("a", "abort the roll: final, asks y (only y aborts)", "not over"),
    ("enter", "the selected host: facts, boot ids, checks, findings, timeline", ""),
    (
        "arrows/hjkl",
        "move the cursor; home/end (or G: the last host), pgup/pgdn; a click on the selected host opens it",
        "",
    ),
    ("/", "filter the grid by name, group or state (e.g. 'fail', 'web reb'); esc clears", ""),
    ("esc", "clear the grid's filter (the key bar shows it while a filter is applied)", "filtered"),
    (
        ":",
        "command line: host NAME (select and open it), filter TEXT, log TEXT (search the log), theme NAME, help, quit",
        "",
    ),
    (
        "n / N",
        "the next / previous problem host anywhere in the fleet (an automatic pause moves there)",
        "problems",
    ),
    ("f", "follow the active host, among the filtered hosts (moving the cursor stops following)", ""),
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
MAIN_ONLY = (
    "detail",
    "filter",
    "clear_filter",
    "command_line",
    "follow",
    "problem",
    "log_scope",
    "density",
    "skip",
    "retry",
    "audit",
)


class KeyRules:
    """What each key may do now, and why not: asked of the engine (``engine.availability``), never
    re-derived here."""

    # The app this is a part of (``SlowrollApp``) sets these.
    engine: Engine
    grid: FleetGrid
    themes: ThemeSet
    quitting: bool
    key_presses: int

    @property
    def on_main(self) -> bool:
        return len(self.screen_stack) == 1

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in MAIN_ONLY and not self.on_main and action not in ("skip", "retry"):
            return False
        if action in ("skip", "retry") and not self.on_main:
            return False
        if action == "clear_filter" and not self.grid.filter_text:
            return False  # not in the key bar: nothing to clear (esc says so)
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
        elif action == "clear_filter" and self.on_main and not self.grid.filter_text:
            return "no filter is applied (/ filters the grid)"
        elif action == "problem" and not self.engine.problems():
            return "no host has a problem"
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
        if isinstance(self.focused, Input):
            return  # the line being typed in has its own keys (esc clears it)
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            keys = binding.key.split(",")
            if event.key in keys or (event.character and event.character in keys):
                reason = self.why_not(binding.action.split("(")[0])  # "problem(1)": the action is "problem"
                if reason:
                    event.stop()
                    self.notify(f"{binding.description}: not now — {reason}.", severity="warning", timeout=4)
                return

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
        keys = self.key_of_actions()
        for title, help_, action in entries:
            reason = self.why_not(action)
            key = f"{keys[action]} · " if action in keys else ""
            yield SystemCommand(
                title,
                key + (help_ if reason is None else f"not now: {reason}"),
                lambda a=action: self._palette(a),
            )
        yield SystemCommand(
            "Command line",
            ": · host NAME, filter TEXT, log TEXT, theme NAME, help, quit",
            self.action_command_line,
        )
        for name in self.engine.hosts:
            yield SystemCommand(
                f"Go to host {name}",
                ":host · select it and open its detail",
                lambda n=name: self.go_to_host(n),
            )
        for name, theme in self.themes.themes.items():
            yield SystemCommand(
                f"Theme: {name}", theme.description or theme.source, lambda n=name: self.set_console_theme(n)
            )
        yield SystemCommand("Screenshot", "Save an SVG 'screenshot' of the screen", self.deliver_screenshot)

    def key_of_actions(self) -> dict[str, str]:
        """Each action's key as the key bar shows it (the first binding's)."""
        keys: dict[str, str] = {}
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            keys.setdefault(binding.action, binding.key_display or binding.key.split(",")[0])
        return keys

    def _palette(self, action: str) -> None:
        reason = self.why_not(action)
        if reason:
            self.notify(f"not now — {reason}.", severity="warning", timeout=4)
            return
        self.call_later(self.run_action, action)
