"""``slowroll sim INVENTORY --out DIR``: serve simulated twins of an inventory's hosts until stopped."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
from pathlib import Path

from console.cli.faults import faults_from
from console.cli.inventory import load_any_inventory
from console.sim.fleet import DEFAULT_BOOT_TIME, SimFleet, write_private
from console.sim.twin import twin_yaml


def run(args: argparse.Namespace) -> int:
    inv = load_any_inventory(args.inventory, args.policy)
    faults = faults_from(args.fault, inv)
    out = Path(args.out).resolve()  # the twin inventory names files in it: absolute, wherever it is read
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(out, 0o700)  # it holds the client's private key and the twin inventory
    fleet = SimFleet(
        inv,
        out,
        speed=args.speed,
        faults=faults,
        seed=args.seed,
        boot_time=args.boot_time or DEFAULT_BOOT_TIME,
    )
    asyncio.run(_serve(fleet, out, args.policy))
    return 0


async def _serve(fleet: SimFleet, out: Path, policy_path: str | None) -> None:
    """Start ``fleet``, write its inventory, say so on stdout, and serve until SIGINT, SIGTERM or SIGHUP."""
    await fleet.start()
    target = out / "inventory.yaml"
    write_private(target, twin_yaml(fleet, policy_path))
    print(f"serving {len(fleet.hosts)} simulated hosts on 127.0.0.1; inventory: {target}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    (out / "ready").write_text(str(os.getpid()))
    await stop.wait()
    await fleet.stop()
