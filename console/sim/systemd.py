"""The systemd model of one simulated host: the units it loads, their states in this boot, and the boot.

A boot starts what ``default.target`` pulls in, in dependency order -- start conditions, failing units,
dependency failures -- and writes the journal lines systemd writes; the journal keeps the lines of the
last five boots. What ``systemctl`` and ``journalctl`` print of all this is in ``systemctl.py``.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from console.sim.units import STOCK_FILES, STOCK_UNITS, UnitDef, role_unit

__all__ = ["JournalEntry", "Systemd", "UnitRun"]


@dataclass
class UnitRun:
    """A loaded unit's state in this boot."""

    active: str = "inactive"
    sub: str = "dead"
    result: str = "success"
    exec_status: int = 0
    main_pid: int = 0
    inactive_exit_mono: int = 0  # µs since boot; 0: never left "inactive" this boot
    active_enter_wall: float | None = None
    condition_result: bool = False
    condition_mono: int = 0
    changed_wall: float | None = None


@dataclass
class JournalEntry:
    wall: float
    boot: str
    unit: str | None
    ident: str
    text: str


class Systemd:
    """PID 1 of one simulated Debian 12 host, and its journal."""

    def __init__(
        self, *, rng: random.Random, clock: Callable[[], float], services: Sequence[str] = ()
    ) -> None:
        self.rng = rng
        self.clock = clock
        self.defs: dict[str, UnitDef] = {u.name: u for u in STOCK_UNITS}
        for service in services:
            unit = role_unit(service)
            if unit is not None and unit.name not in self.defs:
                self.defs[unit.name] = unit
        self.extra_files: dict[str, tuple[str, str]] = {n: (s, p) for n, s, p in STOCK_FILES}
        self.runs: dict[str, UnitRun] = {}
        self.journal: list[JournalEntry] = []
        self.boots: list[str] = []
        self.boot_id = ""
        self.boot_wall = 0.0
        self._pid = 1

    # ------------------------------------------------------------------------------------------
    # time

    def mono(self, wall: float | None = None) -> int:
        """µs since boot (CLOCK_MONOTONIC) at wall-clock time ``wall`` (default: now)."""
        return max(1, int(((self.clock() if wall is None else wall) - self.boot_wall) * 1_000_000))

    def _next_pid(self) -> int:
        self._pid += self.rng.randint(1, 40)
        return self._pid

    # ------------------------------------------------------------------------------------------
    # boot

    def boot(self, *, at: float, kernel: str) -> None:
        """Boot at wall-clock time ``at`` into ``kernel``: a new boot id, the boot tree started again."""
        self.boot_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        self.boots.append(self.boot_id)
        self.journal = [e for e in self.journal if e.boot in self.boots[-5:]]
        self.boot_wall = at
        self._pid = 1
        self.runs = {}
        self.log(at, None, "kernel", f"Linux version {kernel} (debian-kernel@lists.debian.org)")
        clock = [at + 0.9]
        tree = self.boot_tree()
        for name in self._start_order(tree):
            self._start_at_boot(name, clock)
        for name in self._loaded_names(tree):
            self.runs.setdefault(name, UnitRun())
        # the SSH login of whoever is looking (logind starts the user's manager)
        for name in ("user-runtime-dir@0.service", "user@0.service"):
            self.start_now(name, wall=at + 5.0)

    def _start_order(self, tree: Iterable[str]) -> list[str]:
        order: list[str] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen:
                return
            seen.add(name)
            unit = self.defs.get(name)
            if unit is not None:
                for req in unit.requires:
                    visit(req)
            order.append(name)

        for name in sorted(tree, key=lambda n: (not n.startswith(("systemd-journald", "-")), n)):
            visit(name)
        return order

    def _start_at_boot(self, name: str, clock: list[float]) -> None:
        unit = self.defs.get(name)
        if unit is None or unit.load != "loaded" or name in self.runs:
            return
        clock[0] += 0.004
        wall = clock[0]
        run = UnitRun()
        self.runs[name] = run
        label = f"{name} - {unit.description}"
        failed_reqs = [r for r in unit.requires if self.runs.get(r) and self.runs[r].active == "failed"]
        if failed_reqs:
            self.log(wall, name, "systemd[1]", f"Dependency failed for {label}.")
            self.log(wall, name, "systemd[1]", f"{name}: Job {name}/start failed with result 'dependency'.")
            return
        if unit.condition:
            run.condition_mono = self.mono(wall)
            run.condition_result = False
            self.log(
                wall,
                name,
                "systemd[1]",
                f"{label} was skipped because of an unmet condition check ({unit.condition}).",
            )
            return
        run.condition_mono = self.mono(wall)
        run.condition_result = True
        self._activate(unit, run, wall, at_boot=True)

    def _activate(self, unit: UnitDef, run: UnitRun, wall: float, *, at_boot: bool) -> None:
        name = unit.name
        label = f"{name} - {unit.description}"
        run.inactive_exit_mono = self.mono(wall)
        run.changed_wall = wall
        t = unit.type
        if t == "socket":
            run.active, run.sub = "active", "listening"
            self.log(wall, name, "systemd[1]", f"Listening on {label}.")
        elif t in ("timer", "path"):
            run.active, run.sub = "active", "waiting"
            self.log(wall, name, "systemd[1]", f"Started {label}.")
        elif t == "target":
            run.active, run.sub = "active", "active"
            self.log(wall, name, "systemd[1]", f"Reached target {label}.")
        elif t == "service":
            if unit.kind != "simple":  # a Type=simple unit is "started" at once: no "Starting" line
                self.log(wall, name, "systemd[1]", f"Starting {label}...")
            pid = self._next_pid()
            if unit.fails_at_boot and at_boot:
                run.active, run.sub, run.result, run.exec_status = "failed", "failed", "exit-code", 1
                run.main_pid = 0
                self.log(
                    wall, name, "systemd[1]", f"{name}: Main process exited, code=exited, status=1/FAILURE"
                )
                self.log(wall, name, "systemd[1]", f"{name}: Failed with result 'exit-code'.")
                self.log(wall, name, "systemd[1]", f"Failed to start {label}.")
                return
            if unit.kind == "oneshot":
                run.sub = "exited" if unit.remain else "dead"
                run.active = "active" if unit.remain else "inactive"
                run.main_pid = 0
                if not unit.remain:
                    self.log(wall, name, "systemd[1]", f"{name}: Deactivated successfully.")
                self.log(wall, name, "systemd[1]", f"Finished {label}.")
            else:
                run.active, run.sub, run.main_pid = "active", "running", pid
                self.log(wall, name, "systemd[1]", f"Started {label}.")
        else:  # mounts, slices, automounts
            run.active, run.sub = "active", {"slice": "active", "automount": "waiting"}.get(t, "mounted")
        if run.active == "active":
            run.active_enter_wall = wall
        # sockets with a running service show "running"
        if t == "service":
            for trig in self.triggered_by(name):
                if trig in self.runs and self.runs[trig].sub == "listening" and run.active == "active":
                    self.runs[trig].sub = "running"

    def start_now(self, name: str, *, wall: float | None = None) -> None:
        unit = self.defs[name]
        run = UnitRun(condition_result=True)
        when = self.clock() if wall is None else wall
        run.condition_mono = self.mono(when)
        self.runs[name] = run
        self._activate(unit, run, when, at_boot=False)

    def log(self, wall: float, unit: str | None, ident: str, text: str) -> None:
        self.journal.append(JournalEntry(wall, self.boot_id, unit, ident, text))

    # ------------------------------------------------------------------------------------------
    # the unit graph

    def _wants(self) -> dict[str, list[str]]:
        wants: dict[str, list[str]] = {}
        for unit in self.defs.values():
            for target in unit.wanted_by:
                wants.setdefault(target, []).append(unit.name)
        return wants

    def _forward(self, name: str, wants: dict[str, list[str]]) -> list[str]:
        unit = self.defs.get(name)
        if unit is None or unit.load != "loaded":
            return []
        if unit.deps is not None:
            base = list(unit.deps)
        elif unit.type == "service":
            base = ["system.slice", "sysinit.target"]
        elif unit.type in ("socket", "path"):
            base = ["sysinit.target"]
        elif unit.type == "timer":
            base = ["sysinit.target", "time-set.target"]
        else:
            base = []
        out = [*base, *unit.requires, *wants.get(name, ())]
        return list(dict.fromkeys(out))

    def dependency_listing(self) -> list[str]:
        """`systemctl list-dependencies --all --plain default.target`: each unit once, depth first."""
        wants = self._wants()
        lines = ["default.target"]
        done = {"default.target"}

        def key(n: str) -> tuple[bool, str]:
            return (n.endswith(".target"), n.lower())

        def walk(name: str) -> None:
            for dep in sorted(self._forward(name, wants), key=key):
                if dep in done:
                    continue
                done.add(dep)
                lines.append("  " + dep)
                walk(dep)

        walk("default.target")
        return lines

    def boot_tree(self) -> set[str]:
        return {line.strip() for line in self.dependency_listing()}

    def _loaded_names(self, tree: Iterable[str]) -> list[str]:
        names = [n for n in tree if n in self.defs]
        for name in list(names):
            names.extend(self.defs[name].triggers)
        for unit in self.defs.values():
            if unit.load == "not-found":
                names.append(unit.name)
        return list(dict.fromkeys(names))

    def triggered_by(self, name: str) -> list[str]:
        return sorted(u.name for u in self.defs.values() if name in u.triggers)

    def pulled_by(self, name: str) -> dict[str, list[str]]:
        unit = self.defs.get(name)
        wanted = list(unit.wanted_by) if unit else []
        required = sorted(u.name for u in self.defs.values() if name in u.requires and u.name in self.runs)
        return {"WantedBy": wanted, "RequiredBy": required}

    # ------------------------------------------------------------------------------------------
    # unit states

    def state(self, name: str) -> UnitRun | None:
        return self.runs.get(self.resolve(name))

    def resolve(self, name: str) -> str:
        for unit in self.defs.values():
            if name in unit.aliases:
                return unit.name
        return name

    def system_state(self) -> str:
        return "degraded" if any(r.active == "failed" for r in self.runs.values()) else "running"

    def listed(self, types: Sequence[str]) -> list[tuple[str, UnitDef, UnitRun]]:
        rows = []
        for name, run in self.runs.items():
            unit = self.defs.get(name)
            if unit is None or unit.type not in types:
                continue
            rows.append((name, unit, run))
        rows.sort(key=lambda r: (r[1].type, r[0].lower()))
        return rows

    def unit_file_state(self, name: str) -> str:
        unit = self.defs.get(name)
        if unit is not None:
            return unit.file_state
        return self.extra_files.get(name, ("", ""))[0]
