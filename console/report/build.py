"""What happened in a roll, from the journal: Markdown for people, TOML for tools, and a text timeline.

``build_report(journal, roll_id)`` reads everything into a frozen ``Report``; ``render_markdown`` and
``render_toml`` turn it into text. The timeline is drawn by a pure function over plain data
(``timeline_rows``), fed from the journal (``timeline_from_journal``) or from a live engine
(``timeline_from_engine``), so the console can draw the same picture while a roll runs.

Secrets: the inventory text stored in the journal is never printed; host vars whose names look secret
(``console.inventory.SECRET_NAME``) are shown as ``<redacted>``. See ``docs/report.md``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import tomli_w

from console.load.redact import redact_vars
from console.model.errors import SlowrollError
from console.model.inventory import Inventory

# ---------------------------------------------------------------------------------------------------
# The timeline: plain data and a pure drawing function

PHASE_OF_STATE: Mapping[str, str] = {
    "prechecking": "precheck",
    "draining": "precheck",
    "rebooting": "down",
    "down": "down",
    "booting": "verify",
    "checking": "verify",
    "baking": "verify",
    "done": "done",
    "failed": "failed",
    "unhealthy": "failed",
    "blocked": "failed",
    "reboot-unconfirmed": "failed",
    "skipped": "skipped",
}
GLYPHS: Mapping[str, str] = {
    "precheck": "·",
    "down": "▒",
    "verify": "░",
    "done": "█",
    "failed": "✘",
    "skipped": "»",
}
MARKERS = frozenset({"done", "failed", "skipped"})  # drawn where they happen, one cell wide
# When phases share a cell, the one that matters most is drawn.
_PRIORITY = {"precheck": 1, "verify": 2, "down": 3, "skipped": 4, "done": 5, "failed": 6}
TIMELINE_LEGEND = (
    "· pre-check   ▒ rebooting/down   ░ booting/checking/baking   █ done   ✘ failed/unhealthy/blocked"
    "   » skipped"
)


class Span(NamedTuple):
    """One phase of one host: ``start``/``end`` in epoch seconds (equal for a marker)."""

    start: float
    end: float
    phase: str  # a key of GLYPHS


TimelineRow = tuple[str, Sequence[tuple[float, float, str]]]


def spans_from_states(transitions: Iterable[tuple[float, str]], end: float) -> list[Span]:
    """Spans from a host's state changes ``(at, state)`` in time order; the last one runs to ``end``.

    States with no phase (``pending``, states this module does not know) are left blank.
    """
    items = list(transitions)
    out: list[Span] = []
    for i, (at, state) in enumerate(items):
        phase = PHASE_OF_STATE.get(state)
        if phase is None:
            continue
        if phase in MARKERS:
            if not (out and out[-1].phase == phase and out[-1].start == at):
                out.append(Span(at, at, phase))
            continue
        until = max(at, items[i + 1][0] if i + 1 < len(items) else end)
        if out and out[-1].phase == phase and out[-1].end == at:
            out[-1] = Span(out[-1].start, until, phase)  # rebooting → down: one stretch of downtime
        else:
            out.append(Span(at, until, phase))
    return out


def _bounds(rows: Sequence[TimelineRow], start: float | None, end: float | None) -> tuple[float, float]:
    times = [t for _, spans in rows for s in spans for t in (s[0], s[1])]
    t0 = start if start is not None else min(times, default=0.0)
    t1 = end if end is not None else max(times, default=t0)
    if t1 <= t0:
        t1 = t0 + 1.0
    return t0, t1


def timeline_name_width(rows: Sequence[TimelineRow], width: int) -> int:
    """The name column ``timeline_rows`` chooses for ``rows`` at ``width`` (from the longest name)."""
    longest = max((len(name) for name, _ in rows), default=4)
    return max(4, min(longest, max(8, width // 4)))


def _bar_cells(width: int, name_width: int) -> int:
    return max(10, width - name_width - 3)  # "name │" + bar + "│"


def timeline_rows(
    rows: Sequence[TimelineRow],
    width: int,
    *,
    start: float | None = None,
    end: float | None = None,
    name_width: int | None = None,
) -> list[str]:
    """One line per host, ``width`` characters each: the name, then its phases on a shared time axis.

    ``rows`` is plain data: ``[(host, [(start, end, phase), ...]), ...]`` with phases from ``GLYPHS``;
    time runs from ``start`` (default: the earliest span) to ``end`` (default: the latest).
    A phase always gets at least one cell; where phases share a cell the most important is drawn
    (failed > done > skipped > down > checking > pre-check). Every glyph is one cell wide.
    ``name_width`` fixes the name column (default: from the longest name), so a caller can draw a few
    rows at a time — the ones on screen — and still line them up with the others.
    """
    t0, t1 = _bounds(rows, start, end)
    name_w = name_width or timeline_name_width(rows, width)
    cells = _bar_cells(width, name_w)
    scale = cells / (t1 - t0)

    def col(t: float) -> int:
        return min(cells - 1, max(0, math.floor((t - t0) * scale)))

    out = []
    for name, spans in rows:
        bar = [" "] * cells
        rank = [0] * cells
        for s_start, s_end, phase in spans:
            glyph = GLYPHS.get(phase)
            if glyph is None:
                continue
            first = col(s_start)
            last = first if phase in MARKERS else max(first, math.ceil((s_end - t0) * scale) - 1)
            for c in range(first, min(last, cells - 1) + 1):
                if _PRIORITY[phase] >= rank[c]:
                    bar[c], rank[c] = glyph, _PRIORITY[phase]
        label = name if len(name) <= name_w else name[: name_w - 1] + "…"
        out.append(f"{label:<{name_w}} │{''.join(bar)}│")
    return out


def timeline_axis(
    rows: Sequence[TimelineRow],
    width: int,
    *,
    start: float | None = None,
    end: float | None = None,
    name_width: int | None = None,
) -> str:
    """The time scale under ``timeline_rows`` (same arguments): elapsed time at a few ticks."""
    t0, t1 = _bounds(rows, start, end)
    name_w = name_width or timeline_name_width(rows, width)
    cells = _bar_cells(width, name_w)
    line = [" "] * (name_w + 2 + cells + 1)
    ticks = 4 if cells >= 40 else 2 if cells >= 20 else 1
    labels: list[tuple[int, str]] = []
    for k in range(ticks + 1):
        label = "+" + format_duration(k * (t1 - t0) / ticks)
        pos = name_w + 2 + round(k * (cells - 1) / ticks)
        labels.append((pos if k < ticks else max(0, pos - len(label) + 1), label))
    # The first and last labels always; a middle one only where it leaves a gap on both sides.
    chosen = [labels[0], labels[-1]] if ticks else labels[:1]
    for pos, label in labels[1:-1]:
        if all(pos > p + len(t) + 1 or pos + len(label) + 1 < p for p, t in chosen):
            chosen.append((pos, label))
    for pos, label in chosen:
        for i, ch in enumerate(label):
            if pos + i < len(line):
                line[pos + i] = ch
    return "".join(line).rstrip()


class _EngineLike(Protocol):
    hosts: Mapping[str, Any]  # name → HostRun with .timeline [(at, state, note)]
    started_at: float | None
    finished_at: float | None

    def clock(self) -> float: ...


def timeline_from_engine(engine: _EngineLike) -> list[TimelineRow]:
    """The timeline of a live roll: each ``engine.hosts[name].timeline`` up to now (or the roll's end)."""
    # finished_at is also set when run() returns paused; only a final roll's end is the end of time.
    final = bool(getattr(getattr(engine, "state", None), "final", False))
    now = engine.finished_at if final and engine.finished_at is not None else engine.clock()
    out: list[TimelineRow] = []
    for name, run in engine.hosts.items():
        changes = [(float(at), str(state)) for at, state, _note in run.timeline]
        out.append((name, spans_from_states(changes, now)))
    return out


def timeline_from_journal(journal: Any, roll_id: int) -> list[TimelineRow]:
    """The timeline of a recorded roll, one row per host in inventory order."""
    roll = journal.roll(roll_id)
    if roll is None:
        raise ReportError(f"no roll {roll_id} in the journal {journal.path}")
    changes = journal.host_timeline(roll_id)
    end = _roll_end(roll, changes, journal.actions(roll_id))
    by_host: dict[str, list[tuple[float, str]]] = {}
    for c in changes:
        by_host.setdefault(c["host"], []).append((c["at"], c["new"]))
    return [(h.host, spans_from_states(by_host.get(h.host, []), end)) for h in journal.hosts(roll_id)]


def _roll_end(roll: Any, changes: Sequence[Mapping[str, Any]], actions: Sequence[Mapping[str, Any]]) -> float:
    if roll.finished_at is not None:
        return float(roll.finished_at)
    if roll.summary and isinstance(roll.summary.get("at"), int | float):
        return float(roll.summary["at"])
    times = [float(c["at"]) for c in changes] + [float(a["at"]) for a in actions]
    return max(times, default=float(roll.started_at or roll.created_at))


# ---------------------------------------------------------------------------------------------------
# The report


class ReportError(SlowrollError):
    exit_code = 2


@dataclass(frozen=True)
class FindingRow:
    phase: str  # before, after
    kind: str
    severity: str
    subject: str
    message: str
    evidence: str = ""


@dataclass(frozen=True)
class CheckFailure:
    at: float
    check: str
    phase: str  # pre, post, bake, retry, watch, slice
    output: str
    attempts: int
    host: str | None = None  # None: a service-level check


@dataclass(frozen=True)
class ActionRow:
    at: float
    action: str
    who: str
    why: str
    host: str | None = None


@dataclass(frozen=True)
class RollStateRow:
    at: float
    old: str
    new: str
    reason: str
    automatic: bool


@dataclass(frozen=True)
class SliceRow:
    index: int  # 0-based, as in the journal (shown 1-based)
    hosts: tuple[str, ...]
    canary: bool
    reason: str
    started_at: float
    duration: float | None  # None: not finished when the journal was last written


@dataclass(frozen=True)
class HostReport:
    name: str
    position: int
    address: str | None
    groups: tuple[str, ...]
    state: str
    skipped: bool
    reason: str
    slice_index: int | None
    rebooted: bool
    reissued: bool
    healthy_again: bool
    boot_id_before: str | None
    boot_id_after: str | None
    reboot_at: float | None  # the reboot command: sent, or (if its record was cut off) the intent
    up_at: float | None  # back with a new boot id
    done_at: float | None  # healthy and baked
    findings: tuple[FindingRow, ...]
    failed_checks: tuple[CheckFailure, ...]
    actions: tuple[ActionRow, ...]
    spans: tuple[Span, ...]
    vars: Mapping[str, Any] = field(default_factory=dict)

    @property
    def downtime(self) -> float | None:
        """Reboot command → back with a new boot id."""
        if self.reboot_at is None or self.up_at is None or self.up_at < self.reboot_at:
            return None
        return self.up_at - self.reboot_at

    @property
    def time_to_healthy(self) -> float | None:
        """Reboot command → done (checks passed and baked)."""
        if self.reboot_at is None or self.done_at is None or self.done_at < self.reboot_at:
            return None
        return self.done_at - self.reboot_at


@dataclass(frozen=True)
class Report:
    roll_id: int
    inventory_name: str
    inventory_path: str
    inventory_hash: str
    simulated: bool
    started_by: str
    started_on: str
    pid: int
    command: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    ended_at: float  # finished_at, or the last thing the journal saw
    state: str
    reason: str
    automatic: bool
    policy: Mapping[str, Any]
    hosts: tuple[HostReport, ...]
    slices: tuple[SliceRow, ...]
    actions: tuple[ActionRow, ...]
    states: tuple[RollStateRow, ...]
    service_failures: tuple[CheckFailure, ...]
    summary: Mapping[str, tuple[str, ...]]  # rebooted / failed / skipped / untouched (when recorded)

    @property
    def duration(self) -> float:
        return max(0.0, self.ended_at - (self.started_at or self.created_at))

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for h in self.hosts:
            out[h.state] = out.get(h.state, 0) + 1
        return out

    def timeline(self) -> list[TimelineRow]:
        return [(h.name, h.spans) for h in self.hosts]


def build_report(journal: Any, roll_id: int, *, inventory: Inventory | None = None) -> Report:
    """Everything the journal knows about roll ``roll_id``.

    Host vars come from ``inventory`` when given, otherwise from the (already redacted) inventory copy in
    the journal when it can still be read; secret-looking names are redacted either way.
    """
    roll = journal.roll(roll_id)
    if roll is None:
        known = ", ".join(str(r.id) for r in journal.rolls(limit=10)) or "none"
        raise ReportError(f"no roll {roll_id} in the journal {journal.path} (latest rolls: {known})")
    records = journal.hosts(roll_id)
    changes = journal.host_timeline(roll_id)
    actions = [
        ActionRow(a["at"], a["action"], a["who"], a["why"], a["host"]) for a in journal.actions(roll_id)
    ]
    end = _roll_end(roll, changes, journal.actions(roll_id))
    per_host_changes: dict[str, list[tuple[float, str]]] = {}
    for c in changes:
        per_host_changes.setdefault(c["host"], []).append((c["at"], c["new"]))
    failures: dict[str | None, list[CheckFailure]] = {}
    for e in journal.events(roll_id, ("check",)):
        if e.get("ok"):
            continue
        failures.setdefault(e.get("host"), []).append(
            CheckFailure(
                at=e["at"],
                check=str(e.get("check", "")),
                phase=str(e.get("phase", "")),
                output=str(e.get("output", "")),
                attempts=int(e.get("attempts", 1)),
                host=e.get("host"),
            )
        )
    slices = _slices(journal.events(roll_id, ("slice-started", "slice-finished")))
    states = tuple(
        RollStateRow(
            e["at"], e.get("old", ""), e.get("new", ""), e.get("reason", ""), bool(e.get("automatic"))
        )
        for e in journal.events(roll_id, ("roll-state",))
    )
    where = _addresses(journal, roll_id)
    host_vars = _host_vars(inventory, roll)
    hosts = []
    for r in records:
        address, groups = where.get(r.host, (None, ()))
        hosts.append(
            HostReport(
                name=r.host,
                position=r.position,
                address=address,
                groups=groups,
                state=str(r.state),
                skipped=r.skipped,
                reason=r.reason,
                slice_index=r.slice_index,
                rebooted=r.rebooted,
                reissued=r.reissued,
                healthy_again=r.healthy_again,
                boot_id_before=r.boot_id_before,
                boot_id_after=r.boot_id_after,
                reboot_at=r.sent_at if r.sent_at is not None else r.intent_at,
                up_at=r.up_at,
                done_at=r.done_at,
                findings=tuple(_finding(f) for f in r.findings),
                failed_checks=tuple(failures.get(r.host, ())),
                actions=tuple(a for a in actions if a.host == r.host),
                spans=tuple(spans_from_states(per_host_changes.get(r.host, []), end)),
                vars=redact_vars(host_vars.get(r.host, {})),
            )
        )
    summary: dict[str, tuple[str, ...]] = {}
    if roll.summary:
        for key in ("rebooted", "failed", "skipped", "untouched"):
            if isinstance(roll.summary.get(key), list):
                summary[key] = tuple(str(x) for x in roll.summary[key])
    return Report(
        roll_id=roll.id,
        inventory_name=roll.inventory_name,
        inventory_path=roll.inventory_path,
        inventory_hash=roll.inventory_hash,
        simulated=roll.simulated,
        started_by=roll.started_by,
        started_on=roll.started_on,
        pid=roll.pid,
        command=_command(journal, roll_id),
        created_at=roll.created_at,
        started_at=roll.started_at,
        finished_at=roll.finished_at,
        ended_at=end,
        state=roll.state,
        reason=roll.reason,
        automatic=roll.automatic,
        policy=dict(roll.policy),
        hosts=tuple(hosts),
        slices=slices,
        actions=tuple(actions),
        states=states,
        service_failures=tuple(failures.get(None, ())),
        summary=summary,
    )


def _finding(f: Mapping[str, Any]) -> FindingRow:
    return FindingRow(
        phase=str(f.get("phase", "before")),
        kind=str(f.get("kind", "")),
        severity=str(f.get("severity", "")),
        subject=str(f.get("subject", "")),
        message=str(f.get("message", "")),
        evidence=str(f.get("evidence", "")),
    )


def _slices(events: Sequence[Mapping[str, Any]]) -> tuple[SliceRow, ...]:
    finished = {e["index"]: e.get("duration") for e in events if e.get("event") == "slice-finished"}
    out = []
    for e in events:
        if e.get("event") != "slice-started":
            continue
        out.append(
            SliceRow(
                index=int(e["index"]),
                hosts=tuple(e.get("hosts", ())),
                canary=bool(e.get("canary")),
                reason=str(e.get("reason", "")),
                started_at=float(e["at"]),
                duration=finished.get(e["index"]),
            )
        )
    return tuple(out)


def _addresses(journal: Any, roll_id: int) -> dict[str, tuple[str | None, tuple[str, ...]]]:
    """Address and groups of each host as recorded when the roll was created (not in HostRecord)."""
    try:
        rows = journal.db.execute(
            "SELECT host, address, groups_json FROM hosts WHERE roll_id = ?", (roll_id,)
        ).fetchall()
    except (AttributeError, sqlite3.Error):
        return {}
    out: dict[str, tuple[str | None, tuple[str, ...]]] = {}
    for host, address, groups in rows:
        try:
            parsed = tuple(str(g) for g in json.loads(groups or "[]"))
        except ValueError:
            parsed = ()
        out[host] = (address, parsed)
    return out


def _command(journal: Any, roll_id: int) -> str:
    try:
        row = journal.db.execute("SELECT command FROM rolls WHERE id = ?", (roll_id,)).fetchone()
    except (AttributeError, sqlite3.Error):
        return ""
    return str(row[0]) if row and row[0] else ""


def _host_vars(inventory: Inventory | None, roll: Any) -> dict[str, Mapping[str, Any]]:
    if inventory is None:
        inventory = _stored_inventory(roll)
    if inventory is None:
        return {}
    return {h.name: dict(h.vars) for h in inventory.hosts}


def _stored_inventory(roll: Any) -> Inventory | None:
    """The journal's (redacted) copy of the inventory, parsed for host vars; None when it cannot be."""
    from console.load.ansible import parse_ansible_inventory
    from console.load.native import parse_inventory

    text = roll.inventory_text or ""
    for parse in (parse_inventory, parse_ansible_inventory):
        try:
            return parse(text, roll.inventory_path)
        except (SlowrollError, ValueError, OSError):
            continue
    return None


# ---------------------------------------------------------------------------------------------------
# Text helpers


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 10:
        return f"{seconds:.1f}s"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m {s:02d}s"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h}h {m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d {h:02d}h"


def format_time(ts: float | None) -> str:
    if ts is None:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) + f".{int(ts % 1 * 10)}"


