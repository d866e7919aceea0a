"""Policy values and the planner that orders hosts into slices under the unavailability budgets.

The planner is pure: the same function forms the slices shown by ``slowroll plan`` and the slices the
engine starts at run time (where failed or unhealthy hosts already hold part of a budget).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .drift import DriftPolicy
from .windows import MaintenanceWindow

if TYPE_CHECKING:
    from .inventory import Inventory


@dataclass(frozen=True)
class Amount:
    """A count of hosts written as a number (``3``) or a percentage (``"25%"``)."""

    count: int | None = None
    percent: float | None = None

    def resolve(self, total: int) -> int:
        """Hosts this amount allows out of ``total``: percentages round down, never below 1."""
        if self.count is not None:
            return self.count
        assert self.percent is not None
        return max(1, math.floor(total * self.percent / 100.0 + 1e-9))

    def __str__(self) -> str:
        if self.count is not None:
            return str(self.count)
        pct = self.percent if self.percent is not None else 0
        return f"{pct:g}%"


TIMEOUT_FLOOR = 5.0  # scaled check and hook timeouts never go below this (nor above their own value)


def scale_duration(value: float, speed: float, floor: float = 0.0) -> float:
    """``value / speed``, but not below ``floor`` (nor above ``value`` itself)."""
    return max(value / speed, min(floor, value))


@dataclass(frozen=True)
class Policy:
    batch: tuple[Amount, ...] = (Amount(count=1),)
    max_unavailable: Amount | None = None  # fleet-wide; None = bounded only by the slice size
    group_max_unavailable: Amount = Amount(count=1)  # for groups that do not set their own
    bake: float = 60.0
    reboot_timeout: float = 600.0
    connect_timeout: float = 10.0
    command_timeout: float = 30.0
    poll_interval: float = 0.5  # a host that is back is noticed within about this (plus a handshake)
    check_interval: float = 10.0
    recheck_interval: float = 30.0
    max_failures: int = 0
    reboot_command: str = "systemctl reboot"
    boot_id_command: str = "cat /proc/sys/kernel/random/boot_id"
    canaries: tuple[str, ...] = ()
    order: str = "inventory"
    max_uptime: float | None = None
    drift: DriftPolicy | None = field(default_factory=DriftPolicy.default)  # None: `drift: off`
    resume_grace: float | None = None  # None = reboot_timeout
    windows: tuple[MaintenanceWindow, ...] = ()
    max_reboots_per_hour: int | None = None
    min_slice_gap: float = 0.0
    pace_window: float = 3600.0  # the "hour" of max_reboots_per_hour (scaled with --speed like any duration)

    DURATIONS = (
        "bake",
        "reboot_timeout",
        "connect_timeout",
        "command_timeout",
        "poll_interval",
        "check_interval",
        "recheck_interval",
        "resume_grace",
        "min_slice_gap",
        "pace_window",
    )

    # A key exchange or a command's round trip does not get faster with --speed: below these floors a
    # busy machine (a 2,000-host rehearsal in one process) would fail hosts for no reason of theirs.
    # Polling and repeated checks keep a floor too: a 2,000-host rehearsal at --speed 50 would otherwise
    # make tens of thousands of probes a second, a load no real roll puts on its console.
    SCALED_FLOORS = {
        "connect_timeout": 5.0,
        "command_timeout": 10.0,
        "poll_interval": 0.2,
        "check_interval": 1.0,
        "recheck_interval": 2.0,
    }

    def scaled(self, speed: float) -> Policy:
        """Every duration divided by ``speed`` (a rehearsal on the simulator at ``--speed X``), except that
        timeouts and polling intervals keep the floors above (never above their unscaled value)."""
        if speed == 1:
            return self
        changes: dict[str, float | None] = {}
        for name in self.DURATIONS:
            value = getattr(self, name)
            if value is None:
                changes[name] = None
                continue
            changes[name] = scale_duration(value, speed, self.SCALED_FLOORS.get(name, 0.0))
        return replace(self, **changes)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        return {
            "batch": [str(a) for a in self.batch],
            "max_unavailable": str(self.max_unavailable) if self.max_unavailable else None,
            "group_max_unavailable": str(self.group_max_unavailable),
            "bake": self.bake,
            "reboot_timeout": self.reboot_timeout,
            "connect_timeout": self.connect_timeout,
            "command_timeout": self.command_timeout,
            "poll_interval": self.poll_interval,
            "check_interval": self.check_interval,
            "recheck_interval": self.recheck_interval,
            "max_failures": self.max_failures,
            "reboot_command": self.reboot_command,
            "boot_id_command": self.boot_id_command,
            "canaries": list(self.canaries),
            "order": self.order,
            "max_uptime": self.max_uptime,
            "resume_grace": self.resume_grace,
            "windows": [w.describe() for w in self.windows],
            "max_reboots_per_hour": self.max_reboots_per_hour,
            "min_slice_gap": self.min_slice_gap,
        }


@dataclass(frozen=True)
class Budgets:
    """How many hosts may be unavailable at once: per group and for the whole fleet."""

    per_group: Mapping[str, int]
    fleet: int | None
    groups_of: Mapping[str, tuple[str, ...]]

    @classmethod
    def for_inventory(cls, inventory: Inventory) -> Budgets:
        total = len(inventory.hosts)
        per_group = {
            g.name: g.budget(inventory.policy).resolve(len(g.members)) for g in inventory.groups.values()
        }
        fleet = inventory.policy.max_unavailable.resolve(total) if inventory.policy.max_unavailable else None
        return cls(per_group, fleet, {h.name: h.groups for h in inventory.hosts})

    def usage(self, unavailable: Iterable[str]) -> tuple[dict[str, list[str]], list[str]]:
        """Which unavailable hosts count against each group, and against the fleet."""
        by_group: dict[str, list[str]] = {g: [] for g in self.per_group}
        fleet: list[str] = []
        for host in unavailable:
            fleet.append(host)
            for g in self.groups_of.get(host, ()):
                by_group.setdefault(g, []).append(host)
        return by_group, fleet

    def fits(self, host: str, by_group: Mapping[str, Sequence[str]], fleet_count: int) -> bool:
        if self.fleet is not None and fleet_count + 1 > self.fleet:
            return False
        return all(len(by_group.get(g, ())) + 1 <= self.per_group[g] for g in self.groups_of.get(host, ()))

    def blocking(self, host: str, by_group: Mapping[str, Sequence[str]], fleet_count: int) -> list[str]:
        """Names of the budgets ('group web', 'fleet') that keep ``host`` from starting now."""
        out = [
            f"group {g}"
            for g in self.groups_of.get(host, ())
            if len(by_group.get(g, ())) + 1 > self.per_group[g]
        ]
        if self.fleet is not None and fleet_count + 1 > self.fleet:
            out.append("fleet")
        return out


@dataclass(frozen=True)
class PlannedSlice:
    index: int
    hosts: tuple[str, ...]
    size_wanted: int
    canary: bool
    reason: str


def ramp_size(policy: Policy, step: int, total: int) -> int:
    """Slice size at ramp step ``step`` (0-based, canary slices not counted); the last entry repeats."""
    amount = policy.batch[min(step, len(policy.batch) - 1)]
    return amount.resolve(total)


def form_slice(
    queue: Sequence[str],
    size: int,
    budgets: Budgets,
    unavailable: Iterable[str],
) -> tuple[list[str], dict[str, list[str]]]:
    """Take up to ``size`` hosts from ``queue`` in order, each only if all its budgets have room.

    Returns the slice and, for hosts passed over, the budgets that held them back (for the reason shown).
    """
    by_group, fleet = budgets.usage(unavailable)
    fleet_count = len(fleet)
    chosen: list[str] = []
    held: dict[str, list[str]] = {}
    for host in queue:
        if len(chosen) >= size:
            break
        if budgets.fits(host, by_group, fleet_count):
            chosen.append(host)
            fleet_count += 1
            for g in budgets.groups_of.get(host, ()):
                by_group.setdefault(g, []).append(host)
        else:
            held[host] = budgets.blocking(host, by_group, fleet_count)
    return chosen, held


def order_hosts(
    inventory: Inventory,
    *,
    uptimes: Mapping[str, float | None] | None = None,
    risks: Mapping[str, int] | None = None,
) -> tuple[list[str], str]:
    """Hosts in the order the roll takes them (canaries excluded), and why."""
    names = [h.name for h in inventory.hosts if h.name not in inventory.policy.canaries]
    order = inventory.policy.order
    if order == "uptime":
        if uptimes and any(v is not None for v in uptimes.values()):
            pos = {n: i for i, n in enumerate(names)}
            names.sort(key=lambda n: (-(uptimes.get(n) or 0.0), pos[n]))
            return names, "longest uptime first (policy.order: uptime)"
        return names, "inventory order (policy.order: uptime, but no uptime is known before the roll starts)"
    if order == "risk":
        if risks:
            pos = {n: i for i, n in enumerate(names)}
            names.sort(key=lambda n: (-risks.get(n, 0), pos[n]))
            return names, "most drift findings first (policy.order: risk)"
        return names, "inventory order (policy.order: risk, but no audit has run yet)"
    return names, "inventory order (policy.order: inventory)"


def plan(
    inventory: Inventory,
    *,
    uptimes: Mapping[str, float | None] | None = None,
    risks: Mapping[str, int] | None = None,
) -> tuple[list[PlannedSlice], str]:
    """The slices a roll with no failures would run, and the reason for the host order."""
    policy = inventory.policy
    budgets = Budgets.for_inventory(inventory)
    total = len(inventory.hosts)
    slices: list[PlannedSlice] = []
    for name in policy.canaries:
        slices.append(PlannedSlice(len(slices), (name,), 1, True, "canary: goes first, alone"))
    queue, why = order_hosts(inventory, uptimes=uptimes, risks=risks)
    step = 0
    while queue:
        size = ramp_size(policy, step, total)
        chosen, held = form_slice(queue, size, budgets, ())
        if not chosen:  # cannot happen with budgets >= 1, kept as a guard against an endless loop
            raise AssertionError("planner made no progress")
        reason = f"batch step {step + 1}: {policy.batch[min(step, len(policy.batch) - 1)]} → {size} host(s)"
        if len(chosen) < size and held:
            limits = sorted({b for bs in held.values() for b in bs})
            reason += f"; {len(chosen)} fit the budget of {', '.join(limits)}"
        elif len(chosen) < size:
            reason += f"; only {len(chosen)} left"
        slices.append(PlannedSlice(len(slices), tuple(chosen), size, False, reason))
        taken = set(chosen)
        queue = [h for h in queue if h not in taken]
        step += 1
    return slices, why
