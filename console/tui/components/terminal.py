"""When the console's terminal goes away: stop drawing, let the roll settle, exit.

Textual writes the screen through a writer thread with a bounded queue (30 writes). When the terminal
hangs up (the tmux session is killed, the ssh connection drops, the terminal window is closed) a write to
it fails with EIO, which ends Textual's writer thread; the next 30 frames fill its queue and the event loop
blocks in ``Queue.put`` for ever — the roll can then neither settle nor exit, and the journal is left
PAUSING. The kernel also sends SIGCONT after SIGHUP, which makes Textual's driver re-enter application
mode on the dead terminal (new input and writer threads).

``ConsoleDriver`` (a ``LinuxDriver``) prevents all of that:

- its writer writes through ``GuardedOutput``: a failed write marks the terminal gone instead of ending the
  thread, and from then on every write is dropped, so the queue always drains;
- once the terminal is gone the driver writes nothing, stops its input thread, never re-enters application
  mode, and never waits for its writer thread when closing;
- ``TERMINAL.hang_up`` also points file descriptors 0, 1 and 2 at ``/dev/null``, so whatever is printed
  afterwards (the "waiting for hosts in flight" line, Python's final flush) cannot fail with EIO either.

This module imports Textual only in ``console_driver_class`` so the CLI can ask ``TERMINAL.gone`` cheaply.
"""

from __future__ import annotations

import contextlib
import os
import termios
import threading
from collections.abc import Callable
from typing import IO, Any


class TerminalState:
    """Whether the console's terminal is gone; who to tell when it goes (once)."""

    def __init__(self) -> None:
        self._gone = threading.Event()
        self._lock = threading.Lock()
        self.reason = ""
        self._listeners: list[Callable[[str], None]] = []

    @property
    def gone(self) -> bool:
        return self._gone.is_set()

    def on_gone(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Call ``listener(reason)`` when the terminal goes (from whichever thread notices); unsubscribe."""
        self._listeners.append(listener)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return remove

    def hang_up(self, reason: str) -> None:
        """The terminal is gone: silence fds 0-2 and tell the listeners. Safe from any thread; idempotent."""
        with self._lock:
            if self._gone.is_set():
                return
            self.reason = reason
            self._gone.set()
        silence_standard_fds()
        for listener in list(self._listeners):
            with contextlib.suppress(Exception):
                listener(reason)

    def reset(self) -> None:
        """For tests: a fresh state."""
        with self._lock:
            self._gone.clear()
            self.reason = ""
            self._listeners.clear()


TERMINAL = TerminalState()


def silence_standard_fds() -> None:
    """Point stdin, stdout and stderr at /dev/null (reads see end of file, writes vanish)."""
    try:
        null = os.open(os.devnull, os.O_RDWR)
    except OSError:
        return
    try:
        for fd in (0, 1, 2):
            with contextlib.suppress(OSError):
                os.dup2(null, fd)
    finally:
        os.close(null)


def tty_alive(fds: list[int]) -> bool:
    """False if any of ``fds`` (terminals when the console started) no longer answers as a terminal.

    On a hung-up terminal every ioctl fails with EIO, so ``tcgetattr`` tells a closed terminal from one
    that merely got a SIGHUP sent by hand.
    """
    for fd in fds:
        try:
            termios.tcgetattr(fd)
        except (termios.error, OSError):
            return False
    return True


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


class GuardedOutput:
    """The file Textual's writer thread writes to: a failed write means the terminal is gone."""

    def __init__(self, file: IO[str], terminal: TerminalState) -> None:
        self._file = file
        self._terminal = terminal

    def write(self, text: str) -> int:
        if self._terminal.gone:
            return len(text)
        try:
            return self._file.write(text)
        except (OSError, ValueError) as exc:
            self._terminal.hang_up(f"writing to the terminal failed: {exc}")
            return len(text)

    def flush(self) -> None:
        if self._terminal.gone:
            return
        try:
            self._file.flush()
        except (OSError, ValueError) as exc:
            self._terminal.hang_up(f"writing to the terminal failed: {exc}")

    def fileno(self) -> int:
        return self._file.fileno()

    def isatty(self) -> bool:
        return True


_DRIVER_CLASS: type | None = None


def console_driver_class() -> type:
    """Textual's ``LinuxDriver``, made safe against the terminal going away (see the module's doc)."""
    global _DRIVER_CLASS
    terminal = TERMINAL
    if _DRIVER_CLASS is not None:
        return _DRIVER_CLASS
    from textual.drivers.linux_driver import LinuxDriver

    class ConsoleDriver(LinuxDriver):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.terminal = terminal
            self._file = GuardedOutput(self._file, terminal)  # type: ignore[arg-type]
            self.ttys = [fd for fd in {self.fileno, self._file.fileno()} if _isatty(fd)]
            terminal.on_gone(self._terminal_gone)

        def _terminal_gone(self, _reason: str) -> None:
            self.exit_event.set()  # the input thread stops (a hung-up tty reads as end of file, in a busy loop)

        def check_terminal(self, why: str) -> bool:
            """True if the terminal still answers; otherwise hang up (stop drawing) and say False."""
            if self.terminal.gone:
                return False
            if tty_alive(self.ttys):
                return True
            self.terminal.hang_up(why)
            return False

        def write(self, data: str) -> None:
            if not self.terminal.gone:
                super().write(data)

        def flush(self) -> None:
            if not self.terminal.gone:
                super().flush()

        def _sigcont_application(self, *_: Any) -> None:
            # The kernel sends SIGCONT right after SIGHUP to a hung-up session leader: only come back
            # after our own Ctrl-Z, and only to a terminal that still answers.
            if self._must_signal_resume and self.check_terminal("the terminal went away (SIGCONT)"):
                super()._sigcont_application(*_)

        def disable_input(self) -> None:
            if self.terminal.gone:
                self.exit_event.set()
                return
            super().disable_input()

        def stop_application_mode(self) -> None:
            if self.terminal.gone:  # nothing to restore on a terminal that is gone
                self.exit_event.set()
                return
            super().stop_application_mode()

        def close(self) -> None:
            writer = self._writer_thread
            if not self.terminal.gone or writer is None:
                super().close()
                return
            # Never wait on the writer of a dead terminal: tell it to stop, give it a moment, move on.
            with contextlib.suppress(Exception):
                writer._queue.put_nowait(None)
            writer.join(1.0)

    _DRIVER_CLASS = ConsoleDriver
    return ConsoleDriver
