"""The journal's SQLite schema, and opening a database with it (WAL, synchronous=FULL)."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from pathlib import Path

SCHEMA_VERSION = 1

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
    policy_path TEXT,
    connection_json TEXT
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


_TABLES = re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", SCHEMA)
_COLUMNS_ADDED = {  # columns later versions added to rolls, and why
    "policy_path": "TEXT",  # Ansible inventories
    "connection_json": "TEXT",  # resume connects as the roll started
}


def open_database(path: Path) -> sqlite3.Connection:
    """Open (and create or upgrade) the journal at ``path``; raises ``sqlite3.DatabaseError``.

    A journal that is already current is opened without a single write: readers (history, report, resume's
    refusal, a second run) never wait for a writer that is busy (WAL readers do not block), so they never
    fail with "database is locked". Creating or upgrading takes the write lock once."""
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    if _current(db):
        return db
    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        db.execute("PRAGMA journal_mode=WAL")
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        columns = {r[1] for r in db.execute("PRAGMA table_info(rolls)")}
        for name, kind in _COLUMNS_ADDED.items():
            if name not in columns:
                db.execute(f"ALTER TABLE rolls ADD COLUMN {name} {kind}")
        db.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )
        db.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise
    return db


def _current(db: sqlite3.Connection) -> bool:
    """The journal is in WAL mode with every table and column this version writes (reads only)."""
    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        return False
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not set(_TABLES) <= tables:
        return False
    columns = {r[1] for r in db.execute("PRAGMA table_info(rolls)")}
    return all(name in columns for name in _COLUMNS_ADDED)
