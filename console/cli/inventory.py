"""What every command that reads an inventory or the journal shares: a native or an Ansible inventory, the
journal opened with its state-folder notes said, and warnings."""

from __future__ import annotations

import sys

from console.journal.store import Journal
from console.load.ansible import is_ansible_inventory, load_ansible_inventory, unread_vars_dirs
from console.load.native import load_inventory
from console.model.errors import UsageError
from console.model.inventory import Inventory


def warn(text: str) -> None:
    print(f"slowroll: warning: {text}", file=sys.stderr)


def open_journal(state: str | None) -> Journal:
    """The journal of the state folder ``state``; what was done to make the folder private is said once."""
    journal = Journal(state)
    for note in journal.notes:
        warn(note)
    return journal


def load_any_inventory(path: str, policy: str | None = None) -> Inventory:
    """A native slowroll inventory, or an Ansible YAML inventory (with its slowroll policy file)."""
    if is_ansible_inventory(path):
        for folder in unread_vars_dirs(path):
            warn(f"{folder} is not read (put slowroll settings in --policy)")
        return load_ansible_inventory(path, policy_path=policy)
    if policy is not None:
        raise UsageError(
            f"--policy is for Ansible inventories; {path} is a slowroll inventory (put policy in it)"
        )
    return load_inventory(path)
