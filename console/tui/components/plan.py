"""The plan as the console shows it: the slices the roll will run, why in this order, and the budgets."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

from console.engine.facade import Engine
from console.model.budgets import Budgets, plan
from console.model.durations import format_duration
from console.tui.components.themes import ConsoleTheme


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
