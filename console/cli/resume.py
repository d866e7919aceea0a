"""``slowroll resume [ROLL_ID]``: continue an unfinished roll after a crash or a stop."""

from __future__ import annotations

import argparse
import asyncio
import sys

from console.cli.face import Face, exit_if_terminal_gone
from console.cli.inventory import load_any_inventory, warn
from console.engine.facade import Engine
from console.journal.diffs import inventory_diff, policy_diff
from console.journal.records import RollRecord
from console.load.redact import redact_secrets
from console.model.errors import SlowrollError, UsageError
from console.model.events import RollState
from console.model.inventory import Inventory
from console.session import Connection, Session


def run(args: argparse.Namespace) -> int:
    return exit_if_terminal_gone(asyncio.run(_resume(args)))


async def _resume(args: argparse.Namespace) -> int:
    connection = Connection(accept_new=args.accept_new, ssh_config=args.ssh_config)
    async with Session(args.state, connection=connection, warn=warn) as session:
        roll = session.resumable(args.roll)
        session.connection, notes = connection.resumed(roll.connection)  # resume as the roll started
        for note in notes:
            print(f"slowroll: {note}", file=sys.stderr)
        inv = load_any_inventory(roll.inventory_path, roll.policy_path)
        changed = inv.content_hash != roll.inventory_hash
        if changed:
            diff = _changes(roll, inv)
            if not args.accept_changes:
                print(diff, file=sys.stderr)
                raise UsageError(
                    f"the inventory changed since roll {roll.id} started (diff above); "
                    "rerun with --accept-changes to continue with the new inventory"
                )
            print(diff)
        engine = await session.resume(roll, inv, changed=changed, break_lock=args.break_lock)
        face = Face.chosen(args)
        if face.headless and engine.state in (RollState.PAUSED, RollState.PAUSING):
            why = "slowroll resume"
            if engine.auto_paused:  # a security stop: never resumed past without an acknowledgement
                why = _acknowledged(engine, roll.id, args.acknowledge)
            engine.resume(why=why)
        return await session.run(face.show)


def _acknowledged(engine: Engine, roll_id: int, acknowledgement: str | None) -> str:
    """The operator's acknowledgement of an automatic pause, journaled with who; SlowrollError (exit 1)
    saying what paused the roll and how to acknowledge it when there is none."""
    where = f" ({engine.reason_host})" if engine.reason_host else ""
    if not acknowledgement or not acknowledgement.strip():
        raise SlowrollError(
            f"roll {roll_id} paused by itself{where}: {engine.reason}. It does not resume past that unattended: "
            f'read the reason, then `slowroll resume {roll_id} --acknowledge "why it is safe"`'
        )
    engine.acknowledge(f"{acknowledgement.strip()} (the roll paused by itself{where}: {engine.reason})")
    return f"acknowledged: {acknowledgement.strip()}"


def _changes(roll: RollRecord, inv: Inventory) -> str:
    """What changed in the inventory since ``roll`` started, as a diff."""
    diff = inventory_diff(roll.inventory_text, redact_secrets(inv.text), roll.inventory_path)
    if not diff.strip():  # the change is in a file whose text the journal does not keep (--policy)
        diff = policy_diff(roll.policy, inv.policy.to_dict(), roll.policy_path or roll.inventory_path)
    return diff
