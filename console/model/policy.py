"""Policy values and the planner that orders hosts into slices under the unavailability budgets.

The planner is pure: the same function forms the slices shown by ``slowroll plan`` and the slices the
engine starts at run time (where failed or unhealthy hosts already hold part of a budget).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace

from console.model.findings import DriftPolicy
from console.model.windows import MaintenanceWindow


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
    """How the roll goes. Each field is a key of the inventory's ``policy:`` section (``POLICY_KEYS``)
    unless its metadata says ``key: False``; ``docs/inventory.md`` says what each one means."""

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
    # The "hour" of max_reboots_per_hour (scaled with --speed like any duration); not an inventory key.
    pace_window: float = field(default=3600.0, metadata={"key": False})

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
        """The policy as the inventory wrote it (the journal keeps it): every key but ``drift``, which
        findings record on their own."""
        return {key: _plain(getattr(self, key)) for key in POLICY_KEYS if key != "drift"}


# The keys a ``policy:`` section may hold: the fields of ``Policy``, in order, but those marked as no key.
POLICY_KEYS: tuple[str, ...] = tuple(f.name for f in fields(Policy) if f.metadata.get("key", True))


def _plain(value: object) -> object:
    """A policy value in JSON terms: amounts and windows as their text, tuples as lists."""
    if isinstance(value, Amount):
        return str(value)
    if isinstance(value, MaintenanceWindow):
        return value.describe()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value
