"""``slowroll history``: past rolls, and the last good reboot of each host (``--host``: all of one host's)."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from console.cli.inventory import open_journal
from console.journal.records import RollRecord
from console.journal.store import Journal

REHEARSALS_SHOWN = 10


def run(args: argparse.Namespace) -> int:
    journal = open_journal(args.state)
    try:
        if args.json:
            print(json.dumps(_data(journal, args.host), indent=2))
            return 0
        if args.host is None:
            _rolls(journal)
        _reboots(journal, args.host)
        return 0
    finally:
        journal.close()


def _data(journal: Journal, host: str | None) -> dict[str, Any]:
    return {
        "rolls": [_roll_data(r) for r in journal.rolls()] if host is None else [],
        "reboots": journal.last_reboots(host),
        "rehearsal_reboots": journal.last_reboots(host, simulated=True),
    }


def _roll_data(r: RollRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "inventory": r.inventory_name,
        "path": r.inventory_path,
        "state": r.state,
        "reason": r.reason,
        "started_by": r.started_by,
        "started_on": r.started_on,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "simulated": r.simulated,
    }


def _rolls(journal: Journal) -> None:
    rolls = journal.rolls()
    print(f"Rolls ({journal.path}):")
    if not rolls:
        print("  none yet")
    for r in rolls:
        when = _when(r.started_at or r.created_at)
        sim = " [simulated]" if r.simulated else ""
        counts = ""
        if r.summary:
            counts = (
                f" — {len(r.summary.get('rebooted', []))} rebooted, {len(r.summary.get('failed', []))}"
                f" failed, {len(r.summary.get('untouched', []))} untouched"
            )
        print(
            f"  {r.id:>4}  {when}  {r.state.upper():<9} {r.inventory_name}{sim}  by {r.started_by}@"
            f"{r.started_on}{counts}"
        )
        if r.reason and r.state not in ("complete",):
            print(f"        ↳ {r.reason}")
    print()


def _reboots(journal: Journal, host: str | None) -> None:
    reboots = journal.last_reboots(host)
    print(f"Good reboots of {host}:" if host else "Last good reboot per host:")
    if not reboots:
        print("  none recorded")
    for b in reboots:
        print(
            f"  {b['host']:<20} {_when(b['healthy_at'])}  roll {b['roll']} ({b['inventory']})  "
            f"boot {str(b['boot_id_before'])[:8]}→{str(b['boot_id_after'])[:8]}"
        )
    rehearsed = journal.last_reboots(host, simulated=True)
    if rehearsed:
        print()
        print(
            f"Rehearsals on the simulated fleet ({len(rehearsed)}; the hosts themselves were not rebooted):"
        )
        for b in rehearsed[:REHEARSALS_SHOWN]:
            print(
                f"  {b['host']:<20} {_when(b['healthy_at'])}  roll {b['roll']} ({b['inventory']}) [simulated]"
            )
        if len(rehearsed) > REHEARSALS_SHOWN:
            print(f"  … {len(rehearsed) - REHEARSALS_SHOWN} more")


def _when(at: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at)) if at else "-"
