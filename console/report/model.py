"""The report of one roll as plain frozen data: what ``build_report`` reads from the journal, and what the
Markdown and TOML renderers write out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from console.model.errors import SlowrollError
from console.report.timeline import Span, TimelineRow


class ReportError(SlowrollError):
    exit_code = 2


@dataclass(frozen=True)
class FindingRow:
    phase: str  # before, after
    kind: str
    severity: str
    subject: str
    message: str
    evidence: str = ""


@dataclass(frozen=True)
class CheckFailure:
    at: float
    check: str
    phase: str  # pre, post, bake, retry, watch, slice
    output: str
    attempts: int
    host: str | None = None  # None: a service-level check


@dataclass(frozen=True)
class ActionRow:
    at: float
    action: str
    who: str
    why: str
    host: str | None = None


@dataclass(frozen=True)
class RollStateRow:
    at: float
    old: str
    new: str
    reason: str
    automatic: bool


@dataclass(frozen=True)
class SliceRow:
    index: int  # 0-based, as in the journal (shown 1-based)
    hosts: tuple[str, ...]
    canary: bool
    reason: str
    started_at: float
    duration: float | None  # None: not finished when the journal was last written


@dataclass(frozen=True)
class HostReport:
    name: str
    position: int
    address: str | None
    groups: tuple[str, ...]
    state: str
    skipped: bool
    reason: str
    slice_index: int | None
    rebooted: bool
    reissued: bool
    healthy_again: bool
    boot_id_before: str | None
    boot_id_after: str | None
    reboot_at: float | None  # the reboot command: sent, or (if its record was cut off) the intent
    up_at: float | None  # back with a new boot id
    done_at: float | None  # healthy and baked
    findings: tuple[FindingRow, ...]
    failed_checks: tuple[CheckFailure, ...]
    actions: tuple[ActionRow, ...]
    spans: tuple[Span, ...]
    vars: Mapping[str, Any] = field(default_factory=dict)

    @property
    def downtime(self) -> float | None:
        """Reboot command → back with a new boot id."""
        if self.reboot_at is None or self.up_at is None or self.up_at < self.reboot_at:
            return None
        return self.up_at - self.reboot_at

    @property
    def time_to_healthy(self) -> float | None:
        """Reboot command → done (checks passed and baked)."""
        if self.reboot_at is None or self.done_at is None or self.done_at < self.reboot_at:
            return None
        return self.done_at - self.reboot_at


@dataclass(frozen=True)
class Report:
    roll_id: int
    inventory_name: str
    inventory_path: str
    inventory_hash: str
    simulated: bool
    started_by: str
    started_on: str
    pid: int
    command: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    ended_at: float  # finished_at, or the last thing the journal saw
    state: str
    reason: str
    automatic: bool
    policy: Mapping[str, Any]
    hosts: tuple[HostReport, ...]
    slices: tuple[SliceRow, ...]
    actions: tuple[ActionRow, ...]
    states: tuple[RollStateRow, ...]
    service_failures: tuple[CheckFailure, ...]
    summary: Mapping[str, tuple[str, ...]]  # rebooted / failed / skipped / untouched (when recorded)

    @property
    def duration(self) -> float:
        return max(0.0, self.ended_at - (self.started_at or self.created_at))

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for h in self.hosts:
            out[h.state] = out.get(h.state, 0) + 1
        return out

    def timeline(self) -> list[TimelineRow]:
        return [(h.name, h.spans) for h in self.hosts]
