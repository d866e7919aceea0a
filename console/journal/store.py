"""The crash-safe journal (SQLite, WAL, synchronous=FULL): rolls, host states, events, operator actions.

Intent before action: the engine records the intent to reboot a host (and its boot id before) *before*
the reboot command is sent, and records that it was sent right after. A console killed at any moment
resumes from here without rebooting a host twice or losing track of one.

One active roll per inventory, held with ``flock`` (the kernel releases it when the process dies, so a
resume after a crash or ``kill -9`` needs no flag).
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import hashlib
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.load.redact import redact_secrets
from console.model.errors import SlowrollError
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

SCHEMA_VERSION = 1
UNFINISHED = ("ready", "running", "pausing", "paused", "aborting")
# Events whose loss on a crash would leave a host's state or an operator's word unknown: committed at once.
_DURABLE = (HostStateChanged, RollStateChanged, OperatorAction, SliceStarted, RollFinished, FindingsReported)
_BATCH_SECONDS = 0.25

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rolls (
    id INTEGER PRIMARY KEY,
    inventory_path TEXT NOT NULL,
    inventory_key TEXT NOT NULL,
    inventory_name TEXT NOT NULL,
    inventory_hash TEXT NOT NULL,
    inventory_text TEXT NOT NULL,
    policy_json TEXT NOT NULL,
    started_by TEXT NOT NULL,
    started_on TEXT NOT NULL,
    pid INTEGER NOT NULL,
    command TEXT NOT NULL,
    simulated INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    automatic INTEGER NOT NULL DEFAULT 0,
    slice_index INTEGER NOT NULL DEFAULT -1,
    ramp_step INTEGER NOT NULL DEFAULT 0,
    summary_json TEXT,
    policy_path TEXT
);
CREATE INDEX IF NOT EXISTS rolls_by_inventory ON rolls (inventory_key, state);
CREATE TABLE IF NOT EXISTS hosts (
    roll_id INTEGER NOT NULL REFERENCES rolls(id),
    host TEXT NOT NULL,
    position INTEGER NOT NULL,
    address TEXT NOT NULL,
    groups_json TEXT NOT NULL,
    state TEXT NOT NULL,
    skipped INTEGER NOT NULL DEFAULT 0,
    reason TEXT NOT NULL DEFAULT '',
    boot_id_before TEXT,
    boot_id_after TEXT,
    rebooted INTEGER NOT NULL DEFAULT 0,
    intent_at REAL,
    sent_at REAL,
    up_at REAL,
    done_at REAL,
    reissued INTEGER NOT NULL DEFAULT 0,
    healthy_again INTEGER NOT NULL DEFAULT 0,
    slice_index INTEGER,
    facts_before_json TEXT,
    findings_json TEXT NOT NULL DEFAULT '[]',
    updated_at REAL NOT NULL,
    PRIMARY KEY (roll_id, host)
);
CREATE TABLE IF NOT EXISTS host_states (
    id INTEGER PRIMARY KEY,
    roll_id INTEGER NOT NULL,
    host TEXT NOT NULL,
    at REAL NOT NULL,
    old TEXT NOT NULL,
    new TEXT NOT NULL,
    reason TEXT NOT NULL,
    boot_id TEXT
);
CREATE INDEX IF NOT EXISTS host_states_by_roll ON host_states (roll_id, host);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    roll_id INTEGER NOT NULL,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    host TEXT,
    data_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_roll ON events (roll_id, id);
CREATE TABLE IF NOT EXISTS actions (
    id INTEGER PRIMARY KEY,
    roll_id INTEGER NOT NULL,
    at REAL NOT NULL,
    action TEXT NOT NULL,
    host TEXT,
    who TEXT NOT NULL,
    why TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reboots (
    id INTEGER PRIMARY KEY,
    roll_id INTEGER NOT NULL,
    host TEXT NOT NULL,
    inventory_key TEXT NOT NULL,
    at REAL NOT NULL,
    healthy_at REAL NOT NULL,
    boot_id_before TEXT,
    boot_id_after TEXT
);
CREATE INDEX IF NOT EXISTS reboots_by_host ON reboots (host, healthy_at);
"""


class JournalError(SlowrollError):
    exit_code = 2


class LockHeld(SlowrollError):
    exit_code = 2


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


