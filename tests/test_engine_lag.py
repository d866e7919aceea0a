"""A busy console is not a host that did not come back: deadlines move back by the event loop's own lag."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from console.model.aio import Deadline, LoopLag
from console.model.events import LATE, HostState, HostStateChanged, LogLine, RollState
from tests.simlab import fleet_yaml, sim_roll


async def test_a_deadline_survives_a_loop_blocked_longer_than_it() -> None:
    lag = LoopLag(tick=0.02)
    ticker = asyncio.ensure_future(lag.run())
    try:
        await asyncio.sleep(0.05)  # the ticker is under way
        plain = Deadline(asyncio.get_running_loop().time() + 0.3)  # what the engine used before: no lag
        aware = lag.deadline(0.3)
        time.sleep(0.6)  # noqa: ASYNC251 -- the loop deliberately blocked, as a starved console would be
        assert plain.passed()  # a deadline that ignores the lag has passed: the host would be failed
        assert not aware.passed()  # the stall is seen even before the ticker has woken
        assert 0.5 < aware.extension < 0.9
        await asyncio.sleep(0.05)  # the ticker wakes and books the stall
        assert not aware.passed() and lag.worst > 0.5
        # Time that really passes (the loop running on time) still ends it.
        await asyncio.sleep(0.35)
        assert aware.passed()
    finally:
        ticker.cancel()


async def test_ordinary_jitter_is_not_lag() -> None:
    lag = LoopLag(tick=0.01, slack=0.05)
    ticker = asyncio.ensure_future(lag.run())
    try:
        d = lag.deadline(0.1)
        await asyncio.sleep(0.15)
        assert d.passed() and lag.total == 0.0
    finally:
        ticker.cancel()


async def test_a_host_back_after_its_timeout_ends_done_late_not_failed(tmp_path: Path) -> None:
    text = fleet_yaml(
        {"web": ["w1", "w2", "w3"]},
        budgets={"web": 3},
        policy="batch: 1\nmax_failures: 1\nreboot_timeout: 1.2s\nbake: 0.1s",
    )
    async with sim_roll(tmp_path, text, faults={"w1": {"slow-boot"}}) as roll:  # back after 1.8s
        result = await asyncio.wait_for(roll.engine.run(), 60)
        w1 = roll.engine.hosts["w1"]
        failed_first = [
            e
            for e in roll.events
            if isinstance(e, HostStateChanged) and e.host == "w1" and e.new is HostState.FAILED
        ]
        assert failed_first and "reboot_timeout" in failed_first[0].reason  # it did time out
        # One clear state: done (late), with its new boot id; not failed and "healthy" at once.
        assert w1.state is HostState.DONE and w1.late and w1.reason.startswith(LATE), w1.reason
        assert w1.rebooted and w1.boot_id_after and w1.boot_id_after != w1.boot_id_before
        assert not w1.holds_slot and roll.engine.problems() == []
        assert result.state is RollState.COMPLETE
        assert result.failed == () and "w1" in result.rebooted and result.late == ("w1",)
        assert result.to_dict()["counts"] == {
            "rebooted": 3,
            "failed": 0,
            "skipped": 0,
            "untouched": 0,
            "late": 1,
        }
        assert roll.reboots("w1") == 1  # never rebooted again
        assert any("came back late" in e.message for e in roll.events if isinstance(e, LogLine))
