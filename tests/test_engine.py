"""The engine against the simulated fleet over real SSH; judged by the simulator's ledger."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from console.engine.facade import EngineError
from console.model.budgets import plan
from console.model.events import HostState, RollState, RollStateChanged
from tests.simlab import fleet_yaml, host_entered, sim_roll

GROUPS = {"web": ["w1", "w2", "w3", "w4"], "db": ["d1", "d2"]}
BUDGETS = {"web": 2, "db": 1}


def order_after(inventory, host: str) -> list[str]:
    """Hosts in slices after the one holding ``host``."""
    slices, _ = plan(inventory)
    idx = next(i for i, s in enumerate(slices) if host in s.hosts)
    return [h for s in slices[idx + 1 :] for h in s.hosts]


async def test_full_roll_reboots_every_host_exactly_once(tmp_path: Path) -> None:
    text = fleet_yaml(GROUPS, budgets=BUDGETS, policy="batch: [1, 2]\ncanaries: [w1]")
    async with sim_roll(tmp_path, text) as roll:
        result = await roll.engine.run()
        assert result.state is RollState.COMPLETE
        assert sorted(result.rebooted) == sorted(roll.engine.hosts)
        assert not result.failed and not result.untouched
        for name in roll.engine.hosts:
            assert roll.reboots(name) == 1, name
            entry = roll.fleet.reboots_of(name)[0]
            run = roll.engine.hosts[name]
            assert entry.boot_id_before == run.boot_id_before
            assert entry.boot_id_after == run.boot_id_after != run.boot_id_before


@pytest.mark.parametrize("fault", ["never-returns", "slow-boot", "check-fails", "ssh-hangs", "flapping"])
async def test_each_fault_fails_its_host_pauses_and_leaves_the_rest_untouched(
    tmp_path: Path, fault: str
) -> None:
    text = fleet_yaml(GROUPS, budgets=BUDGETS, policy="batch: 1\ncanaries: [w1]\nbake: 0.6s")
    async with sim_roll(tmp_path, text, faults={"w2": {fault}}) as roll:
        result = await roll.engine.run()
        assert result.state is RollState.PAUSED, result
        assert result.failed == ("w2",)
        assert roll.engine.hosts["w2"].state is HostState.FAILED
        assert "w2" in result.reason
        assert roll.engine.auto_paused
        # Ground truth: w2 really rebooted once, the canary once, nobody after it at all.
        assert roll.reboots("w2") == 1
        assert roll.reboots("w1") == 1
        for name in order_after(roll.inventory, "w2"):
            assert roll.reboots(name) == 0, name
            assert name in result.untouched


async def test_unhealthy_host_is_not_rebooted_and_pauses(tmp_path: Path) -> None:
    text = fleet_yaml(GROUPS, budgets=BUDGETS, policy="batch: 1")
    async with sim_roll(tmp_path, text, faults={"w2": {"unhealthy"}}) as roll:
        result = await roll.engine.run()
        assert result.state is RollState.PAUSED
        assert roll.engine.hosts["w2"].state is HostState.UNHEALTHY
        assert roll.reboots("w2") == 0
        assert "unhealthy before its reboot" in result.reason


async def test_changed_host_key_after_reboot_is_refused(tmp_path: Path) -> None:
    text = fleet_yaml(GROUPS, budgets=BUDGETS, policy="batch: 1")
    async with sim_roll(tmp_path, text, faults={"w1": {"new-host-key"}}, accept_new=True) as roll:
        result = await roll.engine.run()
        assert result.state is RollState.PAUSED
        assert result.failed == ("w1",)
        assert "possible impersonation" in roll.engine.hosts["w1"].reason


async def test_pause_mid_slice_issues_no_new_reboot_then_resume_completes(tmp_path: Path) -> None:
    text = fleet_yaml(GROUPS, budgets=BUDGETS, policy="batch: 2\nbake: 0.5s")
    async with sim_roll(tmp_path, text) as roll:
        task = asyncio.ensure_future(roll.engine.run(stop_when_paused=False))
        await roll.wait_for(host_entered(None, HostState.REBOOTING))
        roll.engine.pause("test pause")
        assert roll.engine.state in (RollState.PAUSING, RollState.PAUSED)
        committed = {n for n, r in roll.engine.hosts.items() if r.reboot_issued}
        await roll.wait_for(lambda ev: isinstance(ev, RollStateChanged) and ev.new is RollState.PAUSED)
        # In-flight hosts finished their cycle; nothing new was committed or really rebooted.
        assert {n for n, r in roll.engine.hosts.items() if r.reboot_issued} == committed
        for n, r in roll.engine.hosts.items():
            assert r.state in (HostState.DONE, HostState.PENDING), (n, r.state)
        assert {e.host for e in roll.fleet.ledger} == committed
        # Still nothing after a while paused: poll intervals pass, no reboot.
        await asyncio.sleep(0.5)
        assert {e.host for e in roll.fleet.ledger} == committed
        roll.engine.resume()
        result = await asyncio.wait_for(task, 60)
        assert result.state is RollState.COMPLETE
        assert all(roll.reboots(n) == 1 for n in roll.engine.hosts)


async def test_abort_is_final_and_issues_no_new_reboot(tmp_path: Path) -> None:
    text = fleet_yaml(GROUPS, budgets=BUDGETS, policy="batch: 2")
    async with sim_roll(tmp_path, text) as roll:
        task = asyncio.ensure_future(roll.engine.run(stop_when_paused=False))
        await roll.wait_for(host_entered(None, HostState.REBOOTING))
        roll.engine.abort(why="test")
        committed = {n for n, r in roll.engine.hosts.items() if r.reboot_issued}
        result = await asyncio.wait_for(task, 30)
        assert result.state is RollState.ABORTED
        assert {e.host for e in roll.fleet.ledger} == committed
        assert set(result.untouched) == set(roll.engine.hosts) - committed
        with pytest.raises(EngineError):
            roll.engine.resume()


async def test_skip_pending_host_is_never_rebooted(tmp_path: Path) -> None:
    text = fleet_yaml(GROUPS, budgets=BUDGETS, policy="batch: 1")
    async with sim_roll(tmp_path, text) as roll:
        roll.engine.start()
        roll.engine.skip("d2")
        result = await roll.engine.run()
        assert result.state is RollState.COMPLETE
        assert result.skipped == ("d2",)
        assert roll.reboots("d2") == 0
        assert all(roll.reboots(n) == 1 for n in roll.engine.hosts if n != "d2")


async def test_skip_in_flight_keeps_the_slot_and_the_roll_moves_on(tmp_path: Path) -> None:
    text = fleet_yaml({"web": ["w1", "w2", "w3"]}, budgets={"web": 2}, policy="batch: 1\nmax_failures: 5")
    async with sim_roll(tmp_path, text, faults={"w1": {"never-returns"}}) as roll:
        task = asyncio.ensure_future(roll.engine.run())
        await roll.wait_for(host_entered("w1", HostState.DOWN))
        roll.engine.skip("w1")
        # The roll stops waiting on w1; w2 goes ahead (budget 2: w1 holds one slot, w2 takes the other)
        await roll.wait_for(host_entered("w2", HostState.DONE))
        assert "w1" in roll.engine.unavailable()
        result = await asyncio.wait_for(task, 30)
        assert roll.reboots("w2") == 1 and roll.reboots("w3") == 1
        assert roll.engine.hosts["w1"].state is HostState.FAILED
        assert result.failed == ("w1",)


async def test_failed_host_holds_budget_and_roll_says_so(tmp_path: Path) -> None:
    text = fleet_yaml({"web": ["w1", "w2", "w3"]}, budgets={"web": 1}, policy="batch: 1\nmax_failures: 3")
    async with sim_roll(tmp_path, text, faults={"w1": {"check-fails"}}) as roll:
        result = await roll.engine.run()
        assert result.state is RollState.PAUSED
        assert "group web: budget 1 held by w1 (failed)" in result.reason
        assert roll.reboots("w2") == 0 and roll.reboots("w3") == 0


async def test_retry_rechecks_without_rebooting_again(tmp_path: Path) -> None:
    text = fleet_yaml({"web": ["w1", "w2"]}, budgets={"web": 1}, policy="batch: 1")
    async with sim_roll(tmp_path, text, faults={"w1": {"check-fails"}}) as roll:
        result = await roll.engine.run()
        assert result.failed == ("w1",)
        w1 = roll.engine.hosts["w1"]
        down_at, up_at, boot_id = w1.down_at, w1.up_at, w1.boot_id_after
        assert up_at is not None and boot_id
        roll.fleet.hosts["w1"].spec.faults.discard("check-fails")  # the operator fixed it by hand
        roll.engine.retry("w1")
        await roll.wait_for(host_entered("w1", HostState.DONE))
        assert roll.reboots("w1") == 1
        # the same boot: when it went down and came back (its downtime) are what they were
        assert (w1.down_at, w1.up_at, w1.boot_id_after) == (down_at, up_at, boot_id)
        roll.engine.resume()
        result = await roll.engine.run()
        assert result.state is RollState.COMPLETE
        assert roll.reboots("w1") == 1 and roll.reboots("w2") == 1


async def test_canary_failure_always_pauses(tmp_path: Path) -> None:
    text = fleet_yaml(GROUPS, budgets=BUDGETS, policy="batch: 1\ncanaries: [w1]\nmax_failures: 10")
    async with sim_roll(tmp_path, text, faults={"w1": {"check-fails"}}) as roll:
        result = await roll.engine.run()
        assert result.state is RollState.PAUSED
        assert "canary w1" in result.reason
        assert sum(roll.reboots(n) for n in roll.engine.hosts) == 1


async def test_max_failures_lets_the_roll_go_on(tmp_path: Path) -> None:
    text = fleet_yaml({"web": ["w1", "w2", "w3"]}, budgets={"web": 2}, policy="batch: 1\nmax_failures: 1")
    async with sim_roll(tmp_path, text, faults={"w1": {"check-fails"}}) as roll:
        result = await roll.engine.run()
        assert result.state is RollState.COMPLETE
        assert result.failed == ("w1",)
        assert sorted(result.rebooted) == ["w2", "w3"]


async def test_service_check_failure_pauses_before_the_slice(tmp_path: Path) -> None:
    flag = tmp_path / "lb-down"
    text = fleet_yaml(
        {"web": ["w1", "w2"]},
        budgets={"web": 1},
        policy="batch: 1",
        extra=f"service_checks:\n  - name: lb\n    command: test ! -e {flag}\n",
    )
    async with sim_roll(tmp_path, text) as roll:
        flag.write_text("")
        result = await roll.engine.run()
        assert result.state is RollState.PAUSED
        assert "service check failed" in result.reason and "lb" in result.reason
        assert not roll.fleet.ledger
