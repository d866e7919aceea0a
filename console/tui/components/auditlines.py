"""What the drift audit view shows, as plain data: each host's status and the list's lines.

Hosts are sorted by what was found: blocking first, then unreachable ones, warnings, hosts without findings
(or, by choice, by finding or in inventory order). ``build_lines`` makes every line; the list widget
(``auditlist.py``) draws only those on screen.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from console.drift.audit import FleetAudit
from console.engine.facade import Engine
from console.engine.hostrun import HostRun
from console.model.durations import format_duration
from console.model.findings import Finding, Severity
from console.tui.components.marks import SEVERITY_GLYPH, severity_label, tile_mark, worst

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
MIN_MESSAGE = 40  # narrower than this, a finding's message goes on lines of its own
NO_EVIDENCE = frozenset({"uptime-debt"})  # its message already says it all

Status = Literal["block", "unreachable", "warn", "clean", "unknown"]
STATUS_ORDER: tuple[Status, ...] = ("block", "unreachable", "warn", "clean", "unknown")
Statuses = dict[str, tuple[Status, str | None]]  # host -> (status, why it could not be audited)


class AuditErrors(Protocol):
    """Who knows why a host could not be audited (the audit runner)."""

    def error_of(self, name: str) -> str | None: ...


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


def classify(engine: Engine, errors: AuditErrors) -> Statuses:
    audit = engine.audit_results
    out: Statuses = {}
    for name, run in engine.hosts.items():
        error = errors.error_of(name)
        out[name] = (_status(run, error, _audited(run, audit)), error)
    return out


def summarize(engine: Engine, errors: AuditErrors, statuses: Statuses | None = None) -> Counts:
    statuses = statuses if statuses is not None else classify(engine, errors)
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


def _sorted_findings(findings: list[Finding]) -> list[Finding]:
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


class _Listing:
    """One ``build_lines``: the lines so far, and each host's lines from the memo when they are there."""

    def __init__(self, engine: Engine, statuses: Statuses, room: int, memo: dict[object, Any]) -> None:
        self.hosts = engine.hosts
        self.statuses = statuses
        self.room = room
        self.width = min(32, max((len(n) for n in self.hosts), default=4))
        self.memo = memo
        self.lines: list[HostLine] = []
        self.by_status: dict[Status, list[str]] = {s: [] for s in STATUS_ORDER}
        for name, (status, _) in statuses.items():
            self.by_status[status].append(name)
        # Within a group, hosts whose tile is marked first: drift before a mere uptime debt.
        self.by_status["warn"].sort(key=lambda n: tile_mark(self.hosts[n].findings) is None)

    def findings_of(self, name: str, found: list[Finding]) -> list[HostLine]:
        key = ("findings", name, tuple(found), self.width, self.room)
        got: list[HostLine] | None = self.memo.get(key)
        if got is None:
            got = self.memo[key] = finding_lines(name, self.width, found, self.room)
        return got

    def clean(self, run: HostRun) -> HostLine:
        facts = run.facts_before
        key = (
            "clean",
            run.name,
            self.width,
            facts.uptime_seconds if facts else None,
            facts.kernel_running if facts else None,
        )
        got: HostLine | None = self.memo.get(key)
        if got is None:
            got = self.memo[key] = clean_line(run, self.width)
        return got

    def unreachable(self, name: str) -> HostLine:
        return _unreachable_line(name, self.width, self.statuses[name][1] or "")

    def heading(self, status: Status, count: int) -> None:
        word, style, meaning = HEADINGS[status]
        parts: list[tuple[str, str]] = [(word, style), (f" · {_plural(count)}", "bold")]
        if meaning:
            parts.append((f" — {meaning}", "dim"))
        if self.lines:
            self.lines.append(HostLine(None, ()))
        self.lines.append(HostLine(None, tuple(parts)))

    def unknown_summary(self) -> None:
        names = self.by_status["unknown"]
        if not names:
            return
        shown = ", ".join(names[:6]) + (" …" if len(names) > 6 else "")
        self.heading("unknown", len(names))
        self.lines.append(HostLine(None, ((shown, "dim"),)))

    def in_inventory_order(self) -> None:
        width = self.width
        for name, run in self.hosts.items():
            status = self.statuses[name][0]
            if status in ("block", "warn"):
                self.lines.extend(self.findings_of(name, _sorted_findings(run.findings)))
            elif status == "unreachable":
                self.lines.append(self.unreachable(name))
            elif status == "clean":
                self.lines.append(self.clean(run))
            else:
                self.lines.append(
                    HostLine(name, ((f"{name:<{width}}  ", "host"), ("· not audited yet", "dim")))
                )

    def by_finding(self) -> None:
        by_kind: dict[str, list[tuple[str, Finding]]] = {}
        for name, run in self.hosts.items():
            for f in _sorted_findings(run.findings):
                by_kind.setdefault(f.kind, []).append((name, f))
        rank = {Severity.BLOCK: 0, Severity.WARN: 1}
        kinds = sorted(by_kind, key=lambda k: (min(rank.get(f.severity, 2) for _, f in by_kind[k]), k))
        for kind in kinds:
            entries = by_kind[kind]
            sev = min((f.severity for _, f in entries), key=lambda s: rank.get(s, 2))
            if self.lines:
                self.lines.append(HostLine(None, ()))
            names = {n for n, _ in entries}
            self.lines.append(
                HostLine(
                    None,
                    ((f"{SEVERITY_GLYPH[sev]} {kind}", str(sev)), (f" · {_plural(len(names))}", "bold")),
                )
            )
            for name, f in entries:
                self.lines.extend(self.findings_of(name, [f]))
        for status in ("unreachable", "clean"):
            names = self.by_status[status]
            if names:
                self.heading(status, len(names))
                for name in names:
                    self.lines.append(
                        self.unreachable(name) if status == "unreachable" else self.clean(self.hosts[name])
                    )
        self.unknown_summary()

    def by_severity(self) -> None:
        for status in ("block", "unreachable", "warn", "clean"):
            names = self.by_status[status]
            if not names:
                continue
            self.heading(status, len(names))
            for name in names:
                if status == "unreachable":
                    self.lines.append(self.unreachable(name))
                elif status == "clean":
                    self.lines.append(self.clean(self.hosts[name]))
                else:
                    self.lines.extend(self.findings_of(name, _sorted_findings(self.hosts[name].findings)))
        self.unknown_summary()


def build_lines(
    engine: Engine,
    statuses: Statuses,
    order: Order,
    room: int = 160,
    cache: dict[object, Any] | None = None,
) -> list[HostLine]:
    """Every line of the list, in ``order``; ``room``: the columns a line has. ``cache`` keeps each
    host's lines between calls (wrapping thousands of messages 4 times a second would cost)."""
    memo: dict[object, Any] = cache if cache is not None else {}
    if len(memo) > 4 * len(engine.hosts) + 100:
        memo.clear()
    listing = _Listing(engine, statuses, room, memo)
    if order == "host":
        listing.in_inventory_order()
    elif order == "kind":
        listing.by_finding()
    else:
        listing.by_severity()
    return listing.lines
