"""What the journal remembers of a roll (``RollRecord``) and of each of its hosts (``HostRecord``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from console.model.events import HostState

UNFINISHED = ("ready", "running", "pausing", "paused", "aborting")

# The columns of ``hosts`` that make a HostRecord, in its fields' order.
HOST_COLUMNS = (
    "host, position, state, skipped, reason, boot_id_before, boot_id_after, rebooted, intent_at,"
    " sent_at, up_at, done_at, reissued, healthy_again, slice_index, facts_before_json, findings_json"
)


@dataclass(frozen=True)
class RollRecord:
    id: int
    inventory_path: str
    inventory_key: str
    inventory_name: str
    inventory_hash: str
    inventory_text: str
    policy: dict[str, Any]
    started_by: str
    started_on: str
    pid: int
    simulated: bool
    created_at: float
    started_at: float | None
    finished_at: float | None
    state: str
    reason: str
    automatic: bool
    slice_index: int
    ramp_step: int
    summary: dict[str, Any] | None
    policy_path: str | None = None
    # How the roll connected (paths and flags, never secrets): ssh_config, accept_new; resume reuses them.
    connection: dict[str, Any] = field(default_factory=dict)

    @property
    def unfinished(self) -> bool:
        return self.state in UNFINISHED


@dataclass(frozen=True)
class HostRecord:
    host: str
    position: int
    state: HostState
    skipped: bool
    reason: str
    boot_id_before: str | None
    boot_id_after: str | None
    rebooted: bool
    intent_at: float | None
    sent_at: float | None
    up_at: float | None
    done_at: float | None
    reissued: bool
    healthy_again: bool
    slice_index: int | None
    facts_before: dict[str, Any] | None
    findings: list[dict[str, Any]]


def roll_record(d: Mapping[str, Any]) -> RollRecord:
    """A ``rolls`` row (as a column → value mapping)."""
    return RollRecord(
        id=d["id"],
        inventory_path=d["inventory_path"],
        inventory_key=d["inventory_key"],
        inventory_name=d["inventory_name"],
        inventory_hash=d["inventory_hash"],
        inventory_text=d["inventory_text"],
        policy=json.loads(d["policy_json"]),
        started_by=d["started_by"],
        started_on=d["started_on"],
        pid=d["pid"],
        simulated=bool(d["simulated"]),
        created_at=d["created_at"],
        started_at=d["started_at"],
        finished_at=d["finished_at"],
        state=d["state"],
        reason=d["reason"],
        automatic=bool(d["automatic"]),
        slice_index=d["slice_index"],
        ramp_step=d["ramp_step"],
        summary=json.loads(d["summary_json"]) if d["summary_json"] else None,
        policy_path=d.get("policy_path"),
        connection=json.loads(d.get("connection_json") or "{}"),
    )


def host_record(r: tuple[Any, ...]) -> HostRecord:
    """A ``hosts`` row, selected as ``HOST_COLUMNS``; a state this version does not know is unconfirmed."""
    try:
        state = HostState(r[2])
    except ValueError:
        state = HostState.UNCONFIRMED
    return HostRecord(
        host=r[0],
        position=r[1],
        state=state,
        skipped=bool(r[3]),
        reason=r[4],
        boot_id_before=r[5],
        boot_id_after=r[6],
        rebooted=bool(r[7]),
        intent_at=r[8],
        sent_at=r[9],
        up_at=r[10],
        done_at=r[11],
        reissued=bool(r[12]),
        healthy_again=bool(r[13]),
        slice_index=r[14],
        facts_before=json.loads(r[15]) if r[15] else None,
        findings=json.loads(r[16] or "[]"),
    )
