"""What changed between a host's facts before and after its reboot, as the host detail shows it."""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text

from console.model.findings import Finding
from console.remote.facts import Facts, UnitState
from console.tui.components.marks import severity_label, severity_style
from console.tui.components.themes import ConsoleTheme


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
