"""The state folder is not an attack surface: no symlinks, not writable by others, 0700, usable.

Every state file is opened with ``O_NOFOLLOW`` (``open_private``): a ``locks/<hash>.lock`` symlinked to
another file never truncates it, a dangling ``slowroll.db`` symlink never creates a database at its
target. Each problem is a ``StateFolderError`` (exit code 2) naming the path and what to do.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from console.model.errors import UsageError


class StateFolderError(UsageError):
    """The state folder (or a file in it) cannot be used safely: exit code 2."""


def prepare_state_dir(path: Path) -> list[str]:
    """Create ``path`` (0700) or check it: not a symlink, a folder, not writable by others, writable by us.

    A folder of ours readable by others (0755) is tightened to 0700; the returned notes say so."""
    notes: list[str] = []
    if not os.path.lexists(path):
        try:
            path.mkdir(parents=True, mode=0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise StateFolderError(f"cannot create the state folder {path}: {_reason(exc)}") from None
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise StateFolderError(
            f"the state folder {path} is a symbolic link (to {os.readlink(path)}); "
            "slowroll refuses it: name the real folder with --state"
        )
    if not stat.S_ISDIR(st.st_mode):
        raise StateFolderError(f"the state folder {path} is not a folder; name a folder with --state")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o002 or (mode & 0o020 and st.st_uid != os.getuid()):
        raise StateFolderError(
            f"the state folder {path} is writable by others (mode {mode:04o}, owner uid {st.st_uid}); "
            "anyone could plant files in it: use a folder of your own (chmod 700)"
        )
    if st.st_uid != os.getuid():
        raise StateFolderError(f"the state folder {path} belongs to uid {st.st_uid}, not to you")
    if mode & 0o077:
        try:
            os.chmod(path, 0o700)
        except OSError as exc:
            raise StateFolderError(f"cannot tighten the state folder {path}: {_reason(exc)}") from None
        notes.append(f"the state folder {path} was mode {mode:04o}; tightened to 0700 (it holds the journal)")
    if not os.access(path, os.W_OK | os.X_OK):
        raise StateFolderError(f"the state folder {path} is not writable (permission denied); check --state")
    return notes


def open_private(path: Path, flags: int) -> int:
    """``os.open`` of a state file, never through a symlink; created 0600. Raises StateFolderError."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StateFolderError(
                f"{path} is a symbolic link; slowroll never follows links in its state folder: remove it"
            ) from None
        raise StateFolderError(f"cannot open {path}: {_reason(exc)}") from None


def refuse_symlink(path: Path) -> None:
    """StateFolderError when ``path`` is a symlink (dangling or not)."""
    if os.path.islink(path):
        raise StateFolderError(
            f"{path} is a symbolic link; slowroll never follows links in its state folder: remove it"
        )


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
