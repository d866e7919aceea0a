"""Helpers for the end-to-end tests on real hosts: run slowroll as a person does, read the hosts' own word.

- ``Roll`` runs ``slowroll ... --headless --json`` as a subprocess and collects its JSON events as they
  come (so a test can act at a precise moment of the roll: cut a host's link when its reboot is sent).
- ``boot_times(host)`` reads the host's own persistent journal: when each boot recorded itself
  (``lab-boot-record.service``), when sshd came up and when it was stopped -- keyed by boot id, so it
  can be checked against ``LabHost.boot_ids()`` and the boot ids in slowroll's events.
- ``shared_lab`` sets up one lab for a whole test module (booting hosts once), and ``restore`` puts
  hosts back the way they were between tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.reallab.lab import SLOW_BOOT_UNIT, GoldenImage, Lab, LabHost

ROOT = Path(__file__).resolve().parents[2]
SLOWROLL = [sys.executable, "-m", "console.cli"]

# Short timings so the whole real-host suite fits in a few minutes. A real reboot here takes ~1 s.
POLICY: dict[str, Any] = {
    "batch": 1,
    "bake": "1s",
    "reboot_timeout": "15s",
    "poll_interval": "0.2s",
    "connect_timeout": "2s",
    "command_timeout": "10s",
    "check_interval": "0.5s",
    "recheck_interval": "1m",
    "resume_grace": "3s",
}
# For the scenarios that must run into reboot_timeout: long enough for a real reboot (~1-2 s), short
# enough not to wait for nothing.
SHORT_TIMEOUT = 6.0

# systemd's catalogue ids: a unit started / began stopping (job messages of PID 1)
MSG_STARTED = "39f53479d3a045ac8e11786248231fbf"
MSG_STOPPING = "de5b426a63be47a7b6ac3eaac82e2f6f"


# ---------------------------------------------------------------------------------------------------
# Inventories


def write_inventory(
    lab: Lab,
    path: Path,
    hosts: Sequence[LabHost] | Mapping[str, LabHost],
    policy: Mapping[str, Any] | None = None,
    *,
    known_hosts: Path | None = None,
    **sections: Any,
) -> Path:
    """An inventory for these lab hosts with the short POLICY (overridden by ``policy``).

    ``hosts`` may map inventory names to lab hosts: the inventory's name for a host need not be the
    name the host gives itself (the security tests use hostile names for real hosts).
    """
    named = dict(hosts) if isinstance(hosts, Mapping) else {h.name: h for h in hosts}
    data = lab.inventory_dict(list(named.values()), {**POLICY, **(policy or {})}, name=path.stem)
    data["hosts"] = {name: {"address": h.address} for name, h in named.items()}
    if known_hosts is not None:
        data["ssh"]["known_hosts"] = str(known_hosts)
    data.update(sections)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


# ---------------------------------------------------------------------------------------------------
# Running slowroll


@dataclass
class RollResult:
    args: list[str]
    returncode: int
    events: list[dict[str, Any]]
    stderr: str
    started_at: float
    ended_at: float

    @property
    def summary(self) -> dict[str, Any]:
        assert self.events, f"slowroll printed no event; stderr:\n{self.stderr}"
        last = self.events[-1]
        assert last["event"] == "roll-finished", f"the last line is not the summary: {last}\n{self.stderr}"
        return last

    def of(self, kind: str, host: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == kind and (host is None or e.get("host") == host)]

    def states(self, host: str) -> list[str]:
        """The host's states in order (host-state events whose state changed)."""
        return [e["new"] for e in self.of("host-state", host) if e["old"] != e["new"]]

    def first(self, host: str, state: str) -> dict[str, Any]:
        for e in self.of("host-state", host):
            if e["new"] == state and e["old"] != state:
                return e
        raise AssertionError(f"{host} never became {state}: {self.states(host)}\n{self.explain()}")

    def findings(self, host: str, phase: str | None = None) -> list[dict[str, Any]]:
        return [
            f
            for e in self.of("findings", host)
            if phase is None or e["phase"] == phase
            for f in e["findings"]
        ]

    def explain(self, lines: int = 40) -> str:
        shown = "\n".join(json.dumps(e)[:400] for e in self.events[-lines:])
        return f"slowroll {' '.join(self.args)} -> exit {self.returncode}\n{shown}\nstderr:\n{self.stderr[-3000:]}"


