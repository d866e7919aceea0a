"""``slowroll check INVENTORY``: validate an inventory and summarise it; connects to nothing."""

from __future__ import annotations

import argparse

from console.cli.inventory import load_any_inventory
from console.model.budgets import Budgets
from console.model.durations import format_duration
from console.model.inventory import Inventory
from console.notify import redact_url


def run(args: argparse.Namespace) -> int:
    inv = load_any_inventory(args.inventory, args.policy)
    print(f"{inv.path}: OK — inventory {inv.name!r}")
    _hosts(inv)
    _policy(inv)
    _checks_and_hooks(inv)
    kh = inv.ssh.known_hosts or "~/.ssh/known_hosts"
    print(
        f"  ssh      user {inv.ssh.user or '(current user)'}, known_hosts {kh} (strict)"
        + (f", config {inv.ssh.config}" if inv.ssh.config else "")
    )
    return 0


def _hosts(inv: Inventory) -> None:
    pol = inv.policy
    budgets = Budgets.for_inventory(inv)
    print(f"  hosts    {len(inv.hosts)} in {len(inv.groups)} group(s)")
    for g in inv.groups.values():
        print(
            f"    {g.name:<14} {len(g.members):>5} hosts   max unavailable {budgets.per_group[g.name]}"
            f" ({g.budget(pol)}{'' if g.max_unavailable else ', default'})"
        )
    loose = [h.name for h in inv.hosts if not h.groups]
    if loose:
        print(f"    {'(no group)':<14} {len(loose):>5} hosts")
    fleet = (
        f"{budgets.fleet} ({pol.max_unavailable})"
        if budgets.fleet is not None
        else "bounded by the slice size"
    )
    print(f"  fleet    max unavailable {fleet}")


def _policy(inv: Inventory) -> None:
    pol = inv.policy
    print(f"  batch    {', '.join(str(a) for a in pol.batch)} (the last step repeats)")
    print(f"  canaries {', '.join(pol.canaries) or 'none'}")
    print(
        f"  timing   bake {format_duration(pol.bake)}, reboot timeout {format_duration(pol.reboot_timeout)}, "
        f"connect {format_duration(pol.connect_timeout)}, command {format_duration(pol.command_timeout)}, "
        f"poll every {format_duration(pol.poll_interval)}"
    )
    print(f"  failures pause after {pol.max_failures + 1} failure(s) (max_failures {pol.max_failures})")
    print(f"  reboot   {pol.reboot_command!r}; boot id from {pol.boot_id_command!r}")


def _checks_and_hooks(inv: Inventory) -> None:
    pol = inv.policy
    print(f"  checks   {len(inv.checks)} per host, {len(inv.service_checks)} service-level")
    for c in inv.checks:
        scope = ", ".join([*c.groups, *c.hosts]) or "all hosts"
        print(f"    {c.name:<14} [{scope}] {c.describe()}")
    for c in inv.service_checks:
        print(f"    {c.name:<14} [service] {c.describe()}")
    if pol.windows:
        print(f"  windows  {'; '.join(w.describe() for w in pol.windows)} (no reboot starts outside them)")
    if pol.max_reboots_per_hour or pol.min_slice_gap:
        pace = []
        if pol.max_reboots_per_hour:
            pace.append(f"at most {pol.max_reboots_per_hour} reboots an hour")
        if pol.min_slice_gap:
            pace.append(f"{format_duration(pol.min_slice_gap)} between slices")
        print(f"  pace     {', '.join(pace)}")
    if pol.drift is None:
        print("  drift    off (drift: off): no facts before or after each reboot, no drift findings")
    for h in inv.hooks:
        scope = ", ".join([*h.groups, *h.hosts]) or "all hosts"
        print(f"  hook     {h.phase:<12} {h.name:<12} [{scope}, on {h.where}] {h.command}")
    if inv.notify is not None:
        print(f"  notify   {redact_url(inv.notify.webhook)} on {', '.join(inv.notify.events)}")
