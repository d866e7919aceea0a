"""The headless face: one line per event (plain or JSON), signals, exit codes. No Textual here."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import Callable
from typing import TextIO

from console.engine.facade import Engine, EngineError
from console.eventtext import PLAIN, event_lines
from console.model.events import Event, HostState, RollFinished, RollState
from console.model.exits import EXIT_JOURNAL, EXIT_OPERATOR, EXIT_STOPPED, finished_code


def _stamp(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at)) + f".{int((at % 1) * 1000):03d}"


def format_event(event: Event) -> str | None:
    """The human lines for an event, each ``time  who  text`` (None: not worth a line)."""
    lines = event_lines(event, PLAIN)
    if not lines:
        return None
    t = _stamp(event.at)
    return "\n".join(f"{t}  {line.who:<16} {line.text}{line.inline}" for line in lines)


class HeadlessPrinter:
    """One line per event; in JSON each object carries ``roll``, the roll's id (None: not journaled)."""

    def __init__(self, out: TextIO, *, as_json: bool, roll_id: int | None = None) -> None:
        self.out = out
        self.as_json = as_json
        self.roll_id = roll_id
        self.last: RollFinished | None = None

    def _json(self, event: Event) -> str:
        return json.dumps({**event.to_dict(), "roll": self.roll_id}, default=str)

    def __call__(self, event: Event) -> None:
        if isinstance(event, RollFinished):
            self.last = event  # printed once, last, by finish_line()
            return
        if self.as_json:
            line = self._json(event)
        else:
            text = format_event(event)
            if text is None:
                return
            line = text
        with contextlib.suppress(BrokenPipeError):
            self.out.write(line + "\n")
            self.out.flush()

    def finish_line(self, event: RollFinished) -> None:
        line = self._json(event) if self.as_json else format_event(event)
        with contextlib.suppress(BrokenPipeError):
            self.out.write(f"{line}\n")
            self.out.flush()


def exit_code_for(event: RollFinished, *, operator_stopped: bool) -> int:
    if event.state is RollState.COMPLETE:
        return finished_code(len(event.failed), len(event.skipped))
    if operator_stopped:
        return EXIT_OPERATOR
    return EXIT_STOPPED


def _nothing_left(engine: Engine) -> bool:
    """No host waits for its reboot and none is in its cycle: a pause would hold nothing back."""
    return not engine.waiting_on() and all(r.state is not HostState.PENDING for r in engine.hosts.values())


async def run_headless(
    engine: Engine,
    *,
    as_json: bool,
    out: TextIO | None = None,
    on_finish: Callable[[RollFinished], None] | None = None,
    roll_id: int | None = None,
) -> int:
    """Run the roll with a line per event; Ctrl-C / SIGTERM / SIGHUP pause (a second one aborts)."""
    printer = HeadlessPrinter(out or sys.stdout, as_json=as_json, roll_id=roll_id)
    engine.subscribe(printer)
    loop = asyncio.get_running_loop()
    signals_seen: list[str] = []

    def on_signal(name: str) -> None:
        signals_seen.append(name)
        try:
            if len(signals_seen) == 1:
                # The first interrupt never aborts: it pauses a running roll; a roll already pausing
                # (by itself) or paused just ends once in-flight hosts settle, with exit 130.
                if engine.state is RollState.RUNNING and _nothing_left(engine):
                    # Every host is done: there is no reboot left to hold back; the roll completes.
                    engine.log(f"{name}: every host is done; the roll completes", level="warn")
                elif engine.state is RollState.RUNNING:
                    engine.pause(f"interrupted by {name}: in-flight hosts finish, no new reboot")
                else:
                    engine.log(
                        f"{name}: stopping once in-flight hosts settle; a second one aborts", level="warn"
                    )
            elif not engine.state.final and engine.state is not RollState.ABORTING:
                engine.abort(why=f"second interrupt ({name})")
        except EngineError:
            pass

    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        try:
            loop.add_signal_handler(sig, on_signal, sig.name)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    try:
        result = await engine.run(stop_when_paused=True)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
    printer.finish_line(result)
    if on_finish is not None:
        on_finish(result)
    if engine.journal_broken is not None:
        print(
            f"slowroll: {engine.journal_broken}; the roll paused (no new reboot). "
            "Free space, then `slowroll resume` finishes it.",
            file=sys.stderr,
        )
        return EXIT_JOURNAL
    operator = (
        bool(signals_seen)
        or (result.state is RollState.PAUSED and not engine.auto_paused)
        or (result.state is RollState.ABORTED and bool(signals_seen))
    )
    return exit_code_for(result, operator_stopped=operator)
