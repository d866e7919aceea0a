"""Detection latency: from a host being back to the engine noticing it.

"Back" is the simulator's ground truth: ``up_at`` in its ledger, when the host's sshd listens again with a
new boot id. "Noticed" is the engine's ``HostStateChanged`` to ``booting`` (its probe connected, logged in
and read the new boot id). Default ``poll_interval`` (0.5 s); realistic boot times (``slowroll sim
--boot-time 30``: 24–36 s, the simulator's ±20 %, so the moment a host comes back falls anywhere in the
poll cycle); many hosts rebooting at once, in wide slices, so there are many samples.

The simulator is ``slowroll sim`` in its own process; the console is the engine API in this process.

    .venv/bin/python bench/latency.py            # 400 hosts, slices of 100, boot 30 s ±20 %
    .venv/bin/python bench/latency.py --quick    # 40 hosts, slices of 20, boot 8 s ±20 %
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import (
    SimServer,
    add_quiet_option,
    fleet_inventory,
    percentile,
    raise_nofile,
    result,
    settle,
)

from console.engine.facade import Engine
from console.load.native import load_inventory
from console.model.events import Event, HostState, HostStateChanged
from console.remote.ssh import Connector, SSHOptions

TARGET_P99 = 1.0


async def roll(twin_path: Path) -> tuple[list[Event], float, str]:
    twin = load_inventory(twin_path)
    connector = Connector(
        SSHOptions(known_hosts=twin.ssh.known_hosts, identity_files=twin.ssh.identity_files, agent=False)
    )
    engine = Engine(twin, connector)
    events: list[Event] = []
    engine.subscribe(events.append)
    t0 = time.monotonic()
    try:
        finished = await engine.run()
    finally:
        await connector.close()
    return events, time.monotonic() - t0, finished.state.value


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="40 hosts, slices of 20, boot 8 s")
    p.add_argument("--hosts", type=int)
    p.add_argument("--batch", type=int)
    p.add_argument("--boot", type=float, help="mean simulated boot time (±20 %%), seconds")
    add_quiet_option(p)
    args = p.parse_args()
    defaults = (40, 20, 8.0) if args.quick else (400, 100, 30.0)
    for name, value in zip(("hosts", "batch", "boot"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, value)
    raise_nofile(65536)
    size = f"{args.hosts} hosts, slices of {args.batch}, boot {args.boot:g}s ±20%"
    print(f"latency: {size}; poll_interval 0.5s (default); simulator: slowroll sim in its own process")
    other = settle(args)
    policy = {
        "batch": args.batch,
        "bake": 0,
        "connect_timeout": 5,
        "command_timeout": 10,
        "reboot_timeout": args.boot * 4,
    }
    with tempfile.TemporaryDirectory(prefix="slowroll-bench-") as tmp:
        src = fleet_inventory(Path(tmp) / "fleet.yaml", args.hosts, policy)
        with SimServer(src, Path(tmp) / "sim", boot_time=args.boot) as sim:
            events, wall, state = asyncio.run(roll(sim.twin))
            time.sleep(0.3)
            ledger = sim.read_ledger()
    noticed = {
        ev.host: ev.at for ev in events if isinstance(ev, HostStateChanged) and ev.new is HostState.BOOTING
    }
    lat = [noticed[e["host"]] - e["up_at"] for e in ledger if e.get("up_at") and e["host"] in noticed]
    if not lat:
        raise SystemExit(f"no reboot was detected (roll {state})")
    boots = [e["up_at"] - e["down_at"] for e in ledger if e.get("up_at")]
    p50, p99, worst = percentile(lat, 50), percentile(lat, 99), max(lat)
    print(f"roll {state} in {wall:.1f} s; {len(lat)} reboots (boots {min(boots):.1f}–{max(boots):.1f} s)")
    print(
        f"detection latency: mean {statistics.fmean(lat):.3f} s, p50 {p50:.3f}, p90 {percentile(lat, 90):.3f}, "
        f"p99 {p99:.3f}, max {worst:.3f}, min {min(lat):.3f}"
    )
    over = sum(1 for x in lat if x > 0.5)
    print(f"  {over} of {len(lat)} over one poll interval (0.5 s): the probe's handshake on top of the wait")
    buckets = [0.1 * i for i in range(11)]
    hist = [sum(1 for x in lat if lo <= x < lo + 0.1) for lo in buckets]
    print("  histogram (100 ms buckets from 0): " + " ".join(str(h) for h in hist))
    print(other.stop())
    tag = "quick" if args.quick else "full"
    print(f"figures: detect_p50={p50:.3f} s detect_p99={p99:.3f} s detect_max={worst:.3f} s")
    result(f"detect_p99[{tag}:{len(lat)}reboots]", p99, "s", f"<{TARGET_P99:g}s", p99 < TARGET_P99)
    return 0


if __name__ == "__main__":
    sys.exit(main())
