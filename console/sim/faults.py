"""Named faults of the simulated fleet, what ``--fault`` accepts, and what the drift faults do to a host.

Engine faults (``ENGINE_FAULTS``) change how a host answers around its reboot (it never comes back, boots
slowly, fails its checks, hangs, changes its host key): ``fleet.SimHost`` plays them. Drift faults
(``DRIFT_FAULTS``) change the host the way people do -- a unit started by hand, an enabled unit whose
dependency fails at boot, a live patch, a newer kernel installed (booted next time, or not) -- and
``apply_drift_fault`` makes that change; what follows at the next boot follows from it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from console.model.budgets import plan
from console.model.errors import did_you_mean
from console.model.inventory import Inventory
from console.remote.facts import TAINT_LIVEPATCH
from console.sim.rehearse import served
from console.sim.system import SimSystem
from console.sim.units import MULTI_USER, UnitDef

__all__ = [
    "ALL_FAULTS",
    "CHECK_FAULTS",
    "DRIFT_FAULTS",
    "ENGINE_FAULTS",
    "FAULT_HELP",
    "FaultError",
    "apply_drift_fault",
    "first_after_canaries",
    "parse_faults",
]

ENGINE_FAULTS = frozenset(
    {
        "never-returns",
        "slow-boot",
        "check-fails",
        "ssh-hangs",
        "flapping",
        "unhealthy",
        "new-host-key",
        "no-sudo",
    }
)
DRIFT_FAULTS = frozenset(
    {"hand-started-unit", "early-unit", "live-patched", "kernel-pending", "stale-kernel"}
)
ALL_FAULTS = ENGINE_FAULTS | DRIFT_FAULTS
FAULT_HELP = {
    "never-returns": "goes down at its reboot and never comes back",
    "slow-boot": "comes back, but only after 1.5 × the policy's reboot_timeout",
    "check-fails": "after its reboot, every health check fails",
    "ssh-hangs": "after its reboot, accepts TCP but never sends an SSH banner",
    "flapping": "after its reboot, health checks alternate between pass and fail",
    "unhealthy": "its health checks fail already before its turn (it must not be rebooted)",
    "new-host-key": "comes back from its reboot with a different SSH host key",
    "no-sudo": "its SSH user is not in sudoers: sudo -n asks for a password, so it cannot reboot (unless root)",
    "hand-started-unit": "runs a service started by hand (not enabled): lost at the reboot",
    "early-unit": "an enabled unit Requires= a unit that fails at boot: inactive after the reboot",
    "live-patched": "running kernel is live-patched",
    "kernel-pending": "a newer kernel is installed; it boots into it",
    "stale-kernel": "a newer kernel is installed, but it boots the old one again",
}
CHECK_FAULTS = frozenset({"check-fails", "flapping", "unhealthy"})  # they act on host checks


class FaultError(ValueError):
    """A bad ``--fault`` argument; the message says what is accepted."""


def parse_faults(specs: Sequence[str], inventory: Inventory) -> dict[str, set[str]]:
    """``KIND@HOST`` places a fault on a host; ``KIND`` alone on the first host after the canary slice."""
    names = [h.name for h in inventory.hosts]
    out: dict[str, set[str]] = {}
    for spec in specs:
        kind, _, host = spec.partition("@")
        kind = kind.strip()
        if kind not in ALL_FAULTS:
            raise FaultError(
                f"unknown fault {kind!r}{did_you_mean(kind, ALL_FAULTS)}; known faults: "
                + ", ".join(sorted(ALL_FAULTS))
            )
        if not host:
            host = first_after_canaries(inventory)
        elif host not in names:
            raise FaultError(
                f"--fault {spec}: no host named {host!r} in {inventory.path}{did_you_mean(host, names)}"
            )
        if kind in CHECK_FAULTS:
            target = next(h for h in inventory.hosts if h.name == host)
            if not any(not c.local or served(c) for c in inventory.checks_for(target)):
                raise FaultError(
                    f"--fault {spec}: {host} has no health check run on the host in {inventory.path}, "
                    f"so {kind!r} would change nothing (add a check to its group, or pick another host)"
                )
        out.setdefault(host, set()).add(kind)
    return out


def first_after_canaries(inventory: Inventory) -> str:
    slices, _ = plan(inventory)
    for s in slices:
        if not s.canary:
            return s.hosts[0]
    return slices[0].hosts[0]


# ----------------------------------------------------------------------------------------------
# drift faults

TAINT_OOT_MODULE = 1 << 12  # "O": a live patch is an out-of-tree module

# The units the drift faults add, exactly as on the real host in tests/fixtures/systemd-252.
LEGACY_AGENT = UnitDef(
    "legacy-agent.service",
    "Legacy agent (started by hand, never enabled)",
    file_state="disabled",
    preset="enabled",
    path="/etc/systemd/system/legacy-agent.service",
)
BROKEN_DEP = UnitDef(
    "broken-dep.service",
    "Dependency that fails at every boot (works only while /run/broken-dep.ok exists)",
    kind="oneshot",
    remain=True,
    fails_at_boot=True,
    path="/etc/systemd/system/broken-dep.service",
)
APP_NEEDS_BROKEN = UnitDef(
    "app-needs-broken.service",
    "App that Requires= broken-dep.service",
    file_state="enabled",
    preset="enabled",
    wanted_by=MULTI_USER,
    requires=("broken-dep.service",),
    path="/etc/systemd/system/app-needs-broken.service",
)


def apply_drift_fault(system: SimSystem, kind: str) -> None:
    """Change the host the way people do; the effects at the next boot follow from the change."""
    if kind not in DRIFT_FAULTS:
        raise ValueError(f"unknown drift fault {kind!r}; expected one of {', '.join(sorted(DRIFT_FAULTS))}")
    system.faults.add(kind)
    sd = system.systemd
    if kind == "hand-started-unit":
        sd.defs[LEGACY_AGENT.name] = LEGACY_AGENT
        sd.start_now(LEGACY_AGENT.name)
    elif kind == "early-unit":
        # `systemctl enable --now app-needs-broken.service` while /run/broken-dep.ok exists
        sd.defs[BROKEN_DEP.name] = BROKEN_DEP
        sd.defs[APP_NEEDS_BROKEN.name] = APP_NEEDS_BROKEN
        sd.start_now(BROKEN_DEP.name)
        sd.start_now(APP_NEEDS_BROKEN.name)
    elif kind == "live-patched":
        patch = "livepatch_" + re.sub(r"[^0-9a-zA-Z]", "_", system.kernel) + "_cve_2024_1086"
        if patch not in system.livepatches:
            system.livepatches.append(patch)
        system.tainted |= TAINT_LIVEPATCH | TAINT_OOT_MODULE
        sd.log(system.clock(), None, "kernel", f"livepatch: enabling patch '{patch}'")
    elif kind in ("kernel-pending", "stale-kernel"):
        newer = _next_kernel(system.kernel)  # both faults install the same update
        if newer not in system.kernels_installed:
            system.kernels_installed.append(newer)
        system.reboot_required_pkgs = [*(system.reboot_required_pkgs or []), f"linux-image-{newer}"]
        if kind == "stale-kernel":
            system.boot_kernel = system.kernel  # the boot loader keeps booting the old one


def _next_kernel(release: str) -> str:
    """``6.1.0-26-amd64`` → ``6.1.0-27-amd64``: the next ABI of the same flavour."""
    m = re.match(r"^(\d+\.\d+\.\d+-)(\d+)(.*)$", release)
    if m:
        return f"{m.group(1)}{int(m.group(2)) + 1}{m.group(3)}"
    m = re.match(r"^(.*?)(\d+)([^\d]*)$", release)
    if m:
        return f"{m.group(1)}{int(m.group(2)) + 1}{m.group(3)}"
    return release + ".1"
