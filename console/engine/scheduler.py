"""The run loop: which hosts go next and when — slices, budgets, the ramp, pace, windows, service checks.

Each turn of the loop waits out pause and abort, then a maintenance window, the pace limit
(``max_reboots_per_hour``) or ``min_slice_gap``; then forms the next slice (a canary alone first, then the
ramp's size, as far as the budgets and the pace allow) and runs it: service-level checks before it, one
cycle per host, service-level checks again while its hosts are checked and bake.
"""

from __future__ import annotations

import asyncio
import time

from console.engine.core import Core, Room
from console.engine.cycle import Cycle
from console.engine.hostrun import HostRun
from console.model.budgets import form_slice, ramp_size
from console.model.events import (
    BudgetHeld,
    CheckRan,
    HostState,
    RollState,
    SliceFinished,
    SliceStarted,
    WindowWait,
)
from console.model.windows import WindowVerdict, judge
from console.remote.checks import run_local_check


class Scheduler(Room):
    def __init__(self, core: Core, cycle: Cycle) -> None:
        super().__init__(core)
        self.cycle = cycle

    async def loop(self, stop_when_paused: bool) -> None:
        """Slice after slice until the roll is complete or aborted (or paused, with ``stop_when_paused``)."""
        core = self.core
        while True:
            if core.state in (RollState.ABORTING, RollState.ABORTED):
                await core.until(lambda: core.state is RollState.ABORTED)
                return
            if core.state in (RollState.PAUSING, RollState.PAUSED):
                await core.until(lambda: core.state is not RollState.PAUSING)
                if core.state is RollState.PAUSED:
                    if stop_when_paused:
                        return
                    await core.until(lambda: core.state is not RollState.PAUSED)
                continue
            if core.state is RollState.COMPLETE:
                return
            if core.waiting_on():
                # Hosts still in their cycle (verifying after a restart, or a retry): the next slice waits.
                await core.changed.wait()
                continue
            pending = [n for n in core.queue if core.hosts[n].state is HostState.PENDING]
            if not pending:
                if any(r.in_flight for r in core.hosts.values()):
                    await core.changed.wait()
                    continue
                problems = core.problems()
                core.set_roll(
                    RollState.COMPLETE,
                    "every host is done" if not problems else f"done, with {len(problems)} problem host(s)",
                )
                return
            if await self._gate():
                continue
            chosen, canary, why = self._next_slice(pending)
            if not chosen:
                if any(r.in_flight for r in core.hosts.values()):
                    await core.changed.wait()
                    continue
                core.auto_pause(why)
                continue
            await self._run_slice(chosen, canary, why)

    # ------------------------------------------------------------------------------------------------
    # Slices

    def _next_slice(self, pending: list[str]) -> tuple[list[str], bool, str]:
        core = self.core
        unavailable = core.unavailable()
        canaries = [n for n in pending if core.hosts[n].canary]
        if canaries:
            chosen, held = form_slice(canaries[:1], 1, core.budgets, unavailable)
            return chosen, True, "canary: goes first, alone" if chosen else self._held_reason(held)
        size = ramp_size(self.policy, core.ramp_step, len(core.hosts))
        paced = min(size, core.pace_quota())
        chosen, held = form_slice(pending, paced, core.budgets, unavailable)
        step = self.policy.batch[min(core.ramp_step, len(self.policy.batch) - 1)]
        why = f"batch step {core.ramp_step + 1} ({step} → {size})"
        if paced < size:
            why += f"; pace allows {paced} (max_reboots_per_hour {self.policy.max_reboots_per_hour})"
        if chosen and len(chosen) < size and held:
            limits = sorted({b for bs in held.values() for b in bs})
            why += f"; budget of {', '.join(limits)} allows {len(chosen)}"
        return chosen, False, why if chosen else self._held_reason(held)

    def _held_reason(self, held: dict[str, list[str]]) -> str:
        core = self.core
        by_group, fleet = core.budgets.usage(core.unavailable())
        parts = []
        for budget in sorted({b for bs in held.values() for b in bs}):
            if budget == "fleet":
                holders, limit = fleet, core.budgets.fleet or 0
            else:
                g = budget.removeprefix("group ")
                holders, limit = by_group.get(g, []), core.budgets.per_group[g]
            desc = ", ".join(f"{h} ({core.hosts[h].state.value})" for h in holders)
            parts.append(f"{budget}: budget {limit} held by {desc}")
            core.emit(BudgetHeld(core.clock(), budget, limit, tuple(holders)))
        return "budget exhausted — " + "; ".join(parts) if parts else "no host can start"

    async def _run_slice(self, names: list[str], canary: bool, why: str) -> None:
        core = self.core
        core.slice_index += 1
        index = core.slice_index
        core.current_slice = tuple(names)
        started = time.monotonic()
        core.slice_started_at = core.clock()
        runs = [core.hosts[n] for n in names]
        for r in runs:
            r.slice_index = index
        core.emit(SliceStarted(core.clock(), index, tuple(names), canary, why, core.ramp_step))
        if core.inventory.service_checks:
            failed = await self._service_checks("slice")
            if failed:
                core.auto_pause(f"service check failed before slice {index + 1}: {failed}")
                return
            if core.state is not RollState.RUNNING:
                return
        for r in runs:
            r.task = core.spawn(self.cycle.reboot(r), f"cycle {r.name}")
        monitor = (
            core.spawn(self._bake_monitor(runs), "service checks during bake")
            if (core.inventory.service_checks)
            else None
        )
        await core.until(lambda: all(r.skipped or (r.task is not None and r.task.done()) for r in runs))
        if monitor is not None:
            monitor.cancel()
        if any(r.reboot_issued for r in runs):
            core.slice_times.append(time.monotonic() - started)
            if not canary:
                core.ramp_step += 1
        core.last_slice_end = asyncio.get_running_loop().time()
        core.emit(SliceFinished(core.clock(), index, tuple(names), time.monotonic() - started))

    # ------------------------------------------------------------------------------------------------
    # Service-level checks (the service as a whole, not one host)

    async def _service_checks(self, phase: str) -> str | None:
        """Run every service-level check; returns a description of the first failure, or None."""
        core = self.core
        env = {"SLOWROLL_ROLL": core.inventory.name, "SLOWROLL_SLICE": str(core.slice_index + 1)}
        outcomes = await asyncio.gather(
            *(
                run_local_check(c, default_timeout=self.policy.command_timeout, env=env)
                for c in core.inventory.service_checks
            )
        )
        failed = None
        for o in outcomes:
            core.emit(CheckRan(core.clock(), None, o.check, phase, o.ok, o.output, o.duration, o.attempts))
            if not o.ok and failed is None:
                failed = f"{o.check}: {o.output.splitlines()[-1] if o.output else 'failed'}"
        return failed

    async def _bake_monitor(self, runs: list[HostRun]) -> None:
        while True:
            await asyncio.sleep(self.policy.check_interval)
            if not any(r.state in (HostState.CHECKING, HostState.BAKING) for r in runs):
                continue
            failed = await self._service_checks("bake")
            if failed:
                self.core.auto_pause(
                    f"service check failed during bake of slice {self.core.slice_index + 1}: {failed}"
                )
                return

    # ------------------------------------------------------------------------------------------------
    # When: maintenance windows, pace, the gap between slices

    def expected_cycle(self) -> float:
        """How long a slice is expected to take: measured so far, else from history, else an estimate."""
        core = self.core
        if core.slice_times:
            recent = core.slice_times[-5:]
            return sum(recent) / len(recent)
        if core.typical_cycle is not None:
            return core.typical_cycle
        return self.policy.bake + min(self.policy.reboot_timeout, 120.0)

    def window_verdict(self) -> WindowVerdict:
        return judge(self.policy.windows, self.core.clock(), self.expected_cycle())

    async def _gate(self) -> bool:
        """Wait for a maintenance window, the pace limit or the gap between slices. True if it waited."""
        core = self.core
        loop = asyncio.get_running_loop()
        if self.policy.windows:
            verdict = self.window_verdict()
            if not verdict.allowed:
                until = verdict.next_start
                core.waiting_for = f"maintenance window: {verdict.reason}"
                core.emit(WindowWait(core.clock(), verdict.reason, until))
                core.log(
                    f"waiting: {verdict.reason}; next window opens "
                    + (time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(until)) if until else "never"),
                    level="warn",
                )
                await self._sleep_unless_stopped((until - core.clock()) if until else 3600.0)
                core.waiting_for = ""
                return True
        if core.pace_quota() <= 0 and core.reboot_times:
            wait = core.reboot_times[0] + self.policy.pace_window - time.monotonic()
            core.waiting_for = f"pace: max_reboots_per_hour {self.policy.max_reboots_per_hour}"
            core.log(f"waiting {wait:.0f}s: {core.waiting_for} reached", level="info")
            await self._sleep_unless_stopped(wait)
            core.waiting_for = ""
            return True
        if self.policy.min_slice_gap > 0 and core.last_slice_end is not None:
            wait = core.last_slice_end + self.policy.min_slice_gap - loop.time()
            if wait > 0:
                core.waiting_for = f"min_slice_gap {self.policy.min_slice_gap:g}s"
                await self._sleep_unless_stopped(wait)
                core.waiting_for = ""
                return True
        return False

    async def _sleep_unless_stopped(self, seconds: float) -> None:
        """Sleep, but wake at once on pause or abort (and re-check at least once a minute)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + max(0.0, seconds)
        while self.core.state is RollState.RUNNING:
            left = end - loop.time()
            if left <= 0:
                return
            await self.core.changed.wait(timeout=min(left, 60.0))
