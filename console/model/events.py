"""Typed, immutable events the engine publishes, and the state vocabularies they use.

Faces (the TUI, the headless printer, the journal) subscribe to these; none of them reaches into the
engine's internals to learn what happened.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from console.model.findings import Finding


class RollState(StrEnum):
    READY = "ready"
    RUNNING = "running"
    PAUSING = "pausing"  # in-flight hosts finish; no new reboot
    PAUSED = "paused"
    ABORTING = "aborting"
    ABORTED = "aborted"
    COMPLETE = "complete"

    @property
    def final(self) -> bool:
        return self in (RollState.ABORTED, RollState.COMPLETE)

    @property
    def stopping(self) -> bool:
        """No new reboot may be issued in these states."""
        return self is not RollState.RUNNING


class HostState(StrEnum):
    PENDING = "pending"
    PRECHECKING = "prechecking"
    DRAINING = "draining"
    REBOOTING = "rebooting"
    DOWN = "down"
    BOOTING = "booting"
    CHECKING = "checking"
    BAKING = "baking"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    BLOCKED = "blocked"  # a pre-flight finding says it would not come back: not rebooted
    UNHEALTHY = "unhealthy"  # failed its checks before its turn: not rebooted
    UNCONFIRMED = "reboot-unconfirmed"  # after a crash: cannot tell whether the reboot happened

    @property
    def committed(self) -> bool:
        """The reboot was (or may have been) issued and the cycle is not over."""
        return self in COMMITTED

    @property
    def in_flight(self) -> bool:
        return self in IN_FLIGHT

    @property
    def problem(self) -> bool:
        return self in PROBLEMS


IN_FLIGHT = frozenset(
    {
        HostState.PRECHECKING,
        HostState.DRAINING,
        HostState.REBOOTING,
        HostState.DOWN,
        HostState.BOOTING,
        HostState.CHECKING,
        HostState.BAKING,
    }
)
COMMITTED = frozenset(
    {HostState.REBOOTING, HostState.DOWN, HostState.BOOTING, HostState.CHECKING, HostState.BAKING}
)
PROBLEMS = frozenset({HostState.FAILED, HostState.BLOCKED, HostState.UNHEALTHY, HostState.UNCONFIRMED})
# How the reason of a host done late begins: it came back after its reboot_timeout and then passed its
# checks (the journal keeps the reason, so a resumed roll and the report know it too).
LATE = "done (late)"


@dataclass(frozen=True, slots=True)
class Event:
    kind: ClassVar[str] = "event"
    at: float  # wall-clock seconds since the epoch

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data = {"event": self.kind, **data}
        return {k: (v.value if isinstance(v, StrEnum) else v) for k, v in data.items()}


@dataclass(frozen=True, slots=True)
class RollStateChanged(Event):
    kind: ClassVar[str] = "roll-state"
    old: RollState
    new: RollState
    reason: str = ""
    host: str | None = None
    automatic: bool = False


@dataclass(frozen=True, slots=True)
class HostStateChanged(Event):
    kind: ClassVar[str] = "host-state"
    host: str
    old: HostState
    new: HostState
    reason: str = ""
    boot_id: str | None = None
    skipped: bool = False


@dataclass(frozen=True, slots=True)
class CheckRan(Event):
    kind: ClassVar[str] = "check"
    host: str | None  # None: a service-level check
    check: str
    phase: str  # pre, post, bake, retry, watch, slice
    ok: bool
    output: str
    duration: float
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class SliceStarted(Event):
    kind: ClassVar[str] = "slice-started"
    index: int
    hosts: tuple[str, ...]
    canary: bool = False
    reason: str = ""
    ramp_step: int = 0


@dataclass(frozen=True, slots=True)
class SliceFinished(Event):
    kind: ClassVar[str] = "slice-finished"
    index: int
    hosts: tuple[str, ...]
    duration: float


@dataclass(frozen=True, slots=True)
class FindingsReported(Event):
    kind: ClassVar[str] = "findings"
    host: str
    phase: str  # before, after
    findings: tuple[Finding, ...]


@dataclass(frozen=True, slots=True)
class AuditStarted(Event):
    """A fleet audit (facts and pre-flight findings, nothing rebooted) began."""

    kind: ClassVar[str] = "audit-started"
    hosts: int


@dataclass(frozen=True, slots=True)
class HostAudited(Event):
    """One host's audit ended: its pre-flight findings, or why it could not be audited."""

    kind: ClassVar[str] = "host-audited"
    host: str
    findings: tuple[Finding, ...] = ()
    error: str | None = None  # set when the host could not be audited (unreachable, no facts)


@dataclass(frozen=True, slots=True)
class AuditFinished(Event):
    """The fleet audit ended (``failed``: it could not run to the end, and why)."""

    kind: ClassVar[str] = "audit-finished"
    hosts: int
    blocking: int = 0
    unreachable: int = 0
    failed: str | None = None


@dataclass(frozen=True, slots=True)
class BudgetHeld(Event):
    kind: ClassVar[str] = "budget-held"
    budget: str  # "group web" or "fleet"
    limit: int
    holders: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WindowWait(Event):
    kind: ClassVar[str] = "window-wait"
    reason: str
    until: float | None  # epoch seconds when the next window opens (None: no window ever opens)


@dataclass(frozen=True, slots=True)
class OperatorAction(Event):
    kind: ClassVar[str] = "operator"
    action: str  # pause, resume, skip, retry, abort
    host: str | None = None
    who: str = ""
    why: str = ""


@dataclass(frozen=True, slots=True)
class LogLine(Event):
    kind: ClassVar[str] = "log"
    message: str
    host: str | None = None
    level: str = "info"  # info, warn, error


@dataclass(frozen=True, slots=True)
class RollFinished(Event):
    kind: ClassVar[str] = "roll-finished"
    state: RollState
    rebooted: tuple[str, ...]
    failed: tuple[str, ...]
    skipped: tuple[str, ...]
    untouched: tuple[str, ...]
    reason: str = ""
    duration: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    late: tuple[str, ...] = ()  # of the rebooted: back after their reboot_timeout, then healthy

    def counts(self) -> dict[str, int]:
        """How many hosts ended in each outcome (rebooted, failed, skipped, untouched; late of the rebooted)."""
        return {
            "rebooted": len(self.rebooted),
            "failed": len(self.failed),
            "skipped": len(self.skipped),
            "untouched": len(self.untouched),
            "late": len(self.late),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": self.kind,
            "at": self.at,
            "state": self.state.value,
            "rebooted": list(self.rebooted),
            "failed": list(self.failed),
            "skipped": list(self.skipped),
            "untouched": list(self.untouched),
            "late": list(self.late),
            "counts": self.counts(),
            "reason": self.reason,
            "duration": round(self.duration, 3),
            **self.extra,
        }
