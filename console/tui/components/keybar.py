"""The footer: the keys that work on the screen in front, unavailable ones dimmed.

Textual's own Footer cuts keys off at the right edge; at 80 columns that hid ``? help`` and ``q quit``.
This one keeps every key in its usual place but, when the line is too narrow, drops the least important
ones first (``? help`` lists them all).
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.widgets import Static

from console.tui.components.status import Piece, pack

PRIORITY: dict[str, int] = {
    "quit_console": 100,
    "help": 99,
    "close": 98,
    "answer": 97,
    "clear_filter": 97,
    "pause": 96,
    "abort": 95,
    "resume": 94,
    "start": 93,
    "skip": 80,
    "retry": 80,
    "detail": 70,
    "filter": 60,
    "follow": 50,
    "log_scope": 45,
    "next_theme": 40,
    "density": 30,
    "command_palette": 20,
}


class KeyBar(Static):
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        padding: 0 1;
        background: $panel;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._last: Text | None = None

    def on_mount(self) -> None:
        self.refresh_keys()

    def refresh_keys(self) -> None:
        app = self.app
        screen = app.screen
        theme = getattr(app, "console_theme", None)
        key_colour = theme.ui.get("accent") if theme is not None else None
        dim_colour = theme.grid["dim"] if theme is not None else None
        by_action: dict[str, tuple[list[str], object, bool]] = {}
        for active in screen.active_bindings.values():
            binding = active.binding
            if not binding.show:
                continue
            label = binding.key_display or app.get_key_display(binding)
            if binding.action in by_action:
                labels = by_action[binding.action][0]
                if len(labels) < 2 and label not in labels:
                    labels.append(label)
                continue
            by_action[binding.action] = ([label], binding, active.enabled)
        pieces: list[Piece] = []
        for action_text, (labels, binding, enabled) in by_action.items():
            assert isinstance(binding, Binding)
            action = action_text.split("(")[0].removeprefix("app.").removeprefix("screen.")
            label = "/".join(labels)
            desc = binding.description
            if enabled:
                key_style = Style(bold=True, color=key_colour)
                desc_style = Style()
            else:
                # The theme's dim colour as it is (measured at 4.5:1 on the bar), never faded further.
                key_style = desc_style = Style(color=dim_colour) if dim_colour else Style(dim=True)
            # Keys that work now come first: a dimmed key gives way to any key that works (? lists them all).
            priority = PRIORITY.get(action, 50) - (0 if enabled else 100)
            pieces.append(
                Piece(
                    f"{label} {desc}",
                    priority,
                    parts=[(label, key_style), (f" {desc}", desc_style)],
                )
            )
        if app.ENABLE_COMMAND_PALETTE and not screen.is_modal:
            pieces.append(
                Piece(
                    "^p palette",
                    PRIORITY["command_palette"],
                    parts=[("^p", Style(bold=True, color=key_colour)), (" palette", "")],
                )
            )
        text = pack(pieces, max(10, (self.size.width or app.size.width) - 2))
        if text != self._last:
            self._last = text
            self.update(text, layout=False)  # one line, always: no layout needed
