"""The report for tools, in TOML (``tomllib.loads`` reads it back): nothing is null, absent means unknown;
times are timezone-aware UTC datetimes."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import tomli_w

from console.report.model import ActionRow, CheckFailure, HostReport, Report


def _utc(ts: float | None) -> dt.datetime | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC)


def _clean(value: Any) -> Any:
    """TOML has no null: drop None (in mappings and lists); tuples become lists, keys strings."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value if v is not None]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def report_data(report: Report) -> dict[str, Any]:
    """The report as plain data (what the TOML holds); times are timezone-aware UTC datetimes."""
    r = report
    data: dict[str, Any] = _clean(
        {
            "roll": {
                "id": r.roll_id,
                "inventory": r.inventory_name,
                "inventory_path": r.inventory_path,
                "inventory_hash": r.inventory_hash,
                "simulated": r.simulated,
                "started_by": r.started_by,
                "started_on": r.started_on,
                "pid": r.pid,
                "command": r.command,
                "created_at": _utc(r.created_at),
                "started_at": _utc(r.started_at),
                "finished_at": _utc(r.finished_at),
                "ended_at": _utc(r.ended_at),
                "duration": round(r.duration, 3),
                "state": r.state,
                "reason": r.reason,
                "automatic": r.automatic,
                "counts": r.counts,
                "summary": {k: list(v) for k, v in r.summary.items()},
            },
            "policy": dict(r.policy),
            "actions": [_action(a) for a in r.actions],
            "roll_states": [
                {"at": _utc(s.at), "old": s.old, "new": s.new, "reason": s.reason, "automatic": s.automatic}
                for s in r.states
            ],
            "slices": [
                {
                    "number": s.index + 1,
                    "hosts": list(s.hosts),
                    "canary": s.canary,
                    "reason": s.reason,
                    "started_at": _utc(s.started_at),
                    "duration": None if s.duration is None else round(s.duration, 3),
                }
                for s in r.slices
            ],
            "service_check_failures": [_check(c) for c in r.service_failures],
            "hosts": [_host(h) for h in r.hosts],
        }
    )
    return data


def _action(a: ActionRow) -> dict[str, Any]:
    return {"at": _utc(a.at), "action": a.action, "host": a.host, "who": a.who, "why": a.why}


def _check(c: CheckFailure) -> dict[str, Any]:
    return {
        "at": _utc(c.at),
        "check": c.check,
        "phase": c.phase,
        "attempts": c.attempts,
        "output": c.output,
    }


def _host(h: HostReport) -> dict[str, Any]:
    return {
        "name": h.name,
        "address": h.address,
        "groups": list(h.groups),
        "state": h.state,
        "skipped": h.skipped,
        "reason": h.reason,
        "slice": None if h.slice_index is None else h.slice_index + 1,
        "rebooted": h.rebooted,
        "reissued": h.reissued,
        "healthy_again": h.healthy_again,
        "boot_id_before": h.boot_id_before,
        "boot_id_after": h.boot_id_after,
        "reboot_at": _utc(h.reboot_at),
        "up_at": _utc(h.up_at),
        "done_at": _utc(h.done_at),
        "downtime": _round(h.downtime),
        "time_to_healthy": _round(h.time_to_healthy),
        "vars": _jsonable(dict(h.vars)),
        "findings": [
            {
                "phase": f.phase,
                "kind": f.kind,
                "severity": f.severity,
                "subject": f.subject,
                "message": f.message,
                "evidence": f.evidence,
            }
            for f in h.findings
        ],
        "failed_checks": [_check(c) for c in h.failed_checks],
        "actions": [_action(a) for a in h.actions],
        "phases": [{"phase": s.phase, "start": _utc(s.start), "end": _utc(s.end)} for s in h.spans],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _jsonable(value: Any) -> Any:
    """Vars as TOML can hold them (nested plain values; anything else as text)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool | dt.datetime | dt.date):
        return value
    return str(value)


def render_toml(report: Report) -> str:
    """The report for tools (``tomllib.loads`` reads it back); nothing is null: absent means unknown."""
    return tomli_w.dumps(report_data(report))
