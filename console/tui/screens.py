"""Dialogs and full screens: confirmations, the abort dialog, the acknowledgement after an automatic pause,
the host detail and the help screen."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from console.engine.facade import Engine, HostRun
from console.model.budgets import Budgets, plan
from console.model.durations import format_duration
from console.model.events import HostState
from console.model.findings import Finding, Severity
from console.remote.facts import Facts, UnitState
from console.tui.keybar import KeyBar
from console.tui.marks import SEVERITY_GLYPH, severity_label, severity_style
from console.tui.themes import ConsoleTheme
from console.tui.vocab import HOST_GLYPHS, HOST_MEANING, HOST_ORDER, ROLL_GLYPHS, Clock, ellipsize

# ----------------------------------------------------------------------------------------------------
# Plan


def slice_hosts(hosts: tuple[str, ...], first_group: dict[str, str]) -> str:
    """A slice's hosts in a line: all of them when few, else the first and last few and the count by group."""
    if len(hosts) <= 6:
        return ", ".join(hosts)
    by_group: dict[str, int] = {}
    for h in hosts:
        by_group[first_group.get(h, "-")] = by_group.get(first_group.get(h, "-"), 0) + 1
    groups = ", ".join(f"{g} {n}" for g, n in by_group.items())
    return f"{', '.join(hosts[:3])} … {hosts[-1]} ({groups})"


def plan_text(engine: Engine, theme: ConsoleTheme, *, limit: int | None = None, reasons: bool = True) -> Text:
    """The slices the roll will run, why in this order, and the budgets."""
    inv = engine.inventory
    slices, why = plan(inv)
    budgets = Budgets.for_inventory(inv)
    dim = Style(color=theme.grid["dim"])
    out = Text()
    out.append(f"Plan for {inv.name}: ", Style(bold=True))
    out.append(f"{len(inv.hosts)} hosts in {len(slices)} slices", Style(bold=True))
    out.append(f" — {why}; canaries first.\n", dim)
    width = len(str(len(slices)))
    shown = slices if limit is None else slices[:limit]
    tags = ["canary" if s.canary else f"{len(s.hosts)} host(s)" for s in shown]
    tag_width = max((len(t) for t in tags), default=6) + 2
    first_group = {h.name: (h.groups[0] if h.groups else "-") for h in inv.hosts}
    for s, tag in zip(shown, tags, strict=True):
        out.append(f"  {s.index + 1:>{width}}. ", Style(bold=True))
        out.append(f"{tag:<{tag_width}}", Style(bold=s.canary))
        out.append(slice_hosts(s.hosts, first_group))
        out.append(f"   ↳ {s.reason}\n" if reasons else "\n", dim)
    if limit is not None and len(slices) > limit:
        out.append(f"  … and {len(slices) - limit} more slices (the full plan is on the main screen)\n", dim)
    limits = ", ".join(f"{g} {n}" for g, n in budgets.per_group.items())
    fleet = f", fleet {budgets.fleet}" if budgets.fleet else ""
    pol = inv.policy
    out.append(f"At most unavailable at once: {limits}{fleet}. ", dim)
    out.append(
        f"Each slice starts when the one before is done and baked ({format_duration(pol.bake)} bake); "
        "the first problem pauses the roll.",
        dim,
    )
    out.rstrip()
    return out


# ----------------------------------------------------------------------------------------------------
# Dialogs


