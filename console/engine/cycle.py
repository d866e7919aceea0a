"""One host's reboot: pre-check, drain hooks, the commit point, the reboot, and everything after it.

pre-check (boot id, facts, checks: all must pass before the host is touched) → ``pre_reboot`` hooks →
**the commit point** (checked atomically against pause, abort, skip, budgets, windows and pace; the intent
durable in the journal first) → the reboot command → a new boot id (``bootwait``) → checks and drift
regressions → ``post_reboot`` hooks → bake (checks repeat) → done. A problem on the way ends the cycle in a
problem state (``watch``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

from console.drift.findings import evidence_units, preflight, regressions
from console.engine.bootwait import BootWait
from console.engine.core import Core, Room
from console.engine.hostio import HostIO
from console.engine.hostrun import HostProblem, HostRun
from console.engine.watch import Watch
from console.model.aio import Deadline, together
from console.model.errors import JournalUnwritable
from console.model.events import HostState, RollState
from console.model.findings import Severity
from console.model.windows import judge
from console.remote.gather import gather_evidence
from console.remote.ssh import HostSession, SSHError


def _stopped(state: RollState) -> str:
    """Why no reboot starts, in words that stay true once the roll has settled (never "the roll is pausing"
    on a host line of a roll that has long been paused)."""
    return (
        "the roll was aborted" if state in (RollState.ABORTING, RollState.ABORTED) else "the roll was paused"
    )


def _not_started(state: RollState) -> str:
    return f"not rebooted: {_stopped(state)} before its turn; back in the queue (untouched)"


def crash_point(name: str, host: str) -> None:
    """Test hook: ``SLOWROLL_CRASH_AT=after-intent:web-01`` kills this process right there (kill tests)."""
    want = os.environ.get("SLOWROLL_CRASH_AT")
    if want and want == f"{name}:{host}":
        os.kill(os.getpid(), signal.SIGKILL)


class Cycle(Room):
    def __init__(self, core: Core, io: HostIO, bootwait: BootWait, watch: Watch) -> None:
        super().__init__(core)
        self.io = io
        self.bootwait = bootwait
        self.watch = watch

    async def reboot(self, run: HostRun) -> None:
        """The whole cycle of one host; it ends done, back in the queue, skipped, or in a problem state."""
        core = self.core
        session: HostSession | None = None
        run.started_at = core.clock()
        try:
            core.set_host(run, HostState.PRECHECKING)
            session = await self.precheck(run)
            if core.state is not RollState.RUNNING or run.skipped:
                # Paused or aborted while pre-checking (or skipped): it was never touched.
                core.set_host(
                    run,
                    HostState.SKIPPED if run.skipped else HostState.PENDING,
                    "skipped before its reboot" if run.skipped else _not_started(core.state),
                )
                return
            drained = await self._drain(run, session)
            refusal = await self.commit(run, session)
            if refusal is not None:
                await self._not_now(run, session, refusal, drained=drained)
                return
            session = None
            await self.after_reboot(run, phase="post")
        except HostProblem as problem:
            self.watch.problem(run, problem)
        except SSHError as exc:
            state = HostState.FAILED if run.reboot_issued else HostState.UNHEALTHY
            self.watch.problem(run, HostProblem(state, str(exc)))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never let one host's surprise stop the roll silently
            self.watch.problem(run, HostProblem(HostState.FAILED, f"internal error: {exc!r}"))
        finally:
            if session is not None:
                session.close()

    async def precheck(self, run: HostRun) -> HostSession:
        """Boot id, facts and pre-checks; returns the open session, or raises ``HostProblem``."""
        try:
            session = await self.io.connect(run)
        except SSHError as exc:
            raise HostProblem(HostState.UNHEALTHY, f"unreachable before its reboot: {exc}") from exc
        try:
            # Three commands on one connection at once (one channel each): the boot id, the facts and
            # the pre-checks cost one round trip's wait instead of three.
            boot_id, facts, failed = await together(
                self.io.read_boot_id(session),
                self.io.facts(run, session),
                self.io.checks(run, session, "pre"),
            )
            run.boot_id_before, run.facts_before = boot_id, facts
            if run.facts_before is not None:
                found = (
                    preflight(
                        run.facts_before,
                        self.policy.drift,
                        last_reboot_at=self.core.history.get(run.name),
                        now=self.core.clock(),
                    )
                    if self.policy.drift is not None
                    else []
                )
                self.core.report_findings(run, found, "before")
                blocking = [f for f in found if f.severity is Severity.BLOCK]
                if blocking:
                    raise HostProblem(
                        HostState.BLOCKED,
                        "not rebooted: " + "; ".join(f.message for f in blocking),
                        blocking,
                    )
            if failed:
                raise HostProblem(HostState.UNHEALTHY, f"unhealthy before its reboot: {failed}")
        except BaseException:
            session.close()
            raise
        return session

    async def _drain(self, run: HostRun, session: HostSession) -> bool:
        """Run the ``pre_reboot`` hooks, if any; True if there were some (the host is drained)."""
        pre_hooks = self.core.inventory.hooks_for(run.host, "pre_reboot")
        if not pre_hooks:
            return False
        self.core.set_host(run, HostState.DRAINING, "pre_reboot hooks")
        failed = await self.io.hooks(run, pre_hooks, session)
        if failed:  # a drain that failed is the operator's to look at: always pauses
            raise HostProblem(HostState.FAILED, f"{failed}; not rebooted", pause=True)
        return True

    async def _not_now(self, run: HostRun, session: HostSession, refusal: str, *, drained: bool) -> None:
        """The commit point refused: put a drained host back, then leave it alone."""
        if drained:  # drained for nothing: put it back before leaving it alone
            failed = await self.io.hooks(run, self.core.inventory.hooks_for(run.host, "post_reboot"), session)
            if failed:
                raise HostProblem(HostState.FAILED, f"{failed} (undoing the drain); not rebooted", pause=True)
        self.core.set_host(
            run,
            HostState.SKIPPED if run.skipped else HostState.PENDING,
            "skipped before its reboot" if run.skipped else f"not started: {refusal}",
        )

    # ------------------------------------------------------------------------------------------------
    # The commit point: the one sequence that sends a reboot (a host's first, or one re-issued)

    def refusal(self, run: HostRun) -> str | None:
        """Why ``run`` may not be rebooted right now (None: it may). Synchronous: the commit point."""
        core = self.core
        if core.journal_broken is not None:
            return core.journal_broken
        if core.state is not RollState.RUNNING:
            return _stopped(core.state)
        if run.skipped:
            return "skipped"
        if run.rebooted:
            return "already rebooted in this roll"
        others = [n for n in core.unavailable() if n != run.name]
        by_group, fleet = core.budgets.usage(others)
        if not core.budgets.fits(run.name, by_group, len(fleet)):
            return "over budget"
        if self.policy.windows and not judge(self.policy.windows, core.clock(), 0.0).allowed:
            return "outside the maintenance window"
        if core.pace_quota() <= 0:
            return f"max_reboots_per_hour {self.policy.max_reboots_per_hour} reached"
        return None

    async def commit(self, run: HostRun, session: HostSession, *, reissue: str | None = None) -> str | None:
        """Reboot ``run`` unless the commit point refuses; returns why not (nothing was sent), else None.

        Refusal check → intent in the journal → REBOOTING → the reboot command → sent in the journal.
        Nothing awaits between the refusal check and the recorded intent, so a pause, an abort or another
        host's slot can not slip in between. Once sent, ``session`` is closed. ``reissue`` says why a
        reboot recorded before a restart, which never happened, is sent again.
        """
        core = self.core
        refusal = self.refusal(run)
        if refusal is not None:
            return refusal
        if reissue is None:  # a re-issued reboot replaces one whose intent the pace already counts
            core.reboot_times.append(time.monotonic())
        assert run.boot_id_before is not None
        if core.journal is not None:
            try:
                if reissue is not None:
                    core.journal.record_reissue(run.name, reissue)
                core.journal.record_intent(
                    run.name, run.boot_id_before, run.facts_before.to_dict() if run.facts_before else None
                )
            except JournalUnwritable as exc:  # the intent cannot be made durable: no reboot
                if reissue is None:
                    core.reboot_times.pop()
                core.journal_failed(exc)
                return str(exc)
        run.reboot_issued = True
        if reissue is None:
            core.set_host(run, HostState.REBOOTING, "reboot command sent")
        else:
            run.reissued = True
            core.log(f"{run.name}: re-issuing its reboot: {reissue}", run.name, "warn")
            core.set_host(run, HostState.REBOOTING, "reboot re-issued: " + reissue)
        crash_point("after-intent", run.name)
        await self._send_reboot(run, session)
        crash_point("after-send", run.name)
        if core.journal is not None:
            try:
                core.journal.record_sent(run.name)
            except JournalUnwritable as exc:  # sent: followed in memory; a resume verifies it by boot id
                core.journal_failed(exc)
        return None

    async def _send_reboot(self, run: HostRun, session: HostSession) -> None:
        run.reboot_sent_at = self.core.clock()
        try:
            result = await session.fire(self.policy.reboot_command, timeout=self.policy.command_timeout)
        finally:
            session.close()
        if result is not None and not result.ok:
            text = (result.stderr or result.stdout).strip()[:300]
            raise HostProblem(
                HostState.FAILED,
                f"the reboot command {self.policy.reboot_command!r} failed: exit {result.exit_status} {text}",
            )

    # ------------------------------------------------------------------------------------------------
    # After the reboot

    async def after_reboot(self, run: HostRun, *, phase: str) -> None:
        """Wait for the new boot id, then checks, drift regressions and bake; ends DONE or raises."""
        core = self.core
        loop = asyncio.get_running_loop()
        deadline = core.deadline(self.policy.reboot_timeout)
        run.timeout_at, run.deadline = core.clock() + self.policy.reboot_timeout, deadline
        run.timed_out = False
        session = await self.bootwait.wait_for_new_boot_id(run, deadline)
        try:
            await self._settle_boot(run, session, deadline)
            core.set_host(run, HostState.CHECKING)
            failed, run.facts_after = await together(
                self.io.checks(run, session, phase), self.io.facts(run, session)
            )
            if failed:
                raise HostProblem(HostState.FAILED, failed)
            await self._drift_after(run, session)
            post_hooks = core.inventory.hooks_for(run.host, "post_reboot")
            if post_hooks:
                failed = await self.io.hooks(run, post_hooks, session)
                if failed:
                    raise HostProblem(HostState.FAILED, failed)
            if self.policy.bake > 0:
                core.set_host(run, HostState.BAKING)
                bake_end = loop.time() + self.policy.bake
                while True:
                    left = bake_end - loop.time()
                    if left <= 0:
                        break
                    await asyncio.sleep(min(self.policy.check_interval, left))
                    if session.closed:
                        session = await self.io.connect(run)
                    failed = await self.io.checks(run, session, "bake")
                    if failed:
                        raise HostProblem(HostState.FAILED, f"{failed} during bake")
            run.healthy_at = core.clock()
            run.done_at = run.healthy_at
            if run.reboot_sent_at is not None:
                core.cycle_times.append(run.done_at - run.reboot_sent_at)
            core.set_host(run, HostState.DONE, "healthy" + (" (retried)" if phase == "retry" else ""))
        except SSHError as exc:
            raise HostProblem(HostState.FAILED, f"lost contact after the reboot: {exc}") from exc
        finally:
            session.close()

    async def _settle_boot(self, run: HostRun, session: HostSession, deadline: Deadline) -> None:
        """Wait while systemd reports the boot is still under way (``initializing``/``starting``)."""
        while not deadline.passed():
            result = await session.run("systemctl is-system-running", timeout=self.policy.command_timeout)
            state = result.stdout.strip()
            if state not in ("initializing", "starting"):
                return
            await asyncio.sleep(self.policy.poll_interval)
        run.timed_out = True
        raise HostProblem(HostState.FAILED, "still booting (systemd 'starting') at reboot_timeout")

    async def _drift_after(self, run: HostRun, session: HostSession) -> None:
        """Regressions between ``facts_before`` and ``facts_after`` (already gathered), with journal evidence."""
        if run.facts_before is None or run.facts_after is None or self.policy.drift is None:
            return
        units = evidence_units(run.facts_before, run.facts_after)
        evidence: dict[str, str] = {}
        if units:
            try:
                evidence = await gather_evidence(session, units, timeout=self.policy.command_timeout)
            except SSHError as exc:
                self.core.log(f"could not read journal evidence: {exc}", run.name, "warn")
        found = regressions(run.facts_before, run.facts_after, self.policy.drift, evidence)
        self.core.report_findings(run, found, "after")
        blocking = [f for f in found if f.severity is Severity.BLOCK]
        if blocking:
            raise HostProblem(HostState.FAILED, "; ".join(f.message for f in blocking), blocking)
