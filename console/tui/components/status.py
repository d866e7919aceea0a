"""The text of the header, the banner, the counts line and the selection line (pure functions of the engine).

Everything here degrades by dropping the least important pieces first, so the roll state, its word and
"SIMULATED" survive even at 80 columns.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from operator import attrgetter

from rich.style import Style
from rich.text import Text

from console.engine.facade import Engine
from console.engine.hostrun import HostRun
from console.model.events import IN_FLIGHT, HostState, RollState
from console.tui.components.maintenance import window_status
from console.tui.components.themes import ConsoleTheme
from console.tui.components.vocab import (
    HOST_GLYPHS,
    HOST_ORDER,
    ROLL_GLYPHS,
    Clock,
    clock_duration,
    ellipsize,
    short_duration,
)


@dataclass
class Piece:
    text: str
    priority: int  # higher survives longer
    style: Style | str = ""
    parts: list[tuple[str, Style | str]] | None = None  # differently styled runs making up ``text``


def pack(pieces: list[Piece], width: int, sep: str = "  ", sep_style: Style | str = "") -> Text:
    """Join pieces on one line, dropping the lowest priority ones until it fits ``width``."""
    keep = list(pieces)

    def length(items: list[Piece]) -> int:
        return sum(len(p.text) for p in items) + len(sep) * max(0, len(items) - 1)

    while keep and length(keep) > width:
        lowest = min(range(len(keep)), key=lambda i: (keep[i].priority, -i))
        if keep[lowest].priority >= 100:  # must-keep pieces are shortened instead
            break
        keep.pop(lowest)
    out = Text(no_wrap=True, overflow="ellipsis")
    for i, p in enumerate(keep):
        if i:
            out.append(sep, sep_style)
        if p.parts:
            for run, style in p.parts:
                out.append(run, style)
        else:
            out.append(p.text, p.style)
    if out.cell_len > width:
        out.truncate(width, overflow="ellipsis")
    return out


def progress_bar(done: int, total: int, width: int) -> str:
    width = max(4, width)
    filled = 0 if total == 0 else round(width * done / total)
    return "█" * filled + "░" * (width - filled)


class Tally:
    """What the header, the banner and the counts line need from every host, taken once per refresh.

    Each of them used to walk the fleet on its own (done count, budgets, hosts in flight, counts by
    state): five passes, 15 ms of every status refresh with 10,000 hosts changing state at random; this
    takes 7. The budgets are the engine's own count (which asks only hosts in a state that can hold a
    slot); the hosts in flight are listed only when asked for (the banner names them only while pausing
    or aborting).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        runs = engine.hosts.values()
        self.counts: dict[HostState, int] = Counter(map(_STATE, runs))
        self.budgets = engine.budget_usage()
        self._flying: list[HostRun] | None = None

    @property
    def done(self) -> int:
        return self.counts.get(HostState.DONE, 0)

    @property
    def flying(self) -> list[HostRun]:
        """As ``engine.waiting_on()``: the hosts the roll still follows to the end of their cycle."""
        if self._flying is None:
            busy = any(self.counts.get(state) for state in IN_FLIGHT)
            self._flying = self.engine.waiting_on() if busy else []
        return self._flying


_STATE = attrgetter("state")


def header_lines(
    engine: Engine,
    theme: ConsoleTheme,
    clock: Clock,
    width: int,
    *,
    planned_slices: int,
    simulated: bool,
    speed: float,
    quitting: bool = False,
    tally: Tally | None = None,
) -> list[Text]:
    """The roll's state, name, slice, time and window on the first line; progress and budgets below."""
    first = _state_line(engine, theme, clock, width, planned_slices, simulated, speed, quitting)
    return [first, *_progress_lines(engine, theme, width, tally or Tally(engine))]


