"""The rollout engine's face: one roll, its operator commands, and what faces may ask of it.

Per host: pre-check (facts + checks must pass before it is touched) → record the boot id → reboot command
(the commit point: checked atomically against pause/abort) → see it go down (or its boot id change) →
poll until it answers SSH with a **new** boot id → checks and drift regressions → bake (checks repeat) →
done. The engine imports nothing from Textual: faces subscribe to its events and call its methods.

The work is done in rooms: ``scheduler`` (the run loop: slices, budgets, pace, windows), ``cycle`` (one
host's reboot and the commit point), ``bootwait`` (waiting for the new boot id), ``watch`` (problem hosts),
``recovery`` (restore after a restart, verify, re-issue, retry) and ``availability`` (what each command may
do now). ``Engine`` builds them over its ``Core`` (the roll's state) and takes the operator's commands.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

from console.drift.audit import FleetAudit, HostAudit, audit_fleet
from console.engine.availability import HOST_ACTIONS, ROLL_ACTIONS, Answer, host_action, roll_action
from console.engine.bootwait import BootWait
from console.engine.core import Core, RollJournal
from console.engine.cycle import Cycle
from console.engine.hostio import HostIO
from console.engine.hostrun import HostRun
from console.engine.recovery import Recovery
from console.engine.scheduler import Scheduler
from console.engine.watch import Watch
from console.journal.records import HostRecord
from console.model.budgets import order_hosts, ramp_size
from console.model.events import (
    PROBLEMS,
    AuditFinished,
    AuditStarted,
    HostAudited,
    HostState,
    HostStateChanged,
    OperatorAction,
    RollFinished,
    RollState,
)
from console.model.inventory import Inventory
from console.model.windows import WindowVerdict
from console.remote.ssh import Connector


class EngineError(Exception):
    """An operator command that makes no sense in the current state (the message says why)."""


class Engine(Core):
    """Drives one roll. Create it, subscribe faces, then ``await run()``; control it from the same loop."""

    def __init__(
        self,
        inventory: Inventory,
        connector: Connector,
        *,
        journal: RollJournal | None = None,
        clock: Callable[[], float] = time.time,
        operator: str | None = None,
        history: dict[str, float] | None = None,
        typical_cycle: float | None = None,
    ) -> None:
        super().__init__(
            inventory,
            connector,
            journal=journal,
            clock=clock,
            operator=operator,
            history=history,
            typical_cycle=typical_cycle,
        )
        io = HostIO(self)
        self._watch = Watch(self, io)
        self._cycle = Cycle(self, io, BootWait(self, io), self._watch)
        self._scheduler = Scheduler(self, self._cycle)
        self._recovery = Recovery(self, io, self._cycle, self._watch)
        self._finished: RollFinished | None = None
        self._ordered = False

    # ------------------------------------------------------------------------------------------------
    # What may be done now

    def availability(self, action: str, host: str | None = None) -> Answer:
        """May ``action`` be taken now (on ``host`` for skip and retry)? If not, the reason."""
        if action in HOST_ACTIONS:
            return host_action(action, self.state, host or "", self.hosts.get(host or ""))
        return roll_action(action, self.state)

    def allowed(self) -> set[str]:
        """Roll actions that make sense now, and skip/retry when the roll is not over."""
        out = {a for a in ROLL_ACTIONS if roll_action(a, self.state)}
        if not self.state.final:
            out |= set(HOST_ACTIONS)
        return out

    def can_skip(self, name: str) -> bool:
        return bool(self.availability("skip", name))

    def can_retry(self, name: str) -> bool:
        return bool(self.availability("retry", name))

    # ------------------------------------------------------------------------------------------------
    # Operator commands (synchronous: they take effect before they return)

    def start(self, who: str | None = None) -> None:
        if self.state is not RollState.READY:
            raise EngineError(f"the roll has already started ({self.state.value})")
        self._action("start", who=who)
        self.started_at = self.clock()
        self.set_roll(RollState.RUNNING, "started")

    def pause(self, reason: str = "", *, who: str | None = None) -> None:
        if self.state is not RollState.RUNNING:
            raise EngineError(f"cannot pause: the roll is {self.state.value}")
        self._action("pause", who=who, why=reason)
        self.auto_paused = False
        self.set_roll(RollState.PAUSING, reason or f"paused by {who or self.operator}")
        self.settle()

    def resume(self, *, who: str | None = None, why: str = "") -> None:
        if self.state not in (RollState.PAUSED, RollState.PAUSING):
            raise EngineError(f"cannot resume: the roll is {self.state.value}")
        self._action("resume", who=who, why=why)
        self.auto_paused = False
        self.set_roll(RollState.RUNNING, f"resumed by {who or self.operator}")

    def acknowledge(self, why: str, *, who: str | None = None) -> None:
        """The operator's acknowledgement of why the roll paused by itself (journaled; in the report)."""
        self._action("acknowledge", who=who, why=why)

    def abort(self, *, who: str | None = None, why: str = "") -> None:
        if self.state.final or self.state in (RollState.ABORTING,):
            raise EngineError(f"cannot abort: the roll is {self.state.value}")
        self._action("abort", who=who, why=why)
        reason = why or f"aborted by {who or self.operator}"
        self.set_roll(RollState.ABORTING, reason)
        self.settle()

    def skip(self, name: str, *, who: str | None = None, why: str = "") -> None:
        run = self._run_for(name)
        answer = self.availability("skip", name)
        if not answer:
            raise EngineError(f"cannot skip {name}: {answer.reason}")
        self._action("skip", host=name, who=who, why=why)
        run.skipped = True
        if run.state is HostState.PENDING:
            self.set_host(run, HostState.SKIPPED, f"skipped by {who or self.operator}")
        else:
            # In flight or failed: stop waiting on it, but it keeps its budget slot and is still watched.
            self.log(
                f"{name} skipped while {run.state.value}: the roll stops waiting on it; it keeps its budget "
                "slot until it is healthy",
                name,
                "warn",
            )
            self.emit(HostStateChanged(self.clock(), name, run.state, run.state, "skipped", None, True))
            self.settle()

    def retry(self, name: str, *, who: str | None = None, why: str = "") -> None:
        run = self._run_for(name)
        answer = self.availability("retry", name)
        if not answer:
            raise EngineError(f"cannot retry {name}: {answer.reason}")
        self._action("retry", host=name, who=who, why=why)
        if run.watch is not None:
            run.watch.cancel()
        run.task = self.spawn(self._recovery.retry(run), f"retry {name}")

    def _run_for(self, name: str) -> HostRun:
        try:
            return self.hosts[name]
        except KeyError:
            raise EngineError(f"no host named {name!r} in this roll") from None

    def _action(self, action: str, *, host: str | None = None, who: str | None = None, why: str = "") -> None:
        self.emit(OperatorAction(self.clock(), action, host, who or self.operator, why))

    # ------------------------------------------------------------------------------------------------
    # The roll

    async def run(self, *, stop_when_paused: bool = True) -> RollFinished:
        """Run until complete or aborted; when paused, return (``stop_when_paused``) or wait for resume."""
        if self.state is RollState.READY:
            self.start()
        if self.policy.order != "inventory" and not self._ordered and self.slice_index < 0:
            await self._order_by_audit()
        for r in self.hosts.values():
            if r.verify and (r.task is None or r.task.done()):
                r.task = self.spawn(self._recovery.verify_inflight(r), f"verify {r.name}")
        try:
            await self._scheduler.loop(stop_when_paused)
        except asyncio.CancelledError:
            await self.stop_background()  # the face is leaving: nobody is left to watch for
            raise
        finally:
            if self.state.final or stop_when_paused:
                await self.stop_background()
        return self.finish()

    async def close(self) -> None:
        """Stop background work (problem-host watchers, retries) without changing the roll's state.

        For a face that leaves a paused roll: what was recorded stays as it is for a later resume."""
        await self.stop_background()

    def outcome(self) -> dict[str, list[str]]:
        """Where every host stands for the roll's summary: rebooted, failed, skipped or untouched (each host
        in one of these), and which of the rebooted were late (back after their reboot_timeout, then healthy).

        The one source for the summary event, the console's COMPLETE header and the report's counts."""
        lists: dict[str, list[str]] = {
            "rebooted": [],
            "failed": [],
            "skipped": [],
            "untouched": [],
            "late": [],
        }
        for r in self.hosts.values():
            if r.state in PROBLEMS:
                lists["failed"].append(r.name)
            elif r.state is HostState.DONE:
                lists["rebooted"].append(r.name)
            elif r.skipped or r.state is HostState.SKIPPED:
                lists["skipped"].append(r.name)
            elif r.state is HostState.PENDING:
                lists["untouched"].append(r.name)
            else:  # in flight when the roll stopped (a skipped host still being watched)
                lists["skipped" if r.skipped else "failed"].append(r.name)
            if r.late:
                lists["late"].append(r.name)
        return lists

    def finish(self) -> RollFinished:
        if self._finished is not None and self._finished.state == self.state:
            return self._finished
        self.finished_at = self.clock()
        lists = self.outcome()
        duration = (self.finished_at - self.started_at) if self.started_at else 0.0
        event = RollFinished(
            self.finished_at,
            self.state,
            tuple(lists["rebooted"]),
            tuple(lists["failed"]),
            tuple(lists["skipped"]),
            tuple(lists["untouched"]),
            self.reason if self.state is not RollState.COMPLETE or self.problems() else "",
            duration,
            {
                "roll": self.inventory.name,
                "automatic": self.auto_paused,
                # failed hosts the operator skipped: in "failed" (a problem is never hidden), and said so
                "failed_skipped": [n for n in lists["failed"] if self.hosts[n].skipped],
            },
            tuple(lists["late"]),
        )
        self._finished = event
        self.emit(event)
        return event

    def restore(
        self,
        records: Iterable[HostRecord],
        *,
        state: RollState,
        reason: str = "",
        automatic: bool = False,
        slice_index: int = -1,
        ramp_step: int = 0,
        started_at: float | None = None,
    ) -> None:
        """Take back host states from the journal before ``run()``.

        A host whose reboot may have been in flight is marked for verification: ``run()`` first finds
        out from its boot id what really happened, and never reboots a host whose boot id has changed.
        """
        self._recovery.restore(
            records,
            state=state,
            reason=reason,
            automatic=automatic,
            slice_index=slice_index,
            ramp_step=ramp_step,
            started_at=started_at,
        )

    # ------------------------------------------------------------------------------------------------
    # Fleet-wide audit (no reboot): for the audit view and for policy.order uptime / risk

    async def audit(self) -> FleetAudit:
        """Facts and pre-flight findings from every host; reported as ``findings`` events."""

        def report(a: HostAudit) -> None:
            run = self.hosts[a.host]
            if a.error:
                self.log(f"audit: {a.error}", a.host, "warn")
            else:
                run.facts_before = a.facts
                self.report_findings(run, list(a.findings), "before")
            self.emit(HostAudited(self.clock(), a.host, tuple(a.findings), a.error))

        self.log(f"auditing {len(self.hosts)} hosts (facts and pre-flight findings; nothing is rebooted)")
        self.emit(AuditStarted(self.clock(), len(self.hosts)))
        try:
            result = await audit_fleet(
                self.inventory, self.connector, history=self.history, clock=self.clock, on_host=report
            )
        except asyncio.CancelledError:
            self.emit(AuditFinished(self.clock(), len(self.hosts), failed="cancelled"))
            raise
        except Exception as exc:
            self.emit(AuditFinished(self.clock(), len(self.hosts), failed=repr(exc)))
            raise
        self.audit_results = result
        blocking = sum(1 for h in result.hosts.values() if h.blocking)
        self.emit(AuditFinished(self.clock(), len(result.hosts), blocking, len(result.unreachable)))
        return result

    async def _order_by_audit(self) -> None:
        self._ordered = True
        audit = self.audit_results or await self.audit()
        uptimes = audit.uptimes(self.history, self.clock())
        queue, why = order_hosts(self.inventory, uptimes=uptimes, risks=audit.risks())
        self.queue = list(self.policy.canaries) + queue
        self.order_reason = why
        self.log(f"order: {why}: {', '.join(queue[:8])}{' …' if len(queue) > 8 else ''}")

    # ------------------------------------------------------------------------------------------------
    # Views for faces

    def host_rows(self) -> Iterable[HostRun]:
        return self.hosts.values()

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.hosts.values():
            out[r.state.value] = out.get(r.state.value, 0) + 1
        return out

    @property
    def done_count(self) -> int:
        return sum(1 for r in self.hosts.values() if r.state is HostState.DONE)

    def budget_usage(self) -> list[tuple[str, int, int]]:
        """(budget name, in use, limit) for every group, and the fleet when it has a limit."""
        by_group, fleet = self.budgets.usage(self.unavailable())
        out = [(g, len(by_group.get(g, ())), limit) for g, limit in self.budgets.per_group.items()]
        if self.budgets.fleet is not None:
            out.append(("fleet", len(fleet), self.budgets.fleet))
        return out

    def eta(self) -> float | None:
        """Seconds left: what remains of the slice under way (a typical slice less its elapsed part, so the
        ETA runs down with the clock) plus the slices the pending hosts need, each sized as the ramp will
        size it (not all at today's size: that made the ETA jump as the ramp grew), at the measured mean."""
        if not self.slice_times:
            return None
        per_slice = self.expected_cycle()
        under_way = any(self.hosts[n].state.in_flight for n in self.current_slice if n in self.hosts)
        left_now = 0.0
        if under_way and self.slice_started_at is not None:
            left_now = max(0.0, per_slice - (self.clock() - self.slice_started_at))
        pending = sum(1 for r in self.hosts.values() if r.state is HostState.PENDING)
        step, slices = self.ramp_step + (1 if under_way else 0), 0
        while pending > 0 and slices < len(self.hosts):
            pending -= max(1, ramp_size(self.policy, step, len(self.hosts)))
            step, slices = step + 1, slices + 1
        return left_now + slices * per_slice

    def expected_cycle(self) -> float:
        """How long a slice is expected to take: measured so far, else from history, else an estimate."""
        return self._scheduler.expected_cycle()

    def window_verdict(self) -> WindowVerdict:
        return self._scheduler.window_verdict()