STATE_MARK = {
    "done": "✔",
    "complete": "✔",
    "failed": "✘",
    "unhealthy": "✘",
    "blocked": "✘",
    "reboot-unconfirmed": "?",
    "aborted": "✘",
    "skipped": "»",
    "pending": "·",
    "paused": "‖",
    "pausing": "‖",
}


def _state(state: str) -> str:
    """A state as glyph and word (never by colour alone)."""
    return f"{STATE_MARK.get(state, '…')} {state}"


def _cell(text: Any) -> str:
    """Text for a Markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|") or " "


def _code(text: str) -> str:
    text = " ".join(text.split())
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}" if fence == "``" else f"`{text}`"


def _short_id(boot_id: str | None) -> str:
    return boot_id[:8] if boot_id else "—"


def _last_line(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


# ---------------------------------------------------------------------------------------------------
# Markdown


def render_markdown(report: Report, *, width: int = 100) -> str:
    """The report for people: summary, timeline, policy, slices, operator actions, hosts."""
    r = report
    out: list[str] = []
    add = out.append
    add(f"# Roll {r.roll_id} — {r.inventory_name}: {_state(r.state)}")
    add("")
    if r.reason:
        add(
            f"**{'Stopped by itself' if r.automatic and r.state in ('paused', 'pausing') else 'Reason'}:** "
            f"{' '.join(r.reason.split())}"
        )
        add("")
    counts = r.counts
    count_text = ", ".join(f"{n} {s}" for s, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    rows = [
        ("started by", f"{r.started_by} on {r.started_on} (pid {r.pid})"),
        ("command", _code(r.command) if r.command else "—"),
        ("inventory", f"{_code(r.inventory_path)}, sha256 `{r.inventory_hash[:16]}`"),
        ("simulated", "yes (simulated twins)" if r.simulated else "no"),
        ("created", format_time(r.created_at)),
        ("started", format_time(r.started_at)),
        ("finished", format_time(r.finished_at) if r.finished_at else f"not finished ({r.state})"),
        ("duration", format_duration(r.duration)),
        ("hosts", f"{len(r.hosts)}: {count_text}" if r.hosts else "none"),
    ]
    for key in ("rebooted", "failed", "skipped", "untouched"):
        if r.summary.get(key):
            rows.append((key, ", ".join(r.summary[key])))
    add("| | |")
    add("| --- | --- |")
    for k, v in rows:
        add(f"| {k} | {v if k in ('command', 'inventory') else _cell(v)} |")
    add("")

    add("## Timeline")
    add("")
    data = r.timeline()
    add("```text")
    start = r.started_at or r.created_at
    out.extend(timeline_rows(data, width, start=start, end=r.ended_at))
    add(timeline_axis(data, width, start=start, end=r.ended_at))
    add("")
    add(TIMELINE_LEGEND)
    add("```")
    add("")

    add("## Hosts")
    add("")
    add("| host | state | slice | downtime | to healthy | boot id before → after | findings | reason |")
    add("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for h in r.hosts:
        state = _state(h.state) + (" (skipped)" if h.skipped and h.state != "skipped" else "")
        findings = f"{len(h.findings)}" if h.findings else ""
        boot = f"{_short_id(h.boot_id_before)} → {_short_id(h.boot_id_after)}" if h.boot_id_before else "—"
        add(
            f"| {_cell(h.name)} | {state} | {h.slice_index + 1 if h.slice_index is not None else '—'} "
            f"| {format_duration(h.downtime)} | {format_duration(h.time_to_healthy)} | {boot} "
            f"| {findings} | {_cell(h.reason) if h.state != 'done' else ''} |"
        )
    add("")
    notable = [
        h for h in r.hosts if h.findings or h.failed_checks or h.actions or h.state not in ("done", "pending")
    ]
    for h in notable:
        add(f"### {h.name} — {_state(h.state)}")
        add("")
        if h.reason:
            add(f"- reason: {' '.join(h.reason.split())}")
        if h.address:
            add(f"- address: `{h.address}`" + (f", groups: {', '.join(h.groups)}" if h.groups else ""))
        if h.boot_id_before:
            add(f"- boot id: `{h.boot_id_before}` → `{h.boot_id_after or 'none seen'}`")
        if h.reboot_at is not None:
            parts = [f"reboot {format_time(h.reboot_at)}"]
            if h.up_at is not None:
                parts.append(f"back {format_time(h.up_at)} (downtime {format_duration(h.downtime)})")
            else:
                parts.append("not seen back with a new boot id")
            if h.done_at is not None:
                parts.append(
                    f"healthy {format_time(h.done_at)} ({format_duration(h.time_to_healthy)} after the reboot)"
                )
            add("- " + ", ".join(parts))
        if h.reissued:
            add("- the reboot command was re-issued after a restart of the console")
        if h.healthy_again:
            add("- healthy again after the problem (its budget slot was released)")
        if h.vars:
            add("- vars: " + ", ".join(f"{k}={_code(str(v))}" for k, v in h.vars.items()))
        for c in h.failed_checks:
            add(
                f"- ✘ check **{_cell(c.check)}** failed ({c.phase}, {c.attempts} attempt"
                f"{'s' if c.attempts != 1 else ''}, {format_time(c.at)}): {_code(_last_line(c.output) or 'no output')}"
            )
        for f in h.findings:
            add(f"- finding {f.phase} the reboot — **{f.severity}** {f.kind} `{f.subject}`: {f.message}")
            if f.evidence.strip():
                add("")
                add("  ```text")
                out.extend("  " + line for line in f.evidence.rstrip().splitlines()[:40])
                add("  ```")
                add("")
        for a in h.actions:
            add(
                f"- operator: **{a.action}** by {a.who} at {format_time(a.at)}"
                + (f": {a.why}" if a.why else "")
            )
        add("")

    add("## Operator actions")
    add("")
    if r.actions:
        add("| when | who | action | host | why |")
        add("| --- | --- | --- | --- | --- |")
        for a in r.actions:
            add(
                f"| {format_time(a.at)} | {_cell(a.who)} | {a.action} | {_cell(a.host or '')} | {_cell(a.why)} |"
            )
    else:
        add("None.")
    add("")

    if r.states:
        add("## Roll states")
        add("")
        for s in r.states:
            how = " (by itself)" if s.automatic else ""
            add(
                f"- {format_time(s.at)}: {s.old} → **{s.new}**{how}"
                + (f" — {' '.join(s.reason.split())}" if s.reason else "")
            )
        add("")

    if r.service_failures:
        add("## Service checks that failed")
        add("")
        for c in r.service_failures:
            last = _code(_last_line(c.output) or "no output")
            add(f"- ✘ **{_cell(c.check)}** ({c.phase}, {format_time(c.at)}): {last}")
        add("")

    add("## Slices")
    add("")
    if r.slices:
        add("| # | hosts | started | took | why |")
        add("| --- | --- | --- | --- | --- |")
        for sl in r.slices:
            name = f"{sl.index + 1}{' (canary)' if sl.canary else ''}"
            add(
                f"| {name} | {_cell(', '.join(sl.hosts))} | {format_time(sl.started_at)} "
                f"| {format_duration(sl.duration)} | {_cell(sl.reason)} |"
            )
    else:
        add("None started.")
    add("")

    add("## Policy")
    add("")
    for k, v in r.policy.items():
        if v is None or v == [] or v == {}:
            continue
        if isinstance(v, list):
            v = ", ".join(str(x) for x in v)
        elif isinstance(v, float) and k not in ("max_failures",):
            v = format_duration(v) if k != "max_reboots_per_hour" else f"{v:g}"
        add(f"- {k}: {_code(str(v)) if k.endswith('command') else v}")
    add("")
    return "\n".join(out).rstrip() + "\n"


# ---------------------------------------------------------------------------------------------------
# TOML


def _utc(ts: float | None) -> dt.datetime | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC)


def _clean(value: Any) -> Any:
    """TOML has no null: drop None (in mappings and lists); tuples become lists, keys strings."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value if v is not None]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def report_data(report: Report) -> dict[str, Any]:
    """The report as plain data (what the TOML holds); times are timezone-aware UTC datetimes."""
    r = report
    data: dict[str, Any] = _clean(
        {
            "roll": {
                "id": r.roll_id,
                "inventory": r.inventory_name,
                "inventory_path": r.inventory_path,
                "inventory_hash": r.inventory_hash,
                "simulated": r.simulated,
                "started_by": r.started_by,
                "started_on": r.started_on,
                "pid": r.pid,
                "command": r.command,
                "created_at": _utc(r.created_at),
                "started_at": _utc(r.started_at),
                "finished_at": _utc(r.finished_at),
                "ended_at": _utc(r.ended_at),
                "duration": round(r.duration, 3),
                "state": r.state,
                "reason": r.reason,
                "automatic": r.automatic,
                "counts": r.counts,
                "summary": {k: list(v) for k, v in r.summary.items()},
            },
            "policy": dict(r.policy),
            "actions": [_action(a) for a in r.actions],
            "roll_states": [
                {"at": _utc(s.at), "old": s.old, "new": s.new, "reason": s.reason, "automatic": s.automatic}
                for s in r.states
            ],
            "slices": [
                {
                    "number": s.index + 1,
                    "hosts": list(s.hosts),
                    "canary": s.canary,
                    "reason": s.reason,
                    "started_at": _utc(s.started_at),
                    "duration": None if s.duration is None else round(s.duration, 3),
                }
                for s in r.slices
            ],
            "service_check_failures": [_check(c) for c in r.service_failures],
            "hosts": [_host(h) for h in r.hosts],
        }
    )
    return data


