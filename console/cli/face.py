"""How ``run``, ``demo`` and ``resume`` show a roll: the console (Textual), or headless lines (text or JSON)."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

from console.engine.facade import Engine
from console.headless import run_headless


@dataclass(frozen=True)
class Face:
    headless: bool
    as_json: bool
    simulated: bool = False
    speed: float = 1.0

    @classmethod
    def chosen(cls, args: argparse.Namespace, *, simulated: bool = False, speed: float = 1.0) -> Face:
        """The face ``--headless`` / ``--json`` ask for (``--json`` is headless too)."""
        return cls(headless=args.headless or args.json, as_json=args.json, simulated=simulated, speed=speed)

    async def show(self, engine: Engine, roll_id: int) -> int:
        """Show the roll until it is over or the operator leaves; the exit code."""
        if self.headless:
            if not self.as_json:
                print(f"roll {roll_id}: {engine.inventory.name} ({len(engine.hosts)} hosts)", flush=True)
            return await run_headless(engine, as_json=self.as_json, roll_id=roll_id or None)
        # The one lazy import of Textual: check, plan and headless rolls never load it.
        from console.tui.app import run_console

        return await run_console(engine, simulated=self.simulated, speed=self.speed)


def exit_if_terminal_gone(code: int) -> int:
    """After a console whose terminal went away (the roll settled, the journal, lock and simulator are closed
    by now): leave at once. Nothing is left to say to anyone, and interpreter shutdown must not wait on a
    thread that still thinks it has a terminal."""
    terminal = sys.modules.get("console.tui.components.terminal")  # loaded only if the console ran
    if terminal is not None and terminal.TERMINAL.gone:
        os._exit(code)
    return code
