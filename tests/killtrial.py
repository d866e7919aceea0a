"""Kill trials: the console killed with SIGKILL at random moments, then resumed, against `slowroll sim`.

Used by tests/test_journal.py (a few dozen trials) and bench/kill_trials.py (many more).
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SLOWROLL = [sys.executable, "-m", "console.cli"]

INVENTORY = """\
name: killtest
policy:
  batch: [1, 2]
  bake: 0.2s
  reboot_timeout: 6s
  connect_timeout: 2s
  command_timeout: 3s
  poll_interval: 0.05s
  check_interval: 0.1s
  recheck_interval: 0.5s
groups:
  web: {max_unavailable: 2}
  db: {max_unavailable: 1}
hosts:
  web-1: {address: 192.0.2.1, groups: [web]}
  web-2: {address: 192.0.2.2, groups: [web]}
  web-3: {address: 192.0.2.3, groups: [web]}
  db-1: {address: 192.0.2.4, groups: [db]}
  db-2: {address: 192.0.2.5, groups: [db]}
checks:
  - {name: health, command: "curl -fsS http://127.0.0.1/healthz"}
"""
HOSTS = ["web-1", "web-2", "web-3", "db-1", "db-2"]


@dataclass
class TrialResult:
    name: str
    kill_after: float | None
    runs: int = 0
    final_state: str = ""
    reboots: dict[str, int] = field(default_factory=dict)
    integrity: str = ""
    killed_in_state: str = ""
    log: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.final_state == "complete"
            and self.integrity == "ok"
            and all(self.reboots.get(h) == 1 for h in HOSTS)
        )


class SimProcess:
    """``slowroll sim`` in its own process (ready once it prints ``serving``); ``stop()`` ends it."""

    def __init__(
        self,
        workdir: Path,
        seed: int,
        *,
        inventory: str = INVENTORY,
        boot_time: float = 0.3,
        faults: tuple[str, ...] = (),
    ) -> None:
        self.dir = workdir / "fleet"
        inv = workdir / "killtest.yaml"
        inv.write_text(inventory)
        self.proc = subprocess.Popen(
            [
                *SLOWROLL,
                "sim",
                str(inv),
                "--out",
                str(self.dir),
                "--seed",
                str(seed),
                "--boot-time",
                str(boot_time),
                *(arg for fault in faults for arg in ("--fault", fault)),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # printed once every simulated host listens
        if "serving" not in line:
            raise RuntimeError(
                f"sim did not start: {line!r} {self.proc.stderr.read() if self.proc.stderr else ''}"
            )
        self.inventory = self.dir / "inventory.yaml"

    def ledger(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        path = self.dir / "ledger.jsonl"
        if path.exists():
            for line in path.read_text().splitlines():
                entry = json.loads(line)
                counts[entry["host"]] = counts.get(entry["host"], 0) + 1
        return counts

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _last_json(stdout: str) -> dict:
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {}


def run_trial(
    workdir: Path,
    *,
    seed: int,
    kill_after: float | None = None,
    crash_at: str | None = None,
    max_resumes: int = 6,
) -> TrialResult:
    """One trial: run, SIGKILL after ``kill_after`` seconds (or at a crash point), resume until final."""
    workdir.mkdir(parents=True, exist_ok=True)
    state = workdir / "state"
    sim = SimProcess(workdir, seed)
    result = TrialResult(name=workdir.name, kill_after=kill_after)
    env = dict(os.environ)
    try:
        run_env = dict(env)
        if crash_at:
            run_env["SLOWROLL_CRASH_AT"] = crash_at
        proc = subprocess.Popen(
            [*SLOWROLL, "run", str(sim.inventory), "--headless", "--json", "--state", str(state)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=run_env,
        )
        result.runs += 1
        if kill_after is not None:
            try:
                proc.wait(kill_after)  # the random moment of the kill, not a synchronisation
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
        out, _err = proc.communicate(timeout=120)
        result.log.append(f"run rc={proc.returncode}")
        last = _last_json(out)
        result.final_state = last.get("state", "") if last.get("event") == "roll-finished" else ""
        if proc.returncode == -signal.SIGKILL:
            states = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
            result.killed_in_state = next(
                (f"{e['host']}:{e['new']}" for e in reversed(states) if e.get("event") == "host-state"),
                "start",
            )
        for _ in range(max_resumes):
            if result.final_state == "complete":
                break
            proc = subprocess.run(
                [*SLOWROLL, "resume", "--headless", "--json", "--state", str(state)],
                capture_output=True,
                text=True,
                cwd=ROOT,
                env=env,
                timeout=180,
            )
            result.runs += 1
            result.log.append(f"resume rc={proc.returncode} {proc.stderr.strip()[-300:]}")
            if proc.returncode == 3 and "no unfinished roll" in proc.stderr:
                # Killed before the roll was journaled: start it afresh (nothing was rebooted by it).
                proc = subprocess.run(
                    [*SLOWROLL, "run", str(sim.inventory), "--headless", "--json", "--state", str(state)],
                    capture_output=True,
                    text=True,
                    cwd=ROOT,
                    env=env,
                    timeout=180,
                )
                result.runs += 1
            last = _last_json(proc.stdout)
            result.final_state = last.get("state", "")
        result.reboots = sim.ledger()
        db = state / "slowroll.db"
        if db.exists():
            with sqlite3.connect(db) as con:
                result.integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
            result.log.append(f"db mode {oct(db.stat().st_mode & 0o777)}")
        return result
    finally:
        sim.stop()


def random_kill_moments(count: int, seed: int, longest: float = 4.0) -> list[float]:
    rng = random.Random(seed)
    return [round(rng.uniform(0.6, longest), 3) for _ in range(count)]
