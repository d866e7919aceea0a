"""Property: over random fleets, groups (overlapping), budgets and faults, no group ever has more hosts
unavailable than its budget — by the engine's own definition and by the simulator's record of real
downtime — and no host is ever rebooted twice."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.engine.facade import EngineError
from console.model.events import Event, HostStateChanged, RollState
from tests.simlab import sim_roll

EXAMPLES = int(os.environ.get("SLOWROLL_PROPERTY_EXAMPLES", "10"))
FAULTS = ["check-fails", "flapping", "never-returns", "unhealthy", "slow-boot"]


@st.composite
def fleets(draw: st.DrawFn) -> dict:
    n_hosts = draw(st.integers(3, 8))
    hosts = [f"h{i}" for i in range(n_hosts)]
    n_groups = draw(st.integers(1, 3))
    groups: dict[str, list[str]] = {f"g{j}": [] for j in range(n_groups)}
    for h in hosts:
        member_of = draw(st.lists(st.sampled_from(sorted(groups)), min_size=1, max_size=2, unique=True))
        for g in member_of:
            groups[g].append(h)
    groups = {g: m for g, m in groups.items() if m}
    budgets = {g: draw(st.one_of(st.integers(1, 3), st.sampled_from(["34%", "50%", "100%"]))) for g in groups}
    batch = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    fleet_budget = draw(st.one_of(st.none(), st.integers(1, 4)))
    faults = draw(st.dictionaries(st.sampled_from(hosts), st.sampled_from(FAULTS), max_size=2))
    max_failures = draw(st.integers(0, 2))
    canary = draw(st.one_of(st.none(), st.sampled_from(hosts)))
    return {
        "groups": groups,
        "budgets": budgets,
        "batch": batch,
        "fleet": fleet_budget,
        "faults": faults,
        "max_failures": max_failures,
        "canary": canary,
    }


def inventory_text(spec: dict) -> str:
    lines = [
        "name: prop",
        "policy:",
        f"  batch: {spec['batch']}",
        f"  max_failures: {spec['max_failures']}",
        "  bake: 0.1s",
        "  reboot_timeout: 1s",
        "  connect_timeout: 1s",
        "  command_timeout: 2s",
        "  poll_interval: 0.03s",
        "  check_interval: 0.05s",
        "  recheck_interval: 0.1s",
    ]
    if spec["fleet"]:
        lines.append(f"  max_unavailable: {spec['fleet']}")
    if spec["canary"]:
        lines.append(f"  canaries: [{spec['canary']}]")
    lines.append("groups:")
    for g, members in spec["groups"].items():
        b = spec["budgets"][g]
        lines.append(
            f"  {g}: {{max_unavailable: {b if isinstance(b, int) else repr(b)}, hosts: [{', '.join(members)}]}}"
        )
    lines.append("hosts:")
    for h in sorted({m for ms in spec["groups"].values() for m in ms}):
        lines.append(f"  {h}: 192.0.2.1")
    lines.append("checks:\n  - {name: health, command: 'curl -fsS http://127.0.0.1/healthz'}")
    return "\n".join(lines) + "\n"


async def roll_once(spec: dict, workdir: Path) -> None:
    faults = {h: {k} for h, k in spec["faults"].items()}
    async with sim_roll(workdir, inventory_text(spec), faults=faults, boot_time=0.05) as roll:
        engine = roll.engine
        limits = dict(engine.budgets.per_group)
        violations: list[str] = []

        def check_budget(ev: Event) -> None:
            if not isinstance(ev, HostStateChanged):
                return
            by_group, fleet = engine.budgets.usage(engine.unavailable())
            for g, holders in by_group.items():
                if len(holders) > limits[g]:
                    violations.append(f"group {g}: {holders} > {limits[g]} at {ev}")
            if engine.budgets.fleet is not None and len(fleet) > engine.budgets.fleet:
                violations.append(f"fleet: {fleet} > {engine.budgets.fleet}")

        engine.subscribe(check_budget)
        result = await asyncio.wait_for(engine.run(), 60)
        # Keep going past automatic pauses (skipping problem hosts, as an operator would), a few times.
        for _ in range(6):
            if result.state is not RollState.PAUSED:
                break
            for name in result.failed:
                with contextlib.suppress(EngineError):
                    engine.skip(name)
            engine.resume()
            result = await asyncio.wait_for(engine.run(), 60)
        assert not violations, violations[:3]

        # Ground truth: the simulator's ledger.
        counts: dict[str, int] = {}
        for e in roll.fleet.ledger:
            counts[e.host] = counts.get(e.host, 0) + 1
        assert all(c == 1 for c in counts.values()), counts
        # Real downtime never overlaps beyond a budget.
        intervals = [(e.host, e.down_at or e.at, e.up_at or float("inf")) for e in roll.fleet.ledger]
        for host, start, _ in intervals:
            down_now = {h for h, s, u in intervals if s <= start < u}
            assert host in down_now
            for g, members in spec["groups"].items():
                n = len(down_now & set(members))
                assert n <= limits[g], (g, sorted(down_now), limits[g])
            if engine.budgets.fleet is not None:
                assert len(down_now) <= engine.budgets.fleet
        # Summary lists partition the hosts.
        lists = [result.rebooted, result.failed, result.skipped, result.untouched]
        flat = [h for lst in lists for h in lst]
        assert sorted(flat) == sorted(engine.hosts)
        # Nothing the engine calls rebooted is missing from the ledger, and vice versa for done hosts.
        for name in result.rebooted:
            assert counts.get(name) == 1, name


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=os.environ.get("SLOWROLL_PROPERTY_RANDOM") != "1",
)
@given(spec=fleets())
def test_budgets_hold_and_no_host_reboots_twice(spec: dict) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(roll_once(spec, Path(tmp)))
