"""The rollout engine: slices, budgets, and each host's reboot cycle, with pause, resume, skip, retry, abort.

Per host: pre-check (facts + checks must pass before it is touched) → record the boot id → reboot command
(the commit point: checked atomically against pause/abort) → see it go down (or its boot id change) →
poll until it answers SSH with a **new** boot id → checks and drift regressions → bake (checks repeat) →
done. The engine imports nothing from Textual: faces subscribe to its events and call its methods.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import getpass
import math
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from console.drift.audit import FleetAudit, HostAudit, audit_fleet
from console.drift.findings import evidence_units, preflight, regressions
from console.engine.availability import HOST_ACTIONS, ROLL_ACTIONS, Answer, host_action, roll_action
from console.model.aio import cancel_and_wait
from console.model.budgets import Budgets, form_slice, order_hosts, ramp_size
from console.model.events import (
    COMMITTED,
    PROBLEMS,
    AuditFinished,
    AuditStarted,
    BudgetHeld,
    CheckRan,
    Event,
    FindingsReported,
    HostAudited,
    HostState,
    HostStateChanged,
    LogLine,
    OperatorAction,
    RollFinished,
    RollState,
    RollStateChanged,
    SliceFinished,
    SliceStarted,
    WindowWait,
)
from console.model.findings import Finding, Severity
from console.model.host import Host
from console.model.inventory import Inventory
from console.model.specs import CheckSpec, HookSpec
from console.model.windows import WindowVerdict, judge
from console.remote.checks import CheckOutcome, run_host_check, run_local_check
from console.remote.facts import Facts, gather_evidence, gather_facts
from console.remote.hooks import run_hook
from console.remote.ssh import (
    Connector,
    HostSession,
    SSHError,
    SSHErrorKind,
    SSHTarget,
)

Subscriber = Callable[[Event], None]

# Hosts whose cycle has started (pre-check passed) and is not over, plus problem hosts, are unavailable.
_SLOT_STATES = COMMITTED | {HostState.DRAINING}
_MAY_HOLD_SLOT = _SLOT_STATES | PROBLEMS  # HostRun.holds_slot is False in every other state


REFUSED = "connection refused"
REFUSED_REPROBE = 0.05  # s: the first re-probe after a refused connection (then doubling)


async def _together(*aws: Awaitable[Any]) -> list[Any]:
    """Await all at once; on the first exception cancel the rest and raise it. Results in argument order."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        await cancel_and_wait(tasks)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    return [task.result() for task in tasks]


class EngineError(Exception):
    """An operator command that makes no sense in the current state (the message says why)."""


class HostProblem(Exception):
    """Ends a host's cycle in a problem state with a reason for people."""

    def __init__(
        self, state: HostState, reason: str, findings: Sequence[Finding] = (), *, pause: bool = False
    ) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason
        self.findings = tuple(findings)
        self.pause = pause  # pause the roll whatever max_failures allows


class RollJournal(Protocol):
    """What the engine needs from the journal; every call is synchronous and durable when it returns."""

    def record_event(self, event: Event) -> None: ...

    def record_intent(
        self, host: str, boot_id_before: str, facts_before: dict[str, Any] | None = None
    ) -> None: ...

    def record_reissue(self, host: str, why: str) -> None: ...

    def record_sent(self, host: str) -> None: ...


@dataclass
class HostRun:
    """The engine's record of one host in this roll (mutated only by the engine)."""

    host: Host
    state: HostState = HostState.PENDING
    skipped: bool = False
    canary: bool = False
    reason: str = ""
    boot_id_before: str | None = None
    boot_id_after: str | None = None
    rebooted: bool = False  # its boot id changed during this roll: nothing may reboot it again
    reboot_issued: bool = False
    reissued: bool = False
    healthy_again: bool = False
    facts_before: Facts | None = None
    facts_after: Facts | None = None
    findings: list[Finding] = field(default_factory=list)
    checks: dict[str, CheckOutcome] = field(default_factory=dict)
    timeline: list[tuple[float, str, str]] = field(default_factory=list)
    slice_index: int | None = None
    started_at: float | None = None
    reboot_sent_at: float | None = None
    down_at: float | None = None
    up_at: float | None = None
    healthy_at: float | None = None
    done_at: float | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    watch: asyncio.Task[None] | None = field(default=None, repr=False)
    verify: bool = False  # restored from the journal mid-cycle: find out what really happened first

    @property
    def name(self) -> str:
        return self.host.name

    @property
    def holds_slot(self) -> bool:
        """Counts against its groups' budgets (see the engine issue's definition of unavailable)."""
        if self.state in _SLOT_STATES:
            return True
        return self.state in PROBLEMS and not self.healthy_again

    @property
    def in_flight(self) -> bool:
        return self.state.in_flight

    @property
    def busy(self) -> bool:
        """A task (the cycle, a retry, a verification) is still working on it."""
        return self.task is not None and not self.task.done()

    @property
    def downtime(self) -> float | None:
        if self.reboot_sent_at is None or self.up_at is None:
            return None
        return self.up_at - self.reboot_sent_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.name,
            "address": self.host.address,
            "groups": list(self.host.groups),
            "state": self.state.value,
            "skipped": self.skipped,
            "reason": self.reason,
            "boot_id_before": self.boot_id_before,
            "boot_id_after": self.boot_id_after,
            "rebooted": self.rebooted,
            "healthy_again": self.healthy_again,
            "findings": [f.to_dict() for f in self.findings],
            "checks": {k: v.to_dict() for k, v in self.checks.items()},
            "downtime": self.downtime,
        }


class _Notifier:
    """Wakes every waiter on any change (a condition without a lock, for one event loop)."""

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    async def wait(self, timeout: float | None = None) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            if timeout is None:
                await fut
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(fut, timeout)
        finally:
            if fut in self._waiters:
                self._waiters.remove(fut)


def operator_identity() -> str:
    try:
        user = getpass.getuser()
    except Exception:
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def _crash_point(name: str, host: str) -> None:
    """Test hook: ``SLOWROLL_CRASH_AT=after-intent:web-01`` kills this process right there (kill tests)."""
    want = os.environ.get("SLOWROLL_CRASH_AT")
    if want and want == f"{name}:{host}":
        os.kill(os.getpid(), signal.SIGKILL)


