"""What each engine event says, in words: one source for the headless printer and the console's log pane.

``event_lines(event, words)`` gives the lines an event deserves (none for events not worth a line): whom
each is about, its text, how loud it is, and the lines that belong under it (a failed check's output, a
finding's evidence). The faces only lay them out: the headless printer as ``time  who  text`` on one line,
the log pane as timestamped entries with the detail lines under them.

The sentences are the same for both faces. ``Words`` says how a face names the things in them (a host
state, a change of the roll's state, a duration, a log line's level); the console's log names states with
their glyphs (``⟳ rebooting``), says durations the compact way, also marks a skip that leaves a host's
state as it is, and keeps the roll's last line short (its banner says the rest).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

from console.model.events import (
    BudgetHeld,
    CheckRan,
    Event,
    FindingsReported,
    HostState,
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
from console.model.findings import Severity

OUTPUT_LINES = 8  # lines of a failed check's output under its line (all of it is in the host detail)
EVIDENCE_LINES = 4  # lines of a finding's evidence under its line
INLINE_OUTPUT = 160  # characters of a failed check's last output line on a one-line face


class EventLine(NamedTuple):
    """One line an event deserves (a named tuple: a storm of events makes thousands a second)."""

    who: str  # whom it is about: a host, or ROLL, SLICE 3, BUDGET, WINDOW, OPERATOR, FINISHED, SERVICE, -
    text: str
    level: str = "info"  # info, ok, warn, error
    host: str | None = None  # the host it concerns, if any (the log pane shows one host's lines)
    headed: bool = False  # ``who`` is the first word of the sentence (ROLL …), not only a column
    detail: tuple[str, ...] = ()  # lines under it, as they came: a failed check's output, evidence
    hidden: int = 0  # earlier detail lines left out (a long output keeps its end)
    inline: str = ""  # what a one-line face adds at the end instead (a failed check's last output line)


class Words:
    """How a face names what its lines mention. These are the headless printer's words."""

    marks_every_skip = False  # "(skipped)" also on a skip that leaves the host's state as it is
    finish_in_full = True  # the roll's last line with its duration, its failed hosts and why it ended

    def host_state(self, state: HostState) -> str:
        return state.value

    def roll_change(self, old: RollState, new: RollState) -> str:
        return f"{old.value} → {new.value.upper()}"

    def duration(self, seconds: float) -> str:
        return f"{seconds:.1f}s"

    def log_level(self, level: str) -> str:
        """What goes before a log line of ``level``."""
        return f"{level.upper()}: " if level != "info" else ""


PLAIN = Words()


def _host_state(event: HostStateChanged, words: Words) -> list[EventLine]:
    old, new, skipped = event.old, event.new, event.skipped
    tail = f"  {event.reason}" if event.reason else ""
    mark = " (skipped)" if skipped and (new is not old or words.marks_every_skip) else ""
    state = words.host_state(new)
    if old is new:
        return [EventLine(event.host, f"{state}{mark}{tail}", "warn" if skipped else "info", event.host)]
    level = "error" if new.problem else "info"
    return [EventLine(event.host, f"{old.value} → {state}{mark}{tail}", level, event.host)]


def _roll_state(event: RollStateChanged, words: Words) -> list[EventLine]:
    new = event.new
    how = " (automatic)" if event.automatic else ""
    level = "warn" if new in (RollState.PAUSING, RollState.PAUSED, RollState.ABORTING) else "info"
    if new is RollState.ABORTED or (event.automatic and new is RollState.PAUSING):
        level = "error"
    reason = f": {event.reason}" if event.reason else ""
    return [EventLine("ROLL", f"{words.roll_change(event.old, new)}{how}{reason}", level, headed=True)]


def _slice_started(event: SliceStarted, words: Words) -> list[EventLine]:
    kind = "canary slice" if event.canary else "slice"
    text = f"{kind} of {len(event.hosts)}: {', '.join(event.hosts)}  ({event.reason})"
    return [EventLine(f"SLICE {event.index + 1}", text, headed=True)]


def _slice_finished(event: SliceFinished, words: Words) -> list[EventLine]:
    text = f"finished in {words.duration(event.duration)}"
    return [EventLine(f"SLICE {event.index + 1}", text, headed=True)]


