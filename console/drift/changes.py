"""What changed between a host's facts before and after its reboot, unit by unit.

One walk over the units for every reader of the two ``Facts``: the regressions (``console.drift.findings``)
and the before/after diff the console shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.remote.facts import Facts, UnitState


@dataclass(frozen=True, slots=True)
class UnitPair:
    """One unit's state before and after the reboot (None: not loaded then)."""

    name: str
    before: UnitState | None
    after: UnitState | None

    @property
    def newly_failed(self) -> bool:
        """Failed after the reboot, and had not failed before it."""
        return self.after is not None and self.after.is_failed and not self.failed_before

    @property
    def failed_before(self) -> bool:
        return self.before is not None and self.before.is_failed

    @property
    def active_before(self) -> bool:
        return self.before is not None and self.before.is_active

    @property
    def active_after(self) -> bool:
        return self.after is not None and self.after.is_active

    @property
    def aliases(self) -> tuple[str, ...]:
        """The unit's other names (as known after the reboot, else before)."""
        unit = self.after or self.before
        return unit.aliases if unit is not None else ()


def unit_pairs(before: Facts, after: Facts) -> list[UnitPair]:
    """Every unit loaded before or after the reboot, by name, with its two states; none when either
    side's unit list is unknown (half a picture would make every unit look lost or new)."""
    if before.units is None or after.units is None:
        return []
    bu, au = before.units, after.units
    return [UnitPair(name, bu.get(name), au.get(name)) for name in sorted(bu.keys() | au.keys())]
