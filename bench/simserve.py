"""``slowroll sim`` with a fixed boot time: serve simulated twins in this process until SIGTERM.

Same files as ``slowroll sim INVENTORY --out DIR`` (``inventory.yaml``, ``known_hosts``, ``client_key``,
``ledger.jsonl``, ``ready``), plus:

- ``--jitter`` (``slowroll sim`` always uses the simulator's default ±20 %);
- ``--ports LOW-HIGH``: where the simulated hosts' ports are taken (``slowroll sim`` always takes them from
  20000–32000, the 12,000 ports below the ephemeral range, shared by every simulator on the machine: too
  few for a 10,000-host fleet beside anyone else's simulator).

    .venv/bin/python bench/simserve.py INVENTORY --out DIR --boot-time 5 --jitter 0
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from pathlib import Path

from console.load.native import load_inventory
from console.model.inventory import Inventory
from console.sim import fleet as sim_fleet
from console.sim.fleet import SimFleet
from console.sim.twin import twin_yaml


async def serve(args: argparse.Namespace, inv: Inventory, out: Path) -> None:
    fleet = SimFleet(inv, out, boot_time=args.boot_time, jitter=args.jitter, seed=args.seed)
    await fleet.start()
    tmp = out / "inventory.yaml.tmp"
    tmp.write_text(twin_yaml(fleet))
    os.replace(tmp, out / "inventory.yaml")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    (out / "ready").write_text(str(os.getpid()))
    print(
        f"serving {len(fleet.hosts)} simulated hosts (boot {args.boot_time:g}s ±{args.jitter:.0%})",
        flush=True,
    )
    await stop.wait()
    await fleet.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("inventory")
    p.add_argument("--out", required=True)
    p.add_argument("--boot-time", type=float, default=8.0)
    p.add_argument("--jitter", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--ports", metavar="LOW-HIGH", help="port range for the hosts (default 20000-32000)")
    args = p.parse_args()
    if args.ports:
        low, _, high = args.ports.partition("-")
        sim_fleet.PORT_LOW, sim_fleet.PORT_HIGH = int(low), int(high)  # read by SimFleet._ports
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(args, load_inventory(args.inventory), out))


if __name__ == "__main__":
    main()
