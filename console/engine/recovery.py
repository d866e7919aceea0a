"""Getting hosts back on track: after a restart of the console, and after a problem (retry).

After a restart the journal says where each host was (``restore``). A host whose reboot may have been in
flight is verified first: a new boot id means its reboot happened (carry on with its checks); the same boot
id throughout the grace period means it never did (re-issue it, through the cycle's one commit sequence);
anything else is for the operator. A host rebooted in this roll is never rebooted again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable

from console.engine.core import Core, Room
from console.engine.cycle import Cycle
from console.engine.hostio import HostIO
from console.engine.hostrun import HostProblem, HostRun
from console.engine.watch import Watch
from console.journal.records import HostRecord
from console.model.events import COMMITTED, PROBLEMS, HostState, RollState
from console.model.findings import Finding
from console.remote.facts import Facts
from console.remote.ssh import SSHError, SSHErrorKind

# SSH errors that say nothing about whether the host rebooted, only that it can not be trusted or reached.
_UNTRUSTED = (SSHErrorKind.HOSTKEY_CHANGED, SSHErrorKind.HOSTKEY_UNKNOWN, SSHErrorKind.AUTH)


class Recovery(Room):
    def __init__(self, core: Core, io: HostIO, cycle: Cycle, watch: Watch) -> None:
        super().__init__(core)
        self.io = io
        self.cycle = cycle
        self.watch = watch

    # ------------------------------------------------------------------------------------------------
    # After a restart

    def restore(
        self,
        records: Iterable[HostRecord],
        *,
        state: RollState,
        reason: str,
        automatic: bool,
        slice_index: int,
        ramp_step: int,
        started_at: float | None,
    ) -> None:
        """Take back host states from the journal before the roll runs (see ``Engine.restore``)."""
        core = self.core
        for rec in records:
            run = core.hosts.get(rec.host)
            if run is not None:
                _restore_host(run, rec)
                if run.late:
                    core.late.add(run.name)
        core.slice_index = slice_index
        core.ramp_step = ramp_step
        core.started_at = started_at
        core.reason = reason
        # What max_failures and the pace limits count carries over a restart: problem hosts, and the
        # reboots sent within the pace window (wall-clock intents mapped onto this process's monotonic clock).
        core.failures = sum(1 for r in core.hosts.values() if r.state in PROBLEMS and not r.skipped)
        now_wall, now_mono = core.clock(), time.monotonic()
        sent = sorted(
            now_mono - (now_wall - r.reboot_sent_at)
            for r in core.hosts.values()
            if r.reboot_issued and r.reboot_sent_at is not None
        )
        core.reboot_times.clear()
        core.reboot_times.extend(t for t in sent if t >= now_mono - self.policy.pace_window)
        ends = [r.done_at for r in core.hosts.values() if r.done_at is not None]
        if ends:
            core.last_slice_end = now_mono - (now_wall - max(ends))
        core.auto_paused = automatic
        verifying = any(r.verify for r in core.hosts.values())
        state = {RollState.PAUSING: RollState.PAUSED, RollState.ABORTING: RollState.ABORTED}.get(state, state)
        if verifying and state is RollState.PAUSED:
            state = RollState.PAUSING
        elif verifying and state is RollState.ABORTED:
            state = RollState.ABORTING
        elif state is RollState.READY:
            state = RollState.RUNNING
        core.state = state

    async def verify_inflight(self, run: HostRun) -> None:
        """After a restart: did this host's reboot happen? Carry on, re-issue it, or ask the operator."""
        run.verify = False
        self.core.log(
            f"{run.name}: the console restarted while its reboot may have been in flight; checking its boot id",
            run.name,
        )
        try:
            if run.rebooted:
                await self.cycle.after_reboot(run, phase="post")
                return
            grace = (
                self.policy.resume_grace
                if self.policy.resume_grace is not None
                else self.policy.reboot_timeout
            )
            changed, saw_same, saw_unreachable = await self._watch_boot_id(run, grace)
            if changed:
                self.core.log(
                    f"{run.name}: boot id changed: its reboot happened; carrying on with its checks", run.name
                )
                await self.cycle.after_reboot(run, phase="post")
                return
            if saw_same and not saw_unreachable:
                await self._never_happened(run, grace)
                return
            evidence = (
                "unreachable"
                if not saw_same
                else "unreachable at times, and up with its old boot id at others"
            )
            raise HostProblem(
                HostState.UNCONFIRMED,
                f"cannot tell whether its reboot happened: {evidence} during the {grace:g}s grace period "
                "after the restart; check the host, then retry (x) or skip (s) it",
            )
        except HostProblem as problem:
            self.watch.problem(run, problem)
        except SSHError as exc:
            self.watch.problem(run, HostProblem(HostState.FAILED, str(exc)))

    async def _watch_boot_id(self, run: HostRun, grace: float) -> tuple[bool, bool, bool]:
        """Probe for ``grace`` seconds or until the boot id changes: (changed, saw it same, saw it down)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        saw_same = saw_unreachable = False
        while loop.time() < deadline:
            try:
                session, boot_id = await self.io.probe(run)
            except SSHError as exc:
                if exc.kind in _UNTRUSTED:
                    raise HostProblem(HostState.UNCONFIRMED, f"cannot confirm its reboot: {exc}") from exc
                saw_unreachable = True
                if run.state is HostState.REBOOTING:
                    self.core.set_host(run, HostState.DOWN, "not answering (after restart)")
                await asyncio.sleep(self.policy.poll_interval)
                continue
            session.close()
            if boot_id != run.boot_id_before:
                return True, saw_same, saw_unreachable
            saw_same = True
            await asyncio.sleep(self.policy.poll_interval)
        return False, saw_same, saw_unreachable

    async def _never_happened(self, run: HostRun, grace: float) -> None:
        """Up with its old boot id all along: re-issue the reboot, or leave it pending if the roll is not running."""
        why = (
            f"reachable with the same boot id {run.boot_id_before} for the whole grace period "
            f"({grace:g}s) after the restart: the reboot never happened"
        )
        if self.core.state is not RollState.RUNNING:
            run.reboot_issued = False
            self.core.set_host(
                run, HostState.PENDING, f"not rebooted ({why}); the roll is {self.core.state.value}"
            )
            return
        await self._reissue(run, why)

    async def _reissue(self, run: HostRun, why: str) -> None:
        """Issue the reboot that never happened: this is the host's first reboot in this roll."""
        session = await self.cycle.precheck(run)
        try:
            if await self.cycle.commit(run, session, reissue=why) is not None:
                run.reboot_issued = False
                self.core.set_host(
                    run, HostState.PENDING, "not re-issued: the roll is " + self.core.state.value
                )
                return
        finally:
            session.close()
        await self.cycle.after_reboot(run, phase="post")

    # ------------------------------------------------------------------------------------------------
    # After a problem

    async def retry(self, run: HostRun) -> None:
        """Re-run a problem host's checks. Never reboots it: a host rebooted in this roll stays rebooted."""
        core = self.core
        try:
            if not run.reboot_issued:
                # Unhealthy or blocked before its turn: pre-check again; if it passes it rejoins the queue.
                core.set_host(run, HostState.PRECHECKING, "retry")
                session = await self.cycle.precheck(run)
                session.close()
                run.healthy_again = False
                core.set_host(run, HostState.PENDING, "pre-checks pass on retry: back in the queue")
                if run.name in core.queue:
                    core.queue.remove(run.name)
                core.queue.insert(0, run.name)
                return
            core.set_host(run, HostState.CHECKING, "retry")
            await self.cycle.after_reboot(run, phase="retry")  # its own deadline: reboot_timeout
        except HostProblem as problem:
            core.set_host(run, problem.state, problem.reason)
            self.watch.start(run)
        except SSHError as exc:
            core.set_host(run, HostState.FAILED if run.reboot_issued else HostState.UNHEALTHY, str(exc))


