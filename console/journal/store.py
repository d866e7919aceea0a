"""The crash-safe journal (SQLite, WAL, synchronous=FULL): rolls, host states, events, operator actions.

Intent before action: the engine records the intent to reboot a host (and its boot id before) *before*
the reboot command is sent, and records that it was sent right after. A console killed at any moment
resumes from here without rebooting a host twice or losing track of one.

The schema is in ``schema``, the records read back in ``records``, how each event is written in
``events``; one active roll per inventory is held with ``lock.RollLock``.
"""

from __future__ import annotations

import contextlib
import errno
import getpass
import hashlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from console.journal.events import DURABLE, apply_event, insert_event
from console.journal.records import HOST_COLUMNS, UNFINISHED, HostRecord, RollRecord, host_record, roll_record
from console.journal.schema import open_database
from console.journal.statedir import open_private, prepare_state_dir, refuse_symlink
from console.load.redact import redact_secrets
from console.model.errors import JournalUnwritable, SlowrollError
from console.model.events import Event
from console.model.inventory import Inventory

_BATCH_SECONDS = 0.25


class JournalError(SlowrollError):
    exit_code = 2


def _why_unwritable(exc: BaseException) -> str:
    """The OS's reason a write failed, in words: "disk full", "disk I/O error", "Read-only file system"."""
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code == sqlite3.SQLITE_FULL or "disk is full" in str(exc):
            return "disk full"
        return str(exc)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "disk full"
    return getattr(exc, "strerror", None) or str(exc)


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "slowroll"


def inventory_key(path: str) -> str:
    """One key per inventory file, whatever path spelling was used to name it."""
    return hashlib.sha256(os.path.realpath(path).encode()).hexdigest()[:20]


def whoami() -> tuple[str, str]:
    try:
        user = getpass.getuser()
    except Exception:
        user = str(os.getuid())
    return user, socket.gethostname()