class _Question(ModalScreen[bool]):
    """A dialog that answers y / n / escape and says so when another key is pressed."""

    def hint_text(self, key: str) -> str:
        return f"'{key}' does nothing here: y answers yes, n or esc answers no."

    def on_key(self, event: events.Key) -> None:
        if event.key in ("y", "n", "escape") or event.key.startswith("ctrl+"):
            return
        event.stop()
        for hint in self.query(".dialog-hint"):
            assert isinstance(hint, Static)
            hint.update(self.hint_text(event.key))

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class Confirm(_Question):
    """A yes/no question: y answers yes; n or escape answers no; other keys only say so."""

    BINDINGS = [
        Binding("y", "answer(True)", "yes"),
        Binding("n,escape", "answer(False)", "no"),
    ]

    def __init__(self, title: str, body: RenderableType, *, yes: str = "yes", no: str = "no") -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.body = body
        self.yes = yes
        self.no = no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Static(self.title_text, classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(self.body)
            yield Static("", classes="dialog-hint")
            yield Static(f"[b]y[/b] {self.yes}    [b]n[/b] / [b]esc[/b] {self.no}", classes="dialog-keys")


class AbortDialog(_Question):
    """Abort the roll? Only an explicit ``y`` aborts; n / escape close the dialog; other keys do nothing."""

    BINDINGS = [
        Binding("y", "answer(True)", "abort the roll"),
        Binding("n,escape", "answer(False)", "keep the roll"),
    ]

    def __init__(self, in_flight: int) -> None:
        super().__init__(classes="dialog danger")
        self.in_flight = in_flight

    def compose(self) -> ComposeResult:
        flight = (
            f"The {self.in_flight} host(s) in flight are followed to the end of their cycle."
            if self.in_flight
            else "No host is in flight."
        )
        body = (
            "Aborting is final: no new reboot is issued, ever, in this roll, and it cannot be resumed. "
            f"{flight}\n\nTo stop for now and continue later, press n and then p (pause) instead."
        )
        with Vertical(classes="dialog-box"):
            yield Static("✖ Abort the roll?", classes="dialog-title")
            yield Static(body, classes="dialog-text")
            yield Static("", id="abort-hint", classes="dialog-hint")
            yield Static("[b]y[/b] abort the roll    [b]n[/b] / [b]esc[/b] keep it", classes="dialog-keys")

    def hint_text(self, key: str) -> str:
        return f"'{key}' does nothing here: only y aborts; n or esc keeps the roll."


class Acknowledge(_Question):
    """After an automatic pause: the reason, the problem hosts, and an explicit acknowledgement."""

    BINDINGS = [
        Binding("y", "answer(True)", "acknowledge and resume"),
        Binding("n,escape", "answer(False)", "stay paused"),
    ]

    def __init__(self, engine: Engine, theme: ConsoleTheme) -> None:
        super().__init__(classes="dialog warning")
        self.engine = engine
        self.console_theme = theme

    def compose(self) -> ComposeResult:
        engine = self.engine
        body = Text()
        body.append("The roll paused by itself:\n", Style(bold=True))
        body.append(f"  {engine.reason}\n\n")
        problems = [r for r in engine.hosts.values() if r.state.problem]
        if problems:
            body.append("Hosts with problems (each keeps its budget slot until it is healthy again):\n")
            for r in problems[:12]:
                body.append(f"  {HOST_GLYPHS[r.state]} {r.name} ", self.console_theme.state_style(r.state))
                body.append(f" {r.state.value}", Style(bold=True))
                body.append(f" — {ellipsize(r.reason, 160)}\n")
            if len(problems) > 12:
                body.append(f"  … and {len(problems) - 12} more\n")
            body.append("\n")
        body.append(
            "Resuming starts new reboots again. Look at the host first (esc, then enter on it) if you have not."
        )
        with Vertical(classes="dialog-box"):
            yield Static("‖ Acknowledge the automatic pause", classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(body)
            yield Static("", classes="dialog-hint")
            yield Static(
                "[b]y[/b] I have read this: resume    [b]n[/b] / [b]esc[/b] stay paused",
                classes="dialog-keys",
            )


# ----------------------------------------------------------------------------------------------------
# Host detail


def _facts_table(before: Facts | None, after: Facts | None, dim: Style) -> Table:
    table = Table(box=None, show_header=True, header_style=Style(bold=True), pad_edge=False, expand=False)
    table.add_column("fact", style=dim, no_wrap=True)
    table.add_column("before the reboot", overflow="fold")
    table.add_column("after the reboot", overflow="fold")

    def row(label: str, get: object) -> None:
        def show(f: Facts | None) -> str:
            if f is None:
                return "–"
            value = get(f)  # type: ignore[operator]
            if value is None:
                return "unknown"
            if isinstance(value, bool):
                return "yes" if value else "no"
            if isinstance(value, (tuple, list, frozenset, set)):
                return ", ".join(sorted(str(v) for v in value)) or "none"
            return str(value)

        table.add_row(label, show(before), show(after))

    row("boot id", lambda f: f.boot_id)
    row("uptime", lambda f: format_duration(f.uptime_seconds) if f.uptime_seconds is not None else None)
    row("kernel running", lambda f: f.kernel_running)
    row("newest kernel", lambda f: f.kernel_newest)
    row("live patches", lambda f: f.livepatches)
    row("tainted", lambda f: f.tainted)
    row("reboot required", lambda f: f.reboot_required)
    row("system state", lambda f: f.system_state)
    row(
        "units active",
        lambda f: None if f.units is None else sum(1 for u in f.units.values() if u.is_active),
    )
    row(
        "units failed",
        lambda f: None if f.units is None else tuple(n for n, u in f.units.items() if u.active == "failed"),
    )
    row("read errors", lambda f: f.errors)
    return table


@dataclass(frozen=True)
class Change:
    """One line of the before/after diff: ``− lost legacy-agent.service  was active (running) → not loaded``."""

    mark: str  # glyph and word: "✘ failed", "− lost", "+ new", "~ file", "~ kernel" …
    subject: str
    detail: str = ""
    tone: str = ""  # "error", "warning" or "" (the theme's colour; the mark says it without colour)
    unit: bool = True


DIFF_LIMIT = 60  # unit lines shown; the rest are counted


def _unit_words(u: UnitState | None) -> str:
    if u is None:
        return "not loaded"
    return f"{u.active} ({u.sub})"


def facts_diff(before: Facts, after: Facts) -> tuple[list[Change], int]:
    """What changed between the facts before and after the reboot, most telling first: units that failed,
    units lost, unit-file states that changed, units newly active; the kernel and live patches. Units
    that did not change are left out. Returns the changes and how many unit lines were left out."""
    out: list[Change] = []
    kb, ka = before.kernel_running, after.kernel_running
    if kb and ka and kb != ka:
        out.append(Change("~ kernel", f"{kb} → {ka}", unit=False))
    elif kb and ka and before.kernel_pending:
        out.append(
            Change(
                "= kernel",
                f"{kb} → {ka}",
                f"the same again, although {before.kernel_newest} was installed",
                "error",
                unit=False,
            )
        )
    if before.live_patched and not after.live_patched:
        patches = ", ".join(before.livepatches or ()) or "taint flag K"
        out.append(Change("− patches", f"live patches {patches} → none", "gone with the reboot", unit=False))
    if before.system_state and after.system_state and before.system_state != after.system_state:
        bad = after.system_state in ("degraded", "maintenance")
        out.append(
            Change(
                "~ system",
                f"is-system-running {before.system_state} → {after.system_state}",
                "",
                "error" if bad else "",
                unit=False,
            )
        )
    units: list[Change] = []
    failed: list[Change] = []
    lost: list[Change] = []
    files: list[Change] = []
    new: list[Change] = []
    if before.units is not None and after.units is not None:
        bu, au = before.units, after.units
        for name in sorted(set(bu) | set(au)):
            b, a = bu.get(name), au.get(name)
            if a is not None and a.is_failed and not (b is not None and b.is_failed):
                was = f" (was {_unit_words(b)})" if b is not None else ""
                failed.append(Change("✘ failed", name, f"Result={a.result or 'unknown'}{was}", "error"))
            elif b is not None and b.is_active and not (a is not None and a.is_active):
                lost.append(Change("− lost", name, f"{_unit_words(b)} → {_unit_words(a)}", "warning"))
            elif a is not None and a.is_active and not (b is not None and b.is_active):
                new.append(Change("+ new", name, f"{_unit_words(b)} → {_unit_words(a)}", ""))
            fb, fa = before.unit_file_state_of(name), after.unit_file_state_of(name)
            if fb and fa and fb != fa:
                files.append(Change("~ file", name, f"unit file {fb} → {fa}", ""))
        units = failed + lost + files + new
    return out + units[:DIFF_LIMIT], max(0, len(units) - DIFF_LIMIT)


def diff_lines(before: Facts, after: Facts, findings: list[Finding], theme: ConsoleTheme) -> list[Text]:
    """The before/after diff as lines; a unit named by a finding says which (``← ■ BLOCK lost-unit``)."""
    dim = Style(color=theme.grid["dim"])
    # A unit named by findings both before and after the reboot: the regression (after) says more.
    named = {
        f.subject: f for f in sorted(findings, key=lambda f: (f.phase == "after", f.severity == "block"))
    }
    changes, hidden = facts_diff(before, after)
    if not changes:
        known = before.units is not None and after.units is not None
        return [Text("  no unit, kernel or live-patch change" if known else "  units unknown", dim)]
    width = max((len(c.subject) for c in changes if c.unit), default=0)
    lines: list[Text] = []
    for c in changes:
        line = Text("  ")
        line.append(f"{c.mark:<10}", Style(bold=True, color=theme.ui.get(c.tone) if c.tone else None))
        line.append(f"{c.subject:<{width}}" if c.unit else c.subject, Style(bold=True))
        if c.detail:
            line.append(f"  {c.detail}")
        finding = named.get(c.subject)
        if finding is not None:
            line.append("  ← ", dim)
            line.append(severity_label(finding.severity), severity_style(finding.severity, theme))
            line.append(f" {finding.kind}", dim)
        lines.append(line)
    if hidden:
        lines.append(Text(f"  … and {hidden} more unit changes", dim))
    return lines


def host_detail(run: HostRun, engine: Engine, theme: ConsoleTheme, clock: Clock) -> RenderableType:
    dim = Style(color=theme.grid["dim"])
    bold = Style(bold=True)
    parts: list[RenderableType] = []
    head = Text()
    head.append(f" {HOST_GLYPHS[run.state]} {run.name} ", theme.state_style(run.state) + bold)
    head.append(f"  {run.state.value.upper()}", bold)
    if run.skipped:
        head.append("  (skipped by the operator)", bold)
    if run.canary:
        head.append("  canary", dim)
    head.append(f"\n{HOST_MEANING[run.state]}", dim)
    if run.reason:
        head.append(f"\nReason: {run.reason}")
    parts.append(head)

    info = Table.grid(padding=(0, 2))
    info.add_column(style=dim, no_wrap=True)
    info.add_column()
    host = run.host
    info.add_row("address", f"{host.address}:{host.port}")
    info.add_row("groups", ", ".join(host.groups) or "(none)")
    info.add_row("slice", str(run.slice_index + 1) if run.slice_index is not None else "not yet")
    info.add_row("boot id before", run.boot_id_before or "–")
    after = run.boot_id_after or "–"
    if run.boot_id_after and run.boot_id_before:
        after += "  (new boot ✔)" if run.boot_id_after != run.boot_id_before else "  (SAME boot ✘)"
    info.add_row("boot id after", after)
    info.add_row("rebooted", "yes" if run.rebooted else "no")
    info.add_row("downtime", format_duration(run.downtime))
    if run.state.problem:
        info.add_row("healthy again", "yes: its budget slot is free" if run.healthy_again else "not yet")
    parts.append(Text("\nHost", bold))
    parts.append(info)

    parts.append(Text("\nChecks", bold))
    if not run.checks:
        parts.append(Text("  none run yet", dim))
    for outcome in run.checks.values():
        line = Text("  ")
        line.append(
            "✔ pass" if outcome.ok else "✘ FAIL",
            Style(bold=True, color=theme.ui.get("success" if outcome.ok else "error")),
        )
        line.append(f"  {outcome.check}", bold)
        tries = f", {outcome.attempts} attempts" if outcome.attempts > 1 else ""
        status = f", exit {outcome.exit_status}" if outcome.exit_status is not None else ""
        line.append(f"  ({format_duration(outcome.duration)}{tries}{status})", dim)
        parts.append(line)
        output = outcome.output.strip()
        if output:
            lines = output.splitlines()
            body = Text("\n".join(f"    │ {ln}" for ln in lines[-40:]), dim if outcome.ok else "")
            parts.append(body)

    parts.append(Text("\nDrift findings", bold))
    if not run.findings:
        parts.append(Text("  none", dim))
    for phase, label in (
        ("before", "before the reboot (pre-flight)"),
        ("after", "after the reboot (regressions)"),
    ):
        found = [f for f in run.findings if f.phase == phase]
        if not found:
            continue
        parts.append(Text(f"  {label}:", dim))
        table = Table.grid(padding=(0, 1), pad_edge=False)
        table.add_column(width=3)
        table.add_column(no_wrap=True, min_width=7)  # "■ BLOCK": both phases' messages line up
        table.add_column()  # wraps under itself, not under the severity
        for f in found:
            body = Text()
            body.append(f"{f.kind} {f.subject}: ", bold)
            body.append(f.message)
            if f.evidence.strip():
                body.append("\n" + "\n".join(f"│ {ln}" for ln in f.evidence.strip().splitlines()[:20]), dim)
            table.add_row("", Text(severity_label(f.severity), severity_style(f.severity, theme)), body)
        parts.append(table)

    parts.append(Text("\nBefore → after the reboot", bold))
    if run.facts_before is None:
        parts.append(Text("  no facts from before the reboot", dim))
    elif run.facts_after is None:
        parts.append(Text("  not rebooted and checked yet: the changes show here once it is", dim))
    else:
        parts.extend(diff_lines(run.facts_before, run.facts_after, run.findings, theme))

    parts.append(Text("\nFacts", bold))
    if run.facts_before is None and run.facts_after is None:
        parts.append(Text("  not gathered yet", dim))
    else:
        parts.append(_facts_table(run.facts_before, run.facts_after, dim))

    parts.append(Text("\nTimeline", bold))
    if not run.timeline:
        parts.append(Text("  nothing yet", dim))
    first = run.timeline[0][0] if run.timeline else 0.0
    for at, state, note in run.timeline:
        line = Text("  ")
        line.append(clock.stamp(at), dim)
        line.append(f"  +{format_duration(at - first):>6}  ", dim)
        glyph = HOST_GLYPHS.get(HostState(state), "·") if state in HostState._value2member_map_ else "·"
        line.append(f"{glyph} {state}", bold)
        if note:
            line.append(f"  {note}")
        parts.append(line)
    return Group(*parts)


class HostDetail(Screen[None]):
    """Everything known about one host; updates live. esc / q goes back."""

    BINDINGS = [
        Binding("escape,q,backspace", "close", "back"),
    ]

    def __init__(self, engine: Engine, host: str, theme: ConsoleTheme, clock: Clock) -> None:
        super().__init__()
        self.engine = engine
        self.host = host
        self.console_theme = theme
        self.clock = clock
        self._signature: object = None

    def compose(self) -> ComposeResult:
        yield Static(f"Host {self.host}", id="detail-title")
        with VerticalScroll(id="detail-scroll"):
            yield Static(id="detail-body")
        yield KeyBar()

    def on_mount(self) -> None:
        self.update_detail(force=True)
        self.query_one("#detail-scroll").focus()

    def _sig(self) -> object:
        run = self.engine.hosts[self.host]
        return (
            run.state,
            run.skipped,
            run.reason,
            len(run.timeline),
            len(run.findings),
            tuple((c.check, c.ok, c.attempts, c.output) for c in run.checks.values()),
            run.facts_before is not None,
            run.facts_after is not None,
            run.healthy_again,
            self.console_theme.name,
        )

    def update_detail(self, *, force: bool = False) -> None:
        sig = self._sig()
        if not force and sig == self._signature:
            return
        self._signature = sig
        run = self.engine.hosts[self.host]
        self.query_one("#detail-body", Static).update(
            host_detail(run, self.engine, self.console_theme, self.clock)
        )
        self.query_one("#detail-title", Static).update(
            f"Host {self.host} — {HOST_GLYPHS[run.state]} {run.state.value}    (esc: back)"
        )

    def action_close(self) -> None:
        self.dismiss(None)


# ----------------------------------------------------------------------------------------------------
# Help


def help_text(keys: Iterable[tuple[str, str, str]], theme: ConsoleTheme) -> Text:
    dim = Style(color=theme.grid["dim"])
    out = Text()
    out.append("Keys\n", Style(bold=True))
    for key, what, when in keys:
        out.append(f"  {key:<12}", Style(bold=True))
        out.append(what)
        if when:
            out.append(f"  ({when})", dim)
        out.append("\n")
    out.append("\nHost states (glyph, word, meaning)\n", Style(bold=True))
    for state in HOST_ORDER:
        out.append("  ")
        out.append(f" {HOST_GLYPHS[state]} ", theme.state_style(state))
        out.append(f" {state.value:<20}", Style(bold=True))
        out.append(HOST_MEANING[state] + "\n", dim)
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
        out.append(meaning + "\n", dim)
    out.append("\nRoll states\n", Style(bold=True))
    from console.model.events import RollState

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
        out.append(f"  {meaning}\n", dim)
    out.append(
        "\nThe tile under the cursor is shown in [brackets]. Problem hosts are drawn filled in every theme.\n"
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
