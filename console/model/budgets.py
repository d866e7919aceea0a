from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from console.model.inventory import Inventory
from console.model.policy import Policy


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
