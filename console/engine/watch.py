"""Problem hosts: what a problem does to the roll, and the watcher that frees a host's slot once healthy.

A host whose cycle ends in a problem counts against ``max_failures`` (or pauses the roll at once: a canary,
a host that was never rebooted or whose reboot nobody can confirm, a failed drain), and from then on is
checked every ``recheck_interval``: once healthy again it stops holding its budget slot.
"""

from __future__ import annotations

import asyncio

from console.drift.findings import regressions
from console.engine.core import Core, Room
from console.engine.hostio import HostIO
from console.engine.hostrun import HostProblem, HostRun
from console.model.events import LATE, PROBLEMS, HostState, HostStateChanged
from console.model.findings import Severity
from console.remote.checks import run_host_check
from console.remote.ssh import SSHError

# Never rebooted (unhealthy, blocked), or nobody knows whether it was (unconfirmed): these are not
# failures max_failures tolerates, they need the operator.
_NEED_THE_OPERATOR = (HostState.UNHEALTHY, HostState.BLOCKED, HostState.UNCONFIRMED)


class Watch(Room):
    def __init__(self, core: Core, io: HostIO) -> None:
        super().__init__(core)
        self.io = io

    def problem(self, run: HostRun, problem: HostProblem) -> None:
        """End ``run``'s cycle in ``problem``: count it, pause the roll if it must, and watch the host."""
        core = self.core
        if problem.findings:
            core.log(problem.reason, run.name, "error")
        core.set_host(run, problem.state, problem.reason)
        core.failures += 1
        if run.skipped:
            core.log(f"{run.name} (skipped) ended {problem.state.value}: {problem.reason}", run.name, "warn")
        elif run.canary:
            core.auto_pause(f"canary {run.name} {problem.state.value}: {problem.reason}", host=run.name)
        elif problem.state in _NEED_THE_OPERATOR or problem.pause or core.failures > self.policy.max_failures:
            core.auto_pause(f"{run.name} {problem.state.value}: {problem.reason}", host=run.name)
        else:
            core.log(
                f"{run.name} failed ({core.failures} of max_failures {self.policy.max_failures}); the roll goes on",
                run.name,
                "warn",
            )
        self.start(run)

    def start(self, run: HostRun) -> None:
        """Watch ``run`` unless it is watched already."""
        if run.watch is None or run.watch.done():
            run.watch = self.core.spawn(self._watch(run), f"watch {run.name}")

    async def _watch(self, run: HostRun) -> None:
        """Keep checking a problem host: once healthy again it stops holding its budget slot."""
        me = asyncio.current_task()
        while run.state in PROBLEMS and not run.healthy_again:
            await asyncio.sleep(self.policy.recheck_interval)
            if run.state not in PROBLEMS:
                return
            healthy = await self.is_healthy(run)
            if me is not None and me.cancelling():
                # Cancelled, but the CancelledError was lost inside a connection attempt (Python 3.11's
                # wait_for / timeout race with a firing timeout): stop anyway, never loop on.
                raise asyncio.CancelledError
            if healthy and run.timed_out and run.rebooted and run.state is HostState.FAILED:
                self.done_late(run)
            elif healthy:
                run.healthy_again = True
                self.core.log(f"{run.name} is healthy again: its budget slot is released", run.name)
                self.core.emit(
                    HostStateChanged(
                        self.core.clock(),
                        run.name,
                        run.state,
                        run.state,
                        "healthy again",
                        run.boot_id_after,
                        run.skipped,
                    )
                )

    def done_late(self, run: HostRun) -> None:
        """A host failed only for time came back with a new boot id and passes its checks: done, late.

        One state, not "failed" and "healthy" at once: it no longer counts against max_failures and frees
        its slot; the roll stays paused if it paused (the operator resumes), and the log says what happened."""
        core = self.core
        was = run.reason
        if not run.skipped:
            core.failures = max(0, core.failures - 1)
        run.healthy_at = run.done_at = core.clock()
        if run.up_at is None:  # never seen back by the wait that timed out: back by now
            run.up_at = run.healthy_at
        core.late.add(run.name)
        core.set_host(
            run, HostState.DONE, f"{LATE}: back after its reboot_timeout and its checks pass (was: {was})"
        )
        core.log(
            f"{run.name} came back late and passes its checks: {LATE}, no longer counted as failed "
            f"({core.failures} of max_failures {self.policy.max_failures})",
            run.name,
            "warn",
        )

    async def is_healthy(self, run: HostRun) -> bool:
        """Its boot id is new (if a reboot was issued), its checks pass, no blocking regression."""
        try:
            session = await self.io.connect(run)
        except SSHError:
            return False
        try:
            boot_id = await self.io.read_boot_id(session)
            if run.reboot_issued and boot_id == run.boot_id_before:
                return False
            if run.reboot_issued and boot_id != run.boot_id_after:  # back late: it did reboot
                run.boot_id_after = boot_id
                run.rebooted = True  # nothing may reboot it again
            for spec in self.core.inventory.checks_for(run.host):
                o = await run_host_check(spec, run.host, session, default_timeout=self.policy.command_timeout)
                if not o.ok:
                    return False
            if run.reboot_issued and run.facts_before is not None and self.policy.drift is not None:
                after = await self.io.facts(run, session)
                if after is not None and any(
                    f.severity is Severity.BLOCK
                    for f in regressions(run.facts_before, after, self.policy.drift)
                ):
                    return False
            return True
        except (SSHError, HostProblem):
            return False
        finally:
            session.close()
