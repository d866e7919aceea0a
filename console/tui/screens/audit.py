"""The drift audit view: every host's facts and pre-flight findings, before the roll starts.

It lists the fleet by what was found: blocking hosts first, then unreachable ones, warnings, hosts without
findings. Once the roll has started it is read-only: the findings are the ones the roll has gathered since
(before and after each reboot). The audit itself runs in the background (``AuditRunner``).
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Static

from console.model.events import RollState
from console.tui.components.auditlines import (
    ORDER_WORDS,
    ORDERS,
    Counts,
    Order,
    build_lines,
    classify,
    summarize,
)
from console.tui.components.auditlist import AuditList
from console.tui.components.auditrunner import AuditRunner
from console.tui.components.context import ConsoleContext
from console.tui.components.keybar import KeyBar
from console.tui.components.status import progress_bar
from console.tui.components.themes import ConsoleTheme
from console.tui.screens.hostdetail import HostDetail


class AuditScreen(Screen[None]):
    """The drift audit of the whole fleet; esc goes back. Before the start: u audits again."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,backspace", "close", "back"),
        Binding("o", "order", "order"),
        Binding("u", "again", "audit again"),
    ]

    DEFAULT_CSS = """
    #audit-summary {
        height: auto;
        padding: 0 1;
        background: $boost;
    }
    """

    def __init__(self, runner: AuditRunner) -> None:
        super().__init__()
        self.runner = runner
        self.order: Order = "severity"
        self._signature: object = None
        self._lines_cache: dict[object, Any] = {}

    @property
    def console_app(self) -> ConsoleContext:
        return cast(ConsoleContext, self.app)

    def compose(self) -> ComposeResult:
        yield Static(id="detail-title")
        yield Static(id="audit-summary")
        yield AuditList(self.console_app.console_theme, id="audit-list")
        yield KeyBar()

    def on_mount(self) -> None:
        self.update_view(force=True)
        self.query_one(AuditList).focus()
        self.set_interval(0.25, self.update_view)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "again":
            return True if self.runner.can_start else None
        return True

    def _sig(self) -> object:
        runner = self.runner
        engine = runner.engine
        return (
            runner.version,
            runner.running,
            runner.progress() if runner.running else None,
            engine.state,
            self.order,
            self.console_app.console_theme.name,
            self.size.width,
        )

    def update_view(self, *, force: bool = False) -> None:
        runner = self.runner
        sig = self._sig()
        if not force and sig == self._signature:
            return
        self._signature = sig
        engine = runner.engine
        theme = self.console_app.console_theme
        statuses = classify(engine, runner)
        counts = summarize(engine, runner, statuses)
        listing = self.query_one(AuditList)
        if listing.console_theme is not theme:
            listing.set_console_theme(theme)
        room = (listing.scrollable_content_region.width or self.size.width - 3) - 2  # "▸ " leads each line
        listing.set_lines(build_lines(engine, statuses, self.order, room, self._lines_cache))
        self.query_one("#detail-title", Static).update(self._title())
        self.query_one("#audit-summary", Static).update(self._summary(counts, theme))
        self.refresh_bindings()

    def _title(self) -> str:
        engine = self.runner.engine
        if engine.state is RollState.READY:
            mode = "before the roll: nothing is rebooted"
        else:
            mode = f"read-only: the roll is {engine.state.value}"
        return f"Drift audit — {engine.inventory.name}, {len(engine.hosts)} hosts — {mode}    (esc: back)"

    def _summary(self, counts: Counts, theme: ConsoleTheme) -> Text:
        runner = self.runner
        engine = runner.engine
        dim = Style(color=theme.grid["dim"])
        out = Text()
        if runner.running:
            done, total = runner.progress()
            out.append(f"Auditing: {done} of {total} hosts  ", Style(bold=True))
            out.append(progress_bar(done, total, 30), Style(color=theme.ui["primary"]))
            out.append("  one SSH round trip each; the console stays usable\n", dim)
        elif runner.failure:
            out.append(f"The audit failed: {runner.failure}\n", Style(bold=True, color=theme.ui.get("error")))
        elif engine.audit_results is None and engine.state is RollState.READY:
            out.append("Not audited yet: u audits every host now (nothing is rebooted).\n", Style(bold=True))
        elif engine.audit_results is None:
            out.append(
                "No audit ran before the roll: these are the findings the roll gathered so far, before and "
                "after each reboot.\n",
                dim,
            )
        else:
            took = f" in {runner.took:.1f}s" if runner.took is not None else ""
            when = f" at {self.console_app.clock.stamp(runner.finished_at)}" if runner.finished_at else ""
            out.append(f"Audited{when}{took}. ", dim)
            if engine.state is not RollState.READY:
                out.append(
                    "Since the start, the findings the roll gathered (before and after each reboot). ", dim
                )
            out.append("\n")
        out.append(f"{counts.hosts} hosts: ", Style(bold=True))
        pieces = (
            (f"{counts.clean} without findings", "success", counts.clean),
            (f"▲ {counts.warned} with warnings", "warning", counts.warned),
            (f"■ {counts.blocking} blocking", "error", counts.blocking),
            (f"✘ {counts.unreachable} unreachable", "error", counts.unreachable),
        )
        for i, (text, tone, n) in enumerate(pieces):
            if i:
                out.append(", ")
            out.append(text, Style(bold=bool(n), color=theme.ui.get(tone)) if n else dim)
        if counts.unknown:
            out.append(f", · {counts.unknown} not audited yet", dim)
        out.append(f"    order: {ORDER_WORDS[self.order]} (o)", dim)
        return out

    def action_order(self) -> None:
        self.order = ORDERS[(ORDERS.index(self.order) + 1) % len(ORDERS)]
        self.update_view(force=True)
        self.query_one(AuditList).scroll_to(y=0, animate=False)

    def action_again(self) -> None:
        if self.runner.start():
            self.update_view(force=True)

    def on_audit_list_chosen(self, message: AuditList.Chosen) -> None:
        console = self.console_app
        self.app.push_screen(
            HostDetail(self.runner.engine, message.host, console.console_theme, console.clock)
        )

    def action_close(self) -> None:
        self.dismiss(None)
