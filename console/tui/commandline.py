"""The command line (a part of ``SlowrollApp``): ``:`` opens it, as in k9s or vim.

``:host NAME`` selects the host (its name or the only one that starts so) and opens its detail;
``:filter TEXT`` filters the grid as ``/`` does (``:filter`` alone clears it); ``:log TEXT`` searches the
log (only the lines with TEXT; ``:log`` alone shows them all); ``:theme NAME`` switches
theme; ``:help``; ``:quit``. Enter runs it, escape closes it; an unknown command, host or theme says so.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input

from console.engine.facade import Engine
from console.tui.components.grid import FleetGrid
from console.tui.components.logpane import LogPane
from console.tui.components.themes import ThemeSet
from console.tui.filtering import open_line

COMMANDS: tuple[tuple[str, str], ...] = (
    ("host NAME", "select the host and open its detail (the start of a name will do)"),
    ("filter TEXT", "filter the grid as / does; :filter alone clears it"),
    ("log TEXT", "the log shows only the lines with TEXT (any case); :log alone shows every line"),
    ("theme NAME", "switch theme (remembered)"),
    ("help", "every key and every glyph"),
    ("quit", "as q"),
)
USAGE = "try " + ", ".join(f":{c}" for c, _ in COMMANDS)


class CommandInput(Input):
    """The command line: enter runs the command, escape closes it, leaving it closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "close")]

    class Entered(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    async def action_submit(self) -> None:
        self.post_message(self.Entered(self.value))

    def action_cancel(self) -> None:
        self.post_message(self.Entered(""))

    def on_blur(self) -> None:
        self.display = False


class CommandLine:
    """: and the commands it runs."""

    # The app this is a part of (``SlowrollApp``) sets these.
    engine: Engine
    grid: FleetGrid
    log_pane: LogPane
    themes: ThemeSet

    def action_command_line(self) -> None:
        open_line(self.query_one("#command", Input), "")

    def on_command_input_entered(self, event: CommandInput.Entered) -> None:
        self.query_one("#command", Input).display = False
        self.grid.focus()
        if event.text.strip():
            problem = self.run_command(event.text)
            if problem:
                self.notify(problem, title="command", severity="warning", timeout=6)

    def run_command(self, text: str) -> str | None:
        """Run one command line; what went wrong, in words (None: it ran)."""
        verb, _, arg = text.strip().removeprefix(":").partition(" ")
        arg = arg.strip()
        verb = verb.lower()
        if verb in ("host", "h"):
            return self.go_to_host(arg)
        if verb in ("filter", "f"):
            self.apply_filter(arg)
            return None
        if verb in ("log", "l"):
            self.log_pane.search(arg)
            self._refresh_selection()
            return None
        if verb in ("theme", "t"):
            if arg not in self.themes.themes:
                return f":theme {arg}: no such theme. Known: {', '.join(self.themes.names())}"
            self.set_console_theme(arg)
            return None
        if verb in ("help", "?"):
            self.action_help()
            return None
        if verb in ("quit", "q"):
            self.action_quit_console()
            return None
        return f":{verb}: unknown command; {USAGE}"

    def go_to_host(self, name: str) -> str | None:
        """Select ``name`` (or the one host whose name starts so) and open its detail."""
        hosts = self.engine.hosts
        if name not in hosts:
            starts = [h for h in hosts if h.startswith(name)] if name else []
            if len(starts) != 1:
                found = f"{len(starts)} hosts start so" if starts else "no such host"
                return f":host {name}: {found}" if name else ":host needs a name"
            name = starts[0]
        self.grid.select(name, by_operator=True)
        self.action_detail()
        return None