def _state_line(
    engine: Engine,
    theme: ConsoleTheme,
    clock: Clock,
    width: int,
    planned_slices: int,
    simulated: bool,
    speed: float,
    quitting: bool,
) -> Text:
    state = engine.state
    dim = Style(color=theme.grid["dim"])
    badge = Piece(f" {ROLL_GLYPHS[state]} {state.value.upper()} ", 100, theme.roll_style(state))
    pieces = [badge]
    if state is RollState.COMPLETE:  # a finished roll with a problem must not look clean
        left = [
            f"{len(names)} {key}" for key, names in engine.outcome().items() if key != "rebooted" and names
        ]
        if left:
            pieces.append(Piece("— " + ", ".join(left), 100, Style(bold=True, color=theme.ui.get("warning"))))
    if quitting:
        pieces.append(Piece("QUITTING", 99, Style(bold=True, reverse=True)))
    pieces.append(Piece(engine.inventory.name, 60, Style(bold=True)))
    total_slices = max(planned_slices, engine.slice_index + 1)
    if engine.slice_index >= 0:
        pieces.append(Piece(f"slice {engine.slice_index + 1}/{total_slices}", 70))
    else:
        pieces.append(Piece(f"{total_slices} slices planned", 40, dim))
    if engine.started_at is not None:
        until = engine.finished_at if state.final else None
        pieces.append(Piece(f"elapsed {clock.elapsed(engine.started_at, until)}", 50))
        if state is RollState.RUNNING:
            eta = engine.eta()
            pieces.append(Piece(f"ETA {clock_duration(eta) if eta is not None else '–'}", 45))
        elif not state.final:
            pieces.append(Piece("ETA – (not running)", 45, dim))
    window = window_status(engine, clock)
    if window is not None:  # when no reboot may start, that matters more than the roll's name or slice
        warn = Style(bold=True, color=theme.ui.get("warning"))
        text = window.header if width >= 130 else window.short
        pieces.append(Piece(text, 65 if window.open else 80, "" if window.open else warn))
    if simulated:
        sim_style = Style(bold=True, color=theme.ui["background"], bgcolor=theme.ui.get("accent"))
        pieces.append(Piece(f" SIMULATED ×{speed:g} ", 95, sim_style))
    return pack(pieces, width)


def _progress_lines(engine: Engine, theme: ConsoleTheme, width: int, tally: Tally) -> list[Text]:
    dim = Style(color=theme.grid["dim"])
    total = len(engine.hosts)
    done = tally.done
    counts = f"{done}/{total} done"
    budgets = tally.budgets
    budget_text = Text("budget ", dim)
    for i, (name, used, limit) in enumerate(budgets):
        if i:
            budget_text.append(" · ", dim)
        full = used >= limit
        budget_text.append(
            f"{name} {used}/{limit}", Style(bold=full, color=theme.ui.get("warning")) if full else ""
        )
        if full:
            budget_text.append(" full", Style(bold=True, color=theme.ui.get("warning")))
    pct = f"{(100 * done // total) if total else 0:>3}%"
    fixed = len(counts) + 2 + 2 + len(pct) + 2
    bar_room = width - fixed - budget_text.cell_len - 2
    lines: list[Text] = []
    if bar_room >= 10:
        bar = progress_bar(done, total, min(40, bar_room))
        line2 = Text(no_wrap=True)
        line2.append(counts, Style(bold=True))
        line2.append("  ")
        line2.append(
            bar,
            Style(
                color=theme.states[HostState.DONE].fg
                if theme.states[HostState.DONE].bg is None
                else theme.ui["primary"]
            ),
        )
        line2.append(f" {pct}  ")
        line2.append_text(budget_text)
        lines.append(line2)
    else:
        bar = progress_bar(done, total, max(10, min(40, width - fixed)))
        line2 = Text(no_wrap=True)
        line2.append(counts, Style(bold=True))
        line2.append("  ")
        line2.append(bar, Style(color=theme.ui["primary"]))
        line2.append(f" {pct}")
        lines.append(line2)
        budget_text.truncate(width, overflow="ellipsis")
        lines.append(budget_text)
    return lines


