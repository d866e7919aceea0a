"""Roll actions (a part of ``SlowrollApp``): start, pause, resume, skip, retry and abort, each through the
engine's public commands and, where it matters, a dialog first."""

from __future__ import annotations

import asyncio
from typing import Any

from console.engine.facade import Engine, EngineError
from console.engine.hostrun import HostRun
from console.model.events import RollFinished
from console.tui.components.auditrunner import AuditRunner
from console.tui.components.grid import FleetGrid
from console.tui.components.logpane import LogPane
from console.tui.components.plan import plan_text
from console.tui.components.themes import ConsoleTheme
from console.tui.components.vocab import HOST_GLYPHS
from console.tui.screens.dialogs import AbortDialog, Acknowledge, Confirm


class RollControl:
    """The keys that act on the roll, and the task that drives it."""

    # The app this is a part of (``SlowrollApp``) sets these.
    engine: Engine
    grid: FleetGrid
    log_pane: LogPane
    auditor: AuditRunner
    console_theme: ConsoleTheme
    drive: bool
    roll_task: asyncio.Task[None] | None
    result: RollFinished | None
    roll_error: str | None
    _status_cache: dict[str, object]

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

        self.push_screen(AbortDialog(len(self.engine.waiting_on())), answered)
