"""The console in a real terminal (a pty) that goes away mid-roll, or gets SIGTERM.

Textual draws through a writer thread with a bounded queue; when the terminal hangs up, a console that kept
writing to it blocked for ever (the roll stuck PAUSING, the simulator child left behind). These tests run
the real ``slowroll`` process on a pty, start a roll with the keyboard, and then close the pty's master side
(the kernel hangs the terminal up and sends SIGHUP) or send SIGTERM.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import sqlite3
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.killtrial import SimProcess

ROOT = Path(__file__).resolve().parents[2]
SLOWROLL = [sys.executable, "-m", "console.cli"]
EXIT_OPERATOR = 130

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="pty and SIGHUP semantics of Linux")

FLEET = """\
name: hangup
policy:
  batch: [1, 2]
  bake: 2s
  reboot_timeout: 20s
  connect_timeout: 3s
  command_timeout: 5s
  poll_interval: 0.05s
  check_interval: 0.1s
groups:
  web: {max_unavailable: 2}
hosts:
  web-1: {address: 192.0.2.1, groups: [web]}
  web-2: {address: 192.0.2.2, groups: [web]}
  web-3: {address: 192.0.2.3, groups: [web]}
checks:
  - {name: health, command: "curl -fsS http://127.0.0.1/healthz"}
"""


def _controlling_tty() -> None:  # in the child, after setsid: the pty becomes its controlling terminal
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PtyConsole:
    """``slowroll`` on the slave side of a pty, its screen read continuously from the master side."""

    def __init__(self, argv: list[str], env: dict[str, str], size: tuple[int, int] = (120, 40)) -> None:
        self.master, slave = os.openpty()
        cols, rows = size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=ROOT,
            env=env,
            start_new_session=True,
            preexec_fn=_controlling_tty,
        )
        os.close(slave)
        self.screen = bytearray()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self.screen += data

    def seen(self, text: str) -> bool:
        with self._lock:
            return text.encode() in self.screen

    def wait_for_text(self, text: str, timeout: float = 60) -> None:
        wait_until(lambda: self.seen(text), timeout, f"{text!r} on the screen")

    def send(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def hang_up(self) -> None:
        """Close the terminal: the master side goes away, the kernel hangs up the console's pty."""
        self._stop.set()
        self._reader.join(2)
        os.close(self.master)
        self.master = -1

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._stop.set()
        if self.master >= 0:
            self._reader.join(2)
            os.close(self.master)
            self.master = -1


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


def children_of(pid: int) -> dict[int, str]:
    """Living (not zombie) processes whose parent is ``pid``, with their command lines."""
    out: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out[int(entry.name)] = cmdline
    return out


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def journal_rows(state: Path, sql: str) -> list[tuple]:
    db = state / "slowroll.db"
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            return con.execute(sql).fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []


def in_flight_now(state: Path) -> list[str]:
    """Hosts whose last journaled state is a reboot cycle's: rebooting, down, booting, checking, baking."""
    rows = journal_rows(state, "SELECT host, new FROM host_states ORDER BY id")
    last: dict[str, str] = {}
    for host, new in rows:
        last[host] = new
    return [h for h, s in last.items() if s in ("rebooting", "down", "booting", "checking", "baking")]


def roll_states(state: Path) -> list[dict]:
    return [
        json.loads(d)
        for (d,) in journal_rows(state, "SELECT data_json FROM events WHERE kind = 'roll-state'")
    ]


def log_text(state: Path) -> str:
    return "\n".join(d for (d,) in journal_rows(state, "SELECT data_json FROM events WHERE kind = 'log'"))


