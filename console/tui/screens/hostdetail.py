"""The host detail: everything known about one host (facts, boot ids, checks, findings, the before/after
diff, its timeline); it updates live."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from console.engine.facade import Engine
from console.engine.hostrun import HostRun
from console.model.durations import format_duration
from console.model.events import HostState
from console.remote.facts import Facts
from console.tui.components.factsdiff import diff_lines
from console.tui.components.keybar import KeyBar
from console.tui.components.marks import severity_label, severity_style
from console.tui.components.status import wait_clock
from console.tui.components.themes import ConsoleTheme
from console.tui.components.vocab import HOST_GLYPHS, HOST_MEANING, Clock


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


BOLD = Style(bold=True)


def _meaning(run: HostRun) -> str:
    """What the state means for this host; for a problem host, whether it holds its slot is the engine's
    answer (``holds_slot``), never restated: it is freed once the host is healthy again."""
    meaning = HOST_MEANING[run.state]
    if not run.state.problem:
        return meaning
    what = meaning.split(":")[0]
    if run.holds_slot:
        return f"{what}: it holds its budget slot until it is healthy again"
    return f"{what}; healthy again since: its budget slot is released"


# When each check ran (its latest outcome is shown): the phase is always named, so a pre-check that passed
# is never read as a host that came back healthy.
CHECK_PHASES = {
    "pre": "pre · before the reboot",
    "post": "post · after the reboot",
    "bake": "bake · during the bake",
    "retry": "retry · after the reboot, on retry",
}


def _head(run: HostRun, theme: ConsoleTheme, dim: Style) -> list[RenderableType]:
    head = Text()
    head.append(f" {HOST_GLYPHS[run.state]} {run.name} ", theme.state_style(run.state) + BOLD)
    head.append(f"  {run.state.value.upper()}", BOLD)
    if run.skipped:
        head.append("  (skipped by the operator)", BOLD)
    if run.canary:
        head.append("  canary", dim)
    head.append(f"\n{_meaning(run)}", dim)
    if run.reason:
        head.append(f"\nReason: {run.reason}")
    return [head]


def _host(run: HostRun, dim: Style, clock: Clock) -> list[RenderableType]:
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
    waiting = wait_clock(run, clock.now())
    if waiting:
        info.add_row("now", waiting)
    if run.state.problem:
        info.add_row(
            "healthy again",
            "not yet: it holds its budget slot" if run.holds_slot else "yes: its budget slot is released",
        )
    return [Text("\nHost", BOLD), info]


def _checks(run: HostRun, theme: ConsoleTheme, dim: Style) -> list[RenderableType]:
    parts: list[RenderableType] = [Text("\nChecks", BOLD)]
    if not run.checks:
        parts.append(Text("  none run yet", dim))
    elif run.reboot_issued and set(run.check_phase.values()) <= {"pre"}:
        parts.append(Text("  no check has run since its reboot: these are from before it", BOLD))
    for outcome in run.checks.values():
        line = Text("  ")
        line.append(
            "✔ pass" if outcome.ok else "✘ FAIL",
            Style(bold=True, color=theme.ui.get("success" if outcome.ok else "error")),
        )
        phase = run.check_phase.get(outcome.check, "")
        line.append(f"  {CHECK_PHASES.get(phase, phase or '?'):<26}", dim)
        line.append(f"  {outcome.check}", BOLD)
        tries = f", {outcome.attempts} attempts" if outcome.attempts > 1 else ""
        status = f", exit {outcome.exit_status}" if outcome.exit_status is not None else ""
        line.append(f"  ({format_duration(outcome.duration)}{tries}{status})", dim)
        parts.append(line)
        output = outcome.output.strip()
        if output:
            lines = output.splitlines()
            body = Text("\n".join(f"    │ {ln}" for ln in lines[-40:]), dim if outcome.ok else "")
            parts.append(body)
    return parts


def _findings(run: HostRun, theme: ConsoleTheme, dim: Style) -> list[RenderableType]:
    parts: list[RenderableType] = [Text("\nDrift findings", BOLD)]
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
            body.append(f"{f.kind} {f.subject}: ", BOLD)
            body.append(f.message)
            if f.evidence.strip():
                body.append("\n" + "\n".join(f"│ {ln}" for ln in f.evidence.strip().splitlines()[:20]), dim)
            table.add_row("", Text(severity_label(f.severity), severity_style(f.severity, theme)), body)
        parts.append(table)
    return parts


def _facts(run: HostRun, theme: ConsoleTheme, dim: Style) -> list[RenderableType]:
    """What changed over the reboot, then every fact before and after."""
    parts: list[RenderableType] = [Text("\nBefore → after the reboot", BOLD)]
    if run.facts_before is None:
        parts.append(Text("  no facts from before the reboot", dim))
    elif run.facts_after is None:
        parts.append(Text("  not rebooted and checked yet: the changes show here once it is", dim))
    else:
        parts.extend(diff_lines(run.facts_before, run.facts_after, run.findings, theme))
    parts.append(Text("\nFacts", BOLD))
    if run.facts_before is None and run.facts_after is None:
        parts.append(Text("  not gathered yet", dim))
    else:
        parts.append(_facts_table(run.facts_before, run.facts_after, dim))
    return parts


def _timeline(run: HostRun, clock: Clock, dim: Style) -> list[RenderableType]:
    parts: list[RenderableType] = [Text("\nTimeline", BOLD)]
    if not run.timeline:
        parts.append(Text("  nothing yet", dim))
    first = run.timeline[0][0] if run.timeline else 0.0
    for at, state, note in run.timeline:
        line = Text("  ")
        line.append(clock.stamp(at), dim)
        line.append(f"  +{format_duration(at - first):>6}  ", dim)
        glyph = HOST_GLYPHS.get(HostState(state), "·") if state in HostState._value2member_map_ else "·"
        line.append(f"{glyph} {state}", BOLD)
        if note:
            line.append(f"  {note}")
        parts.append(line)
    return parts


def host_detail(run: HostRun, theme: ConsoleTheme, clock: Clock) -> RenderableType:
    """Everything known about one host, section by section."""
    dim = Style(color=theme.grid["dim"])
    return Group(
        *_head(run, theme, dim),
        *_host(run, dim, clock),
        *_checks(run, theme, dim),
        *_findings(run, theme, dim),
        *_facts(run, theme, dim),
        *_timeline(run, clock, dim),
    )


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
            wait_clock(run, self.clock.now()),  # the down / timeout clock runs: redrawn each second
            self.console_theme.name,
        )

    def update_detail(self, *, force: bool = False) -> None:
        sig = self._sig()
        if not force and sig == self._signature:
            return
        self._signature = sig
        run = self.engine.hosts[self.host]
        self.query_one("#detail-body", Static).update(host_detail(run, self.console_theme, self.clock))
        self.query_one("#detail-title", Static).update(
            f"Host {self.host} — {HOST_GLYPHS[run.state]} {run.state.value}    (esc: back)"
        )

    def action_close(self) -> None:
        self.dismiss(None)
