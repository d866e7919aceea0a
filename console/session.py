"""One roll's lifetime, the same for ``slowroll run``, ``demo`` and ``resume``: open the journal, take the
inventory's lock, refuse (or discard) an unfinished roll, start a simulated fleet, build the connector and
the engine (new, or restored from the journal), send webhook notifications while a face shows the roll, and
close everything again in reverse order.

The face (the console or headless lines) is the caller's choice: ``Session.run(face)``. This module sits
between the faces and the engine; it imports no face.

    async with Session(state_dir, connection=Connection(), warn=print) as session:
        engine = await session.start(inventory, command="slowroll run inv.yaml")
        code = await session.run(show)  # show(engine, roll_id) -> exit code
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from console.engine.facade import Engine
from console.journal.lock import RollLock
from console.journal.records import RollRecord
from console.journal.store import Journal, inventory_key, whoami
from console.model.errors import NothingToDo, UsageError
from console.model.events import RollState
from console.model.inventory import Inventory
from console.notify import Notifier
from console.remote.ssh import Connector, SSHOptions
from console.remote.sshconfig import SSHConfig, default_config
from console.sim.process import SimProcess
from console.sim.rehearse import rehearsal_notes
from console.sim.twin import rehearsal_inventory

NOTIFY_DRAIN = 10.0  # seconds to finish sending notifications after the face is done

# A face: shows the roll (the engine, the roll's id) until it is over or the operator leaves; an exit code.
ShowRoll = Callable[[Engine, int], Awaitable[int]]


@dataclass(frozen=True)
class Connection:
    """SSH choices made on the command line, over the inventory's own ``ssh:`` settings."""

    accept_new: bool = False  # record keys of hosts seen for the first time
    ssh_config: str | None = None  # an ssh config file that wins over the inventory's

    def recorded(self) -> dict[str, Any]:
        """What the journal keeps of these choices (a path and a flag, never a secret), for resume."""
        config = os.path.realpath(self.ssh_config) if self.ssh_config else None
        return {"ssh_config": config, "accept_new": self.accept_new}

    def resumed(self, recorded: dict[str, Any]) -> tuple[Connection, list[str]]:
        """These choices for a resume of a roll that started with ``recorded``: an explicit flag wins, else
        the roll's own; and a line for each one taken from the roll's start."""
        notes = []
        config = self.ssh_config
        if config is None and recorded.get("ssh_config"):
            config = str(recorded["ssh_config"])
            notes.append(f"using ssh config {config} from the roll's start (--ssh-config overrides)")
        accept_new = self.accept_new
        if not accept_new and recorded.get("accept_new"):
            accept_new = True
            notes.append("using --accept-new from the roll's start")
        return Connection(accept_new=accept_new, ssh_config=config), notes


@dataclass(frozen=True)
class Simulation:
    """Roll simulated twins of the inventory's hosts, served by a child process (``slowroll sim``)."""

    workdir: Path
    speed: float
    faults: Mapping[str, set[str]]
    seed: int | None = None


def build_connector(
    target: Inventory, connection: Connection, *, simulated: bool, warn: Callable[[str], None]
) -> Connector:
    """The connector for ``target``'s hosts; what the ssh config says that slowroll ignores goes to ``warn``."""
    config = None
    if simulated:  # twins on loopback: only the simulator's own ssh config (its bastion) may route them
        config = SSHConfig(target.ssh.config) if target.ssh.config else None
    else:
        chosen = connection.ssh_config or target.ssh.config
        config = SSHConfig(chosen) if chosen else default_config()
        for warning in config.unsupported if config else []:
            warn(warning)
    return Connector(
        SSHOptions(
            known_hosts=target.ssh.known_hosts,
            accept_new=connection.accept_new,
            identity_files=target.ssh.identity_files,
            agent=target.ssh.agent,
            config=config,
            known_hosts_explicit=target.ssh.known_hosts is not None,
            identity_files_explicit=bool(target.ssh.identity_files),
        )
    )


