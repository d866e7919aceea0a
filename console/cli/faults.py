"""The simulator's named faults: ``slowroll faults`` lists them; ``--fault KIND[@HOST]`` places them."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from console.model.errors import UsageError
from console.model.inventory import Inventory
from console.sim.faults import FAULT_HELP, FaultError, parse_faults


def run(args: argparse.Namespace) -> int:
    for kind, text in FAULT_HELP.items():
        print(f"{kind:<18} {text}")
    return 0


def faults_from(specs: Sequence[str], inventory: Inventory) -> dict[str, set[str]]:
    """``--fault`` options as ``{host: {kind, ...}}``; a bad one is a usage error."""
    try:
        return parse_faults(specs, inventory)
    except FaultError as exc:
        raise UsageError(str(exc)) from None
