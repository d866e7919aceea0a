"""Helpers for tests that roll simulated fleets over real SSH (asyncssh servers on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from console.engine.facade import Engine
from console.load.native import load_inventory
from console.model.events import Event, HostState, HostStateChanged
from console.model.inventory import Inventory
from console.remote.ssh import Connector, SSHOptions
from console.remote.sshconfig import SSHConfig
from console.sim.fleet import SimFleet

FAST_POLICY = """\
policy:
  bake: 0.3s
  reboot_timeout: 4s
  connect_timeout: 2s
  command_timeout: 3s
  poll_interval: 0.05s
  check_interval: 0.1s
  recheck_interval: 0.2s
"""


def fleet_yaml(
    groups: dict[str, list[str]],
    *,
    budgets: dict[str, object] | None = None,
    policy: str = "",
    checks: bool = True,
    extra: str = "",
) -> str:
    """An inventory for a simulated fleet: hosts from ``groups`` (a host may be in several)."""
    hosts: dict[str, list[str]] = {}
    for g, members in groups.items():
        for m in members:
            hosts.setdefault(m, []).append(g)
    merged = yaml.safe_load(FAST_POLICY)["policy"]
    if policy:
        merged.update(yaml.safe_load(textwrap.dedent(policy)) or {})
    lines = ["name: test", "policy:"]
    lines += [f"  {k}: {json.dumps(v)}" for k, v in merged.items()]
    lines.append("groups:")
    for g in groups:
        b = (budgets or {}).get(g, 1)
        lines.append(
            f"  {g}: {{max_unavailable: {b!r}}}"
            if isinstance(b, int)
            else f"  {g}: {{max_unavailable: '{b}'}}"
        )
    lines.append("hosts:")
    for h, gs in hosts.items():
        lines.append(f"  {h}: {{address: 192.0.2.1, groups: [{', '.join(gs)}]}}")
    if checks:
        lines.append("checks:\n  - name: health\n    command: curl -fsS http://127.0.0.1/healthz")
    if extra:
        lines.append(textwrap.dedent(extra))
    return "\n".join(lines) + "\n"


@dataclass
class Roll:
    fleet: SimFleet
    engine: Engine
    inventory: Inventory
    events: list[Event] = field(default_factory=list)

    def reboots(self, host: str) -> int:
        return len(self.fleet.reboots_of(host))

    def states(self) -> dict[str, HostState]:
        return {n: r.state for n, r in self.engine.hosts.items()}

    async def wait_for(self, predicate: Callable[[Event], bool], timeout: float = 20) -> Event:
        """Wait until an event matching ``predicate`` is published (or has been)."""
        for ev in self.events:
            if predicate(ev):
                return ev
        fut: asyncio.Future[Event] = asyncio.get_running_loop().create_future()

        def on(ev: Event) -> None:
            if not fut.done() and predicate(ev):
                fut.set_result(ev)

        unsub = self.engine.subscribe(on)
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            unsub()


def host_entered(name: str | None, state: HostState) -> Callable[[Event], bool]:
    return lambda ev: (
        isinstance(ev, HostStateChanged) and ev.new is state and (name is None or ev.host == name)
    )


@asynccontextmanager
async def sim_roll(
    tmp_path: Path,
    inventory_text: str,
    *,
    faults: dict[str, set[str]] | None = None,
    boot_time: float = 0.3,
    accept_new: bool = False,
    seed: int = 1,
) -> AsyncIterator[Roll]:
    path = tmp_path / "inventory.yaml"
    path.write_text(inventory_text)
    inv = load_inventory(path)
    fleet = SimFleet(inv, tmp_path / "sim", faults=faults, boot_time=boot_time, seed=seed)
    await fleet.start()
    try:
        twin = fleet.twin_inventory(local_hooks=True)
        connector = Connector(
            SSHOptions(
                known_hosts=twin.ssh.known_hosts,
                accept_new=accept_new,
                identity_files=twin.ssh.identity_files,
                agent=False,
                config=SSHConfig(twin.ssh.config) if twin.ssh.config else None,  # the simulated bastion
            )
        )
        engine = Engine(twin, connector)
        roll = Roll(fleet, engine, twin)
        engine.subscribe(roll.events.append)
        yield roll
    finally:
        await fleet.stop()
