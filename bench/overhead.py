"""Roll overhead: wall time of a roll on the simulated fleet against its physical floor.

The floor of a slice is its slowest host's boot (down → back listening, from the simulator's ground-truth
ledger) plus the bake; the floor of the roll is the sum over slices. Everything above it is what slowroll
adds: pre-checks, sending the reboot, noticing the host is back, checks and facts, the bake's last
check, and the step to the next slice. Each is broken down per slice on its critical host (the last one
done).

The simulator runs in its **own process** by default (``bench/simserve.py``: ``slowroll sim`` with a chosen
boot jitter), so the console's event loop is not also serving the simulated hosts' SSH: as with real hosts,
the far side of every handshake has its own CPU. ``--inproc`` runs ``SimFleet`` in the console's process
instead, for comparison.

Boot time: fixed, except for a jitter of ±0.25 s (``--jitter``, a fraction; default 0.25 s / boot). With
``--jitter 0`` every host comes back at the same point of the 0.5 s poll cycle, so "detection" would be a
constant anywhere between 0 and 0.5 s decided by the boot time chosen, not by slowroll; ±0.25 s spreads
the come-back moments over one whole poll interval. The floor stays exact: it is each host's real boot
from the ledger, not the nominal one.

    .venv/bin/python bench/overhead.py            # 48 hosts, slices of 3, boot 5 s, bake 5 s
    .venv/bin/python bench/overhead.py --quick    # 6 hosts, slices of 2, boot 2 s, bake 1 s
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import SimServer, add_quiet_option, fleet_inventory, percentile, result, settle

from console.engine.facade import Engine
from console.load.native import load_inventory
from console.model.events import Event, HostState, HostStateChanged, SliceFinished, SliceStarted
from console.model.inventory import Inventory
from console.remote.ssh import Connector, HostSession, SSHOptions
from console.sim.fleet import SimFleet

TARGET_SLICE = 0.5  # seconds of overhead per slice
TARGET_DETECT_P99 = 1.0

PHASES = ("pre-check", "reboot→down", "detection", "checks+facts", "bake excess", "slice end→next")


@dataclass
class SliceFigures:
    index: int
    hosts: tuple[str, ...]
    wall: float
    floor: float
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def overhead(self) -> float:
        return self.wall - self.floor


TRACE: list[tuple[str, str, float, float]] = []  # (host, operation, start, end), wall clock


def trace_ssh() -> None:
    """Time every SSH connect and command the engine makes (wraps the methods; slowroll is unchanged)."""
    connect, run = Connector.connect, HostSession.run

    async def timed_connect(self: Connector, target: Any, *, timeout: float) -> HostSession:
        t = time.time()
        try:
            return await connect(self, target, timeout=timeout)
        finally:
            TRACE.append((target.name, "connect", t, time.time()))

    async def timed_run(self: HostSession, command: str, *, timeout: float) -> Any:
        t = time.time()
        try:
            return await run(self, command, timeout=timeout)
        finally:
            TRACE.append((self.target.name, op_name(command), t, time.time()))

    Connector.connect = timed_connect  # type: ignore[method-assign]
    HostSession.run = timed_run  # type: ignore[method-assign]


def op_name(command: str) -> str:
    c = command.strip()
    if len(c) > 80:
        return "facts"
    if "boot_id" in c:
        return "boot id"
    if "reboot" in c:
        return "reboot"
    if c.startswith("systemctl is-system-running"):
        return "is-system-running"
    if "healthz" in c:
        return "check"
    if "journalctl" in c:
        return "evidence"
    return c.split()[0]


def print_trace(window: tuple[float, float]) -> None:
    ops: dict[str, list[float]] = {}
    for _host, op, t0, t1 in TRACE:
        if window[0] <= t0 <= window[1]:
            ops.setdefault(op, []).append(t1 - t0)
    print("SSH operations seen from the console (count, mean, p90, max in ms; connect = TCP+kex+auth):")
    for op, d in sorted(ops.items(), key=lambda kv: -sum(kv[1])):
        print(
            f"  {op:<20} {len(d):>5} {statistics.fmean(d) * 1000:>8.1f} {percentile(d, 90) * 1000:>8.1f}"
            f" {max(d) * 1000:>8.1f}"
        )


def connector_for(inv: Inventory) -> Connector:
    return Connector(
        SSHOptions(known_hosts=inv.ssh.known_hosts, identity_files=inv.ssh.identity_files, agent=False)
    )


async def run_roll(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    policy = {
        "batch": args.batch,
        "bake": args.bake,
        "check_interval": args.check_interval,
        "poll_interval": 0.5,
        "connect_timeout": 5,
        "command_timeout": 10,
        "reboot_timeout": max(60, args.boot * 5),
    }
    src = fleet_inventory(work / "fleet.yaml", args.hosts, policy)
    async with AsyncExitStack() as stack:
        if args.inproc:
            fleet = SimFleet(
                load_inventory(src), work / "sim", boot_time=args.boot, jitter=args.jitter, seed=1
            )
            await fleet.start()
            stack.push_async_callback(fleet.stop)
            twin = fleet.twin_inventory()
        else:
            sim = stack.enter_context(SimServer(src, work / "sim", boot_time=args.boot, jitter=args.jitter))
            twin = load_inventory(sim.twin)
        connector = connector_for(twin)
        stack.push_async_callback(connector.close)
        engine = Engine(twin, connector)
        events: list[Event] = []
        engine.subscribe(events.append)
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        t0_wall = time.time()
        t0 = time.monotonic()
        finished = await engine.run()
        wall = time.monotonic() - t0
        t1_wall = time.time()
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        if args.inproc:
            ledger = [e.to_dict() for e in fleet.ledger]
        else:
            await asyncio.sleep(0.2)  # the simulator writes a reboot's line right after it listens again
            ledger = sim.read_ledger()
    if finished.state.value != "complete" or finished.failed:
        raise SystemExit(f"the roll did not complete: {finished.to_dict()}")
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {"events": events, "ledger": ledger, "wall": wall, "t0": t0_wall, "t1": t1_wall, "cpu": cpu}


def analyse(data: dict[str, Any], bake: float) -> tuple[list[SliceFigures], list[float]]:
    events: list[Event] = data["events"]
    by_host = {e["host"]: e for e in data["ledger"]}  # one reboot per host
    state_at: dict[tuple[str, HostState], float] = {}
    for ev in events:
        if isinstance(ev, HostStateChanged):
            state_at.setdefault((ev.host, ev.new), ev.at)
    starts = [e for e in events if isinstance(e, SliceStarted)]
    ends = {e.index: e for e in events if isinstance(e, SliceFinished)}
    slices: list[SliceFigures] = []
    detections: list[float] = []
    for i, st in enumerate(starts):
        end = ends[st.index]
        nxt = starts[i + 1].at if i + 1 < len(starts) else data["t1"]
        prev_end = ends[starts[i - 1].index].at if i > 0 else data["t0"]
        begin = prev_end  # the step from the last slice's end (or the roll's start) is this slice's cost
        boots = {h: by_host[h]["up_at"] - by_host[h]["down_at"] for h in st.hosts}
        floor = max(boots.values()) + bake
        crit = max(st.hosts, key=lambda h: state_at[(h, HostState.DONE)])
        led = by_host[crit]
        for h in st.hosts:
            detections.append(state_at[(h, HostState.BOOTING)] - by_host[h]["up_at"])
        phases = {
            "pre-check": state_at[(crit, HostState.REBOOTING)] - st.at,
            "reboot→down": led["down_at"] - state_at[(crit, HostState.REBOOTING)],
            "detection": state_at[(crit, HostState.BOOTING)] - led["up_at"],
            "checks+facts": state_at[(crit, HostState.BAKING)] - state_at[(crit, HostState.BOOTING)],
            "bake excess": state_at[(crit, HostState.DONE)] - state_at[(crit, HostState.BAKING)] - bake,
            "slice end→next": (end.at - state_at[(crit, HostState.DONE)]) + (st.at - begin),
            "critical boot - slowest": boots[crit] - max(boots.values()),
        }
        if i + 1 == len(starts):
            phases["slice end→next"] += nxt - end.at  # the roll's finish
        slices.append(
            SliceFigures(
                st.index,
                st.hosts,
                (end.at - begin) + (nxt - end.at if i + 1 == len(starts) else 0),
                floor,
                phases,
            )
        )
    return slices, detections


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="6 hosts, slices of 2, boot 2 s, bake 1 s")
    p.add_argument("--hosts", type=int)
    p.add_argument("--batch", type=int)
    p.add_argument("--boot", type=float, help="simulated boot time, seconds")
    p.add_argument("--jitter", type=float, help="boot time varies by ± this fraction (default 0.25 s / boot)")
    p.add_argument("--bake", type=float)
    p.add_argument("--check-interval", type=float)
    p.add_argument("--inproc", action="store_true", help="simulator in the console's process")
    p.add_argument("--trace", action="store_true", help="time every SSH connect and command")
    add_quiet_option(p)
    args = p.parse_args()
    defaults = (6, 2, 2.0, 1.0, 0.5) if args.quick else (48, 3, 5.0, 5.0, 2.0)
    for name, value in zip(("hosts", "batch", "boot", "bake", "check_interval"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.jitter is None:
        args.jitter = 0.25 / args.boot
    boot = f"boot {args.boot:g}s ±{args.jitter * args.boot:g}s"
    size = f"{args.hosts} hosts, slices of {args.batch}, {boot}, bake {args.bake:g}s"
    where = "in the console's process" if args.inproc else "in its own process"
    print(f"overhead: {size}; check_interval {args.check_interval:g}s, poll_interval 0.5s; simulator {where}")
    other = settle(args)
    if args.trace:
        trace_ssh()
    with tempfile.TemporaryDirectory(prefix="slowroll-bench-") as tmp:
        data = asyncio.run(run_roll(args, Path(tmp)))
    slices, detections = analyse(data, args.bake)
    floor = sum(s.floor for s in slices)
    wall = data["wall"]
    overhead = wall - floor
    print()
    print(
        f"{'slice':>5} {'hosts':>5} {'wall s':>8} {'floor s':>8} {'over s':>7}  "
        + "  ".join(f"{n:>14}" for n in PHASES)
    )
    for s in slices:
        cells = "  ".join(f"{s.phases[n]:>14.3f}" for n in PHASES)
        print(
            f"{s.index + 1:>5} {len(s.hosts):>5} {s.wall:>8.3f} {s.floor:>8.3f} {s.overhead:>7.3f}  {cells}"
        )
    mean = {n: statistics.fmean(s.phases[n] for s in slices) for n in PHASES}
    print(
        f"{'mean':>5} {'':>5} {'':>8} {'':>8} {statistics.fmean(s.overhead for s in slices):>7.3f}  "
        + "  ".join(f"{mean[n]:>14.3f}" for n in PHASES)
    )
    print()
    print(
        f"roll wall time {wall:.2f} s, floor {floor:.2f} s (Σ slowest boot + bake), overhead {overhead:.2f} s"
    )
    print(
        f"  per slice {overhead / len(slices):.3f} s over {len(slices)} slices; per host {overhead / args.hosts:.3f} s"
    )
    print(
        f"  console CPU {data['cpu']:.2f} s ({data['cpu'] / args.hosts * 1000:.0f} ms per host)"
        + (" — includes the simulator" if args.inproc else "")
    )
    print(
        f"  detection (up_at → booting) over {len(detections)} reboots: p50 {percentile(detections, 50):.3f} s,"
        f" max {max(detections):.3f} s"
    )
    if args.trace:
        print_trace((data["t0"], data["t1"]))
    biggest = max(mean, key=lambda n: mean[n])
    print(f"  largest part of the overhead per slice: {biggest} ({mean[biggest]:.3f} s on average)")
    print(other.stop())
    tag = "quick" if args.quick else "full"
    per_slice = overhead / len(slices)
    result(
        f"overhead_per_slice[{tag}:{args.hosts}h/b{args.batch}]",
        per_slice,
        "s",
        f"<{TARGET_SLICE:g}s",
        per_slice < TARGET_SLICE,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