def _check(event: CheckRan, words: Words) -> list[EventLine]:
    tries = f" after {event.attempts} attempts" if event.attempts > 1 else ""
    verdict = "✔ pass" if event.ok else "✘ FAIL"
    text = f"check {event.check} ({event.phase}): {verdict}{tries}"
    output = [] if event.ok else event.output.strip().splitlines()
    return [
        EventLine(
            event.host or "SERVICE",
            text,
            "ok" if event.ok else "error",
            event.host,
            detail=tuple(output[-OUTPUT_LINES:]),
            hidden=max(0, len(output) - OUTPUT_LINES),
            inline=f"  {output[-1][:INLINE_OUTPUT]}" if output else "",
        )
    ]


def _findings(event: FindingsReported, words: Words) -> list[EventLine]:
    return [
        EventLine(
            event.host,
            f"finding ({event.phase}) [{f.severity}] {f.kind}: {f.message}",
            "error" if f.severity is Severity.BLOCK else "warn",
            event.host,
            detail=tuple(f.evidence.strip().splitlines()[:EVIDENCE_LINES]),
        )
        for f in event.findings
    ]


def _budget(event: BudgetHeld, words: Words) -> list[EventLine]:
    text = f"{event.budget}: {len(event.holders)}/{event.limit} held by {', '.join(event.holders)}"
    return [EventLine("BUDGET", text, "warn", headed=True)]


def _window(event: WindowWait, words: Words) -> list[EventLine]:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.until)) if event.until else "never"
    return [EventLine("WINDOW", f"waiting: {event.reason}; next window opens {when}", "warn", headed=True)]


def _operator(event: OperatorAction, words: Words) -> list[EventLine]:
    target = f" {event.host}" if event.host else ""
    why = f" — {event.why}" if event.why else ""
    text = f"{event.who}: {event.action}{target}{why}"
    return [EventLine("OPERATOR", text, "warn", event.host, headed=True)]


def _log(event: LogLine, words: Words) -> list[EventLine]:
    level = event.level if event.level in ("warn", "error") else "info"
    text = words.log_level(event.level) + event.message
    return [EventLine(event.host or "-", text, level, event.host)]


def _finished(event: RollFinished, words: Words) -> list[EventLine]:
    state = event.state.value.upper()
    rebooted, failed = len(event.rebooted), len(event.failed)
    skipped, untouched = len(event.skipped), len(event.untouched)
    late = f" ({len(event.late)} late)" if event.late else ""
    level = "ok" if event.state is RollState.COMPLETE else "warn"
    # a failed host the operator skipped is counted once, as failed, and named as skipped there
    skipped_too = event.extra.get("failed_skipped") or ()
    also = f" ({len(skipped_too)} skipped by the operator)" if skipped_too else ""
    if not words.finish_in_full:
        text = f"{state}: {rebooted} rebooted{late}, {failed} failed{also}, {skipped} skipped, {untouched} untouched"
        return [EventLine("FINISHED", text, level, headed=True)]
    which = f" {list(event.failed)}{also}" if event.failed else ""
    why = f"  — {event.reason}" if event.reason else ""
    text = (
        f"{state} in {words.duration(event.duration)}: {rebooted} rebooted{late}, {failed} failed{which}, "
        f"{skipped} skipped, {untouched} untouched{why}"
    )
    return [EventLine("FINISHED", text, level, headed=True)]


_SAYERS: dict[type[Event], Callable[[Any, Words], list[EventLine]]] = {
    HostStateChanged: _host_state,
    RollStateChanged: _roll_state,
    SliceStarted: _slice_started,
    SliceFinished: _slice_finished,
    CheckRan: _check,
    FindingsReported: _findings,
    BudgetHeld: _budget,
    WindowWait: _window,
    OperatorAction: _operator,
    LogLine: _log,
    RollFinished: _finished,
}


def event_lines(event: Event, words: Words = PLAIN) -> list[EventLine]:
    """The lines ``event`` deserves, in ``words`` (none for an event not worth a line)."""
    say = _SAYERS.get(type(event))
    return say(event, words) if say is not None else []
