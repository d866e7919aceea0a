"""The help screen: every key, every glyph, every state."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from console.model.events import RollState
from console.model.findings import Severity
from console.tui.components.keybar import KeyBar
from console.tui.components.marks import SEVERITY_GLYPH, severity_label, severity_style
from console.tui.components.themes import ConsoleTheme
from console.tui.components.vocab import HOST_GLYPHS, HOST_MEANING, HOST_ORDER, ROLL_GLYPHS

KEY_TEXT_WIDTH = 60  # what a key does, per line: 14 columns of key before it fit 80 with the scrollbar


def hang(text: str, indent: int, width: int = 76) -> str:
    """``text`` wrapped to fit after ``indent`` columns, its further lines hanging under its first."""
    return ("\n" + " " * indent).join(textwrap.wrap(text, max(20, width - indent)) or [""])


def help_text(keys: Iterable[tuple[str, str, str]], theme: ConsoleTheme) -> Text:
    dim = Style(color=theme.grid["dim"])
    out = Text()
    out.append("Keys\n", Style(bold=True))
    for key, what, when in keys:
        # A long line hangs under its description (it never wraps back to column 1 at 80 columns).
        lines = textwrap.wrap(what, KEY_TEXT_WIDTH) or [""]
        for i, line in enumerate(lines):
            out.append(f"  {key:<12}" if i == 0 else " " * 14, Style(bold=True))
            out.append(line)
            if i < len(lines) - 1:
                out.append("\n")
        if when:
            fits = len(lines[-1]) + len(when) + 4 <= KEY_TEXT_WIDTH
            out.append(f"  ({when})" if fits else f"\n{' ' * 14}({when})", dim)
        out.append("\n")
    out.append("\nHost states (glyph, word, meaning)\n", Style(bold=True))
    for state in HOST_ORDER:
        out.append("  ")
        out.append(f" {HOST_GLYPHS[state]} ", theme.state_style(state))
        out.append(f" {state.value:<20}", Style(bold=True))
        out.append(hang(HOST_MEANING[state], 28) + "\n", dim)
    out.append(
        "\nDrift marks (after a tile's name; dense tiles: small, before the glyph)\n", Style(bold=True)
    )
    for sev, small, meaning in (
        (Severity.WARN, "▴", "a drift finding to look at (uptime debt alone does not mark a tile)"),
        (
            Severity.BLOCK,
            "▪",
            "a blocking finding: before the reboot it is not rebooted; after it, it failed",
        ),
    ):
        out.append(f"  {SEVERITY_GLYPH[sev]} {small}  ", severity_style(sev, theme))
        out.append(f"{severity_label(sev):<19}", Style(bold=True))
        out.append(hang(meaning, 26) + "\n", dim)
    out.append("\nRoll states\n", Style(bold=True))
    meanings = {
        RollState.READY: "nothing touched yet; g starts",
        RollState.RUNNING: "slices are being rebooted",
        RollState.PAUSING: "no new reboots; hosts already in flight finish their cycle",
        RollState.PAUSED: "nothing in flight; r resumes (after an automatic pause you acknowledge the reason)",
        RollState.ABORTING: "no new reboots, ever; hosts in flight finish",
        RollState.ABORTED: "over; nothing more will be rebooted",
        RollState.COMPLETE: "every host went through its cycle",
    }
    for rs, meaning in meanings.items():
        out.append("  ")
        out.append(f" {ROLL_GLYPHS[rs]} {rs.value.upper():<9}", theme.roll_style(rs))
        out.append("  " + hang(meaning, 15) + "\n", dim)
    out.append(
        "\nThe tile under the cursor is shown in [brackets].\nProblem hosts are drawn filled in every theme.\n"
        "Ctrl-C behaves like q: it never stops a roll silently.",
        dim,
    )
    return out


class HelpScreen(Screen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "back")]

    def __init__(self, text: Text) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        yield Static("slowroll console — help    (esc: back)", id="detail-title")
        with VerticalScroll(id="detail-scroll"):
            yield Static(self.text)
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#detail-scroll").focus()

    def action_close(self) -> None:
        self.dismiss(None)