def banner_text(
    engine: Engine,
    *,
    planned_slices: int,
    quitting: bool,
    width: int = 160,
    tally: Tally | None = None,
    clock: Clock | None = None,
) -> str:
    """One sentence (or two) about what is happening now and what the operator can do.

    The reason (which can be a paragraph: a host key warning, a check's output) is shortened so the whole
    banner fits in about four lines at ``width``; the full text is in the log and the host detail.
    """
    room = max(60, 2 * width)

    def short(text: str) -> str:
        return ellipsize(" ".join(text.split()), room)

    state = engine.state
    glyph = ROLL_GLYPHS[state]
    tally = tally or Tally(engine)

    def finishing() -> str:  # only while pausing or aborting: listing the hosts in flight takes a pass
        flying = tally.flying
        names = ", ".join(f"{r.name} ({r.state.value})" for r in flying[:6])
        if len(flying) > 6:
            names += f", +{len(flying) - 6} more"
        return f"{len(flying)} in flight finishing: {names or 'none'}"

    word = state.value.upper()
    window = window_status(engine, clock or Clock())
    if state is RollState.READY:
        closed = f" {window.sentence}" if window is not None and not window.open else ""
        return (
            f"{glyph} {word} — nothing has been touched yet. Below is the plan: {len(engine.hosts)} hosts in "
            f"{planned_slices} slices. Press g to start (you confirm first), ? for every key.{closed}"
        )
    if state is RollState.RUNNING:
        if window is not None and window.waiting:
            return f"{glyph} {word} — waiting. {window.sentence} p pauses, a aborts."
        if engine.waiting_for:
            return f"{glyph} {word} — waiting: {engine.waiting_for}. p pauses, a aborts."
        current = ", ".join(engine.current_slice[:8]) + (" …" if len(engine.current_slice) > 8 else "")
        text = f"{glyph} {word} — slice {engine.slice_index + 1}: {current or 'forming'}."
        return text + " p pauses (no new reboots), a aborts."
    if state is RollState.PAUSING:
        why = f" Reason: {short(engine.reason)}." if engine.reason else ""
        auto = " by itself" if engine.auto_paused else ""
        tail = " Then the console quits." if quitting else ""
        return f"{glyph} {word}{auto} — no new reboots; {finishing()}.{why}{tail}"
    if state is RollState.PAUSED:
        if engine.auto_paused:
            host = (
                f" Enter on {engine.reason_host} shows its checks and findings." if engine.reason_host else ""
            )
            host += problem_hosts(engine)
            return (
                f"{glyph} {word} BY ITSELF — {short(engine.reason)}. No host is being rebooted.{host}"
                " r reviews the reason and resumes; a aborts."
            )
        return (
            f"{glyph} {word} — {engine.reason or 'paused'}. No host is being rebooted. r resumes, a aborts."
        )
    if state is RollState.ABORTING:
        return f"{glyph} {word} — no new reboots; {finishing()}. The roll will not continue."
    if state is RollState.ABORTED:
        return (
            f"{glyph} {word} — {short(engine.reason or 'aborted')}. Nothing more will be rebooted. q quits."
        )
    problems = engine.problems()
    done = tally.done
    extra = f", {len(problems)} with problems: " + ", ".join(r.name for r in problems[:6]) if problems else ""
    return f"{glyph} {word} — {done} of {len(engine.hosts)} hosts rebooted{extra}. q quits."


def problem_hosts(engine: Engine, most: int = 5) -> str:
    """Every problem host by name (or the first and how many more), and the key that goes to each."""
    names = [r.name for r in engine.problems()]
    if not names:
        return ""
    if len(names) == 1:
        return f" Problem host: {names[0]} (n goes there)."
    if len(names) <= most:
        listed = ", ".join(names[:-1]) + f" and {names[-1]}"
    else:
        listed = f"{names[0]} and {len(names) - 1} more"
    return f" Problem hosts: {listed}: n / N cycle through them."