def history(state: Path) -> dict:
    proc = subprocess.run(
        [*SLOWROLL, "history", "--state", str(state), "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def console_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(TERM="xterm-256color", XDG_CONFIG_HOME=str(tmp_path / "config"), HOME=str(tmp_path / "home"))
    (tmp_path / "home").mkdir(exist_ok=True)
    for name in ("TEXTUAL_DRIVER", "TEXTUAL_ALLOW_SIGNALS", "COLUMNS", "LINES"):
        env.pop(name, None)
    return env


@contextmanager
def sim_fleet(tmp_path: Path) -> Iterator[Path]:
    """``slowroll sim`` in its own process: a fleet ``slowroll run`` treats as real (journal, lock)."""
    sim = SimProcess(tmp_path, seed=7, inventory=FLEET, boot_time=0.5)
    try:
        yield sim.dir
    finally:
        sim.stop()


def start_roll(console: PtyConsole) -> None:
    console.wait_for_text("READY")
    console.wait_for_text("Press g")
    console.send("g")
    console.wait_for_text("Start the roll?")
    console.send("y")


def test_terminal_gone_mid_roll_pauses_lets_hosts_finish_and_exits_130(tmp_path: Path) -> None:
    """A real fleet (from slowroll's point of view): the journal keeps the roll PAUSED, the lock is freed."""
    state = tmp_path / "state"
    with sim_fleet(tmp_path) as fleet:
        ledger = fleet / "ledger.jsonl"
        console = PtyConsole(
            [*SLOWROLL, "run", str(fleet / "inventory.yaml"), "--state", str(state)], console_env(tmp_path)
        )
        try:
            start_roll(console)
            wait_until(lambda: bool(in_flight_now(state)), 60, "a host in its reboot cycle")
            flying = in_flight_now(state)
            console.hang_up()
            hung_up_at = time.monotonic()
            try:
                code = console.proc.wait(45)
            except subprocess.TimeoutExpired:
                pytest.fail("the console did not exit after its terminal went away (it hangs)")
            took = time.monotonic() - hung_up_at
        finally:
            console.close()
        assert code == EXIT_OPERATOR, f"exit code {code}"
        assert took < 45
        reboots_then = ledger.read_text().splitlines()
        time.sleep(0.5)
        assert ledger.read_text().splitlines() == reboots_then  # nothing more was rebooted

    h = history(state)
    (roll,) = h["rolls"]
    assert roll["state"] == "paused", roll
    assert roll["reason"] == "the console's terminal went away", roll
    assert "the console's terminal went away" in log_text(state)
    # The hosts in flight at the hang-up finished their cycle: rebooted, checked, healthy, journaled.
    healthy = {r["host"] for r in h["reboots"]}
    assert set(flying) <= healthy, (flying, h["reboots"])
    assert len(reboots_then) == len(healthy)
    assert not in_flight_now(state)
    states = [s["new"] for s in roll_states(state)]
    assert states[-2:] == ["pausing", "paused"], states
    # The roll lock is free again: another console may take the inventory (e.g. `slowroll resume`).
    (lock,) = (state / "locks").iterdir()
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


def _demo_until_a_host_flies(tmp_path: Path) -> tuple[PtyConsole, Path, int]:
    state = tmp_path / "state"
    console = PtyConsole(
        [*SLOWROLL, "demo", "--speed", "10", "--seed", "3", "--state", str(state)], console_env(tmp_path)
    )
    start_roll(console)
    wait_until(lambda: bool(in_flight_now(state)), 60, "a host in its reboot cycle")
    sims = [pid for pid, cmd in children_of(console.proc.pid).items() if " sim " in cmd]
    assert len(sims) == 1, children_of(console.proc.pid)
    return console, state, sims[0]


def test_demo_terminal_gone_exits_130_and_stops_its_simulator(tmp_path: Path) -> None:
    console, state, sim = _demo_until_a_host_flies(tmp_path)
    try:
        console.hang_up()
        try:
            code = console.proc.wait(45)
        except subprocess.TimeoutExpired:
            pytest.fail("the demo did not exit after its terminal went away (it hangs)")
    finally:
        console.close()
    assert code == EXIT_OPERATOR, f"exit code {code}"
    wait_until(lambda: not alive(sim), 10, "the simulator child to end")
    states = roll_states(state)
    assert [s["new"] for s in states][-2:] == ["pausing", "paused"], states
    assert states[-1]["reason"] == "the console's terminal went away"
    assert not in_flight_now(state)
    (roll,) = history(state)["rolls"]
    assert roll["state"] == "abandoned" and roll["simulated"]  # a simulated fleet ends with its console


def test_sigterm_pauses_keeps_drawing_and_restores_the_terminal(tmp_path: Path) -> None:
    console, state, sim = _demo_until_a_host_flies(tmp_path)
    try:
        console.proc.send_signal(signal.SIGTERM)
        console.wait_for_text("QUITTING", timeout=10)  # the terminal is still there: it keeps drawing
        try:
            code = console.proc.wait(45)
        except subprocess.TimeoutExpired:
            pytest.fail("the demo did not exit after SIGTERM")
        time.sleep(0.2)  # the last bytes on their way through the pty
        screen = bytes(console.screen)
    finally:
        console.close()
    assert code == EXIT_OPERATOR, f"exit code {code}"
    assert screen.rfind(b"\x1b[?1049l") > screen.rfind(b"QUITTING")  # left the alternate screen at the end
    wait_until(lambda: not alive(sim), 10, "the simulator child to end")
    states = roll_states(state)
    assert [s["new"] for s in states][-2:] == ["pausing", "paused"], states
    assert "SIGTERM" in states[-1]["reason"]
    assert not in_flight_now(state)