@dataclass(frozen=True)
class RollRecord:
    id: int
    inventory_path: str
    inventory_key: str
    inventory_name: str
    inventory_hash: str
    inventory_text: str
    policy: dict[str, Any]
    started_by: str
    started_on: str
    pid: int
    simulated: bool
    created_at: float
    started_at: float | None
    finished_at: float | None
    state: str
    reason: str
    automatic: bool
    slice_index: int
    ramp_step: int
    summary: dict[str, Any] | None
    policy_path: str | None = None

    @property
    def unfinished(self) -> bool:
        return self.state in UNFINISHED


@dataclass(frozen=True)
class HostRecord:
    host: str
    position: int
    state: HostState
    skipped: bool
    reason: str
    boot_id_before: str | None
    boot_id_after: str | None
    rebooted: bool
    intent_at: float | None
    sent_at: float | None
    up_at: float | None
    done_at: float | None
    reissued: bool
    healthy_again: bool
    slice_index: int | None
    facts_before: dict[str, Any] | None
    findings: list[dict[str, Any]]


class Journal:
    """One SQLite database per state folder. Not thread-safe: used from the engine's event loop."""

    def __init__(self, state_dir: str | os.PathLike[str] | None = None) -> None:
        self.dir = Path(state_dir) if state_dir else default_state_dir()
        try:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise JournalError(f"cannot create the state folder {self.dir}: {exc.strerror}") from None
        self.path = self.dir / "slowroll.db"
        if not self.path.exists():
            # Created 0600 before SQLite opens it: the journal holds inventories and host facts.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=10)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.executescript(SCHEMA)
            columns = {r[1] for r in self.db.execute("PRAGMA table_info(rolls)")}
            if "policy_path" not in columns:  # journals from before Ansible inventories
                self.db.execute("ALTER TABLE rolls ADD COLUMN policy_path TEXT")
            self.db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"cannot open the journal {self.path}: {exc}") from None
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.chmod(str(self.path) + suffix, 0o600)
        self.roll_id: int | None = None
        self._in_tx = False
        self._last_commit = time.monotonic()

    # -- transactions ------------------------------------------------------------------------------

    def _begin(self) -> None:
        if not self._in_tx:
            self.db.execute("BEGIN IMMEDIATE")
            self._in_tx = True

    def commit(self) -> None:
        if self._in_tx:
            self.db.execute("COMMIT")
            self._in_tx = False
        self._last_commit = time.monotonic()

    @contextlib.contextmanager
    def durable(self) -> Iterator[None]:
        """Everything written inside is committed (fsync'd) before the block returns."""
        self._begin()
        try:
            yield
        except BaseException:
            if self._in_tx:
                self.db.execute("ROLLBACK")
                self._in_tx = False
            raise
        self.commit()

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.commit()
            self.db.close()

    # -- rolls -------------------------------------------------------------------------------------

    def create_roll(
        self, inventory: Any, *, simulated: bool, command: str, policy_path: str | None = None
    ) -> int:
        user, machine = whoami()
        now = time.time()
        with self.durable():
            cur = self.db.execute(
                "INSERT INTO rolls (inventory_path, inventory_key, inventory_name, inventory_hash, inventory_text,"
                " policy_json, started_by, started_on, pid, command, simulated, created_at, state, policy_path)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?, 'ready', ?)",
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

    def attach(self, roll_id: int, *, inventory: Any | None = None) -> None:
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
        d = dict(zip(cols, row, strict=True))
        return RollRecord(
            id=d["id"],
            inventory_path=d["inventory_path"],
            inventory_key=d["inventory_key"],
            inventory_name=d["inventory_name"],
            inventory_hash=d["inventory_hash"],
            inventory_text=d["inventory_text"],
            policy=json.loads(d["policy_json"]),
            started_by=d["started_by"],
            started_on=d["started_on"],
            pid=d["pid"],
            simulated=bool(d["simulated"]),
            created_at=d["created_at"],
            started_at=d["started_at"],
            finished_at=d["finished_at"],
            state=d["state"],
            reason=d["reason"],
            automatic=bool(d["automatic"]),
            slice_index=d["slice_index"],
            ramp_step=d["ramp_step"],
            summary=json.loads(d["summary_json"]) if d["summary_json"] else None,
            policy_path=d.get("policy_path"),
        )

    def hosts(self, roll_id: int) -> list[HostRecord]:
        rows = self.db.execute(
            "SELECT host, position, state, skipped, reason, boot_id_before, boot_id_after, rebooted, intent_at,"
            " sent_at, up_at, done_at, reissued, healthy_again, slice_index, facts_before_json, findings_json"
            " FROM hosts WHERE roll_id = ? ORDER BY position",
            (roll_id,),
        ).fetchall()
        out = []
        for r in rows:
            try:
                state = HostState(r[2])
            except ValueError:
                state = HostState.UNCONFIRMED
            out.append(
                HostRecord(
                    host=r[0],
                    position=r[1],
                    state=state,
                    skipped=bool(r[3]),
                    reason=r[4],
                    boot_id_before=r[5],
                    boot_id_after=r[6],
                    rebooted=bool(r[7]),
                    intent_at=r[8],
                    sent_at=r[9],
                    up_at=r[10],
                    done_at=r[11],
                    reissued=bool(r[12]),
                    healthy_again=bool(r[13]),
                    slice_index=r[14],
                    facts_before=json.loads(r[15]) if r[15] else None,
                    findings=json.loads(r[16] or "[]"),
                )
            )
        return out

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
            self._insert_event(
                "reboot-reissued", host, {"event": "reboot-reissued", "host": host, "why": why}, time.time()
            )

    def record_event(self, event: Event) -> None:
        if self.roll_id is None:
            return
        self._begin()
        try:
            self._apply(event)
        except sqlite3.Error:
            if self._in_tx:
                self.db.execute("ROLLBACK")
                self._in_tx = False
            raise
        if isinstance(event, _DURABLE) or time.monotonic() - self._last_commit > _BATCH_SECONDS:
            self.commit()

    def _insert_event(self, kind: str, host: str | None, data: dict[str, Any], at: float) -> None:
        self.db.execute(
            "INSERT INTO events (roll_id, at, kind, host, data_json) VALUES (?,?,?,?,?)",
            (self.roll_id, at, kind, host, json.dumps(data, default=str)),
        )

    def _apply(self, event: Event) -> None:
        rid = self.roll_id
        data = event.to_dict()
        host = getattr(event, "host", None)
        if isinstance(event, CheckRan | LogLine | FindingsReported | HostStateChanged | OperatorAction):
            self._insert_event(event.kind, host, data, event.at)
        else:
            self._insert_event(event.kind, None, data, event.at)
        match event:
            case HostStateChanged():
                self._host_state(event)
            case RollStateChanged(new=new, reason=reason, automatic=automatic):
                extra = ""
                params: list[Any] = [new.value, reason, int(automatic)]
                if new.value == "running":
                    extra = ", started_at = COALESCE(started_at, ?)"
                    params.append(event.at)
                self.db.execute(
                    f"UPDATE rolls SET state = ?, reason = ?, automatic = ?{extra} WHERE id = ?",
                    (*params, rid),
                )
            case OperatorAction(action=action, who=who, why=why):
                self.db.execute(
                    "INSERT INTO actions (roll_id, at, action, host, who, why) VALUES (?,?,?,?,?,?)",
                    (rid, event.at, action, host, who, why),
                )
            case SliceStarted(index=index, hosts=hosts, ramp_step=ramp_step):
                self.db.execute(
                    "UPDATE rolls SET slice_index = ?, ramp_step = ? WHERE id = ?", (index, ramp_step, rid)
                )
                for h in hosts:
                    self.db.execute(
                        "UPDATE hosts SET slice_index = ? WHERE roll_id = ? AND host = ?", (index, rid, h)
                    )
            case FindingsReported(findings=findings, phase=phase):
                row = self.db.execute(
                    "SELECT findings_json FROM hosts WHERE roll_id = ? AND host = ?", (rid, host)
                ).fetchone()
                old = [f for f in json.loads(row[0] or "[]") if f.get("phase") != phase] if row else []
                self.db.execute(
                    "UPDATE hosts SET findings_json = ? WHERE roll_id = ? AND host = ?",
                    (json.dumps(old + [f.to_dict() for f in findings]), rid, host),
                )
            case RollFinished(state=state, reason=reason):
                self.db.execute(
                    "UPDATE rolls SET state = ?, reason = ?, finished_at = ?, summary_json = ? WHERE id = ?",
                    (state.value, reason, event.at if state.final else None, json.dumps(data), rid),
                )
            case _:
                pass

    def _host_state(self, ev: HostStateChanged) -> None:
        rid = self.roll_id
        self.db.execute(
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
        self.db.execute(
            f"UPDATE hosts SET {', '.join(sets)} WHERE roll_id = ? AND host = ?", (*params, rid, ev.host)
        )
        if ev.new is HostState.DONE:
            row = self.db.execute(
                "SELECT intent_at, boot_id_before, boot_id_after, rebooted FROM hosts WHERE roll_id = ? AND host = ?",
                (rid, ev.host),
            ).fetchone()
            if row and row[3]:
                key = self.db.execute("SELECT inventory_key FROM rolls WHERE id = ?", (rid,)).fetchone()[0]
                self.db.execute(
                    "INSERT INTO reboots (roll_id, host, inventory_key, at, healthy_at, boot_id_before, boot_id_after)"
                    " VALUES (?,?,?,?,?,?,?)",
                    (rid, ev.host, key, row[0] or ev.at, ev.at, row[1], row[2]),
                )

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


# ----------------------------------------------------------------------------------------------------
# The per-inventory lock


class RollLock:
    """``flock`` on a file per inventory; the file says who holds it (user, machine, pid, since, roll)."""

    def __init__(self, state_dir: Path, inventory_path: str) -> None:
        self.path = state_dir / "locks" / f"{inventory_key(inventory_path)}.lock"
        self.inventory_path = inventory_path
        self.fd: int | None = None

    def acquire(self, roll_id: int | None, *, break_lock: bool = False) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise LockHeld(
                f"another console holds the roll of {self.inventory_path}: {_describe(holder)}. "
                "Only one console may drive an inventory at a time."
            ) from None
        holder = _read_holder(fd)
        _, machine = whoami()
        if holder and holder.get("machine") and holder.get("machine") != machine and not break_lock:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise LockHeld(
                f"the roll of {self.inventory_path} was last held from another machine: {_describe(holder)}. "
                "This machine cannot tell whether that console is still running. If it is known to be gone, "
                "rerun with --break-lock."
            )
        user, machine = whoami()
        info = {"user": user, "machine": machine, "pid": os.getpid(), "since": time.time(), "roll": roll_id}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        os.fsync(fd)
        self.fd = fd

    def set_roll(self, roll_id: int) -> None:
        if self.fd is None:
            return
        holder = _read_holder(self.fd) or {}
        holder["roll"] = roll_id
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, json.dumps(holder).encode(), 0)
        os.fsync(self.fd)

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
        self.fd = None


def _read_holder(fd: int) -> dict[str, Any] | None:
    try:
        data = os.pread(fd, 4096, 0)
        return json.loads(data) if data.strip() else None
    except (OSError, ValueError):
        return None


def _describe(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "holder unknown"
    since = holder.get("since")
    when = (
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if isinstance(since, int | float) else "?"
    )
    roll = f", roll {holder['roll']}" if holder.get("roll") else ""
    who = f"{holder.get('user', '?')} on {holder.get('machine', '?')}, pid {holder.get('pid', '?')}"
    return f"{who}, since {when}{roll}"


def policy_diff(old: dict[str, Any], new: dict[str, Any], source: str) -> str:
    """The effective policy then and now, as a unified diff (for a policy read from a side file)."""
    import difflib

    def lines(policy: dict[str, Any]) -> list[str]:
        return [f"{k}: {json.dumps(v, sort_keys=True)}\n" for k, v in sorted(policy.items())]

    return "".join(
        difflib.unified_diff(
            lines(old),
            lines(new),
            fromfile=f"{source}: effective policy (when the roll started)",
            tofile=f"{source}: effective policy (now)",
        )
    )


def inventory_diff(old_text: str, new_text: str, path: str) -> str:
    import difflib

    return "".join(
        difflib.unified_diff(
            old_text.splitlines(keepends=True),
            new_text.splitlines(keepends=True),
            fromfile=f"{path} (when the roll started)",
            tofile=f"{path} (now)",
        )
    )