class Journal:
    """One SQLite database per state folder. Not thread-safe: used from the engine's event loop."""

    def __init__(self, state_dir: str | os.PathLike[str] | None = None) -> None:
        self.dir = Path(state_dir) if state_dir else default_state_dir()
        self.notes = prepare_state_dir(self.dir)  # what was tightened, for the face to say once
        self.path = self.dir / "slowroll.db"
        for suffix in ("", "-wal", "-shm"):
            refuse_symlink(Path(str(self.path) + suffix))
        # Created 0600 (never through a link) before SQLite opens it: it holds inventories and host facts.
        os.close(open_private(self.path, os.O_RDWR | os.O_CREAT))
        try:
            self.db = open_database(self.path)
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"cannot open the journal {self.path}: {exc}") from None
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.chmod(str(self.path) + suffix, 0o600)
        self.roll_id: int | None = None
        self.broken: str | None = None  # why the journal cannot be written any more (this process)
        self._in_tx = False
        self._last_commit = time.monotonic()

    # -- transactions ------------------------------------------------------------------------------

    def _begin(self) -> None:
        if self.broken is not None:
            raise JournalUnwritable(f"journal cannot be written: {self.broken} ({self.path})")
        if not self._in_tx:
            with self._writing():
                self.db.execute("BEGIN IMMEDIATE")
            self._in_tx = True

    def commit(self) -> None:
        if self._in_tx:
            with self._writing():
                self.db.execute("COMMIT")
            self._in_tx = False
        self._last_commit = time.monotonic()

    @contextlib.contextmanager
    def durable(self) -> Iterator[None]:
        """Everything written inside is committed (fsync'd) before the block returns."""
        self._begin()
        try:
            with self._writing():
                yield
        except BaseException:
            self._rollback()
            raise
        self.commit()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A write that fails for lack of space or an I/O error breaks the journal for good (this process):
        JournalUnwritable says why; the engine pauses and follows its hosts in memory (``slowroll resume``
        finishes the roll once the journal can be written again)."""
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            if isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError | sqlite3.InterfaceError):
                raise
            self.broken = _why_unwritable(exc)
            self._rollback()
            raise JournalUnwritable(f"journal cannot be written: {self.broken} ({self.path})") from None

    def _rollback(self) -> None:
        """Roll back what is open; SQLite may already have (a full disk): never an error of its own."""
        if self._in_tx:
            self._in_tx = False
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error, JournalUnwritable):
            self.commit()
            self.db.close()

    # -- rolls -------------------------------------------------------------------------------------

    def create_roll(
        self,
        inventory: Inventory,
        *,
        simulated: bool,
        command: str,
        policy_path: str | None = None,
        connection: dict[str, Any] | None = None,
    ) -> int:
        """A new roll; ``connection``: how it connects (paths and flags, never secrets), for resume."""
        user, machine = whoami()
        now = time.time()
        with self.durable():
            cur = self.db.execute(
                "INSERT INTO rolls (inventory_path, inventory_key, inventory_name, inventory_hash, inventory_text,"
                " policy_json, started_by, started_on, pid, command, simulated, created_at, state, policy_path,"
                " connection_json) VALUES (?,?,?,?,?,?,?,?,?,?,?,?, 'ready', ?, ?)",
                (
                    os.path.realpath(inventory.path),
                    inventory_key(inventory.path),
                    inventory.name,
                    inventory.content_hash,
                    redact_secrets(inventory.text),
                    json.dumps(inventory.policy.to_dict()),
                    user,
                    machine,
                    os.getpid(),
                    command,
                    int(simulated),
                    now,
                    os.path.realpath(policy_path) if policy_path else None,
                    json.dumps(connection or {}),
                ),
            )
            roll_id = int(cur.lastrowid or 0)
            for i, h in enumerate(inventory.hosts):
                self.db.execute(
                    "INSERT INTO hosts (roll_id, host, position, address, groups_json, state, updated_at)"
                    " VALUES (?,?,?,?,?, 'pending', ?)",
                    (roll_id, h.name, i, h.address, json.dumps(list(h.groups)), now),
                )
        self.roll_id = roll_id
        return roll_id

    def attach(self, roll_id: int, *, inventory: Inventory | None = None) -> None:
        """Continue writing to an existing roll (resume); new inventory hosts are added as pending."""
        self.roll_id = roll_id
        with self.durable():
            self.db.execute("UPDATE rolls SET pid = ? WHERE id = ?", (os.getpid(), roll_id))
            if inventory is not None:
                known = {
                    r[0] for r in self.db.execute("SELECT host FROM hosts WHERE roll_id = ?", (roll_id,))
                }
                now = time.time()
                for i, h in enumerate(inventory.hosts):
                    if h.name not in known:
                        self.db.execute(
                            "INSERT INTO hosts (roll_id, host, position, address, groups_json, state, updated_at)"
                            " VALUES (?,?,?,?,?, 'pending', ?)",
                            (roll_id, h.name, 1000000 + i, h.address, json.dumps(list(h.groups)), now),
                        )
                self.db.execute(
                    "UPDATE rolls SET inventory_hash = ?, inventory_text = ?, policy_json = ? WHERE id = ?",
                    (
                        inventory.content_hash,
                        redact_secrets(inventory.text),
                        json.dumps(inventory.policy.to_dict()),
                        roll_id,
                    ),
                )

    def set_roll_state(self, state: str, reason: str = "") -> None:
        assert self.roll_id is not None
        with self.durable():
            self.db.execute(
                "UPDATE rolls SET state = ?, reason = ? WHERE id = ?", (state, reason, self.roll_id)
            )

    def roll(self, roll_id: int) -> RollRecord | None:
        row = self.db.execute("SELECT * FROM rolls WHERE id = ?", (roll_id,)).fetchone()
        return self._roll_record(row) if row else None

    def rolls(self, *, limit: int = 50) -> list[RollRecord]:
        rows = self.db.execute("SELECT * FROM rolls ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [self._roll_record(r) for r in rows]

    def unfinished(self, key: str | None = None) -> list[RollRecord]:
        q = f"SELECT * FROM rolls WHERE state IN ({','.join('?' * len(UNFINISHED))})"
        params: list[Any] = list(UNFINISHED)
        if key is not None:
            q += " AND inventory_key = ?"
            params.append(key)
        rows = self.db.execute(q + " ORDER BY id DESC", params).fetchall()
        return [self._roll_record(r) for r in rows]

    def _roll_record(self, row: tuple[Any, ...]) -> RollRecord:
        cols = [d[0] for d in self.db.execute("SELECT * FROM rolls LIMIT 0").description]
        return roll_record(dict(zip(cols, row, strict=True)))

    def hosts(self, roll_id: int) -> list[HostRecord]:
        rows = self.db.execute(
            f"SELECT {HOST_COLUMNS} FROM hosts WHERE roll_id = ? ORDER BY position", (roll_id,)
        ).fetchall()
        return [host_record(r) for r in rows]

    def actions(self, roll_id: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT at, action, host, who, why FROM actions WHERE roll_id = ? ORDER BY id", (roll_id,)
        ).fetchall()
        return [{"at": r[0], "action": r[1], "host": r[2], "who": r[3], "why": r[4]} for r in rows]

    def host_timeline(self, roll_id: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT host, at, old, new, reason, boot_id FROM host_states WHERE roll_id = ? ORDER BY id",
            (roll_id,),
        ).fetchall()
        return [
            {"host": r[0], "at": r[1], "old": r[2], "new": r[3], "reason": r[4], "boot_id": r[5]}
            for r in rows
        ]

    def events(self, roll_id: int, kinds: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        q = "SELECT data_json FROM events WHERE roll_id = ?"
        params: list[Any] = [roll_id]
        if kinds:
            q += f" AND kind IN ({','.join('?' * len(kinds))})"
            params += list(kinds)
        return [json.loads(r[0]) for r in self.db.execute(q + " ORDER BY id", params)]

    # -- what the engine calls (RollJournal) --------------------------------------------------------

    def record_intent(
        self, host: str, boot_id_before: str, facts_before: dict[str, Any] | None = None
    ) -> None:
        """Durable before the reboot command is sent: we are about to reboot ``host`` from this boot."""
        with self.durable():
            self.db.execute(
                "UPDATE hosts SET intent_at = ?, boot_id_before = ?, facts_before_json = ?, updated_at = ?"
                " WHERE roll_id = ? AND host = ?",
                (
                    time.time(),
                    boot_id_before,
                    json.dumps(facts_before) if facts_before else None,
                    time.time(),
                    self.roll_id,
                    host,
                ),
            )

    def record_sent(self, host: str) -> None:
        with self.durable():
            self.db.execute(
                "UPDATE hosts SET sent_at = ?, updated_at = ? WHERE roll_id = ? AND host = ?",
                (time.time(), time.time(), self.roll_id, host),
            )

    def record_reissue(self, host: str, why: str) -> None:
        with self.durable():
            self.db.execute(
                "UPDATE hosts SET reissued = 1, intent_at = NULL, sent_at = NULL WHERE roll_id = ? AND host = ?",
                (self.roll_id, host),
            )
            insert_event(
                self.db,
                self.roll_id,
                "reboot-reissued",
                host,
                {"event": "reboot-reissued", "host": host, "why": why},
                time.time(),
            )

    def record_event(self, event: Event) -> None:
        """Write ``event`` (committed at once if durable, else within a quarter second). Raises
        JournalUnwritable once, when the journal breaks; after that events are the engine's alone."""
        if self.roll_id is None or self.broken is not None:
            return
        self._begin()
        try:
            with self._writing():
                apply_event(self.db, self.roll_id, event)
        except sqlite3.Error:
            self._rollback()
            raise
        if isinstance(event, DURABLE) or time.monotonic() - self._last_commit > _BATCH_SECONDS:
            self.commit()

    # -- history -----------------------------------------------------------------------------------

    def last_reboots(self, host: str | None = None, *, simulated: bool = False) -> list[dict[str, Any]]:
        """The last good reboot per host (optionally for one host: all of its good reboots).

        Real rolls only by default: a rehearsal on the simulated fleet rebooted twins, not the hosts, and
        must not make a host look freshly rebooted (uptime ordering, uptime-debt). ``simulated=True``: the
        rehearsals' reboots instead."""
        if host is not None:
            rows = self.db.execute(
                "SELECT r.host, r.at, r.healthy_at, r.roll_id, r.boot_id_before, r.boot_id_after, o.inventory_name"
                " FROM reboots r JOIN rolls o ON o.id = r.roll_id WHERE r.host = ? AND o.simulated = ?"
                " ORDER BY r.healthy_at DESC",
                (host, int(simulated)),
            ).fetchall()
        else:
            rows = self.db.execute(
                "SELECT r.host, r.at, MAX(r.healthy_at), r.roll_id, r.boot_id_before, r.boot_id_after, o.inventory_name"
                " FROM reboots r JOIN rolls o ON o.id = r.roll_id WHERE o.simulated = ?"
                " GROUP BY r.host ORDER BY r.host",
                (int(simulated),),
            ).fetchall()
        return [
            {
                "host": r[0],
                "at": r[1],
                "healthy_at": r[2],
                "roll": r[3],
                "boot_id_before": r[4],
                "boot_id_after": r[5],
                "inventory": r[6],
            }
            for r in rows
        ]

    def last_reboot_times(self, hosts: list[str], *, simulated: bool = False) -> dict[str, float]:
        out: dict[str, float] = {}
        for r in self.last_reboots(simulated=simulated):
            if r["host"] in hosts:
                out[r["host"]] = r["healthy_at"]
        return out

    def typical_cycle(self, key: str, *, last: int = 50, simulated: bool = False) -> float | None:
        """Mean time from reboot intent to healthy over this inventory's last good reboots (for windows);
        real rolls only by default (a simulated fleet boots at --speed)."""
        rows = self.db.execute(
            "SELECT r.healthy_at - r.at FROM reboots r JOIN rolls o ON o.id = r.roll_id"
            " WHERE r.inventory_key = ? AND o.simulated = ? ORDER BY r.id DESC LIMIT ?",
            (key, int(simulated), last),
        ).fetchall()
        values = [r[0] for r in rows if r[0] is not None and r[0] >= 0]
        return sum(values) / len(values) if values else None

    def integrity(self) -> str:
        return str(self.db.execute("PRAGMA integrity_check").fetchone()[0])
