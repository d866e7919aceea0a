"""``slowroll plan INVENTORY``: the ordered slices and why; connects to nothing."""

from __future__ import annotations

import argparse
import json

from console.cli.inventory import load_any_inventory
from console.model.budgets import Budgets, plan


def run(args: argparse.Namespace) -> int:
    inv = load_any_inventory(args.inventory, args.policy)
    slices, why = plan(inv)
    budgets = Budgets.for_inventory(inv)
    if args.json:
        print(
            json.dumps(
                {
                    "inventory": inv.name,
                    "order": why,
                    "budgets": {**budgets.per_group, **({"fleet": budgets.fleet} if budgets.fleet else {})},
                    "slices": [
                        {"index": s.index + 1, "hosts": list(s.hosts), "canary": s.canary, "reason": s.reason}
                        for s in slices
                    ],
                },
                indent=2,
            )
        )
        return 0
    print(f"Plan for {inv.name!r}: {len(inv.hosts)} hosts in {len(slices)} slices")
    print(f"Order: {why}; canaries first.")
    limits = ", ".join(f"{g} {n}" for g, n in budgets.per_group.items())
    print(f"Budgets (max unavailable): {limits}" + (f", fleet {budgets.fleet}" if budgets.fleet else ""))
    print("Each slice starts only when the one before it is done and baked.")
    print()
    width = len(str(len(slices)))
    for s in slices:
        tag = "canary" if s.canary else f"{len(s.hosts)} host(s)"
        print(f"  {s.index + 1:>{width}}. {tag:<10} {', '.join(s.hosts)}")
        print(f"  {'':>{width}}  {'':<10} ↳ {s.reason}")
    return 0
