"""How each engine event lands in the journal's tables (inside the caller's transaction).

Every event is kept in ``events``; a host's state change also updates its row in ``hosts`` and adds one to
``host_states`` (and, once it is done after a real reboot, to ``reboots``, the history); the roll's state,
operator actions, slices, findings and the roll's end update their rows.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from console.model.events import (
    CheckRan,
    Event,
    FindingsReported,
    HostState,
    HostStateChanged,
    LogLine,
    OperatorAction,
    RollFinished,
    RollStateChanged,
    SliceStarted,
)

# Events whose loss on a crash would leave a host's state or an operator's word unknown: committed at once.
DURABLE = (HostStateChanged, RollStateChanged, OperatorAction, SliceStarted, RollFinished, FindingsReported)


def insert_event(
    db: sqlite3.Connection, roll_id: int | None, kind: str, host: str | None, data: dict[str, Any], at: float
) -> None:
    db.execute(
        "INSERT INTO events (roll_id, at, kind, host, data_json) VALUES (?,?,?,?,?)",
        (roll_id, at, kind, host, json.dumps(data, default=str)),
    )


def apply_event(db: sqlite3.Connection, rid: int | None, event: Event) -> None:
    data = event.to_dict()
    host = getattr(event, "host", None)
    if isinstance(event, CheckRan | LogLine | FindingsReported | HostStateChanged | OperatorAction):
        insert_event(db, rid, event.kind, host, data, event.at)
    else:
        insert_event(db, rid, event.kind, None, data, event.at)
    match event:
        case HostStateChanged():
            _host_state(db, rid, event)
        case RollStateChanged(new=new, reason=reason, automatic=automatic):
            extra = ""
            params: list[Any] = [new.value, reason, int(automatic)]
            if new.value == "running":
                extra = ", started_at = COALESCE(started_at, ?)"
                params.append(event.at)
            db.execute(
                f"UPDATE rolls SET state = ?, reason = ?, automatic = ?{extra} WHERE id = ?",
                (*params, rid),
            )
        case OperatorAction(action=action, who=who, why=why):
            db.execute(
                "INSERT INTO actions (roll_id, at, action, host, who, why) VALUES (?,?,?,?,?,?)",
                (rid, event.at, action, host, who, why),
            )
        case SliceStarted(index=index, hosts=hosts, ramp_step=ramp_step):
            db.execute(
                "UPDATE rolls SET slice_index = ?, ramp_step = ? WHERE id = ?", (index, ramp_step, rid)
            )
            for h in hosts:
                db.execute("UPDATE hosts SET slice_index = ? WHERE roll_id = ? AND host = ?", (index, rid, h))
        case FindingsReported(findings=findings, phase=phase):
            row = db.execute(
                "SELECT findings_json FROM hosts WHERE roll_id = ? AND host = ?", (rid, host)
            ).fetchone()
            old = [f for f in json.loads(row[0] or "[]") if f.get("phase") != phase] if row else []
            db.execute(
                "UPDATE hosts SET findings_json = ? WHERE roll_id = ? AND host = ?",
                (json.dumps(old + [f.to_dict() for f in findings]), rid, host),
            )
        case RollFinished(state=state, reason=reason):
            db.execute(
                "UPDATE rolls SET state = ?, reason = ?, finished_at = ?, summary_json = ? WHERE id = ?",
                (state.value, reason, event.at if state.final else None, json.dumps(data), rid),
            )
        case _:
            pass


def _host_state(db: sqlite3.Connection, rid: int | None, ev: HostStateChanged) -> None:
    db.execute(
        "INSERT INTO host_states (roll_id, host, at, old, new, reason, boot_id) VALUES (?,?,?,?,?,?,?)",
        (rid, ev.host, ev.at, ev.old.value, ev.new.value, ev.reason, ev.boot_id),
    )
    sets = ["state = ?", "skipped = ?", "updated_at = ?"]
    params: list[Any] = [ev.new.value, int(ev.skipped), ev.at]
    if ev.reason:
        sets.append("reason = ?")
        params.append(ev.reason)
    if ev.new is HostState.REBOOTING and ev.boot_id:
        sets.append("boot_id_before = ?")
        params.append(ev.boot_id)
    if ev.new is HostState.BOOTING and ev.boot_id:
        # A new boot id was seen: from now on nothing may reboot this host again in this roll.
        sets += ["boot_id_after = ?", "rebooted = 1", "up_at = ?"]
        params += [ev.boot_id, ev.at]
    if ev.reason == "healthy again":
        sets.append("healthy_again = 1")
    if ev.new is HostState.DONE:
        sets.append("done_at = ?")
        params.append(ev.at)
    db.execute(f"UPDATE hosts SET {', '.join(sets)} WHERE roll_id = ? AND host = ?", (*params, rid, ev.host))
    if ev.new is HostState.DONE:
        row = db.execute(
            "SELECT intent_at, boot_id_before, boot_id_after, rebooted FROM hosts WHERE roll_id = ? AND host = ?",
            (rid, ev.host),
        ).fetchone()
        if row and row[3]:
            key = db.execute("SELECT inventory_key FROM rolls WHERE id = ?", (rid,)).fetchone()[0]
            db.execute(
                "INSERT INTO reboots (roll_id, host, inventory_key, at, healthy_at, boot_id_before, boot_id_after)"
                " VALUES (?,?,?,?,?,?,?)",
                (rid, ev.host, key, row[0] or ev.at, ev.at, row[1], row[2]),
            )
