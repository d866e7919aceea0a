"""The drift audit view: every host's facts and pre-flight findings, before the roll starts.

``AuditRunner`` runs ``engine.audit()`` in the background (only while the roll is READY: nothing is
rebooted, one SSH round trip per host) and follows any audit the engine runs itself (``policy.order:
uptime | risk``); the engine keeps the result in ``engine.audit_results`` and the roll reuses it.

``AuditScreen`` lists the fleet by what was found: blocking hosts first, then unreachable ones, warnings,
hosts without findings. Once the roll has started it is read-only: the findings are the ones the roll
has gathered since (before and after each reboot). It is one line-API widget, however many hosts.
"""

from __future__ import annotations

import asyncio
import textwrap
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from console.drift.audit import FleetAudit
from console.engine.facade import Engine, HostRun
from console.model.durations import format_duration
from console.model.events import Event, FindingsReported, HostStateChanged, LogLine, RollState
from console.model.findings import Finding, Severity
from console.tui.components.keybar import KeyBar
from console.tui.components.marks import SEVERITY_GLYPH, severity_label, severity_style, tile_mark, worst
from console.tui.components.status import progress_bar
from console.tui.components.themes import ConsoleTheme
from console.tui.screens.hostdetail import HostDetail

if TYPE_CHECKING:
    from console.tui.app import SlowrollApp

Order = Literal["severity", "kind", "host"]
ORDERS: tuple[Order, ...] = ("severity", "kind", "host")
ORDER_WORDS: dict[Order, str] = {
    "severity": "blocking first",
    "kind": "by finding",
    "host": "by host (inventory order)",
}
KIND_WIDTH = 19  # the longest finding kinds: running-not-enabled, degraded-after-boot
EVIDENCE_LINES = 2
MESSAGE_LINES = 4
AUTO_AUDIT_MAX = 300  # hosts audited by themselves when a simulated console opens
MIN_MESSAGE = 40  # narrower than this, a finding's message goes on lines of its own
NO_EVIDENCE = frozenset({"uptime-debt"})  # its message already says it all


# ----------------------------------------------------------------------------------------------------
# The audit in the background