class Roll:
    """``slowroll ARGS`` as a subprocess; its JSON events are collected as they are printed."""

    def __init__(self, *args: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> None:
        self.args = [str(a) for a in args]
        self.events: list[dict[str, Any]] = []
        self.noise: list[str] = []  # stdout lines that are not JSON (there should be none)
        self._stderr: list[str] = []
        self._cond = threading.Condition()
        self.started_at = time.time()
        self.proc = subprocess.Popen(
            [*SLOWROLL, *self.args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
        )
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                try:
                    self.events.append(json.loads(line))
                except ValueError:
                    self.noise.append(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line)

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 60) -> dict[str, Any]:
        """The first event (so far or to come) for which ``predicate`` holds."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for event in self.events[seen:]:
                    if predicate(event):
                        return event
                seen = len(self.events)
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._threads[0].is_alive()):
                    break
                self._cond.wait(min(left, 0.5))
        raise AssertionError(f"no such event within {timeout}s\n{self.partial().explain()}")

    def wait_state(self, host: str, state: str, timeout: float = 60) -> dict[str, Any]:
        return self.wait_for(
            lambda e: e["event"] == "host-state" and e["host"] == host and e["new"] == state, timeout
        )

    def kill(self) -> None:
        """SIGKILL: the console dies at once, with no chance to write anything more."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)

    def partial(self) -> RollResult:
        return RollResult(
            self.args, self.proc.returncode if self.proc.returncode is not None else -999,
            list(self.events), "".join(self._stderr), self.started_at, time.time(),
        )  # fmt: skip

    def finish(self, timeout: float = 90) -> RollResult:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.proc.wait(10)
            raise AssertionError(
                f"slowroll did not finish within {timeout}s\n{self.partial().explain()}"
            ) from None
        for t in self._threads:
            t.join(10)
        result = self.partial()
        assert not self.noise, f"non-JSON lines on stdout: {self.noise[:5]}"
        assert "Traceback" not in result.stderr, result.stderr
        return result


def slowroll(*args: str | os.PathLike[str], timeout: float = 90) -> RollResult:
    """Run slowroll to the end."""
    return Roll(*args).finish(timeout)


def run_roll(inventory: Path, state: Path, *extra: str, timeout: float = 90) -> RollResult:
    return slowroll("run", inventory, "--headless", "--json", "--state", state, *extra, timeout=timeout)


def start_roll(inventory: Path, state: Path, *extra: str) -> Roll:
    return Roll("run", inventory, "--headless", "--json", "--state", state, *extra)


def plain(*args: str | os.PathLike[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """slowroll with plain output (history, report, headless without --json)."""
    return subprocess.run(
        [*SLOWROLL, *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=timeout, check=False
    )


# ---------------------------------------------------------------------------------------------------
# The hosts' own word


def dashed(boot_id: str) -> str:
    """The journal's _BOOT_ID (32 hex digits) in /proc's form (8-4-4-4-12)."""
    b = boot_id.replace("-", "").lower()
    return f"{b[:8]}-{b[8:12]}-{b[12:16]}-{b[16:20]}-{b[20:]}"


@dataclass
class BootTimes:
    """What one boot of a host says about itself (wall-clock seconds; the hosts share this machine's clock)."""

    boot_id: str
    recorded_at: float | None = None  # lab-boot-record.service finished: this boot's id is in boot_ids
    ssh_up_at: float | None = None  # ssh.service started: the host answers SSH from here on
    ssh_stopping_at: float | None = None  # ssh.service began to stop (shutdown or reboot)
    extra: dict[str, float] = field(default_factory=dict)


def boot_times(host: LabHost) -> dict[str, BootTimes]:
    """Per boot id: when the boot recorded itself, when sshd came up, when sshd began to stop.

    Read with ``journalctl`` on the host itself (nsenter), from its persistent journal, so earlier boots
    are there too. Only messages of PID 1 (systemd's own job messages) count. The boot record's unit runs
    so early that its journal line is sometimes lost (journald is not up yet: it goes to the console), so
    the latest boot's record time is the record file's own modification time.
    """
    units = ["ssh.service", "lab-boot-record.service"]
    match = " + ".join(f"_PID=1 UNIT={u}" for u in units)
    out = host.run(f"journalctl --no-pager -o json {match}", check=True, timeout=30).stdout
    boots: dict[str, BootTimes] = {}
    for line in out.splitlines():
        entry = json.loads(line)
        bid = dashed(entry["_BOOT_ID"])
        at = int(entry["__REALTIME_TIMESTAMP"]) / 1e6
        times = boots.setdefault(bid, BootTimes(bid))
        unit, msg = entry.get("UNIT"), entry.get("MESSAGE_ID")
        if unit == "lab-boot-record.service" and msg == MSG_STARTED:
            times.recorded_at = at
        elif unit == "ssh.service" and msg == MSG_STARTED:
            times.ssh_up_at = at
        elif unit == "ssh.service" and msg == MSG_STOPPING:
            times.ssh_stopping_at = at
    ids = host.boot_ids()
    if ids:
        latest = boots.setdefault(ids[-1], BootTimes(ids[-1]))
        latest.recorded_at = (host.rootfs / "var/lib/lab/boot_ids").stat().st_mtime
    return boots


def down_interval(host: LabHost, old_boot: str, new_boot: str) -> tuple[float, float]:
    """When the host stopped answering SSH for this reboot, and when it answered again -- its own word."""
    times = boot_times(host)
    assert old_boot in times and new_boot in times, (old_boot, new_boot, list(times))
    start, end = times[old_boot].ssh_stopping_at, times[new_boot].ssh_up_at
    assert start is not None and end is not None, (times[old_boot], times[new_boot])
    return start, end


def max_overlap(intervals: Iterable[tuple[float, float]]) -> int:
    """The largest number of intervals that contain one same instant (closed intervals)."""
    points = []
    for start, end in intervals:
        assert start <= end, (start, end)
        points += [(start, 0), (end, 1)]  # at a tie, count the start first: touching counts as overlap
    peak = current = 0
    for _, kind in sorted(points):
        current += 1 if kind == 0 else -1
        peak = max(peak, current)
    return peak


def engine_interval(result: RollResult, host: str) -> tuple[float, float]:
    """When slowroll counted the host unavailable: from its pre-check to done (docs/inventory.md)."""
    return result.first(host, "prechecking")["at"], result.first(host, "done")["at"]


def file_exists(host: LabHost, path: str) -> bool:
    return host.run(f"test -e {shlex.quote(path)}").returncode == 0


# ---------------------------------------------------------------------------------------------------
# One lab for a module, hosts put back between tests


@contextlib.contextmanager
def shared_lab(golden_image: GoldenImage, workdir: Path, names: Sequence[str]) -> Iterator[Lab]:
    lab = Lab.claim(workdir, image=golden_image)
    try:
        for name in names:
            lab.add_host(name)
        lab.start()
        yield lab
    finally:
        lab.close()


def restore(lab: Lab, hosts: Iterable[LabHost] | None = None, *, timeout: float = 60) -> None:
    """Undo what the fault scenarios do, so the next test finds stock, reachable hosts.

    Heals partitions and links, gives the lab's key back, drops staged host keys and the slow-boot unit,
    powers on a host that stayed down, waits for sshd, and rewrites known_hosts with the keys the hosts
    present now (a rotated key stays rotated).
    """
    chosen = list(lab.hosts.values()) if hosts is None else list(hosts)
    for h in chosen:
        h.heal()
        (h.dir / "stay-down").unlink(missing_ok=True)
        h.restore_auth()
        for staged in ("next_host_key", "next_host_key.pub"):
            (h.rootfs / "var/lib/lab" / staged).unlink(missing_ok=True)
        if (h.rootfs / "etc/systemd/system" / SLOW_BOOT_UNIT).exists():
            slow = h.state == "running" and h.run(f"systemctl is-active {SLOW_BOOT_UNIT}").stdout.strip()
            h.delay_sshd(0)  # from the next boot; a boot under way still sleeps
            if slow == "activating":
                h.wait_active("ssh.service", timeout)
        if h.state == "down":
            h.power_on()
    for h in chosen:
        if h.state == "running":
            with contextlib.suppress(Exception):
                h.link_up()
        h.wait_ssh(timeout)
    lab.write_known_hosts()
