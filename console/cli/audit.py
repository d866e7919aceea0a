"""``slowroll audit INVENTORY``: drift audit of the whole fleet (or its simulated twins); reboots nothing."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
from pathlib import Path

from console.cli.faults import faults_from
from console.cli.inventory import load_any_inventory, open_journal, warn
from console.drift.audit import FleetAudit, audit_fleet, format_audit
from console.model.errors import UsageError
from console.model.inventory import Inventory
from console.session import Connection, build_connector
from console.sim.fleet import SimFleet


def run(args: argparse.Namespace) -> int:
    if (args.fault or args.speed is not None) and not args.sim:
        raise UsageError("--fault and --speed need the simulator: add --sim")
    inv = load_any_inventory(args.inventory, args.policy)
    faults = faults_from(args.fault, inv) if args.sim else {}
    with tempfile.TemporaryDirectory(prefix="slowroll-") as tmp:
        result = asyncio.run(_audit(inv, Path(tmp), args, faults))
    if args.json:
        for a in result.hosts.values():
            print(json.dumps({"event": "audit", **a.to_dict()}))
        finished = {
            "event": "audit-finished",
            "hosts": len(result.hosts),
            "blocking": result.blocking,
            "unreachable": result.unreachable,
        }
        print(json.dumps(finished))
    else:
        print(format_audit(result, show_ok=args.all))
    return 1 if result.blocking or result.unreachable else 0


async def _audit(
    inv: Inventory, work: Path, args: argparse.Namespace, faults: dict[str, set[str]]
) -> FleetAudit:
    async with contextlib.AsyncExitStack() as opened:
        journal = open_journal(args.state)
        opened.callback(journal.close)  # closed after the simulated fleet stops
        target = inv
        if args.sim:
            fleet = SimFleet(inv, work / "sim", speed=args.speed or 1.0, faults=faults, seed=args.seed)
            opened.push_async_callback(fleet.stop)
            await fleet.start()
            target = fleet.twin_inventory()
        history = journal.last_reboot_times([h.name for h in target.hosts], simulated=args.sim)
        connection = Connection(accept_new=args.accept_new, ssh_config=args.ssh_config)
        connector = build_connector(target, connection, simulated=args.sim, warn=warn)
        opened.push_async_callback(connector.close)
        return await audit_fleet(target, connector, history=history, keep_facts=False)
