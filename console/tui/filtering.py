"""The grid's filter (a part of ``SlowrollApp``): / opens a line that filters as you type, by name, group
or state; enter keeps the filter, escape clears it."""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input

from console.engine.hostrun import HostRun
from console.tui.components.grid import FleetGrid
from console.tui.components.vocab import match_states


class FilterInput(Input):
    """The filter line: typing filters live, enter keeps the filter, escape clears it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "clear filter")]

    class Cancelled(Message):
        pass

    def action_cancel(self) -> None:
        self.value = ""
        self.post_message(self.Cancelled())


def open_line(box: Input, value: str) -> None:
    """Show a one-row input line (the filter, the command line) and type in it."""
    box.value = value
    box.display = True
    box.focus()


class Filtering:
    """/ and the filter line."""

    # The app this is a part of (``SlowrollApp``) sets these.
    grid: FleetGrid
    _filter_before: str

    def action_filter(self) -> None:
        self._filter_before = self.grid.filter_text
        open_line(self.query_one("#filter", Input), self.grid.filter_text)

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

    def action_clear_filter(self) -> None:
        """Esc on the grid: show every host again."""
        self.apply_filter("")

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