def _action(a: ActionRow) -> dict[str, Any]:
    return {"at": _utc(a.at), "action": a.action, "host": a.host, "who": a.who, "why": a.why}


def _check(c: CheckFailure) -> dict[str, Any]:
    return {
        "at": _utc(c.at),
        "check": c.check,
        "phase": c.phase,
        "attempts": c.attempts,
        "output": c.output,
    }


def _host(h: HostReport) -> dict[str, Any]:
    return {
        "name": h.name,
        "address": h.address,
        "groups": list(h.groups),
        "state": h.state,
        "skipped": h.skipped,
        "reason": h.reason,
        "slice": None if h.slice_index is None else h.slice_index + 1,
        "rebooted": h.rebooted,
        "reissued": h.reissued,
        "healthy_again": h.healthy_again,
        "boot_id_before": h.boot_id_before,
        "boot_id_after": h.boot_id_after,
        "reboot_at": _utc(h.reboot_at),
        "up_at": _utc(h.up_at),
        "done_at": _utc(h.done_at),
        "downtime": _round(h.downtime),
        "time_to_healthy": _round(h.time_to_healthy),
        "vars": _jsonable(dict(h.vars)),
        "findings": [
            {
                "phase": f.phase,
                "kind": f.kind,
                "severity": f.severity,
                "subject": f.subject,
                "message": f.message,
                "evidence": f.evidence,
            }
            for f in h.findings
        ],
        "failed_checks": [_check(c) for c in h.failed_checks],
        "actions": [_action(a) for a in h.actions],
        "phases": [{"phase": s.phase, "start": _utc(s.start), "end": _utc(s.end)} for s in h.spans],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _jsonable(value: Any) -> Any:
    """Vars as TOML can hold them (nested plain values; anything else as text)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool | dt.datetime | dt.date):
        return value
    return str(value)


def render_toml(report: Report) -> str:
    """The report for tools (``tomllib.loads`` reads it back); nothing is null: absent means unknown."""
    return tomli_w.dumps(report_data(report))
