"""Errors a person can act on. Each carries what the command line needs to print it and exit."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from console.model.exits import EXIT_JOURNAL, EXIT_NOTHING, EXIT_STOPPED, EXIT_USAGE


class SlowrollError(Exception):
    """Base for errors that end a command with a message instead of a traceback."""

    exit_code = EXIT_STOPPED


class UsageError(SlowrollError):
    """Bad command line or configuration: exit code 2."""

    exit_code = EXIT_USAGE


class NothingToDo(SlowrollError):
    """Nothing to do (no unfinished roll to resume, or the roll is already finished): exit code 3."""

    exit_code = EXIT_NOTHING


class JournalUnwritable(SlowrollError):
    """The journal cannot be written (disk full, I/O error): exit code 5."""

    exit_code = EXIT_JOURNAL


class InventoryError(UsageError):
    """A mistake in an inventory file, located by file, line and key path."""

    def __init__(self, path: str, line: int | None, key: str, message: str) -> None:
        self.path = path
        self.line = line
        self.key = key
        self.message = message
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ' (did you mean 'x'?)' suffix, or '' when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
