"""The state folder is not an attack surface, and an unusable one is a clear error (exit 2), never a traceback:
real symlinks, real modes, a real read-only filesystem (issue 20)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from console.journal.lock import RollLock
from console.journal.statedir import StateFolderError
from console.journal.store import Journal
from tests.test_cli import slowroll


def refused(state: Path, *words: str) -> None:
    proc = slowroll("history", "--state", str(state))
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and str(state) in proc.stderr
    for word in words:
        assert word in proc.stderr, proc.stderr


def test_a_file_as_state_folder_is_exit_2(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.write_text("not a folder")
    refused(state, "is not a folder")


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a read-only tmpfs needs root")
def test_a_read_only_state_folder_is_exit_2(tmp_path: Path) -> None:
    mnt = tmp_path / "ro"
    mnt.mkdir(mode=0o700)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro,mode=0700", "tmpfs", str(mnt)], check=True)
    try:
        refused(mnt, "not writable")
        refused(mnt / "state", "cannot create the state folder", "Read-only file system")
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_symlinked_state_folder_and_dangling_journal_link_are_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    refused(link, "symbolic link")
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    target = tmp_path / "elsewhere.db"
    (state / "slowroll.db").symlink_to(target)
    refused(state, "symbolic link")
    assert not target.exists()  # no database created at the link's target


def test_a_symlinked_lock_never_truncates_its_target(tmp_path: Path) -> None:
    state = tmp_path / "state"
    journal = Journal(state)
    journal.close()
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    lock = RollLock(state, str(tmp_path / "inv.yaml"))
    lock.path.parent.mkdir(mode=0o700)
    lock.path.symlink_to(victim)
    with pytest.raises(StateFolderError, match="symbolic link"):
        lock.acquire(None)
    assert victim.read_text() == "keep me"


def test_a_folder_writable_by_others_is_refused_and_0755_is_tightened(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    refused(shared, "writable by others")
    assert not (shared / "slowroll.db").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    mine.chmod(0o755)
    proc = slowroll("history", "--state", str(mine))
    assert proc.returncode == 0, proc.stderr
    assert "tightened to 0700" in proc.stderr and (mine.stat().st_mode & 0o777) == 0o700
    again = slowroll("history", "--state", str(mine))
    assert "tightened" not in again.stderr  # said once
