"""The roll's shared state and the moves every room of the engine makes: emit an event, change a state.

``Core`` holds what the rooms (scheduler, cycle, boot-id wait, watch, recovery) read and change: the
hosts, the roll's state, the policy, the connector, the journal and the clock. ``Engine`` is a ``Core``
with the operator's commands and the views for faces on top; each room receives it as a ``Core``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from console.drift.audit import FleetAudit
from console.engine.hostrun import MAY_HOLD_SLOT, HostRun
from console.journal.store import whoami
from console.model.aio import Deadline, LoopLag, Notifier, cancel_and_wait
from console.model.budgets import Budgets, order_hosts
from console.model.errors import JournalUnwritable
from console.model.events import (
    PROBLEMS,
    Event,
    FindingsReported,
    HostState,
    HostStateChanged,
    LogLine,
    RollState,
    RollStateChanged,
)
from console.model.findings import Finding
from console.model.inventory import Inventory
from console.model.policy import Policy
from console.remote.ssh import Connector

Subscriber = Callable[[Event], None]
_T = TypeVar("_T")


class RollJournal(Protocol):
    """What the engine needs from the journal; every call is synchronous and durable when it returns."""

    def record_event(self, event: Event) -> None: ...

    def record_intent(
        self, host: str, boot_id_before: str, facts_before: dict[str, Any] | None = None
    ) -> None: ...

    def record_reissue(self, host: str, why: str) -> None: ...

    def record_sent(self, host: str) -> None: ...


def operator_identity() -> str:
    user, machine = whoami()
    return f"{user}@{machine}"


class Core:
    """The roll's state, its subscribers, its background tasks; the rooms' common ground."""

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
        self.typical_cycle = typical_cycle
        self.budgets = Budgets.for_inventory(inventory)
        self.hosts: dict[str, HostRun] = {
            h.name: HostRun(h, canary=h.name in self.policy.canaries) for h in inventory.hosts
        }
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
        self.slice_started_at: float | None = None  # (clock) when the latest slice started
        self.cycle_times: list[float] = []
        self.waiting_for = ""
        self.audit_results: FleetAudit | None = None
        queue, why = order_hosts(inventory)
        self.queue: list[str] = list(self.policy.canaries) + queue  # the order hosts are taken in
        self.order_reason = why
        # What max_reboots_per_hour and min_slice_gap count (this process's monotonic clock).
        self.reboot_times: collections.deque[float] = collections.deque()
        self.last_slice_end: float | None = None
        self.changed = Notifier()  # wakes on every event (and so on every command)
        self._subscribers: list[Subscriber] = []
        self._background: set[asyncio.Task[Any]] = set()
        self.late: set[str] = set()  # hosts done late: back after their reboot_timeout, then healthy
        self.journal_broken: str | None = None  # why the journal cannot be written (the roll pauses)
        self.lag = LoopLag()  # the loop's own lateness: a busy console never fails a host for time

    # ------------------------------------------------------------------------------------------------
    # Subscribers and events

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` for every event from now on; returns a function that unsubscribes."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    def emit(self, event: Event) -> None:
        broke: JournalUnwritable | None = None
        if self.journal is not None and self.journal_broken is None:
            try:
                self.journal.record_event(event)
            except JournalUnwritable as exc:
                broke = exc
        for cb in list(self._subscribers):
            try:
                cb(event)
            except Exception as exc:  # a broken face must not stop the roll
                if not isinstance(event, LogLine):
                    self.emit(LogLine(self.clock(), f"event subscriber failed: {exc!r}", level="error"))
        self.changed.notify()
        if broke is not None:
            self.journal_failed(broke)

    def journal_failed(self, exc: JournalUnwritable) -> None:
        """The journal cannot be written: pause at once (the commit point refuses from now on, an intent
        could not be made durable) and follow the hosts in flight in memory. Said once."""
        if self.journal_broken is not None:
            return
        self.journal_broken = str(exc)
        self.log(f"{exc}: no new reboot; free space, then `slowroll resume`", level="error")
        self.auto_pause(str(exc))

    def log(self, message: str, host: str | None = None, level: str = "info") -> None:
        self.emit(LogLine(self.clock(), message, host, level))

    def report_findings(self, run: HostRun, found: Sequence[Finding], phase: str) -> None:
        run.findings = [f for f in run.findings if f.phase != phase] + list(found)
        if found:
            self.emit(FindingsReported(self.clock(), run.name, phase, tuple(found)))

    # ------------------------------------------------------------------------------------------------
    # States

    def set_roll(
        self, new: RollState, reason: str = "", *, host: str | None = None, automatic: bool = False
    ) -> None:
        old = self.state
        if old == new and reason == self.reason:
            return
        self.state = new
        if reason or new in (RollState.RUNNING, RollState.COMPLETE):
            self.reason = reason
            self.reason_host = host
        self.emit(RollStateChanged(self.clock(), old, new, reason, host, automatic))

    def set_host(self, run: HostRun, new: HostState, reason: str = "") -> None:
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
        self.emit(HostStateChanged(now, run.name, old, new, reason, boot_id, run.skipped))
        self.settle()

    def settle(self) -> None:
        """Pausing or aborting becomes paused or aborted once no host is left to follow."""
        if self.state is RollState.PAUSING and not self.waiting_on():
            self.set_roll(RollState.PAUSED, self.reason, host=self.reason_host, automatic=self.auto_paused)
        elif self.state is RollState.ABORTING and not self.waiting_on():
            self.set_roll(RollState.ABORTED, self.reason, host=self.reason_host)

    def auto_pause(self, reason: str, host: str | None = None) -> None:
        if self.state is RollState.RUNNING:
            self.auto_paused = True
            self.set_roll(RollState.PAUSING, reason, host=host, automatic=True)
            self.settle()
        else:
            self.log(f"also: {reason}", host, level="warn")

    def waiting_on(self) -> list[HostRun]:
        """Hosts the roll still follows to the end of their cycle (not the skipped ones)."""
        return [r for r in self.hosts.values() if r.in_flight and not r.skipped]

    def problems(self) -> list[HostRun]:
        return [r for r in self.hosts.values() if r.state in PROBLEMS]

    def unavailable(self) -> list[str]:
        # the state test first: on a big fleet most hosts are pending or done, and never hold a slot
        return [r.name for r in self.hosts.values() if r.state in MAY_HOLD_SLOT and r.holds_slot]

    def pace_quota(self) -> int:
        """Reboots still allowed in the current pace window (a large number when unpaced)."""
        limit = self.policy.max_reboots_per_hour
        if limit is None:
            return 1 << 30
        horizon = time.monotonic() - self.policy.pace_window
        while self.reboot_times and self.reboot_times[0] < horizon:
            self.reboot_times.popleft()
        return limit - len(self.reboot_times)

    async def until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            await self.changed.wait()

    # ------------------------------------------------------------------------------------------------
    # Background tasks (cycles, watchers, retries, verifications)

    def spawn(self, coro: Awaitable[_T], name: str) -> asyncio.Task[_T]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def deadline(self, seconds: float) -> Deadline:
        """``seconds`` from now, extended by however late this event loop runs meanwhile (lag measured)."""
        if not self.lag.running:
            self.lag.task = self.spawn(self.lag.run(), "loop lag")
        return self.lag.deadline(seconds)

    async def stop_background(self) -> None:
        await cancel_and_wait(list(self._background))


class Room:
    """One room of the engine: works on the roll's ``Core`` (policy read live: a test may replace it)."""

    def __init__(self, core: Core) -> None:
        self.core = core

    @property
    def policy(self) -> Policy:
        return self.core.policy
