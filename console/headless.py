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
from console.model.events import (
    BudgetHeld,
    CheckRan,
    Event,
    FindingsReported,
    HostStateChanged,
    LogLine,
    OperatorAction,
    RollFinished,
    RollState,
    RollStateChanged,
    SliceFinished,
    SliceStarted,
    WindowWait,
)

EXIT_COMPLETE = 0
EXIT_STOPPED = 1  # paused by itself, or aborted
EXIT_USAGE = 2
EXIT_OPERATOR = 130


def _stamp(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at)) + f".{int((at % 1) * 1000):03d}"


def format_event(event: Event) -> str | None:
    """One human line for an event (None: not worth a line)."""
    t = _stamp(event.at)
    match event:
        case HostStateChanged(host=host, old=old, new=new, reason=reason, skipped=skipped):
            extra = f"  {reason}" if reason else ""
            mark = " (skipped)" if skipped and new is not old else ""
            if old is new:
                return f"{t}  {host:<16} {new.value}{mark}{extra}"
            return f"{t}  {host:<16} {old.value} → {new.value}{mark}{extra}"
        case RollStateChanged(old=old, new=new, reason=reason, automatic=automatic):
            how = " (automatic)" if automatic else ""
            return f"{t}  ROLL             {old.value} → {new.value.upper()}{how}{': ' + reason if reason else ''}"
        case SliceStarted(index=index, hosts=hosts, canary=canary, reason=reason):
            kind = "canary slice" if canary else "slice"
            return f"{t}  SLICE {index + 1:<10} {kind} of {len(hosts)}: {', '.join(hosts)}  ({reason})"
        case SliceFinished(index=index, duration=duration):
            return f"{t}  SLICE {index + 1:<10} finished in {duration:.1f}s"
        case CheckRan(host=host, check=check, phase=phase, ok=ok, output=output, attempts=attempts):
            who = host or "SERVICE"
            verdict = "✔ pass" if ok else "✘ FAIL"
            tail = ""
            if not ok and output:
                tail = "  " + output.strip().splitlines()[-1][:160]
            tries = f" after {attempts} attempts" if attempts > 1 else ""
            return f"{t}  {who:<16} check {check} ({phase}): {verdict}{tries}{tail}"
        case FindingsReported(host=host, phase=phase, findings=findings):
            lines = [
                f"{t}  {host:<16} finding ({phase}) [{f.severity}] {f.kind}: {f.message}" for f in findings
            ]
            return "\n".join(lines)
        case BudgetHeld(budget=budget, limit=limit, holders=holders):
            return f"{t}  BUDGET           {budget}: {len(holders)}/{limit} held by {', '.join(holders)}"
        case WindowWait(reason=reason, until=until):
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(until)) if until else "never"
            return f"{t}  WINDOW           waiting: {reason}; next window opens {when}"
        case OperatorAction(action=action, host=host, who=who, why=why):
            target = f" {host}" if host else ""
            return f"{t}  OPERATOR         {who}: {action}{target}{' — ' + why if why else ''}"
        case LogLine(message=message, host=host, level=level):
            who = host or "-"
            return f"{t}  {who:<16} {level.upper() + ': ' if level != 'info' else ''}{message}"
        case RollFinished(
            state=state,
            rebooted=rebooted,
            failed=failed,
            skipped=skipped,
            untouched=untouched,
            reason=reason,
            duration=duration,
        ):
            return (
                f"{t}  FINISHED         {state.value.upper()} in {duration:.1f}s: {len(rebooted)} rebooted, "
                f"{len(failed)} failed{' ' + str(list(failed)) if failed else ''}, {len(skipped)} skipped, "
                f"{len(untouched)} untouched{'  — ' + reason if reason else ''}"
            )
    return None


class HeadlessPrinter:
    def __init__(self, out: TextIO, *, as_json: bool) -> None:
        self.out = out
        self.as_json = as_json
        self.last: RollFinished | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, RollFinished):
            self.last = event  # printed once, last, by finish_line()
            return
        if self.as_json:
            line = json.dumps(event.to_dict(), default=str)
        else:
            text = format_event(event)
            if text is None:
                return
            line = text
        with contextlib.suppress(BrokenPipeError):
            self.out.write(line + "\n")
            self.out.flush()

    def finish_line(self, event: RollFinished) -> None:
        line = json.dumps(event.to_dict(), default=str) if self.as_json else format_event(event)
        with contextlib.suppress(BrokenPipeError):
            self.out.write(f"{line}\n")
            self.out.flush()


def exit_code_for(event: RollFinished, *, operator_stopped: bool) -> int:
    if event.state is RollState.COMPLETE:
        return EXIT_COMPLETE
    if operator_stopped:
        return EXIT_OPERATOR
    return EXIT_STOPPED


async def run_headless(
    engine: Engine,
    *,
    as_json: bool,
    out: TextIO | None = None,
    on_finish: Callable[[RollFinished], None] | None = None,
) -> int:
    """Run the roll with a line per event; Ctrl-C / SIGTERM / SIGHUP pause (a second one aborts)."""
    printer = HeadlessPrinter(out or sys.stdout, as_json=as_json)
    engine.subscribe(printer)
    loop = asyncio.get_running_loop()
    signals_seen: list[str] = []

    def on_signal(name: str) -> None:
        signals_seen.append(name)
        try:
            if len(signals_seen) == 1:
                # The first interrupt never aborts: it pauses a running roll; a roll already pausing
                # (by itself) or paused just ends once in-flight hosts settle, with exit 130.
                if engine.state is RollState.RUNNING:
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
    operator = (
        bool(signals_seen)
        or (result.state is RollState.PAUSED and not engine.auto_paused)
        or (result.state is RollState.ABORTED and bool(signals_seen))
    )
    return exit_code_for(result, operator_stopped=operator)