class Engine:
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
        self.inventory = inventory
        self.policy = inventory.policy
        self.connector = connector
        self.journal = journal
        self.clock = clock
        self.operator = operator or operator_identity()
        self.history = history or {}
        self.budgets = Budgets.for_inventory(inventory)
        self.hosts: dict[str, HostRun] = {}
        for h in inventory.hosts:
            self.hosts[h.name] = HostRun(h, canary=h.name in self.policy.canaries)
        self.state = RollState.READY
        self.reason = ""
        self.reason_host: str | None = None
        self.auto_paused = False
        self.failures = 0
        self.slice_index = -1
        self.current_slice: tuple[str, ...] = ()
        self.ramp_step = 0
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.slice_times: list[float] = []
        self.cycle_times: list[float] = []
        self.order_reason = ""
        self._queue: list[str] = []
        self._subscribers: list[Subscriber] = []
        self._changed = _Notifier()
        self._resumed = _Notifier()
        self._background: set[asyncio.Task[Any]] = set()
        self._finished: RollFinished | None = None
        self._service_failed: str | None = None
        self._ordered = False
        self._reboot_times: collections.deque[float] = collections.deque()
        self._last_slice_end: float | None = None
        self.waiting_for = ""
        self.typical_cycle = typical_cycle
        self.audit_results: FleetAudit | None = None
        queue, why = order_hosts(inventory)
        self._queue = list(self.policy.canaries) + queue
        self.order_reason = why

    # ------------------------------------------------------------------------------------------------
    # Subscribers and events

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` for every event from now on; returns a function that unsubscribes."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    def _emit(self, event: Event) -> None:
        if self.journal is not None:
            self.journal.record_event(event)
        for cb in list(self._subscribers):
            try:
                cb(event)
            except Exception as exc:  # a broken face must not stop the roll
                if not isinstance(event, LogLine):
                    self._emit(LogLine(self.clock(), f"event subscriber failed: {exc!r}", level="error"))
        self._changed.notify()

    def log(self, message: str, host: str | None = None, level: str = "info") -> None:
        self._emit(LogLine(self.clock(), message, host, level))

    # ------------------------------------------------------------------------------------------------
    # State

    def _set_roll(
        self, new: RollState, reason: str = "", *, host: str | None = None, automatic: bool = False
    ) -> None:
        old = self.state
        if old == new and reason == self.reason:
            return
        self.state = new
        if reason or new in (RollState.RUNNING, RollState.COMPLETE):
            self.reason = reason
            self.reason_host = host
        self._emit(RollStateChanged(self.clock(), old, new, reason, host, automatic))

    def _set_host(self, run: HostRun, new: HostState, reason: str = "") -> None:
        old = run.state
        run.state = new
        now = self.clock()
        if reason or new in PROBLEMS:
            run.reason = reason
        run.timeline.append((now, new.value, reason))
        boot_id = (
            run.boot_id_after
            if new not in (HostState.PRECHECKING, HostState.REBOOTING)
            else run.boot_id_before
        )
        self._emit(HostStateChanged(now, run.name, old, new, reason, boot_id, run.skipped))
        self._settle()

    def _settle(self) -> None:
        if self.state is RollState.PAUSING and not self._waiting_on():
            self._set_roll(RollState.PAUSED, self.reason, host=self.reason_host, automatic=self.auto_paused)
        elif self.state is RollState.ABORTING and not self._waiting_on():
            self._set_roll(RollState.ABORTED, self.reason, host=self.reason_host)

    def _waiting_on(self) -> list[HostRun]:
        """Hosts the roll still follows to the end of their cycle (not the skipped ones)."""
        return [r for r in self.hosts.values() if r.in_flight and not r.skipped]

    def unavailable(self) -> list[str]:
        # the state test first: on a big fleet most hosts are pending or done, and never hold a slot
        return [r.name for r in self.hosts.values() if r.state in _MAY_HOLD_SLOT and r.holds_slot]

    def budget_usage(self) -> list[tuple[str, int, int]]:
        """(budget name, in use, limit) for every group, and the fleet when it has a limit."""
        by_group, fleet = self.budgets.usage(self.unavailable())
        out = [(g, len(by_group.get(g, ())), limit) for g, limit in self.budgets.per_group.items()]
        if self.budgets.fleet is not None:
            out.append(("fleet", len(fleet), self.budgets.fleet))
        return out

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.hosts.values():
            out[r.state.value] = out.get(r.state.value, 0) + 1
        return out

    @property
    def done_count(self) -> int:
        return sum(1 for r in self.hosts.values() if r.state is HostState.DONE)

    def eta(self) -> float | None:
        """Seconds left, from measured slice times and the slices the remaining hosts need."""
        if not self.slice_times:
            return None
        pending = sum(1 for r in self.hosts.values() if r.state is HostState.PENDING)
        if pending == 0:
            return 0.0
        size = max(1, ramp_size(self.policy, self.ramp_step, len(self.hosts)))
        per_slice = sum(self.slice_times[-5:]) / len(self.slice_times[-5:])
        return math.ceil(pending / size) * per_slice

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
        self._set_roll(RollState.RUNNING, "started")

    def pause(self, reason: str = "", *, who: str | None = None) -> None:
        if self.state is not RollState.RUNNING:
            raise EngineError(f"cannot pause: the roll is {self.state.value}")
        self._action("pause", who=who, why=reason)
        self.auto_paused = False
        self._set_roll(RollState.PAUSING, reason or f"paused by {who or self.operator}")
        self._settle()

    def _auto_pause(self, reason: str, host: str | None = None) -> None:
        if self.state is RollState.RUNNING:
            self.auto_paused = True
            self._set_roll(RollState.PAUSING, reason, host=host, automatic=True)
            self._settle()
        else:
            self.log(f"also: {reason}", host, level="warn")

    def resume(self, *, who: str | None = None, why: str = "") -> None:
        if self.state not in (RollState.PAUSED, RollState.PAUSING):
            raise EngineError(f"cannot resume: the roll is {self.state.value}")
        self._action("resume", who=who, why=why)
        self.auto_paused = False
        self._set_roll(RollState.RUNNING, f"resumed by {who or self.operator}")
        self._resumed.notify()

    def abort(self, *, who: str | None = None, why: str = "") -> None:
        if self.state.final or self.state in (RollState.ABORTING,):
            raise EngineError(f"cannot abort: the roll is {self.state.value}")
        self._action("abort", who=who, why=why)
        reason = why or f"aborted by {who or self.operator}"
        self._set_roll(RollState.ABORTING, reason)
        self._settle()
        self._resumed.notify()

    def skip(self, name: str, *, who: str | None = None, why: str = "") -> None:
        run = self._run_for(name)
        answer = self.availability("skip", name)
        if not answer:
            raise EngineError(f"cannot skip {name}: {answer.reason}")
        self._action("skip", host=name, who=who, why=why)
        run.skipped = True
        if run.state is HostState.PENDING:
            self._set_host(run, HostState.SKIPPED, f"skipped by {who or self.operator}")
        else:
            # In flight or failed: stop waiting on it, but it keeps its budget slot and is still watched.
            self.log(
                f"{name} skipped while {run.state.value}: the roll stops waiting on it; it keeps its budget "
                "slot until it is healthy",
                name,
                "warn",
            )
            self._emit(HostStateChanged(self.clock(), name, run.state, run.state, "skipped", None, True))
            self._settle()

    def retry(self, name: str, *, who: str | None = None, why: str = "") -> None:
        run = self._run_for(name)
        answer = self.availability("retry", name)
        if not answer:
            raise EngineError(f"cannot retry {name}: {answer.reason}")
        self._action("retry", host=name, who=who, why=why)
        if run.watch is not None:
            run.watch.cancel()
        run.task = self._spawn(self._retry(run), f"retry {name}")

    def _run_for(self, name: str) -> HostRun:
        try:
            return self.hosts[name]
        except KeyError:
            raise EngineError(f"no host named {name!r} in this roll") from None

    def _action(self, action: str, *, host: str | None = None, who: str | None = None, why: str = "") -> None:
        self._emit(OperatorAction(self.clock(), action, host, who or self.operator, why))

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
                r.task = self._spawn(self._verify_inflight(r), f"verify {r.name}")
        try:
            await self._loop(stop_when_paused)
        except asyncio.CancelledError:
            await self._stop_background()  # the face is leaving: nobody is left to watch for
            raise
        finally:
            if self.state.final or stop_when_paused:
                await self._stop_background()
        return self.finish()

    async def _loop(self, stop_when_paused: bool) -> None:
        while True:
            if self.state in (RollState.ABORTING, RollState.ABORTED):
                await self._until(lambda: self.state is RollState.ABORTED)
                return
            if self.state in (RollState.PAUSING, RollState.PAUSED):
                await self._until(lambda: self.state is not RollState.PAUSING)
                if self.state is RollState.PAUSED:
                    if stop_when_paused:
                        return
                    await self._until(lambda: self.state is not RollState.PAUSED)
                continue
            if self.state is RollState.COMPLETE:
                return
            if self._waiting_on():
                # Hosts still in their cycle (verifying after a restart, or a retry): the next slice waits.
                await self._changed.wait()
                continue
            pending = [n for n in self._queue if self.hosts[n].state is HostState.PENDING]
            if not pending:
                busy = [r for r in self.hosts.values() if r.in_flight]
                if busy:
                    await self._changed.wait()
                    continue
                self._set_roll(
                    RollState.COMPLETE,
                    "every host is done"
                    if not self._problems()
                    else f"done, with {len(self._problems())} problem host(s)",
                )
                return
            if await self._gate():
                continue
            chosen, canary, why = self._next_slice(pending)
            if not chosen:
                if any(r.in_flight for r in self.hosts.values()):
                    await self._changed.wait()
                    continue
                self._auto_pause(why)
                continue
            await self._run_slice(chosen, canary, why)

    async def _until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            await self._changed.wait()

    def _problems(self) -> list[HostRun]:
        return [r for r in self.hosts.values() if r.state in PROBLEMS]

    def _next_slice(self, pending: list[str]) -> tuple[list[str], bool, str]:
        unavailable = self.unavailable()
        canaries = [n for n in pending if self.hosts[n].canary]
        if canaries:
            chosen, held = form_slice(canaries[:1], 1, self.budgets, unavailable)
            return chosen, True, "canary: goes first, alone" if chosen else self._held_reason(held)
        size = ramp_size(self.policy, self.ramp_step, len(self.hosts))
        paced = min(size, self._pace_quota())
        chosen, held = form_slice(pending, paced, self.budgets, unavailable)
        step = self.policy.batch[min(self.ramp_step, len(self.policy.batch) - 1)]
        why = f"batch step {self.ramp_step + 1} ({step} → {size})"
        if paced < size:
            why += f"; pace allows {paced} (max_reboots_per_hour {self.policy.max_reboots_per_hour})"
        if chosen and len(chosen) < size and held:
            limits = sorted({b for bs in held.values() for b in bs})
            why += f"; budget of {', '.join(limits)} allows {len(chosen)}"
        return chosen, False, why if chosen else self._held_reason(held)

    def _held_reason(self, held: dict[str, list[str]]) -> str:
        by_group, fleet = self.budgets.usage(self.unavailable())
        parts = []
        for budget in sorted({b for bs in held.values() for b in bs}):
            if budget == "fleet":
                holders, limit = fleet, self.budgets.fleet or 0
            else:
                g = budget.removeprefix("group ")
                holders, limit = by_group.get(g, []), self.budgets.per_group[g]
            desc = ", ".join(f"{h} ({self.hosts[h].state.value})" for h in holders)
            parts.append(f"{budget}: budget {limit} held by {desc}")
            self._emit(BudgetHeld(self.clock(), budget, limit, tuple(holders)))
        return "budget exhausted — " + "; ".join(parts) if parts else "no host can start"

    async def _run_slice(self, names: list[str], canary: bool, why: str) -> None:
        self.slice_index += 1
        index = self.slice_index
        self.current_slice = tuple(names)
        started = time.monotonic()
        runs = [self.hosts[n] for n in names]
        for r in runs:
            r.slice_index = index
        self._emit(SliceStarted(self.clock(), index, tuple(names), canary, why, self.ramp_step))
        if self.inventory.service_checks:
            failed = await self._service_checks("slice")
            if failed:
                self._auto_pause(f"service check failed before slice {index + 1}: {failed}")
                return
            if self.state is not RollState.RUNNING:
                return
        for r in runs:
            r.task = self._spawn(self._cycle(r), f"cycle {r.name}")
        monitor = (
            self._spawn(self._bake_monitor(runs), "service checks during bake")
            if (self.inventory.service_checks)
            else None
        )
        await self._until(lambda: all(r.skipped or (r.task is not None and r.task.done()) for r in runs))
        if monitor is not None:
            monitor.cancel()
        if any(r.reboot_issued for r in runs):
            self.slice_times.append(time.monotonic() - started)
            if not canary:
                self.ramp_step += 1
        self._last_slice_end = asyncio.get_running_loop().time()
        self._emit(SliceFinished(self.clock(), index, tuple(names), time.monotonic() - started))

    async def _service_checks(self, phase: str) -> str | None:
        """Run every service-level check; returns a description of the first failure, or None."""
        outcomes = await asyncio.gather(
            *(
                run_local_check(c, default_timeout=self.policy.command_timeout, env=self._service_env())
                for c in self.inventory.service_checks
            )
        )
        failed = None
        for o in outcomes:
            self._emit(CheckRan(self.clock(), None, o.check, phase, o.ok, o.output, o.duration, o.attempts))
            if not o.ok and failed is None:
                failed = f"{o.check}: {o.output.splitlines()[-1] if o.output else 'failed'}"
        return failed

    def _service_env(self) -> dict[str, str]:
        return {"SLOWROLL_ROLL": self.inventory.name, "SLOWROLL_SLICE": str(self.slice_index + 1)}

    async def _bake_monitor(self, runs: list[HostRun]) -> None:
        while True:
            await asyncio.sleep(self.policy.check_interval)
            if not any(r.state in (HostState.CHECKING, HostState.BAKING) for r in runs):
                continue
            failed = await self._service_checks("bake")
            if failed:
                self._service_failed = failed
                self._auto_pause(
                    f"service check failed during bake of slice {self.slice_index + 1}: {failed}"
                )
                return

    def _spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def close(self) -> None:
        """Stop background work (problem-host watchers, retries) without changing the roll's state.

        For a face that leaves a paused roll: what was recorded stays as it is for a later resume."""
        await self._stop_background()

    async def _stop_background(self) -> None:
        await cancel_and_wait(list(self._background))

    def finish(self) -> RollFinished:
        if self._finished is not None and self._finished.state == self.state:
            return self._finished
        self.finished_at = self.clock()
        lists: dict[str, list[str]] = {"rebooted": [], "failed": [], "skipped": [], "untouched": []}
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
        duration = (self.finished_at - self.started_at) if self.started_at else 0.0
        event = RollFinished(
            self.finished_at,
            self.state,
            tuple(lists["rebooted"]),
            tuple(lists["failed"]),
            tuple(lists["skipped"]),
            tuple(lists["untouched"]),
            self.reason if self.state is not RollState.COMPLETE or self._problems() else "",
            duration,
            {"roll": self.inventory.name, "automatic": self.auto_paused},
        )
        self._finished = event
        self._emit(event)
        return event

    # ------------------------------------------------------------------------------------------------
    # One host's cycle

    def _target(self, host: Host) -> SSHTarget:
        return SSHTarget(host.name, host.address, host.port, host.user, host.explicit)

    async def _connect(self, run: HostRun) -> HostSession:
        return await self.connector.connect(self._target(run.host), timeout=self.policy.connect_timeout)

    async def _read_boot_id(self, session: HostSession) -> str:
        result = await session.run(self.policy.boot_id_command, timeout=self.policy.command_timeout)
        boot_id = result.stdout.strip()
        if not result.ok or not boot_id or len(boot_id) > 200 or "\n" in boot_id:
            raise HostProblem(
                HostState.UNHEALTHY,
                f"cannot read the boot id with {self.policy.boot_id_command!r}: "
                f"exit {result.exit_status}, {(result.stderr or result.stdout).strip()[:200]!r}",
            )
        return boot_id

    async def _cycle(self, run: HostRun) -> None:
        session: HostSession | None = None
        run.started_at = self.clock()
        try:
            self._set_host(run, HostState.PRECHECKING)
            session = await self._precheck(run)
            if self.state is not RollState.RUNNING or run.skipped:
                # Paused or aborted while pre-checking (or skipped): it was never touched.
                self._set_host(
                    run,
                    HostState.SKIPPED if run.skipped else HostState.PENDING,
                    "skipped before its reboot"
                    if run.skipped
                    else "not started: the roll is " + self.state.value,
                )
                return
            drained = False
            pre_hooks = self.inventory.hooks_for(run.host, "pre_reboot")
            if pre_hooks:
                self._set_host(run, HostState.DRAINING, "pre_reboot hooks")
                drained = True
                failed = await self._run_hooks(run, pre_hooks, session)
                if failed:  # a drain that failed is the operator's to look at: always pauses
                    raise HostProblem(HostState.FAILED, f"{failed}; not rebooted", pause=True)
            # ---- the commit point: nothing awaits between this check and the recorded intent ----
            refusal = self._reboot_refusal(run)
            if refusal is not None:
                if drained:  # drained for nothing: put it back before leaving it alone
                    failed = await self._run_hooks(
                        run, self.inventory.hooks_for(run.host, "post_reboot"), session
                    )
                    if failed:
                        raise HostProblem(
                            HostState.FAILED, f"{failed} (undoing the drain); not rebooted", pause=True
                        )
                self._set_host(
                    run,
                    HostState.SKIPPED if run.skipped else HostState.PENDING,
                    "skipped before its reboot" if run.skipped else f"not started: {refusal}",
                )
                return
            self._reboot_times.append(time.monotonic())
            assert run.boot_id_before is not None
            if self.journal is not None:
                self.journal.record_intent(
                    run.name, run.boot_id_before, run.facts_before.to_dict() if run.facts_before else None
                )
            run.reboot_issued = True
            self._set_host(run, HostState.REBOOTING, "reboot command sent")
            _crash_point("after-intent", run.name)
            await self._send_reboot(run, session)
            session = None
            _crash_point("after-send", run.name)
            if self.journal is not None:
                self.journal.record_sent(run.name)
            await self._after_reboot(run, phase="post")
        except HostProblem as problem:
            self._problem(run, problem)
        except SSHError as exc:
            state = HostState.FAILED if run.reboot_issued else HostState.UNHEALTHY
            self._problem(run, HostProblem(state, str(exc)))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never let one host's surprise stop the roll silently
            self._problem(run, HostProblem(HostState.FAILED, f"internal error: {exc!r}"))
        finally:
            if session is not None:
                session.close()

    def _may_reboot(self, run: HostRun) -> bool:
        return self._reboot_refusal(run) is None

    def _reboot_refusal(self, run: HostRun) -> str | None:
        """Why ``run`` may not be rebooted right now (None: it may). Synchronous: the commit point."""
        if self.state is not RollState.RUNNING:
            return f"the roll is {self.state.value}"
        if run.skipped:
            return "skipped"
        if run.rebooted:
            return "already rebooted in this roll"
        others = [n for n in self.unavailable() if n != run.name]
        by_group, fleet = self.budgets.usage(others)
        if not self.budgets.fits(run.name, by_group, len(fleet)):
            return "over budget"
        if self.policy.windows and not judge(self.policy.windows, self.clock(), 0.0).allowed:
            return "outside the maintenance window"
        if self._pace_quota() <= 0:
            return f"max_reboots_per_hour {self.policy.max_reboots_per_hour} reached"
        return None

    def _pace_quota(self) -> int:
        """Reboots still allowed in the current pace window (a large number when unpaced)."""
        limit = self.policy.max_reboots_per_hour
        if limit is None:
            return 1 << 30
        horizon = time.monotonic() - self.policy.pace_window
        while self._reboot_times and self._reboot_times[0] < horizon:
            self._reboot_times.popleft()
        return limit - len(self._reboot_times)

    def expected_cycle(self) -> float:
        """How long a slice is expected to take: measured so far, else from history, else an estimate."""
        if self.slice_times:
            recent = self.slice_times[-5:]
            return sum(recent) / len(recent)
        if self.typical_cycle is not None:
            return self.typical_cycle
        return self.policy.bake + min(self.policy.reboot_timeout, 120.0)

    def window_verdict(self) -> WindowVerdict:
        return judge(self.policy.windows, self.clock(), self.expected_cycle())

    async def _gate(self) -> bool:
        """Wait for a maintenance window, the pace limit or the gap between slices. True if it waited."""
        loop = asyncio.get_running_loop()
        if self.policy.windows:
            verdict = self.window_verdict()
            if not verdict.allowed:
                until = verdict.next_start
                self.waiting_for = f"maintenance window: {verdict.reason}"
                self._emit(WindowWait(self.clock(), verdict.reason, until))
                self.log(
                    f"waiting: {verdict.reason}; next window opens "
                    + (time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(until)) if until else "never"),
                    level="warn",
                )
                await self._sleep_unless_stopped((until - self.clock()) if until else 3600.0)
                self.waiting_for = ""
                return True
        if self._pace_quota() <= 0 and self._reboot_times:
            wait = self._reboot_times[0] + self.policy.pace_window - time.monotonic()
            self.waiting_for = f"pace: max_reboots_per_hour {self.policy.max_reboots_per_hour}"
            self.log(f"waiting {wait:.0f}s: {self.waiting_for} reached", level="info")
            await self._sleep_unless_stopped(wait)
            self.waiting_for = ""
            return True
        if self.policy.min_slice_gap > 0 and self._last_slice_end is not None:
            wait = self._last_slice_end + self.policy.min_slice_gap - loop.time()
            if wait > 0:
                self.waiting_for = f"min_slice_gap {self.policy.min_slice_gap:g}s"
                await self._sleep_unless_stopped(wait)
                self.waiting_for = ""
                return True
        return False

    async def _sleep_unless_stopped(self, seconds: float) -> None:
        """Sleep, but wake at once on pause or abort (and re-check at least once a minute)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + max(0.0, seconds)
        while self.state is RollState.RUNNING:
            left = end - loop.time()
            if left <= 0:
                return
            await self._changed.wait(timeout=min(left, 60.0))

    async def _precheck(self, run: HostRun) -> HostSession:
        try:
            session = await self._connect(run)
        except SSHError as exc:
            raise HostProblem(HostState.UNHEALTHY, f"unreachable before its reboot: {exc}") from exc
        try:
            # Three commands on one connection at once (one channel each): the boot id, the facts and
            # the pre-checks cost one round trip's wait instead of three.
            boot_id, facts, failed = await _together(
                self._read_boot_id(session), self._facts(run, session), self._host_checks(run, session, "pre")
            )
            run.boot_id_before, run.facts_before = boot_id, facts
            if run.facts_before is not None:
                found = (
                    preflight(
                        run.facts_before,
                        self.policy.drift,
                        last_reboot_at=self.history.get(run.name),
                        now=self.clock(),
                    )
                    if self.policy.drift is not None
                    else []
                )
                self._report_findings(run, found, "before")
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

    async def _facts(self, run: HostRun, session: HostSession) -> Facts | None:
        """The host's facts for the drift audit; None when they could not be read or ``drift: off``."""
        if self.policy.drift is None:
            return None
        try:
            return await gather_facts(session, timeout=self.policy.command_timeout)
        except SSHError as exc:
            if exc.kind == SSHErrorKind.DISCONNECTED:
                raise
            self.log(f"could not gather facts: {exc}", run.name, "warn")
            return None

    def _report_findings(self, run: HostRun, found: Sequence[Finding], phase: str) -> None:
        run.findings = [f for f in run.findings if f.phase != phase] + list(found)
        if found:
            self._emit(FindingsReported(self.clock(), run.name, phase, tuple(found)))

    async def _host_checks(self, run: HostRun, session: HostSession, phase: str) -> str | None:
        specs = self.inventory.checks_for(run.host)
        if not specs:
            return None

        async def one(spec: CheckSpec) -> CheckOutcome:
            if phase == "post" and spec.initial_delay:
                await asyncio.sleep(spec.initial_delay)
            return await run_host_check(spec, run.host, session, default_timeout=self.policy.command_timeout)

        outcomes = await asyncio.gather(*(one(s) for s in specs))
        failed = None
        for o in outcomes:
            previous = run.checks.get(o.check)
            run.checks[o.check] = o
            # Repeated passing bake checks are not news; everything else is.
            if phase != "bake" or not o.ok or previous is None or not previous.ok:
                self._emit(
                    CheckRan(self.clock(), run.name, o.check, phase, o.ok, o.output, o.duration, o.attempts)
                )
            if not o.ok and failed is None:
                last = o.output.strip().splitlines()[-1] if o.output.strip() else f"exit {o.exit_status}"
                failed = f"check {o.check} failed: {last}"
        return failed

    async def _run_hooks(
        self, run: HostRun, hooks: Sequence[HookSpec], session: HostSession | None
    ) -> str | None:
        """Run hooks in order; returns a description of the first failure (the rest are not run)."""
        for hook in hooks:
            outcome = await run_hook(hook, run.host, roll=self.inventory.name, session=session)
            self._emit(
                CheckRan(
                    self.clock(),
                    run.name,
                    f"hook {hook.name}",
                    hook.phase,
                    outcome.ok,
                    outcome.output,
                    outcome.duration,
                )
            )
            if not outcome.ok:
                last = outcome.output.strip().splitlines()[-1] if outcome.output.strip() else "failed"
                return f"{hook.phase} hook {hook.name} failed: {last}"
        return None

    async def _send_reboot(self, run: HostRun, session: HostSession) -> None:
        run.reboot_sent_at = self.clock()
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

    async def _after_reboot(self, run: HostRun, *, phase: str) -> None:
        """Wait for the new boot id, then checks, drift regressions and bake; ends DONE or raises."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.policy.reboot_timeout
        session = await self.wait_for_new_boot_id(run, deadline)
        try:
            await self._settle_boot(run, session, deadline)
            self._set_host(run, HostState.CHECKING)
            failed, run.facts_after = await _together(
                self._host_checks(run, session, phase), self._facts(run, session)
            )
            if failed:
                raise HostProblem(HostState.FAILED, failed)
            await self._drift_after(run, session)
            post_hooks = self.inventory.hooks_for(run.host, "post_reboot")
            if post_hooks:
                failed = await self._run_hooks(run, post_hooks, session)
                if failed:
                    raise HostProblem(HostState.FAILED, failed)
            if self.policy.bake > 0:
                self._set_host(run, HostState.BAKING)
                bake_end = loop.time() + self.policy.bake
                while True:
                    left = bake_end - loop.time()
                    if left <= 0:
                        break
                    await asyncio.sleep(min(self.policy.check_interval, left))
                    if session.closed:
                        session = await self._connect(run)
                    failed = await self._host_checks(run, session, "bake")
                    if failed:
                        raise HostProblem(HostState.FAILED, f"{failed} during bake")
            run.healthy_at = self.clock()
            run.done_at = run.healthy_at
            if run.reboot_sent_at is not None:
                self.cycle_times.append(run.done_at - run.reboot_sent_at)
            self._set_host(run, HostState.DONE, "healthy" + (" (retried)" if phase == "retry" else ""))
        except SSHError as exc:
            raise HostProblem(HostState.FAILED, f"lost contact after the reboot: {exc}") from exc
        finally:
            session.close()

    async def _settle_boot(self, run: HostRun, session: HostSession, deadline: float) -> None:
        """Wait while systemd reports the boot is still under way (``initializing``/``starting``)."""
        loop = asyncio.get_running_loop()
        while loop.time() < deadline:
            result = await session.run("systemctl is-system-running", timeout=self.policy.command_timeout)
            state = result.stdout.strip()
            if state not in ("initializing", "starting"):
                return
            await asyncio.sleep(self.policy.poll_interval)
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
                self.log(f"could not read journal evidence: {exc}", run.name, "warn")
        found = regressions(run.facts_before, run.facts_after, self.policy.drift, evidence)
        self._report_findings(run, found, "after")
        blocking = [f for f in found if f.severity is Severity.BLOCK]
        if blocking:
            raise HostProblem(HostState.FAILED, "; ".join(f.message for f in blocking), blocking)

    async def wait_for_new_boot_id(self, run: HostRun, deadline: float) -> HostSession:
        """Poll (at least every ``poll_interval``) until the host answers SSH with a boot id other than before.

        Cheap TCP probes run every interval and overlap (a host that does not answer makes each one wait
        its connect timeout), so a port that opens is seen within about one interval; only then is an SSH
        handshake tried, one at a time per host, so a slice of hundreds of hosts coming back does not
        become a herd of key exchanges. A refused connection (the host's network is up, its sshd not yet)
        is probed again after 50 ms, then 100, 200... up to the interval: sshd is seen moments after it
        listens. Through a jump host there is no direct TCP path: SSH probes only.
        """
        loop = asyncio.get_running_loop()
        before = run.boot_id_before
        route = self.connector.route(self._target(run.host))
        direct = not route.jumps
        tcp: set[asyncio.Task[str | None]] = set()
        ssh: asyncio.Task[tuple[HostSession, str]] | None = None
        max_parallel = max(1, min(8, math.ceil(self.policy.connect_timeout / self.policy.poll_interval)))
        last_error = "no answer yet"
        winner: HostSession | None = None
        refused = 0  # consecutive refused TCP probes

        def went_down(reason: str) -> None:
            nonlocal last_error
            last_error = reason
            if run.state is HostState.REBOOTING:
                run.down_at = self.clock()
                self._set_host(run, HostState.DOWN, "not answering")

        try:
            next_start = loop.time()
            while winner is None:
                now = loop.time()
                if now >= deadline:
                    break
                if now >= next_start and ssh is None:
                    if direct and len(tcp) < max_parallel:
                        tcp.add(asyncio.ensure_future(self._tcp_probe(route.hostname, route.port)))
                    elif not direct:
                        ssh = asyncio.ensure_future(self._probe(run))
                    next_start = now + self.policy.poll_interval
                wait_for = max(0.0, min(next_start, deadline) - loop.time())
                pending: set[asyncio.Future[Any]] = set(tcp) | ({ssh} if ssh is not None else set())
                if not pending:
                    await asyncio.sleep(wait_for)
                    continue
                done, _ = await asyncio.wait(pending, timeout=wait_for, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task is not ssh:
                        tcp.discard(task)
                        closed = task.result()
                        if closed is not None:
                            went_down(closed)
                            if closed.endswith(REFUSED):
                                # Its network is up and sshd is about to listen: look again soon, backing
                                # off to the poll interval if it stays refused (a host that refuses while
                                # down costs a handful of extra SYNs, not one every 50 ms).
                                refused += 1
                                soon = min(self.policy.poll_interval, REFUSED_REPROBE * 2 ** (refused - 1))
                                next_start = min(next_start, loop.time() + soon)
                            else:
                                refused = 0
                        elif ssh is None:
                            ssh = asyncio.ensure_future(self._probe(run))  # the port is open: try SSH
                        continue
                    ssh = None
                    try:
                        session, boot_id = task.result()
                    except SSHError as exc:
                        if exc.kind in (SSHErrorKind.HOSTKEY_CHANGED, SSHErrorKind.HOSTKEY_UNKNOWN):
                            raise HostProblem(HostState.FAILED, f"refused after the reboot: {exc}") from exc
                        if exc.kind == SSHErrorKind.AUTH:
                            raise HostProblem(HostState.FAILED, f"after the reboot: {exc}") from exc
                        went_down(str(exc))
                        continue
                    except HostProblem as problem:
                        last_error = problem.reason
                        continue
                    if boot_id == before:
                        session.close()  # still the old boot: the reboot has not happened yet
                        last_error = f"answers with its old boot id {before}"
                        continue
                    winner = session
                    if boot_id == run.boot_id_after and run.up_at is not None:
                        continue  # a retry of a host already back in this boot: its up time stays
                    run.boot_id_after = boot_id
                    run.rebooted = True
                    run.up_at = self.clock()
                    if run.down_at is None:
                        run.down_at = run.up_at
                    self._set_host(run, HostState.BOOTING, "back with a new boot id")
        finally:
            leftovers: list[asyncio.Future[Any]] = [*tcp, *([ssh] if ssh is not None else [])]
            await cancel_and_wait(leftovers)
            for task in leftovers:  # a probe that won the race with its cancellation: close its session
                if task.done() and not task.cancelled() and task.exception() is None:
                    result = task.result()
                    if isinstance(result, tuple):
                        result[0].close()
        if winner is None:
            if run.down_at is None and last_error.startswith("answers with its old boot id"):
                raise HostProblem(
                    HostState.FAILED,
                    f"did not reboot: still up with its old boot id {before} {self.policy.reboot_timeout:g}s "
                    f"after {self.policy.reboot_command!r} returned (a scheduled or refused reboot?)",
                )
            raise HostProblem(
                HostState.FAILED,
                f"not back with a new boot id within reboot_timeout "
                f"({self.policy.reboot_timeout:g}s); last: {last_error}",
            )
        return winner

    async def _tcp_probe(self, host: str, port: int) -> str | None:
        """None when the port accepts a connection; otherwise why not."""
        try:
            async with asyncio.timeout(self.policy.connect_timeout):
                _, writer = await asyncio.open_connection(host, port)
        except TimeoutError:
            return f"{host}:{port}: no answer within {self.policy.connect_timeout:g}s"
        except ConnectionRefusedError:
            return f"{host}:{port}: {REFUSED}"
        except OSError as exc:
            return f"{host}:{port}: {exc.strerror or exc}"
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        return None

    async def _probe(self, run: HostRun) -> tuple[HostSession, str]:
        session = await self._connect(run)
        try:
            return session, await self._read_boot_id(session)
        except BaseException:
            session.close()
            raise

    def _problem(self, run: HostRun, problem: HostProblem) -> None:
        if problem.findings:
            self.log(problem.reason, run.name, "error")
        self._set_host(run, problem.state, problem.reason)
        self.failures += 1
        if run.skipped:
            self.log(f"{run.name} (skipped) ended {problem.state.value}: {problem.reason}", run.name, "warn")
        elif run.canary:
            self._auto_pause(f"canary {run.name} {problem.state.value}: {problem.reason}", host=run.name)
        elif (
            # never rebooted (unhealthy, blocked), or nobody knows whether it was (unconfirmed): these are
            # not failures max_failures tolerates, they need the operator
            problem.state in (HostState.UNHEALTHY, HostState.BLOCKED, HostState.UNCONFIRMED)
            or problem.pause
            or self.failures > self.policy.max_failures
        ):
            self._auto_pause(f"{run.name} {problem.state.value}: {problem.reason}", host=run.name)
        else:
            self.log(
                f"{run.name} failed ({self.failures} of max_failures {self.policy.max_failures}); the roll goes on",
                run.name,
                "warn",
            )
        if run.watch is None or run.watch.done():
            run.watch = self._spawn(self._watch(run), f"watch {run.name}")

    async def _watch(self, run: HostRun) -> None:
        """Keep checking a problem host: once healthy again it stops holding its budget slot."""
        me = asyncio.current_task()
        while run.state in PROBLEMS and not run.healthy_again:
            await asyncio.sleep(self.policy.recheck_interval)
            if run.state not in PROBLEMS:
                return
            healthy = await self._is_healthy(run)
            if me is not None and me.cancelling():
                # Cancelled, but the CancelledError was lost inside a connection attempt (Python 3.11's
                # wait_for / timeout race with a firing timeout): stop anyway, never loop on.
                raise asyncio.CancelledError
            if healthy:
                run.healthy_again = True
                self.log(f"{run.name} is healthy again: its budget slot is released", run.name)
                self._emit(
                    HostStateChanged(
                        self.clock(),
                        run.name,
                        run.state,
                        run.state,
                        "healthy again",
                        run.boot_id_after,
                        run.skipped,
                    )
                )

    async def _is_healthy(self, run: HostRun) -> bool:
        try:
            session = await self._connect(run)
        except SSHError:
            return False
        try:
            boot_id = await self._read_boot_id(session)
            if run.reboot_issued and boot_id == run.boot_id_before:
                return False
            specs = self.inventory.checks_for(run.host)
            for spec in specs:
                o = await run_host_check(spec, run.host, session, default_timeout=self.policy.command_timeout)
                if not o.ok:
                    return False
            if run.reboot_issued and run.facts_before is not None and self.policy.drift is not None:
                after = await self._facts(run, session)
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

    async def _retry(self, run: HostRun) -> None:
        """Re-run a problem host's checks. Never reboots it: a host rebooted in this roll stays rebooted."""
        try:
            if not run.reboot_issued:
                # Unhealthy or blocked before its turn: pre-check again; if it passes it rejoins the queue.
                self._set_host(run, HostState.PRECHECKING, "retry")
                session = await self._precheck(run)
                session.close()
                run.healthy_again = False
                self._set_host(run, HostState.PENDING, "pre-checks pass on retry: back in the queue")
                if run.name in self._queue:
                    self._queue.remove(run.name)
                self._queue.insert(0, run.name)
                return
            self._set_host(run, HostState.CHECKING, "retry")
            await self._after_reboot(run, phase="retry")  # its own deadline: reboot_timeout
        except HostProblem as problem:
            self._set_host(run, problem.state, problem.reason)
            if run.watch is None or run.watch.done():
                run.watch = self._spawn(self._watch(run), f"watch {run.name}")
        except SSHError as exc:
            self._set_host(run, HostState.FAILED if run.reboot_issued else HostState.UNHEALTHY, str(exc))

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
                self._report_findings(run, list(a.findings), "before")
            self._emit(HostAudited(self.clock(), a.host, tuple(a.findings), a.error))

        self.log(f"auditing {len(self.hosts)} hosts (facts and pre-flight findings; nothing is rebooted)")
        self._emit(AuditStarted(self.clock(), len(self.hosts)))
        try:
            result = await audit_fleet(
                self.inventory, self.connector, history=self.history, clock=self.clock, on_host=report
            )
        except asyncio.CancelledError:
            self._emit(AuditFinished(self.clock(), len(self.hosts), failed="cancelled"))
            raise
        except Exception as exc:
            self._emit(AuditFinished(self.clock(), len(self.hosts), failed=repr(exc)))
            raise
        self.audit_results = result
        blocking = sum(1 for h in result.hosts.values() if h.blocking)
        self._emit(AuditFinished(self.clock(), len(result.hosts), blocking, len(result.unreachable)))
        return result

    async def _order_by_audit(self) -> None:
        self._ordered = True
        audit = self.audit_results or await self.audit()
        uptimes = audit.uptimes(self.history, self.clock())
        queue, why = order_hosts(self.inventory, uptimes=uptimes, risks=audit.risks())
        self._queue = list(self.policy.canaries) + queue
        self.order_reason = why
        self.log(f"order: {why}: {', '.join(queue[:8])}{' …' if len(queue) > 8 else ''}")

    # ------------------------------------------------------------------------------------------------
    # Resume after a crash

    def restore(
        self,
        records: Iterable[Any],
        *,
        state: RollState,
        reason: str = "",
        automatic: bool = False,
        slice_index: int = -1,
        ramp_step: int = 0,
        started_at: float | None = None,
    ) -> None:
        """Take back host states from the journal (``journal.HostRecord``s) before ``run()``.

        A host whose reboot may have been in flight is marked for verification: ``run()`` first finds
        out from its boot id what really happened, and never reboots a host whose boot id has changed.
        """
        for rec in records:
            run = self.hosts.get(rec.host)
            if run is None:
                continue
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
        self.slice_index = slice_index
        self.ramp_step = ramp_step
        self.started_at = started_at
        self.reason = reason
        # What max_failures and the pace limits count carries over a restart: problem hosts, and the
        # reboots sent within the pace window (wall-clock intents mapped onto this process's monotonic clock).
        self.failures = sum(1 for r in self.hosts.values() if r.state in PROBLEMS and not r.skipped)
        now_wall, now_mono = self.clock(), time.monotonic()
        sent = sorted(
            now_mono - (now_wall - r.reboot_sent_at)
            for r in self.hosts.values()
            if r.reboot_issued and r.reboot_sent_at is not None
        )
        self._reboot_times = collections.deque(t for t in sent if t >= now_mono - self.policy.pace_window)
        ends = [r.done_at for r in self.hosts.values() if r.done_at is not None]
        if ends:
            self._last_slice_end = now_mono - (now_wall - max(ends))
        self.auto_paused = automatic
        verifying = any(r.verify for r in self.hosts.values())
        state = {RollState.PAUSING: RollState.PAUSED, RollState.ABORTING: RollState.ABORTED}.get(state, state)
        if verifying and state is RollState.PAUSED:
            state = RollState.PAUSING
        elif verifying and state is RollState.ABORTED:
            state = RollState.ABORTING
        elif state is RollState.READY:
            state = RollState.RUNNING
        self.state = state

    async def _verify_inflight(self, run: HostRun) -> None:
        """After a restart: did this host's reboot happen? Carry on, re-issue it, or ask the operator."""
        run.verify = False
        self.log(
            f"{run.name}: the console restarted while its reboot may have been in flight; checking its boot id",
            run.name,
        )
        try:
            if run.rebooted:
                await self._after_reboot(run, phase="post")
                return
            loop = asyncio.get_running_loop()
            grace = (
                self.policy.resume_grace
                if self.policy.resume_grace is not None
                else self.policy.reboot_timeout
            )
            deadline = loop.time() + grace
            saw_same = saw_unreachable = False
            while loop.time() < deadline:
                try:
                    session, boot_id = await self._probe(run)
                except SSHError as exc:
                    if exc.kind in (
                        SSHErrorKind.HOSTKEY_CHANGED,
                        SSHErrorKind.HOSTKEY_UNKNOWN,
                        SSHErrorKind.AUTH,
                    ):
                        raise HostProblem(HostState.UNCONFIRMED, f"cannot confirm its reboot: {exc}") from exc
                    saw_unreachable = True
                    if run.state is HostState.REBOOTING:
                        self._set_host(run, HostState.DOWN, "not answering (after restart)")
                    await asyncio.sleep(self.policy.poll_interval)
                    continue
                session.close()
                if boot_id != run.boot_id_before:
                    self.log(
                        f"{run.name}: boot id changed: its reboot happened; carrying on with its checks",
                        run.name,
                    )
                    await self._after_reboot(run, phase="post")
                    return
                saw_same = True
                await asyncio.sleep(self.policy.poll_interval)
            if saw_same and not saw_unreachable:
                why = (
                    f"reachable with the same boot id {run.boot_id_before} for the whole grace period "
                    f"({grace:g}s) after the restart: the reboot never happened"
                )
                if self.state is not RollState.RUNNING:
                    run.reboot_issued = False
                    self._set_host(
                        run, HostState.PENDING, f"not rebooted ({why}); the roll is {self.state.value}"
                    )
                    return
                await self._reissue(run, why)
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
            self._problem(run, problem)
        except SSHError as exc:
            self._problem(run, HostProblem(HostState.FAILED, str(exc)))

    async def _reissue(self, run: HostRun, why: str) -> None:
        """Issue the reboot that never happened: this is the host's first reboot in this roll."""
        session = await self._precheck(run)
        try:
            if not self._may_reboot(run):
                run.reboot_issued = False
                self._set_host(run, HostState.PENDING, "not re-issued: the roll is " + self.state.value)
                return
            if self.journal is not None:
                self.journal.record_reissue(run.name, why)
                self.journal.record_intent(
                    run.name,
                    run.boot_id_before or "",
                    run.facts_before.to_dict() if run.facts_before else None,
                )
            run.reissued = True
            self.log(f"{run.name}: re-issuing its reboot: {why}", run.name, "warn")
            self._set_host(run, HostState.REBOOTING, "reboot re-issued: " + why)
            await self._send_reboot(run, session)
            session = None  # type: ignore[assignment]
            if self.journal is not None:
                self.journal.record_sent(run.name)
        finally:
            if session is not None:
                session.close()
        await self._after_reboot(run, phase="post")

    # ------------------------------------------------------------------------------------------------
    # Views for faces

    def host_rows(self) -> Iterable[HostRun]:
        return self.hosts.values()