def _restore_host(run: HostRun, rec: HostRecord) -> None:
    """One host as the journal last saw it; a reboot that may have been in flight is to be verified."""
    run.state = rec.state
    run.skipped = rec.skipped
    run.reason = rec.reason
    run.boot_id_before = rec.boot_id_before
    run.boot_id_after = rec.boot_id_after
    run.rebooted = rec.rebooted
    run.reboot_issued = rec.intent_at is not None or rec.rebooted
    run.reissued = rec.reissued
    run.healthy_again = rec.healthy_again
    run.slice_index = rec.slice_index
    run.up_at = rec.up_at
    run.done_at = rec.done_at
    run.reboot_sent_at = rec.sent_at or rec.intent_at
    if rec.facts_before:
        with contextlib.suppress(Exception):
            run.facts_before = Facts.from_dict(rec.facts_before)
    with contextlib.suppress(Exception):
        run.findings = [Finding.from_dict(f) for f in rec.findings]
    if run.state.in_flight or (run.reboot_issued and run.state is HostState.PENDING):
        if run.reboot_issued:
            run.verify = True
            if run.state not in COMMITTED:
                run.state = HostState.REBOOTING
        else:  # pre-checking (or draining) before any intent: it was never touched
            run.state = HostState.SKIPPED if run.skipped else HostState.PENDING
    elif run.state is HostState.SKIPPED:
        run.skipped = True
