"""Operating features on the simulated fleet: hooks, maintenance windows, pace."""

from __future__ import annotations

import asyncio
import datetime as dt
import shlex
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from console.model.events import CheckRan, HostState, RollState, SliceFinished, SliceStarted, WindowWait
from console.model.windows import MaintenanceWindow, judge, parse_time
from console.remote.hooks import remote_command
from tests.simlab import fleet_yaml, host_entered, sim_roll

GROUPS = {"web": ["w1", "w2", "w3"]}


def hooks_yaml(pre: str | None = None, post: str | None = None, on: str = "local") -> str:
    out = "hooks:\n"
    if pre:
        out += f"  pre_reboot:\n    - {{name: drain, on: {on}, timeout: 5s, command: {shlex.quote(pre)}}}\n"
    if post:
        out += (
            f"  post_reboot:\n    - {{name: undrain, on: {on}, timeout: 5s, command: {shlex.quote(post)}}}\n"
        )
    return out


async def test_hooks_run_around_the_reboot_with_the_host_in_their_environment(tmp_path: Path) -> None:
    log = tmp_path / "hooks.log"
    pre = (
        f'echo "pre $SLOWROLL_HOST $SLOWROLL_ADDRESS $SLOWROLL_GROUP $SLOWROLL_PHASE $(date +%s.%N)" >> {log}'
    )
    post = f'echo "post $SLOWROLL_HOST $SLOWROLL_PHASE $(date +%s.%N)" >> {log}'
    text = fleet_yaml(GROUPS, policy="batch: 1", extra=hooks_yaml(pre, post))
    async with sim_roll(tmp_path, text) as roll:
        result = await roll.engine.run()
        assert result.state is RollState.COMPLETE
        lines = [line.split() for line in log.read_text().splitlines()]
        assert [(w[0], w[1]) for w in lines] == [(p, h) for h in ("w1", "w2", "w3") for p in ("pre", "post")]
        for words in lines:
            host = words[1]
            entry = roll.fleet.reboots_of(host)[0]
            if words[0] == "pre":
                assert words[2] == "127.0.0.1" and words[3] == "web" and words[4] == "pre_reboot"
                assert float(words[5]) < entry.down_at  # drained before it went down
            else:
                assert (
                    words[2] == "post_reboot" and float(words[3]) > entry.up_at
                )  # returned after it was back
        states = [t[1] for t in roll.engine.hosts["w2"].timeline]
        assert states[:3] == ["prechecking", "draining", "rebooting"]


async def test_failing_pre_hook_stops_the_host_before_its_reboot_and_pauses(tmp_path: Path) -> None:
    text = fleet_yaml(GROUPS, policy="batch: 1", extra=hooks_yaml('test "$SLOWROLL_HOST" != w2 || exit 3'))
    async with sim_roll(tmp_path, text) as roll:
        result = await roll.engine.run()
        assert result.state is RollState.PAUSED and result.failed == ("w2",)
        assert "pre_reboot hook drain failed" in result.reason and "not rebooted" in result.reason
        assert roll.reboots("w2") == 0 and roll.reboots("w3") == 0 and roll.reboots("w1") == 1


async def test_failing_post_hook_fails_the_host_after_its_reboot(tmp_path: Path) -> None:
    text = fleet_yaml(GROUPS, policy="batch: 1", extra=hooks_yaml(post='echo "lb says no" >&2; exit 1'))
    async with sim_roll(tmp_path, text) as roll:
        result = await roll.engine.run()
        assert result.state is RollState.PAUSED and result.failed == ("w1",)
        assert "post_reboot hook undrain failed: lb says no" in result.reason
        assert roll.reboots("w1") == 1


async def test_host_hooks_run_on_the_host(tmp_path: Path) -> None:
    text = fleet_yaml(
        GROUPS, policy="batch: 1", extra=hooks_yaml("systemctl stop nginx", "exit 0", on="host")
    )
    async with sim_roll(tmp_path, text) as roll:
        result = await roll.engine.run()
        assert result.state is RollState.COMPLETE
        outputs = [e.output for e in roll.events if isinstance(e, CheckRan) and e.check == "hook drain"]
        assert outputs and all("simulated hook" in o for o in outputs)