class AuditRunner:
    """Runs the fleet audit without blocking the console, and counts its progress.

    Progress: a host is audited once its facts are new since the audit began (``engine.audit`` stores
    them on the host as each one answers) or the engine logged it as unreachable."""

    def __init__(self, app: SlowrollApp) -> None:
        self.app = app
        self.engine: Engine = app.engine
        self.task: asyncio.Task[FleetAudit] | None = None
        self.running = False
        self.began: float | None = None  # time.monotonic() when the current (or last) audit began
        self.took: float | None = None
        self.finished_at: float | None = None  # wall clock, for "audited at"
        self.failure: str | None = None
        self.errors: dict[str, str] = {}  # unreachable hosts of the current (or last) audit
        self.version = 0  # bumped by anything that changes what the view shows
        self._baseline: dict[str, object] = {}
        self._results: FleetAudit | None = None
        self._unsubscribe: Callable[[], None] | None = self.engine.subscribe(self._on_event)

    # ---- what the engine says

    def _on_event(self, event: Event) -> None:
        if isinstance(event, LogLine):
            if event.host is None and event.message.startswith("auditing "):
                self._begin()  # ours, or the engine's own (ordering by uptime or risk)
            elif event.host and event.message.startswith("audit: ") and self.running:
                self.errors[event.host] = event.message.removeprefix("audit: ")
                self.version += 1
        elif isinstance(event, (FindingsReported, HostStateChanged)):
            self.version += 1
            if self.running and self.task is None:
                self.poll()  # the engine's own audit is over once the roll moves hosts

    def _begin(self) -> None:
        if self.running:
            return
        self.running = True
        self.failure = None
        self.errors = {}
        self.began = time.monotonic()
        self.took = None
        self._results = self.engine.audit_results
        self._baseline = {n: r.facts_before for n, r in self.engine.hosts.items()}
        self.version += 1

    def _end(self) -> None:
        self.running = False
        self._baseline = {}
        self.took = time.monotonic() - (self.began or time.monotonic())
        self.finished_at = self.app.clock.now()
        self.version += 1
        self.app.grid.mark_dirty()

    # ---- commands

    @property
    def can_start(self) -> bool:
        """Only before the roll (nothing in flight to disturb), and never in a staged scene."""
        return not self.running and self.engine.state is RollState.READY and self.app.drive

    def start(self) -> bool:
        """Audit every host now (READY only); False when it cannot start."""
        if not self.can_start:
            return False
        self._begin()
        self.task = asyncio.ensure_future(self.engine.audit())
        self.task.set_name("slowroll console: engine.audit")
        self.task.add_done_callback(self._done)
        return True

    def start_on_open(self) -> None:
        """When the console opens (simulated fleets): audit a small fleet at once; a big one only on d
        (2,000 hosts take ~25 s of SSH and fact parsing on the console's loop, and g would wait for it)."""
        hosts = len(self.engine.hosts)
        if hosts <= AUTO_AUDIT_MAX:
            self.start()
        elif self.can_start:
            self.app.notify(
                f"d audits the {hosts} hosts for drift before the roll (one SSH round trip each; "
                "not started by itself on a fleet this big).",
                title="Drift audit",
                timeout=8,
            )

    def _done(self, task: asyncio.Task[FleetAudit]) -> None:
        self._end()
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.failure = repr(exc)
            self.app.notify(f"The drift audit failed: {exc!r}", severity="error", timeout=10)
            return
        counts = summarize(self.engine, self)
        severity = (
            "error"
            if counts.blocking
            else ("warning" if counts.warned or counts.unreachable else "information")
        )
        self.app.notify(
            f"{counts.sentence()}. d shows it.",
            title=f"Drift audit: {len(self.engine.hosts)} hosts",
            severity=severity,
            timeout=8,
        )

    def poll(self) -> None:
        """Notice the end of an audit the engine ran itself (it has no event for that)."""
        if self.running and self.task is None and self.engine.audit_results is not self._results:
            self._end()

    async def settle(self) -> None:
        """Before the roll's first reboot: let a running audit finish (the roll reuses its result, and
        its facts must not land on a host the roll has already rebooted)."""
        task = self.task
        if task is None or task.done():
            return
        done, total = self.progress()
        self.app.notify(
            f"The roll starts when the drift audit has finished ({done} of {total} hosts so far).",
            timeout=6,
        )
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.cancelled():
                raise  # the roll itself was cancelled while it waited: it must not start after all
        except Exception:
            pass  # an audit that failed does not hold the roll back

    def close(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # ---- progress

    def progress(self) -> tuple[int, int]:
        """(hosts audited, hosts) of the audit under way."""
        hosts = self.engine.hosts
        if not self.running:
            return len(hosts), len(hosts)
        base = self._baseline
        done = sum(
            1
            for name, run in hosts.items()
            if name in self.errors
            or (run.facts_before is not None and run.facts_before is not base.get(name))
        )
        return done, len(hosts)

    def error_of(self, name: str) -> str | None:
        if name in self.errors:
            return self.errors[name]
        audit = self.engine.audit_results
        if audit is not None and not self.running:
            entry = audit.hosts.get(name)
            if entry is not None and entry.error and self.engine.hosts[name].facts_before is None:
                return entry.error
        return None


# ----------------------------------------------------------------------------------------------------
# What the view shows (plain data; drawn line by line)

Status = Literal["block", "unreachable", "warn", "clean", "unknown"]
STATUS_ORDER: tuple[Status, ...] = ("block", "unreachable", "warn", "clean", "unknown")


@dataclass(frozen=True)
class HostLine:
    host: str | None  # enter opens this host; None: a heading or a summary line
    parts: tuple[tuple[str, str], ...]  # (text, style key)


@dataclass
class Counts:
    hosts: int = 0
    clean: int = 0
    warned: int = 0
    blocking: int = 0
    unreachable: int = 0
    unknown: int = 0

    def sentence(self) -> str:
        """The summary ``slowroll audit`` prints, in the same words."""
        text = (
            f"{self.clean} without findings, {self.warned} with warnings, {self.blocking} blocking, "
            f"{self.unreachable} unreachable"
        )
        if self.unknown:
            text += f", {self.unknown} not audited yet"
        return text


def _status(run: HostRun, error: str | None, audited: bool) -> Status:
    if error:
        return "unreachable"
    sev = worst(run.findings)
    if sev is Severity.BLOCK:
        return "block"
    if sev is Severity.WARN:
        return "warn"
    return "clean" if audited else "unknown"


def _audited(run: HostRun, audit: FleetAudit | None) -> bool:
    return run.facts_before is not None or (audit is not None and run.name in audit.hosts)


def classify(engine: Engine, runner: AuditRunner) -> dict[str, tuple[Status, str | None]]:
    audit = engine.audit_results
    out: dict[str, tuple[Status, str | None]] = {}
    for name, run in engine.hosts.items():
        error = runner.error_of(name)
        out[name] = (_status(run, error, _audited(run, audit)), error)
    return out


def summarize(
    engine: Engine, runner: AuditRunner, statuses: dict[str, tuple[Status, str | None]] | None = None
) -> Counts:
    statuses = statuses if statuses is not None else classify(engine, runner)
    c = Counts(hosts=len(statuses))
    for status, _ in statuses.values():
        if status == "block":
            c.blocking += 1
        elif status == "warn":
            c.warned += 1
        elif status == "unreachable":
            c.unreachable += 1
        elif status == "clean":
            c.clean += 1
        else:
            c.unknown += 1
    return c


HEADINGS: dict[Status, tuple[str, str, str]] = {
    # glyph and word, style key, what it means
    "block": (
        "■ BLOCKING",
        "block",
        "the roll pauses on them: not rebooted (before), failed (after the reboot)",
    ),
    "unreachable": (
        "✘ UNREACHABLE",
        "error",
        "no facts: it could not be audited (the roll could not reboot it)",
    ),
    "warn": ("▲ WARNINGS", "warn", "shown and recorded; the roll goes on"),
    "clean": ("✔ NO FINDINGS", "ok", ""),
    "unknown": ("· NOT AUDITED YET", "dim", ""),
}


def _plural(n: int) -> str:
    return f"{n} host" if n == 1 else f"{n} hosts"


def _sorted_findings(findings: Iterable[Finding]) -> list[Finding]:
    rank = {Severity.BLOCK: 0, Severity.WARN: 1, Severity.IGNORE: 2}
    return sorted(findings, key=lambda f: (rank.get(f.severity, 3), f.phase != "before"))


def finding_lines(name: str, width: int, findings: list[Finding], room: int) -> list[HostLine]:
    """A host's findings: host, severity, kind, then the message wrapped in its column (or, when the
    screen is narrow, on lines of its own below)."""
    out: list[HostLine] = []
    column = width + 2 + 7 + 2 + KIND_WIDTH + 2
    for i, f in enumerate(findings):
        label = severity_label(f.severity)
        head = name if i == 0 else ""
        after = "after: " if f.phase == "after" else ""
        first: list[tuple[str, str]] = [
            (f"{head:<{width}}  ", "host"),
            (f"{label:<7}", str(f.severity)),
            (f"  {f.kind:<{KIND_WIDTH}}  ", "bold"),
        ]
        indent = column if room - column >= MIN_MESSAGE else width + 4
        chunks = textwrap.wrap(
            after + f.message, max(20, room - indent), max_lines=MESSAGE_LINES, placeholder=" …"
        )
        if indent != column:
            out.append(HostLine(name, tuple(first)))
        for j, chunk in enumerate(chunks):
            parts = list(first) if j == 0 and indent == column else [(" " * indent, "")]
            if j == 0 and after:
                parts += [(after, "dim"), (chunk[len(after) :], "")]
            else:
                parts.append((chunk, ""))
            out.append(HostLine(name, tuple(parts)))
        if f.evidence.strip() and f.kind not in NO_EVIDENCE:
            for ev in f.evidence.strip().splitlines()[:EVIDENCE_LINES]:
                out.append(HostLine(name, ((" " * indent, ""), (f"│ {ev.strip()}", "dim"))))
    return out


def clean_line(run: HostRun, width: int) -> HostLine:
    facts = run.facts_before
    about = []
    if facts is not None:
        if facts.uptime_seconds is not None:
            about.append(f"up {format_duration(facts.uptime_seconds)}")
        if facts.kernel_running:
            about.append(facts.kernel_running)
    return HostLine(
        run.name,
        ((f"{run.name:<{width}}  ", "host"), ("✔ no findings", "ok"), (f"  {' · '.join(about)}", "dim")),
    )


def _unreachable_line(name: str, width: int, error: str) -> HostLine:
    return HostLine(name, ((f"{name:<{width}}  ", "host"), ("✘ UNREACHABLE", "error"), (f"  {error}", "")))


def build_lines(
    engine: Engine,
    statuses: dict[str, tuple[Status, str | None]],
    order: Order,
    room: int = 160,
    cache: dict[object, Any] | None = None,
) -> list[HostLine]:
    """Every line of the list, in ``order``; ``room``: the columns a line has. ``cache`` keeps each
    host's lines between calls (wrapping thousands of messages 4 times a second would cost)."""
    hosts = engine.hosts
    width = min(32, max((len(n) for n in hosts), default=4))
    memo: dict[object, Any] = cache if cache is not None else {}
    if len(memo) > 4 * len(hosts) + 100:
        memo.clear()

    def findings_of(name: str, found: list[Finding]) -> list[HostLine]:
        key = ("findings", name, tuple(found), width, room)
        got = memo.get(key)
        if got is None:
            got = memo[key] = finding_lines(name, width, found, room)
        return got

    def clean(run: HostRun) -> HostLine:
        facts = run.facts_before
        key = (
            "clean",
            run.name,
            width,
            facts.uptime_seconds if facts else None,
            facts.kernel_running if facts else None,
        )
        got = memo.get(key)
        if got is None:
            got = memo[key] = clean_line(run, width)
        return got

    by_status: dict[Status, list[str]] = {s: [] for s in STATUS_ORDER}
    for name, (status, _) in statuses.items():
        by_status[status].append(name)
    # Within a group, hosts whose tile is marked first: drift before a mere uptime debt.
    by_status["warn"].sort(key=lambda n: tile_mark(hosts[n].findings) is None)
    lines: list[HostLine] = []

    def heading(status: Status, count: int) -> None:
        word, style, meaning = HEADINGS[status]
        parts: list[tuple[str, str]] = [(word, style), (f" · {_plural(count)}", "bold")]
        if meaning:
            parts.append((f" — {meaning}", "dim"))
        if lines:
            lines.append(HostLine(None, ()))
        lines.append(HostLine(None, tuple(parts)))

    def unknown_summary(names: list[str]) -> None:
        if not names:
            return
        shown = ", ".join(names[:6]) + (" …" if len(names) > 6 else "")
        heading("unknown", len(names))
        lines.append(HostLine(None, ((shown, "dim"),)))

    if order == "host":
        for name, run in hosts.items():
            status, error = statuses[name]
            if status in ("block", "warn"):
                lines.extend(findings_of(name, _sorted_findings(run.findings)))
            elif status == "unreachable":
                lines.append(_unreachable_line(name, width, error or ""))
            elif status == "clean":
                lines.append(clean(run))
            else:
                lines.append(HostLine(name, ((f"{name:<{width}}  ", "host"), ("· not audited yet", "dim"))))
        return lines

    if order == "kind":
        by_kind: dict[str, list[tuple[str, Finding]]] = {}
        for name, run in hosts.items():
            for f in _sorted_findings(run.findings):
                by_kind.setdefault(f.kind, []).append((name, f))
        rank = {Severity.BLOCK: 0, Severity.WARN: 1}
        kinds = sorted(by_kind, key=lambda k: (min(rank.get(f.severity, 2) for _, f in by_kind[k]), k))
        for kind in kinds:
            entries = by_kind[kind]
            sev = min((f.severity for _, f in entries), key=lambda s: rank.get(s, 2))
            if lines:
                lines.append(HostLine(None, ()))
            names = {n for n, _ in entries}
            lines.append(
                HostLine(
                    None,
                    ((f"{SEVERITY_GLYPH[sev]} {kind}", str(sev)), (f" · {_plural(len(names))}", "bold")),
                )
            )
            for name, f in entries:
                lines.extend(findings_of(name, [f]))
        for status in ("unreachable", "clean"):
            names = by_status[status]
            if names:
                heading(status, len(names))
                for name in names:
                    lines.append(
                        _unreachable_line(name, width, statuses[name][1] or "")
                        if status == "unreachable"
                        else clean(hosts[name])
                    )
        unknown_summary(by_status["unknown"])
        return lines

    for status in ("block", "unreachable", "warn", "clean"):
        names = by_status[status]
        if not names:
            continue
        heading(status, len(names))
        for name in names:
            if status == "unreachable":
                lines.append(_unreachable_line(name, width, statuses[name][1] or ""))
            elif status == "clean":
                lines.append(clean(hosts[name]))
            else:
                lines.extend(findings_of(name, _sorted_findings(hosts[name].findings)))
    unknown_summary(by_status["unknown"])
    return lines


# ----------------------------------------------------------------------------------------------------
# The list: one line-API widget


class AuditList(ScrollView, can_focus=True):
    """Lines of the audit; a cursor over host lines; enter opens the host."""

    DEFAULT_CSS = """
    AuditList {
        height: 1fr;
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
        padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "move(-1)", "up", show=False),
        Binding("down,j", "move(1)", "down", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
        Binding("home", "edge(0)", "first", show=False),
        Binding("end", "edge(1)", "last", show=False),
        Binding("enter", "choose", "host"),
    ]

    class Chosen(Message):
        def __init__(self, host: str) -> None:
            super().__init__()
            self.host = host

    def __init__(self, theme: ConsoleTheme, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.console_theme = theme
        self.lines: list[HostLine] = []
        self.cursor = 0  # an index into lines (always a host line when there is one)
        self._cache: dict[int, Strip] = {}

    @property
    def cursor_host(self) -> str | None:
        if 0 <= self.cursor < len(self.lines):
            return self.lines[self.cursor].host
        return None

    def set_lines(self, lines: list[HostLine]) -> None:
        """New content; the cursor stays on the same host (its first line) where it can."""
        keep = self.cursor_host
        self.lines = lines
        self._cache.clear()
        index = None
        if keep is not None:
            index = next((i for i, ln in enumerate(lines) if ln.host == keep), None)
        if index is None:
            index = self._nearest_host(min(self.cursor, max(0, len(lines) - 1)), 1)
        self.cursor = index if index is not None else 0
        self.virtual_size = Size(self.size.width, len(lines))
        self.refresh()

    def set_console_theme(self, theme: ConsoleTheme) -> None:
        self.console_theme = theme
        self._cache.clear()
        self.refresh()

    def _nearest_host(self, start: int, step: int) -> int | None:
        i = start
        while 0 <= i < len(self.lines):
            if self.lines[i].host is not None:
                return i
            i += step
        i = start - step
        while 0 <= i < len(self.lines):
            if self.lines[i].host is not None:
                return i
            i -= step
        return None

    def _move_to(self, index: int) -> None:
        old = self.cursor
        self.cursor = index
        self._cache.pop(old, None)
        self._cache.pop(index, None)
        self.refresh()
        height = max(1, self.scrollable_content_region.height)
        y = self.scroll_offset.y
        if index < y:
            self.scroll_to(y=index, animate=False, immediate=True)
        elif index >= y + height:
            self.scroll_to(y=index - height + 1, animate=False, immediate=True)

    def action_move(self, step: int) -> None:
        host = self.cursor_host
        i = self.cursor + step
        # Next or previous host (its first line): a host's findings move together.
        while 0 <= i < len(self.lines) and (self.lines[i].host is None or self.lines[i].host == host):
            i += step
        if 0 <= i < len(self.lines):
            if step < 0:
                first = i
                while first > 0 and self.lines[first - 1].host == self.lines[i].host:
                    first -= 1
                i = first
            self._move_to(i)

    def action_page(self, direction: int) -> None:
        target = self.cursor + direction * max(1, self.scrollable_content_region.height - 1)
        target = max(0, min(len(self.lines) - 1, target))
        found = self._nearest_host(target, direction)
        if found is not None:
            self._move_to(found)

    def action_edge(self, end: int) -> None:
        found = self._nearest_host(len(self.lines) - 1, -1) if end else self._nearest_host(0, 1)
        if found is not None:
            self._move_to(found)

    def action_choose(self) -> None:
        host = self.cursor_host
        if host is not None:
            self.post_message(self.Chosen(host))

    def on_click(self, event: events.Click) -> None:
        index = event.y + self.scroll_offset.y
        if 0 <= index < len(self.lines) and self.lines[index].host is not None:
            if index == self.cursor and event.chain >= 2:
                self.action_choose()
            self._move_to(index)

    def _styles(self) -> dict[str, Style]:
        theme = self.console_theme
        return {
            "": Style(),
            "host": Style(bold=True),
            "bold": Style(bold=True),
            "dim": Style(color=theme.grid["dim"]),
            "block": severity_style(Severity.BLOCK, theme),
            "warn": severity_style(Severity.WARN, theme),
            "ignore": severity_style(Severity.IGNORE, theme),
            "error": Style(bold=True, color=theme.ui.get("error")),
            "ok": Style(bold=True, color=theme.ui.get("success")),
        }

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.scrollable_content_region.width or self.size.width
        base = self.rich_style
        if index >= len(self.lines):
            return Strip.blank(width, base)
        strip = self._cache.get(index)
        if strip is None:
            strip = self._render(index, width, base)
            self._cache[index] = strip
        return strip

    def _render(self, index: int, width: int, base: Style) -> Strip:
        line = self.lines[index]
        styles = self._styles()
        here = index == self.cursor and line.host is not None
        cursor_style = Style(bgcolor=self.console_theme.grid["cursor"])
        segs = [
            Segment("▸ " if here else "  ", base + Style(bold=True) + (cursor_style if here else Style()))
        ]
        for text, key in line.parts:
            if text:
                segs.append(Segment(text, base + styles.get(key, Style())))
        strip = Strip(segs)
        if strip.cell_length > width:
            strip = Strip.join([strip.crop(0, max(0, width - 1)), Strip([Segment("…", base)])])
        strip = strip.extend_cell_length(width, base)
        if here:
            strip = strip.apply_style(cursor_style)
        return strip


# ----------------------------------------------------------------------------------------------------
# The screen


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
    def console_app(self) -> Any:
        return self.app

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
        runner.poll()
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
        app = self.console_app
        app.push_screen(HostDetail(app.engine, message.host, app.console_theme, app.clock))

    def action_close(self) -> None:
        self.dismiss(None)
