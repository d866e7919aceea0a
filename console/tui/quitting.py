"""Quitting (a part of ``SlowrollApp``): never leaves a roll in the middle silently.

q (or Ctrl-C) while a roll runs pauses it, lets the hosts in flight finish, then exits with 130; the exit
code says how the roll stands.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from textual.screen import ModalScreen

from console.engine.facade import Engine, EngineError
from console.model.events import Event, RollState
from console.model.exits import EXIT_JOURNAL, EXIT_OPERATOR, EXIT_STOPPED, finished_code
from console.tui.screens.dialogs import Confirm


class Quitting:
    """q, the exit code, and the roll left settled after the app has gone."""

    # The app this is a part of (``SlowrollApp``) sets these.
    engine: Engine
    simulated: bool
    quitting: bool  # q was answered: the console exits once nothing is in flight
    forced: bool  # the operator chose to leave without waiting
    exit_code: int
    roll_task: asyncio.Task[None] | None
    _unsubscribe: Callable[[], None]

    def action_quit_console(self) -> None:
        while not self.on_main and isinstance(self.screen, ModalScreen):
            self.pop_screen()
        state = self.engine.state
        if self.quitting:
            flying = self.engine.waiting_on()

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
        flying = self.engine.waiting_on()
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
        if self.engine.journal_broken is not None:
            return EXIT_JOURNAL
        if state is RollState.COMPLETE:
            outcome = self.engine.outcome()
            return finished_code(len(outcome["failed"]), len(outcome["skipped"]))
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
                    names = ", ".join(r.name for r in self.engine.waiting_on())
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

    def _settled(self) -> bool:
        return (
            self.engine.state
            not in (
                RollState.RUNNING,
                RollState.PAUSING,
                RollState.ABORTING,
            )
            and not self.engine.waiting_on()
        )
