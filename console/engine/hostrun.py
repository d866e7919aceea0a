"""The engine's record of one host in a roll (``HostRun``), and ``HostProblem``, which ends its cycle."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from console.model.aio import Deadline
from console.model.events import COMMITTED, LATE, PROBLEMS, HostState
from console.model.findings import Finding
from console.model.host import Host
from console.remote.checks import CheckOutcome
from console.remote.facts import Facts

# Hosts whose cycle has started (pre-check passed) and is not over, plus problem hosts, are unavailable.
SLOT_STATES = COMMITTED | {HostState.DRAINING}
MAY_HOLD_SLOT = SLOT_STATES | PROBLEMS  # HostRun.holds_slot is False in every other state
_WAITING = frozenset({HostState.REBOOTING, HostState.DOWN, HostState.BOOTING})  # under reboot_timeout


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
    timed_out: bool = False  # its last wait for a new boot id (or for systemd) ran out of time
    facts_before: Facts | None = None
    facts_after: Facts | None = None
    findings: list[Finding] = field(default_factory=list)
    checks: dict[str, CheckOutcome] = field(default_factory=dict)  # each check's latest outcome
    check_phase: dict[str, str] = field(default_factory=dict)  # when it ran: pre, post, bake or retry
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
    timeout_at: float | None = None  # (engine clock) when its wait for a new boot id runs out, before lag
    deadline: Deadline | None = field(default=None, repr=False)  # that wait's lag-aware deadline

    @property
    def name(self) -> str:
        return self.host.name

    @property
    def holds_slot(self) -> bool:
        """Counts against its groups' budgets (see the engine issue's definition of unavailable)."""
        if self.state in SLOT_STATES:
            return True
        return self.state in PROBLEMS and not self.healthy_again

    @property
    def late(self) -> bool:
        """Done, but only after its reboot_timeout had failed it: back late, then healthy."""
        return self.state is HostState.DONE and self.reason.startswith(LATE)

    def timeout_left(self, now: float) -> float | None:
        """Seconds until its reboot_timeout while it is rebooting, down or booting (the engine's own
        deadline, extended by the console's lag like the wait itself); None when no such wait runs."""
        if self.timeout_at is None or self.state not in _WAITING:
            return None
        return self.timeout_at + (self.deadline.extension if self.deadline is not None else 0.0) - now

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
