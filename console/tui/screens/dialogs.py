"""Dialogs: confirmations, the abort dialog, the acknowledgement after an automatic pause."""

from __future__ import annotations

from rich.console import RenderableType
from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from console.engine.facade import Engine
from console.tui.components.themes import ConsoleTheme
from console.tui.components.vocab import HOST_GLYPHS, ellipsize


class _Question(ModalScreen[bool]):
    """A dialog that answers y / n / escape and says so when another key is pressed."""

    def hint_text(self, key: str) -> str:
        return f"'{key}' does nothing here: y answers yes, n or esc answers no."

    def on_key(self, event: events.Key) -> None:
        if event.key in ("y", "n", "escape") or event.key.startswith("ctrl+"):
            return
        event.stop()
        for hint in self.query(".dialog-hint"):
            assert isinstance(hint, Static)
            hint.update(self.hint_text(event.key))

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class Confirm(_Question):
    """A yes/no question: y answers yes; n or escape answers no; other keys only say so."""

    BINDINGS = [
        Binding("y", "answer(True)", "yes"),
        Binding("n,escape", "answer(False)", "no"),
    ]

    def __init__(self, title: str, body: RenderableType, *, yes: str = "yes", no: str = "no") -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.body = body
        self.yes = yes
        self.no = no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static(self.title_text, classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(self.body)
            yield Static("", classes="dialog-hint")
            yield Static(f"[b]y[/b] {self.yes}    [b]n[/b] / [b]esc[/b] {self.no}", classes="dialog-keys")


class AbortDialog(_Question):
    """Abort the roll? Only an explicit ``y`` aborts; n / escape close the dialog; other keys do nothing."""

    BINDINGS = [
        Binding("y", "answer(True)", "abort the roll"),
        Binding("n,escape", "answer(False)", "keep the roll"),
    ]

    def __init__(self, in_flight: int) -> None:
        super().__init__(classes="dialog danger")
        self.in_flight = in_flight

    def compose(self) -> ComposeResult:
        flight = (
            f"The {self.in_flight} host(s) in flight are followed to the end of their cycle."
            if self.in_flight
            else "No host is in flight."
        )
        body = (
            "Aborting is final: no new reboot is issued, ever, in this roll, and it cannot be resumed. "
            f"{flight}\n\nTo stop for now and continue later, press n and then p (pause) instead."
        )
        with Vertical(classes="dialog-box"):
            yield Static("✖ Abort the roll?", classes="dialog-title")
            yield Static(body, classes="dialog-text")
            yield Static("", id="abort-hint", classes="dialog-hint")
            yield Static("[b]y[/b] abort the roll    [b]n[/b] / [b]esc[/b] keep it", classes="dialog-keys")

    def hint_text(self, key: str) -> str:
        return f"'{key}' does nothing here: only y aborts; n or esc keeps the roll."


class Acknowledge(_Question):
    """After an automatic pause: the reason, the problem hosts, and an explicit acknowledgement."""

    BINDINGS = [
        Binding("y", "answer(True)", "acknowledge and resume"),
        Binding("n,escape", "answer(False)", "stay paused"),
    ]

    def __init__(self, engine: Engine, theme: ConsoleTheme) -> None:
        super().__init__(classes="dialog warning")
        self.engine = engine
        self.console_theme = theme

    def compose(self) -> ComposeResult:
        engine = self.engine
        body = Text()
        body.append("The roll paused by itself:\n", Style(bold=True))
        body.append(f"  {engine.reason}\n\n")
        problems = engine.problems()
        if problems:
            body.append("Hosts with problems (each keeps its budget slot until it is healthy again):\n")
            for r in problems[:12]:
                body.append(f"  {HOST_GLYPHS[r.state]} {r.name} ", self.console_theme.state_style(r.state))
                body.append(f" {r.state.value}", Style(bold=True))
                body.append(f" — {ellipsize(r.reason, 160)}\n")
            if len(problems) > 12:
                body.append(f"  … and {len(problems) - 12} more\n")
            body.append("\n")
        body.append(
            "Resuming starts new reboots again. Look at the host first (esc, then enter on it) if you have not."
        )
        with Vertical(classes="dialog-box"):
            yield Static("‖ Acknowledge the automatic pause", classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(body)
            yield Static("", classes="dialog-hint")
            yield Static(
                "[b]y[/b] I have read this: resume    [b]n[/b] / [b]esc[/b] stay paused",
                classes="dialog-keys",
            )