def counts_line(
    engine: Engine, theme: ConsoleTheme, width: int, right: str = "", tally: Tally | None = None
) -> Text:
    counts = (tally or Tally(engine)).counts
    dim = Style(color=theme.grid["dim"])
    pieces: list[Piece] = []
    for state in HOST_ORDER:
        n = counts.get(state, 0)
        if n:
            late = len(engine.late) if state is HostState.DONE else 0
            word = f" {n} {state.value}" + (f" ({late} late)" if late else "")
            if state.problem:  # a problem host the operator skipped: counted here, and said so
                skipped = sum(1 for r in engine.problems() if r.state is state and r.skipped)
                word += f" ({skipped} skipped)" if skipped else ""
            pieces.append(
                Piece(
                    HOST_GLYPHS[state] + word,
                    50 + (30 if state.problem else 0),
                    parts=[(HOST_GLYPHS[state], theme.state_style(state)), (word, "")],
                )
            )
    right_len = len(right) + 2 if right else 0
    text = pack(pieces, max(10, width - right_len))
    if right:
        pad = max(2, width - text.cell_len - len(right))
        text.append(" " * pad)
        text.append(right, dim)
    return text


def wait_clock(run: HostRun, now: float) -> str:
    """While a host is rebooting, down or booting: how long, and how long until its reboot_timeout (the
    engine's own deadline, ``HostRun.timeout_left``), e.g. ``down 0:12 · timeout in 4:48``."""
    left = run.timeout_left(now)
    if left is None:
        return ""
    since = run.down_at if run.state is HostState.DOWN and run.down_at is not None else run.reboot_sent_at
    took = f"{run.state.value} {clock_duration(now - since)} · " if since is not None else ""
    return took + (f"timeout in {clock_duration(left)}" if left > 0 else "timeout now")


def selection_line(engine: Engine, theme: ConsoleTheme, host: str | None, width: int, clock: Clock) -> Text:
    dim = Style(color=theme.grid["dim"])
    if host is None:
        return Text("no host selected (the filter hides every host: / to change it)", dim)
    run = engine.hosts[host]
    state = run.state
    out = Text(no_wrap=True, overflow="ellipsis")
    out.append(f"[{HOST_GLYPHS[state]} {host}]", theme.state_style(state))
    out.append(f" {state.value}", Style(bold=True))
    if run.skipped and state is not HostState.SKIPPED:
        out.append(" (skipped)", Style(bold=True))
    if run.canary:
        out.append(" canary", dim)
    if run.reason:
        out.append(" — " + ellipsize(run.reason, 120))
    waiting = wait_clock(run, clock.now())
    if waiting:
        out.append("  · " + waiting, Style(bold=True))
    details: list[str] = []
    if run.host.groups:
        details.append("/".join(run.host.groups))
    if run.slice_index is not None:
        details.append(f"slice {run.slice_index + 1}")
    if run.downtime is not None:
        details.append(f"down {short_duration(run.downtime)}")
    if run.checks:
        bad = sum(1 for c in run.checks.values() if not c.ok)
        phases = "/".join(sorted(set(run.check_phase.values())))  # a passing pre-check is not a healthy host
        when = f" ({phases})" if phases else ""
        details.append(
            (f"✘ {bad} of {len(run.checks)}" if bad else f"✔ {len(run.checks)}") + f" checks{when}"
        )
    if run.findings:
        details.append(f"{len(run.findings)} finding(s)")
    hints = []
    if engine.can_retry(host):
        hints.append("x retries")
    hints.append("enter: detail")
    if details:
        out.append("  · " + " · ".join(details), dim)
    out.append("  · " + " · ".join(hints), dim)
    out.truncate(width, overflow="ellipsis")
    return out
