"""What happened in a roll, read from the journal into a frozen ``Report`` (``console.report.model``).

``build_report(journal, roll_id)`` reads everything; ``console.report.markdown`` and ``console.report.toml``
turn it into text. ``timeline_from_journal`` gives the timeline alone, for ``console.report.timeline``.

Secrets: the inventory text stored in the journal is never printed; host vars whose names look secret
(``console.load.redact``) are shown as ``<redacted>``. See ``docs/report.md``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from console.journal.records import HostRecord, RollRecord
from console.journal.store import Journal
from console.load.ansible import parse_ansible_inventory
from console.load.native import parse_inventory
from console.load.redact import redact_vars
from console.model.errors import SlowrollError
from console.model.inventory import Inventory
from console.report.model import (
    ActionRow,
    CheckFailure,
    FindingRow,
    HostReport,
    Report,
    ReportError,
    RollStateRow,
    SliceRow,
)
from console.report.timeline import TimelineRow, spans_from_states

StateChanges = dict[str, list[tuple[float, str]]]  # host → [(at, new state), ...] in time order
Where = dict[str, tuple[str | None, tuple[str, ...]]]  # host → (address, groups)


def timeline_from_journal(journal: Journal, roll_id: int) -> list[TimelineRow]:
    """The timeline of a recorded roll, one row per host in inventory order."""
    roll = journal.roll(roll_id)
    if roll is None:
        raise ReportError(f"no roll {roll_id} in the journal {journal.path}")
    changes = journal.host_timeline(roll_id)
    end = _roll_end(roll, changes, journal.actions(roll_id))
    by_host = _by_host(changes)
    return [(h.host, spans_from_states(by_host.get(h.host, []), end)) for h in journal.hosts(roll_id)]


def build_report(journal: Journal, roll_id: int, *, inventory: Inventory | None = None) -> Report:
    """Everything the journal knows about roll ``roll_id``.

    Host vars come from ``inventory`` when given, otherwise from the (already redacted) inventory copy in
    the journal when it can still be read; secret-looking names are redacted either way.
    """
    roll = journal.roll(roll_id)
    if roll is None:
        known = ", ".join(str(r.id) for r in journal.rolls(limit=10)) or "none"
        raise ReportError(f"no roll {roll_id} in the journal {journal.path} (latest rolls: {known})")
    changes = journal.host_timeline(roll_id)
    recorded_actions = journal.actions(roll_id)
    actions = tuple(ActionRow(a["at"], a["action"], a["who"], a["why"], a["host"]) for a in recorded_actions)
    end = _roll_end(roll, changes, recorded_actions)
    failures = _check_failures(journal.events(roll_id, ("check",)))
    hosts = _host_reports(
        journal.hosts(roll_id),
        where=_addresses(journal, roll_id),
        host_vars=_host_vars(inventory, roll),
        failures=failures,
        actions=actions,
        changes=_by_host(changes),
        end=end,
    )
    return Report(
        roll_id=roll.id,
        inventory_name=roll.inventory_name,
        inventory_path=roll.inventory_path,
        inventory_hash=roll.inventory_hash,
        simulated=roll.simulated,
        started_by=roll.started_by,
        started_on=roll.started_on,
        pid=roll.pid,
        command=_command(journal, roll_id),
        created_at=roll.created_at,
        started_at=roll.started_at,
        finished_at=roll.finished_at,
        ended_at=end,
        state=roll.state,
        reason=roll.reason,
        automatic=roll.automatic,
        policy=dict(roll.policy),
        hosts=hosts,
        slices=_slices(journal.events(roll_id, ("slice-started", "slice-finished"))),
        actions=actions,
        states=_roll_states(journal.events(roll_id, ("roll-state",))),
        service_failures=tuple(failures.get(None, ())),
        summary=_summary(roll),
    )


def _host_reports(
    records: Sequence[HostRecord],
    *,
    where: Where,
    host_vars: Mapping[str, Mapping[str, Any]],
    failures: Mapping[str | None, Sequence[CheckFailure]],
    actions: Sequence[ActionRow],
    changes: StateChanges,
    end: float,
) -> tuple[HostReport, ...]:
    hosts = []
    for r in records:
        address, groups = where.get(r.host, (None, ()))
        hosts.append(
            HostReport(
                name=r.host,
                position=r.position,
                address=address,
                groups=groups,
                state=str(r.state),
                skipped=r.skipped,
                reason=r.reason,
                slice_index=r.slice_index,
                rebooted=r.rebooted,
                reissued=r.reissued,
                healthy_again=r.healthy_again,
                boot_id_before=r.boot_id_before,
                boot_id_after=r.boot_id_after,
                reboot_at=r.sent_at if r.sent_at is not None else r.intent_at,
                up_at=r.up_at,
                done_at=r.done_at,
                findings=tuple(_finding(f) for f in r.findings),
                failed_checks=tuple(failures.get(r.host, ())),
                actions=tuple(a for a in actions if a.host == r.host),
                spans=tuple(spans_from_states(changes.get(r.host, []), end)),
                vars=redact_vars(host_vars.get(r.host, {})),
            )
        )
    return tuple(hosts)


def _roll_end(
    roll: RollRecord, changes: Sequence[Mapping[str, Any]], actions: Sequence[Mapping[str, Any]]
) -> float:
    if roll.finished_at is not None:
        return float(roll.finished_at)
    if roll.summary and isinstance(roll.summary.get("at"), int | float):
        return float(roll.summary["at"])
    times = [float(c["at"]) for c in changes] + [float(a["at"]) for a in actions]
    return max(times, default=float(roll.started_at or roll.created_at))


def _by_host(changes: Sequence[Mapping[str, Any]]) -> StateChanges:
    by_host: StateChanges = {}
    for c in changes:
        by_host.setdefault(c["host"], []).append((c["at"], c["new"]))
    return by_host


def _check_failures(events: Sequence[Mapping[str, Any]]) -> dict[str | None, list[CheckFailure]]:
    """The failed checks, per host (None: service-level checks)."""
    failures: dict[str | None, list[CheckFailure]] = {}
    for e in events:
        if e.get("ok"):
            continue
        failures.setdefault(e.get("host"), []).append(
            CheckFailure(
                at=e["at"],
                check=str(e.get("check", "")),
                phase=str(e.get("phase", "")),
                output=str(e.get("output", "")),
                attempts=int(e.get("attempts", 1)),
                host=e.get("host"),
            )
        )
    return failures


def _roll_states(events: Sequence[Mapping[str, Any]]) -> tuple[RollStateRow, ...]:
    return tuple(
        RollStateRow(
            e["at"], e.get("old", ""), e.get("new", ""), e.get("reason", ""), bool(e.get("automatic"))
        )
        for e in events
    )


def _summary(roll: RollRecord) -> dict[str, tuple[str, ...]]:
    summary: dict[str, tuple[str, ...]] = {}
    if roll.summary:
        for key in ("rebooted", "failed", "skipped", "untouched", "late"):
            if isinstance(roll.summary.get(key), list) and (key != "late" or roll.summary[key]):
                summary[key] = tuple(str(x) for x in roll.summary[key])
    return summary


def _finding(f: Mapping[str, Any]) -> FindingRow:
    return FindingRow(
        phase=str(f.get("phase", "before")),
        kind=str(f.get("kind", "")),
        severity=str(f.get("severity", "")),
        subject=str(f.get("subject", "")),
        message=str(f.get("message", "")),
        evidence=str(f.get("evidence", "")),
    )


def _slices(events: Sequence[Mapping[str, Any]]) -> tuple[SliceRow, ...]:
    finished = {e["index"]: e.get("duration") for e in events if e.get("event") == "slice-finished"}
    out = []
    for e in events:
        if e.get("event") != "slice-started":
            continue
        out.append(
            SliceRow(
                index=int(e["index"]),
                hosts=tuple(e.get("hosts", ())),
                canary=bool(e.get("canary")),
                reason=str(e.get("reason", "")),
                started_at=float(e["at"]),
                duration=finished.get(e["index"]),
            )
        )
    return tuple(out)


def _addresses(journal: Journal, roll_id: int) -> Where:
    """Address and groups of each host as recorded when the roll was created (not in HostRecord)."""
    try:
        rows = journal.db.execute(
            "SELECT host, address, groups_json FROM hosts WHERE roll_id = ?", (roll_id,)
        ).fetchall()
    except (AttributeError, sqlite3.Error):
        return {}
    out: Where = {}
    for host, address, groups in rows:
        try:
            parsed = tuple(str(g) for g in json.loads(groups or "[]"))
        except ValueError:
            parsed = ()
        out[host] = (address, parsed)
    return out


def _command(journal: Journal, roll_id: int) -> str:
    try:
        row = journal.db.execute("SELECT command FROM rolls WHERE id = ?", (roll_id,)).fetchone()
    except (AttributeError, sqlite3.Error):
        return ""
    return str(row[0]) if row and row[0] else ""


def _host_vars(inventory: Inventory | None, roll: RollRecord) -> dict[str, Mapping[str, Any]]:
    if inventory is None:
        inventory = _stored_inventory(roll)
    if inventory is None:
        return {}
    return {h.name: dict(h.vars) for h in inventory.hosts}


def _stored_inventory(roll: RollRecord) -> Inventory | None:
    """The journal's (redacted) copy of the inventory, parsed for host vars; None when it cannot be."""
    text = roll.inventory_text or ""
    for parse in (parse_inventory, parse_ansible_inventory):
        try:
            return parse(text, roll.inventory_path)
        except (SlowrollError, ValueError, OSError):
            continue
    return None