@pytest.mark.parametrize("value", ["; touch PWNED", "$(touch PWNED)", "`touch PWNED`", "'\"\n; touch PWNED"])
def test_remote_hook_command_quotes_every_value(tmp_path: Path, value: str) -> None:
    line = remote_command('printf "%s" "$SLOWROLL_HOST"', {"SLOWROLL_HOST": value})
    out = subprocess.run(["sh", "-c", line], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout == value
    assert not (tmp_path / "PWNED").exists()


async def test_pause_while_draining_undrains_and_reboots_nothing(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    log = tmp_path / "hooks.log"
    pre = f'echo "pre $SLOWROLL_HOST" >> {log}; while [ ! -e {gate} ]; do sleep 0.02; done'
    post = f'echo "post $SLOWROLL_HOST" >> {log}'
    text = fleet_yaml(GROUPS, policy="batch: 1", extra=hooks_yaml(pre, post))
    async with sim_roll(tmp_path, text) as roll:
        task = asyncio.ensure_future(roll.engine.run())
        await roll.wait_for(host_entered("w1", HostState.DRAINING))
        roll.engine.pause("operator")
        gate.write_text("")
        result = await asyncio.wait_for(task, 30)
        assert result.state is RollState.PAUSED
        assert not roll.fleet.ledger
        assert roll.engine.hosts["w1"].state is HostState.PENDING
        assert log.read_text().split("\n")[:2] == ["pre w1", "post w1"]


# ---------------------------------------------------------------------------------------------------
# Maintenance windows


def _clock_time(at: dt.datetime) -> str:
    return at.strftime("%H:%M:%S")


def test_window_judgement() -> None:
    w = MaintenanceWindow(frozenset(range(7)), parse_time("22:00"), parse_time("04:00"), "Europe/Paris")
    paris = dt.datetime(2026, 11, 27, 23, 0, tzinfo=w.zone).timestamp()  # inside, 5h left
    assert judge([w], paris, 3600).allowed
    late = dt.datetime(2026, 11, 28, 3, 30, tzinfo=w.zone).timestamp()  # inside, 30 min left
    verdict = judge([w], late, 3600)
    assert not verdict.allowed and "closes in 1800s" in verdict.reason
    assert verdict.next_start == dt.datetime(2026, 11, 28, 22, 0, tzinfo=w.zone).timestamp()
    noon = dt.datetime(2026, 11, 28, 12, 0, tzinfo=w.zone).timestamp()
    assert not judge([w], noon, 60).allowed
    weekdays = MaintenanceWindow(frozenset({0}), parse_time("09:00"), parse_time("10:00"), "UTC")
    saturday = dt.datetime(2026, 11, 28, 9, 30, tzinfo=dt.UTC).timestamp()
    v = judge([weekdays], saturday, 60)
    assert not v.allowed and v.next_start == dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC).timestamp()


async def test_roll_waits_for_the_window_and_no_reboot_starts_outside_it(tmp_path: Path) -> None:
    opens = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=3)
    closes = opens + dt.timedelta(hours=1)
    policy = f"batch: 1\nwindows: [{{start: '{_clock_time(opens)}', end: '{_clock_time(closes)}'}}]"
    async with sim_roll(tmp_path, fleet_yaml({"web": ["w1", "w2"]}, policy=policy)) as roll:
        result = await roll.engine.run()
        assert result.state is RollState.COMPLETE
        waits = [e for e in roll.events if isinstance(e, WindowWait)]
        assert waits and waits[0].until == opens.timestamp()
        assert min(e.at for e in roll.fleet.ledger) >= opens.timestamp()


async def test_no_reboot_starts_when_the_cycle_would_outlast_the_window(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    opens, closes = now - dt.timedelta(minutes=5), now + dt.timedelta(seconds=20)
    policy = (
        f"batch: 1\nbake: 30s\nwindows: [{{start: '{_clock_time(opens)}', end: '{_clock_time(closes)}'}}]"
    )
    async with sim_roll(tmp_path, fleet_yaml({"web": ["w1"]}, policy=policy)) as roll:
        task = asyncio.ensure_future(roll.engine.run())
        wait = await roll.wait_for(lambda e: isinstance(e, WindowWait))
        assert "closes in" in wait.reason and "before an expected cycle" in wait.reason
        roll.engine.pause("done looking")
        result = await asyncio.wait_for(task, 10)
        assert result.state is RollState.PAUSED and not roll.fleet.ledger


# ---------------------------------------------------------------------------------------------------
# Pace


async def test_max_reboots_per_hour_and_min_slice_gap(tmp_path: Path) -> None:
    text = fleet_yaml(
        {"web": ["w1", "w2", "w3", "w4"]},
        budgets={"web": 4},
        policy="batch: 4\nmax_reboots_per_hour: 2\nmin_slice_gap: 0.3s\nbake: 0s",
    )
    async with sim_roll(tmp_path, text) as roll:
        roll.engine.policy = replace(roll.engine.policy, pace_window=2.0)  # the "hour", shortened
        result = await roll.engine.run()
        assert result.state is RollState.COMPLETE
        starts = sorted(e.at for e in roll.fleet.ledger)
        assert len(starts) == 4
        # Never more than 2 reboots within any pace window.
        for i in range(len(starts) - 2):
            assert starts[i + 2] - starts[i] >= 2.0 - 0.05, starts
        # min_slice_gap: each slice starts at least 0.3 s after the one before it finished.
        started = [e.at for e in roll.events if isinstance(e, SliceStarted)]
        finished = [e.at for e in roll.events if isinstance(e, SliceFinished)]
        assert len(started) >= 2
        for nxt, prev in zip(started[1:], finished, strict=False):
            assert nxt - prev >= 0.3 - 0.01


async def test_a_failing_drain_pauses_even_when_max_failures_would_go_on(tmp_path: Path) -> None:
    text = fleet_yaml(
        GROUPS_3,
        budgets={"web": 2},
        policy="batch: 1\nmax_failures: 2",
        extra=hooks_yaml('test "$SLOWROLL_HOST" != w2 || exit 3'),
    )
    async with sim_roll(tmp_path, text) as roll:
        result = await roll.engine.run()
        assert result.state is RollState.PAUSED and result.failed == ("w2",)
        assert roll.reboots("w2") == 0 and roll.reboots("w3") == 0


async def test_a_service_check_failing_during_bake_pauses_before_the_next_slice(tmp_path: Path) -> None:
    flag = tmp_path / "lb-down"
    text = fleet_yaml(
        GROUPS_3,
        budgets={"web": 1},
        policy="batch: 1\nbake: 1.5s",
        extra=f"service_checks:\n  - name: lb\n    command: test ! -e {flag}\n",
    )
    async with sim_roll(tmp_path, text) as roll:
        task = asyncio.ensure_future(roll.engine.run())
        await roll.wait_for(host_entered("w1", HostState.BAKING))
        flag.write_text("")
        result = await asyncio.wait_for(task, 30)
        assert result.state is RollState.PAUSED and "during bake" in result.reason
        assert roll.reboots("w2") == 0


GROUPS_3 = {"web": ["w1", "w2", "w3"]}
