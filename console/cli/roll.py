"""``slowroll run INVENTORY`` and ``slowroll demo``: a new roll, of real hosts or of simulated twins."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from console.cli.face import Face, exit_if_terminal_gone
from console.cli.faults import faults_from
from console.cli.inventory import load_any_inventory, warn
from console.model.errors import UsageError
from console.model.inventory import Inventory
from console.session import Connection, Session, Simulation
from console.sim.twin import demo_inventory

DEMO_SPEED = 10.0


def run(args: argparse.Namespace) -> int:
    demo = args.command == "demo"
    simulate = demo or args.sim
    if args.fault and not simulate:
        raise UsageError("--fault needs the simulator: add --sim (or use slowroll demo)")
    if args.speed is not None and not simulate:
        raise UsageError("--speed needs the simulator: add --sim (or use slowroll demo)")
    speed = args.speed if args.speed is not None else (DEMO_SPEED if demo else 1.0)
    policy = None if demo else args.policy
    with tempfile.TemporaryDirectory(prefix="slowroll-") as tmp:
        work = Path(tmp)
        inv = demo_inventory(work, args.fleet) if demo else load_any_inventory(args.inventory, policy)
        simulation = None
        if simulate:
            simulation = Simulation(work / "sim", speed, faults_from(args.fault, inv), args.seed)
        code = asyncio.run(_roll(inv, args, simulation, policy))
    return exit_if_terminal_gone(code)


async def _roll(
    inv: Inventory, args: argparse.Namespace, simulation: Simulation | None, policy: str | None
) -> int:
    connection = Connection(accept_new=args.accept_new, ssh_config=args.ssh_config)
    async with Session(args.state, connection=connection, warn=warn) as session:
        await session.start(
            inv,
            command=" ".join(["slowroll", *sys.argv[1:]]),
            policy_path=policy,
            simulation=simulation,
            discard_unfinished=args.discard_unfinished,
            break_lock=args.break_lock,
        )
        speed = simulation.speed if simulation is not None else 1.0
        return await session.run(Face.chosen(args, simulated=simulation is not None, speed=speed).show)