class Session:
    """Journal, lock, simulated fleet, connector, notifier and engine of one roll; an async context manager.

    Everything opened is closed on exit, in reverse order (connector, simulated fleet, lock, journal).
    """

    def __init__(self, state_dir: str | None, *, connection: Connection, warn: Callable[[str], None]) -> None:
        self.connection = connection
        self.warn = warn
        self.roll_id = 0  # set by start() or resume()
        self.simulated = False
        self.engine: Engine | None = None
        self._roll_lock: RollLock | None = None
        self._open = contextlib.AsyncExitStack()
        self.journal = Journal(state_dir)
        self._open.callback(self.journal.close)
        for note in self.journal.notes:
            warn(note)

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._open.aclose()

    # -- a new roll ---------------------------------------------------------------------------------

    async def start(
        self,
        inventory: Inventory,
        *,
        command: str,
        policy_path: str | None = None,
        simulation: Simulation | None = None,
        discard_unfinished: bool = False,
        break_lock: bool = False,
    ) -> Engine:
        """A new roll of ``inventory``'s hosts, or (with ``simulation``) of their simulated twins.

        A roll of real hosts takes the inventory's lock and refuses to start while an earlier roll of the
        same inventory is unfinished, unless ``discard_unfinished`` (that roll is then abandoned).
        """
        if simulation is None:
            self._lock(inventory.path, None, break_lock=break_lock)
            self._refuse_unfinished(inventory.path, discard=discard_unfinished)
            target = inventory
        else:
            target = await self._simulate(inventory, simulation, policy_path)
        self.roll_id = self.journal.create_roll(
            target,
            simulated=self.simulated,
            command=command,
            policy_path=policy_path,
            connection=self.connection.recorded(),
        )
        if self._roll_lock is not None:
            self._roll_lock.set_roll(self.roll_id)
        return self._build_engine(target)

    def _lock(self, inventory_path: str, roll_id: int | None, *, break_lock: bool) -> None:
        lock = RollLock(self.journal.dir, inventory_path)
        lock.acquire(roll_id, break_lock=break_lock)
        self._open.callback(lock.release)
        self._roll_lock = lock

    def _refuse_unfinished(self, inventory_path: str, *, discard: bool) -> None:
        stale = [r for r in self.journal.unfinished(inventory_key(inventory_path)) if not r.simulated]
        if stale and not discard:
            r = stale[0]
            raise UsageError(
                f"roll {r.id} of {inventory_path} is unfinished ({r.state}{': ' + r.reason if r.reason else ''}). "
                f"Continue it with `slowroll resume {r.id}`, or start a new roll with --discard-unfinished "
                "(hosts it rebooted stay in the history)."
            )
        user, machine = whoami()
        for r in stale:
            self.journal.roll_id = r.id
            self.journal.set_roll_state("abandoned", f"discarded by a new roll ({user}@{machine})")

    async def _simulate(self, inventory: Inventory, sim: Simulation, policy_path: str | None) -> Inventory:
        """Start the simulated twins of ``inventory``'s hosts; their inventory."""
        fleet = SimProcess(
            inventory.path,
            sim.workdir,
            speed=sim.speed,
            faults=dict(sim.faults),
            seed=sim.seed,
            policy=policy_path,
        )
        self._open.push_async_callback(fleet.stop)
        for note in rehearsal_notes(inventory):
            self.warn(note)
        await fleet.start()
        self.simulated = True
        return rehearsal_inventory(inventory, fleet.inventory_path)

    # -- resuming a roll ----------------------------------------------------------------------------

    def resumable(self, roll_id: int | None) -> RollRecord:
        """The roll to resume: ``roll_id``, or else the latest unfinished roll of real hosts.

        A roll of a simulated fleet cannot be resumed (its fleet died with its console): it is marked
        abandoned, and UsageError says why.
        """
        if roll_id is not None:
            roll = self.journal.roll(roll_id)
            if roll is None:
                raise UsageError(f"no roll {roll_id} in {self.journal.path}")
        else:
            candidates = [r for r in self.journal.unfinished() if not r.simulated]
            if not candidates:
                raise NothingToDo(
                    f"no unfinished roll to resume in {self.journal.path} (see `slowroll history`)"
                )
            roll = candidates[0]
        if not roll.unfinished:
            raise NothingToDo(f"roll {roll.id} is {roll.state}: nothing to resume")
        if roll.simulated:
            self.journal.roll_id = roll.id
            self.journal.set_roll_state(
                "abandoned", "its simulated fleet lived in the console process and is gone"
            )
            raise UsageError(
                f"roll {roll.id} ran against a simulated fleet inside its console process; that fleet is gone, "
                "so there is nothing to resume (it is now marked abandoned)"
            )
        return roll

    async def resume(
        self, roll: RollRecord, inventory: Inventory, *, changed: bool, break_lock: bool = False
    ) -> Engine:
        """Continue ``roll`` (from ``resumable``) over ``inventory``; ``changed``: new hosts join as pending."""
        self._lock(inventory.path, roll.id, break_lock=break_lock)
        self.journal.attach(roll.id, inventory=inventory if changed else None)
        self.roll_id = roll.id
        self.simulated = roll.simulated
        engine = self._build_engine(inventory)
        engine.restore(
            self.journal.hosts(roll.id),
            state=RollState(roll.state),
            reason=roll.reason,
            automatic=roll.automatic,
            slice_index=roll.slice_index,
            ramp_step=roll.ramp_step,
            started_at=roll.started_at,
        )
        engine.log(
            f"roll {roll.id} resumed by {engine.operator} (was {roll.state}, started by {roll.started_by} "
            f"on {roll.started_on})"
        )
        return engine

    # -- the roll itself ----------------------------------------------------------------------------

    def _build_engine(self, target: Inventory) -> Engine:
        history = self.journal.last_reboot_times([h.name for h in target.hosts], simulated=self.simulated)
        connector = build_connector(target, self.connection, simulated=self.simulated, warn=self.warn)
        self._open.push_async_callback(connector.close)
        self.engine = Engine(
            target,
            connector,
            journal=self.journal,
            history=history,
            typical_cycle=self.journal.typical_cycle(inventory_key(target.path), simulated=self.simulated),
        )
        return self.engine

    async def run(self, face: ShowRoll) -> int:
        """Show the roll in ``face`` until it returns (its exit code); webhook notifications go out meanwhile.

        A simulated fleet ends with the session: a simulated roll that is not over by then is abandoned.
        """
        engine = self.engine
        if engine is None:
            raise RuntimeError("Session.run() before start() or resume()")
        notifier = None
        if engine.inventory.notify is not None:
            notifier = Notifier.from_settings(
                engine.inventory.notify,
                roll=engine.inventory.name,
                on_failure=lambda failure: engine.log(f"notification not delivered: {failure}", level="warn"),
            )
            engine.subscribe(notifier)
        try:
            code = await face(engine, self.roll_id)
        finally:
            if notifier is not None:
                await notifier.drain(NOTIFY_DRAIN)
        if self.simulated and not engine.state.final:
            self.journal.set_roll_state("abandoned", "the simulated fleet ended with the console")
        return code
