"""One active roll per inventory: ``flock`` on a file per inventory, which says who holds it.

The kernel releases the lock when the process dies, so a resume after a crash or ``kill -9`` needs no flag.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

from console.journal.statedir import StateFolderError, open_private, refuse_symlink
from console.journal.store import inventory_key, whoami
from console.model.errors import SlowrollError


class LockHeld(SlowrollError):
    exit_code = 2


class RollLock:
    """``flock`` on a file per inventory; the file says who holds it (user, machine, pid, since, roll)."""

    def __init__(self, state_dir: Path, inventory_path: str) -> None:
        self.path = state_dir / "locks" / f"{inventory_key(inventory_path)}.lock"
        self.inventory_path = inventory_path
        self.fd: int | None = None

    def acquire(self, roll_id: int | None, *, break_lock: bool = False) -> None:
        refuse_symlink(self.path.parent)
        try:
            self.path.parent.mkdir(exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StateFolderError(f"cannot create {self.path.parent}: {exc.strerror}") from None
        refuse_symlink(self.path.parent)
        fd = open_private(self.path, os.O_RDWR | os.O_CREAT)  # a symlinked lock never truncates its target
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
