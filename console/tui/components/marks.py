"""Drift marks: how a finding's severity is shown, by glyph and word (the theme only adds colour).

The same shape means the same thing everywhere: ``■ BLOCK`` and ``▲ warn`` in the audit view and the
host detail (as ``slowroll audit`` prints them), and ``■`` / ``▲`` after a tile's name in the fleet grid.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.style import Style

from console.model.findings import SEVERITY_GLYPH, SEVERITY_WORD, Finding, Severity, severity_label
from console.tui.components.themes import ConsoleTheme

__all__ = ["SEVERITY_GLYPH", "SEVERITY_WORD", "severity_label", "severity_style", "tile_mark", "worst"]

# Dense tiles are two columns: the mark takes the lead column, drawn smaller so that it is not read as
# a tile of its own (``■`` is also the glyph of a blocked host).
DENSE_GLYPH: dict[Severity, str] = {Severity.BLOCK: "▪", Severity.WARN: "▴"}

# Reasons to reboot rather than drift: shown in the audit view and the host detail, but a tile is not
# marked for them (in a fleet due for its reboots they would mark half the tiles and hide the drift).
UNMARKED_WARNINGS = frozenset({"uptime-debt"})


def severity_style(severity: Severity | str, theme: ConsoleTheme) -> Style:
    sev = Severity(severity)
    if sev is Severity.BLOCK:
        return Style(bold=True, color=theme.ui.get("error"))
    if sev is Severity.WARN:
        return Style(bold=True, color=theme.ui.get("warning"))
    return Style(color=theme.grid["dim"])


def worst(findings: Iterable[Finding]) -> Severity | None:
    """The most severe of ``findings`` (ignored ones do not count)."""
    out: Severity | None = None
    for f in findings:
        if f.severity is Severity.BLOCK:
            return Severity.BLOCK
        if f.severity is Severity.WARN:
            out = Severity.WARN
    return out


def tile_mark(findings: Iterable[Finding]) -> Severity | None:
    """The mark a host's tile carries: its most severe finding, before or after the reboot; an uptime-debt
    warning alone does not mark it (a blocking one does)."""
    return worst(f for f in findings if f.severity is Severity.BLOCK or f.kind not in UNMARKED_WARNINGS)
