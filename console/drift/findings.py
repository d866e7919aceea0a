"""Drift audit: what a host that has run for months would lose, or change, at its next clean boot.

Pure functions over ``Facts`` (see ``console.remote.facts``):

- ``preflight(facts, policy)`` -- before a reboot: units that run now but that nothing starts at boot,
  failed units, live patches, a newer kernel waiting, a reboot the host itself asks for, uptime debt;
- ``regressions(before, after, policy, evidence)`` -- after the reboot: units lost, units that failed at
  boot, enabled units that never started (an unmet dependency: systemd lists only the dependency as
  failed), the old kernel booted again, a degraded system;
- ``evidence_units(before, after)`` -- which units' journals the engine should fetch before calling
  ``regressions`` (see ``console.remote.gather.gather_evidence``).

What each finding means, its default severity and how to configure it: ``docs/drift.md``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from console.drift.changes import unit_pairs
from console.model.durations import format_duration
from console.model.findings import ALL_KINDS, DriftPolicy, Finding, Severity, matches_any
from console.remote.facts import Facts, UnitState, kernel_version_key

__all__ = [
    "ON_DEMAND_UNITS",
    "evidence_units",
    "preflight",
    "regressions",
]


# Units started on demand at run time -- by logind for a login, by udev for a device, by D-Bus, by a
# crash -- rather than at boot. That they run now and nothing in the boot tree starts them is normal.
# Used when the host's own answer (TriggeredBy, WantedBy=*.device, the D-Bus service files) is missing.
ON_DEMAND_UNITS: tuple[str, ...] = (
    "user@*.service",
    "user-runtime-dir@*.service",
    "autovt@*.service",
    "getty@tty*.service",
    "serial-getty@*.service",
    "container-getty@*.service",
    "systemd-coredump@*.service",
    "ifup@*.service",
    "lvm2-pvscan@*.service",
    "systemd-backlight@*.service",
    "systemd-fsck@*.service",
    "dbus-:*.service",
    "systemd-hostnamed.service",
    "systemd-localed.service",
    "systemd-timedated.service",
    "systemd-machined.service",
    "systemd-importd.service",
    "systemd-portabled.service",
    "polkit.service",
    "packagekit.service",
    "udisks2.service",
    "accounts-daemon.service",
    "fwupd.service",
)

# Unit-file states under which nothing starts the unit at the next boot (unless something else pulls
# it in). "enabled-runtime" is not among them: systemd's own generators produce it at every boot.
NOT_AT_BOOT_STATES = frozenset(
    {"disabled", "masked", "masked-runtime", "linked", "linked-runtime", "transient"}
)
ENABLED_STATES = frozenset({"enabled", "enabled-runtime"})
_BAD_STATES = frozenset({"degraded", "maintenance"})


# --------------------------------------------------------------------------------------------------
# Does a unit come back at boot?


def _names(unit: UnitState | None, name: str) -> tuple[str, ...]:
    return (name, *(unit.aliases if unit else ()))


def _triggers(facts: Facts, name: str) -> tuple[str, ...]:
    """The sockets, timers and paths that start ``name``: from TriggeredBy, else guessed by name."""
    units = facts.units or {}
    unit = units.get(name)
    if unit is not None and unit.triggered_by is not None:
        return unit.triggered_by
    stem, dot, suffix = name.rpartition(".")
    if not dot or suffix != "service":
        return ()
    guesses = [f"{stem}.socket", f"{stem}.timer", f"{stem}.path"]
    if "@" in stem:  # a per-connection instance of an Accept=yes socket: foo@0-1.2.3.4:22.service
        guesses.append(stem.split("@", 1)[0] + ".socket")
    return tuple(g for g in guesses if g in units)


def _on_demand(facts: Facts, unit: UnitState | None, name: str) -> str | None:
    names = _names(unit, name)
    if facts.dbus_services and set(names) & facts.dbus_services:
        return "it is started on demand through D-Bus"
    if matches_any(names, ON_DEMAND_UNITS):
        return "it is started on demand (login, device, D-Bus or crash)"
    if unit is not None and unit.pulled_by and any(p.endswith(".device") for p in unit.pulled_by):
        return "a device pulls it in (udev)"
    return None


def _why_it_comes_back(facts: Facts, name: str, seen: frozenset[str] = frozenset()) -> str | None:
    """Why ``name`` will be started again after a boot, or None when nothing will start it.

    With a boot tree: it is in ``default.target``'s tree, or on demand, or its trigger / a unit that
    pulls it in comes back. Without one: judged from the unit-file states (``NOT_AT_BOOT_STATES``).
    """
    if name in seen or len(seen) > 16:
        return None
    seen = seen | {name}
    units = facts.units or {}
    unit = units.get(name)
    names = _names(unit, name)
    tree = facts.boot_tree
    if tree is not None and set(names) & tree:
        return "it is in the boot tree"
    why = _on_demand(facts, unit, name)
    if why:
        return why
    for trigger in _triggers(facts, name):
        if _why_it_comes_back(facts, trigger, seen):
            return f"{trigger} activates it"
    for puller in (unit.pulled_by if unit else None) or ():
        if tree is None and puller.endswith(".target"):
            return f"{puller} wants it"
        if tree is not None and puller in tree:
            return f"{puller} pulls it in"
        if puller in units and _why_it_comes_back(facts, puller, seen):
            return f"{puller} pulls it in"
    if tree is None:
        state = facts.unit_file_state_of(name)
        if state not in NOT_AT_BOOT_STATES:
            return f"its unit file is {state or 'of unknown state'}"
    return None


def _unit_evidence(facts: Facts, unit: UnitState) -> str:
    parts = [
        f"ActiveState={unit.active}",
        f"SubState={unit.sub}",
        f"UnitFileState={facts.unit_file_state_of(unit.name) or 'unknown'}",
    ]
    if unit.result:
        parts.append(f"Result={unit.result}")
    if unit.triggered_by:
        parts.append("TriggeredBy=" + " ".join(unit.triggered_by))
    if unit.pulled_by:
        parts.append("WantedBy/RequiredBy=" + " ".join(unit.pulled_by))
    return " ".join(parts)


# --------------------------------------------------------------------------------------------------
# Before the reboot


class _Collector:
    def __init__(self, policy: DriftPolicy, phase: str, include_ignored: bool) -> None:
        self.policy = policy
        self.phase = phase
        self.include_ignored = include_ignored
        self.found: list[Finding] = []

    def add(
        self, kind: str, subject: str, message: str, evidence: str = "", aliases: Iterable[str] = ()
    ) -> None:
        severity = self.policy.severity_for(kind, subject, aliases)
        if severity is Severity.IGNORE and not self.include_ignored:
            return
        self.found.append(Finding(kind, severity, subject, message, evidence, self.phase))

    def result(self) -> list[Finding]:
        order = {k: i for i, k in enumerate(ALL_KINDS)}
        rank = {Severity.BLOCK: 0, Severity.WARN: 1, Severity.IGNORE: 2}
        return sorted(self.found, key=lambda f: (rank[f.severity], order.get(f.kind, 99), f.subject))


def preflight(
    facts: Facts,
    policy: DriftPolicy,
    *,
    last_reboot_at: float | None = None,
    now: float | None = None,
    include_ignored: bool = False,
) -> list[Finding]:
    """Findings about a host before its reboot, most severe first. Unknown facts give no finding."""
    out = _Collector(policy, "before", include_ignored)
    _not_coming_back(out, facts, policy)
    _failed_units(out, facts)
    _kernel_waiting(out, facts)
    if facts.reboot_required:
        pkgs = ", ".join(facts.reboot_required_pkgs)
        out.add(
            "reboot-required",
            "host",
            "the host says it needs a reboot" + (f" (for {pkgs})" if pkgs else ""),
            "packages: " + (pkgs or "-"),
        )
    if policy.max_uptime is not None:
        _uptime_debt(out, facts, policy.max_uptime, last_reboot_at, now)
    return out.result()


def _not_coming_back(out: _Collector, facts: Facts, policy: DriftPolicy) -> None:
    """Units that run now but that nothing will start after the boot."""
    units = facts.units or {}
    for name in sorted(units):
        unit = units[name]
        if not unit.is_active:
            continue
        if _why_it_comes_back(facts, name) is not None:
            continue
        state = facts.unit_file_state_of(name)
        reach = policy.is_reachability_unit(name, unit.aliases)
        tail = "; it is needed to reach this host, which would not answer after the reboot" if reach else ""
        kind = "not-in-boot-tree" if facts.boot_tree is not None else "running-not-enabled"
        where = " and not in default.target's boot tree" if facts.boot_tree is not None else ""
        if state == "transient":
            message = (
                f"{name} is running but nothing starts it at boot: it was started with systemd-run{where}"
            )
        elif state in ("masked", "masked-runtime"):
            message = f"{name} is running but cannot start at boot: it is masked{where}"
        else:
            message = f"{name} is running but nothing starts it at boot: it is {state or 'unknown'}{where}"
            message += " (started by hand?)"
        out.add(kind, name, message + tail, _unit_evidence(facts, unit), unit.aliases)


def _failed_units(out: _Collector, facts: Facts) -> None:
    """Failed units; a degraded system with no failed unit of ours is reported on its own."""
    units = facts.units or {}
    failed = [units[n] for n in sorted(units) if units[n].is_failed]
    for unit in failed:
        out.add(
            "failed-units",
            unit.name,
            f"{unit.name} has failed (Result={unit.result or 'unknown'}); "
            "the reboot will try to start it again",
            _unit_evidence(facts, unit),
            unit.aliases,
        )
    if facts.system_state in _BAD_STATES and not failed:
        out.add(
            "degraded",
            "host",
            f"systemd says the system is {facts.system_state}, but no service, socket, timer or path unit "
            "has failed (a mount or device? see systemctl --failed)",
            f"is-system-running: {facts.system_state}",
        )


def _kernel_waiting(out: _Collector, facts: Facts) -> None:
    """Live patches the reboot drops, and a newer kernel it should boot."""
    if facts.live_patched:
        patches = (
            ", ".join(facts.livepatches or ()) or "no patch loaded now, but the live-patch taint flag is set"
        )
        kernel = (
            f"the running kernel {facts.kernel_running}" if facts.kernel_running else "the running kernel"
        )
        out.add(
            "live-patched",
            facts.kernel_running or "kernel",
            f"{kernel} is live-patched ({patches}): "
            "the reboot drops the patches and boots the kernel from disk",
            f"livepatches={' '.join(facts.livepatches or ()) or '-'} tainted={facts.tainted}",
        )
    if facts.kernel_pending:
        newest = facts.kernel_newest or "?"
        out.add(
            "kernel-pending",
            newest,
            f"kernel {newest} is installed but {facts.kernel_running} is running: "
            f"the reboot should boot {newest}",
            f"installed: {' '.join(facts.kernels_installed or ())}",
        )


def _uptime_debt(
    out: _Collector, facts: Facts, max_uptime: float, last_reboot_at: float | None, now: float | None
) -> None:
    """Up longer than ``max_uptime`` (by its uptime, else by the time since its last recorded reboot)."""
    uptime = facts.uptime_seconds
    source = "uptime"
    if uptime is None and last_reboot_at is not None:
        uptime = max(0.0, (time.time() if now is None else now) - last_reboot_at)
        source = "time since the last recorded reboot"
    if uptime is not None and uptime > max_uptime:
        out.add(
            "uptime-debt",
            "host",
            f"up for {format_duration(uptime)} ({source}), longer than max_uptime "
            f"{format_duration(max_uptime)}",
            f"uptime_seconds={uptime:.0f}",
        )


# --------------------------------------------------------------------------------------------------
# After the reboot

_TELLING = (
    "Dependency failed",
    "result 'dependency'",
    "Failed with result",
    "Failed to start",
    "Main process exited",
    "unmet condition",
    "Start request repeated too quickly",
    "ordering cycle",
    "Job for",
    "timed out",
)


def _telling_lines(text: str, limit: int = 4) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    chosen = [line for line in lines if any(t in line for t in _TELLING)]
    return "\n".join((chosen or lines[-3:])[:limit])


def _still_up(unit: UnitState | None) -> bool:
    if unit is None:
        return False
    if unit.is_active:
        return True
    # still starting (or reloading its way up) is not lost; crash-looping is
    return unit.active == "activating" and unit.sub != "auto-restart"


def _condition_skipped(unit: UnitState | None, journal: str) -> bool:
    if unit is not None and unit.condition_failed:
        return True
    return "unmet condition" in journal and "Dependency failed" not in journal


def _enabled_not_active_candidate(name: str, before: Facts, after: Facts) -> UnitState | None:
    """An enabled unit the boot should have started that is inactive now (cause still to be shown)."""
    unit = (after.units or {}).get(name)
    if unit is None or unit.load != "loaded" or unit.active != "inactive":
        return None
    if after.unit_file_state_of(name) not in ENABLED_STATES:
        return None
    if after.boot_tree is not None and not set(_names(unit, name)) & after.boot_tree:
        return None  # enabled for a target this host does not boot into
    if unit.condition_failed:
        return None  # skipped by a start condition: by design
    if unit.started and unit.result in (None, "success"):
        return None  # it ran this boot and finished (a oneshot), or was stopped on purpose
    if after.boot_tree is None and unit.pulled_by is not None and not unit.pulled_by:
        return None  # nothing wants it
    return unit


def evidence_units(before: Facts, after: Facts) -> list[str]:
    """Units whose journal (this boot) would explain a regression: fetch these, pass to regressions()."""
    names: list[str] = []
    for pair in unit_pairs(before, after):
        if pair.after is None:
            continue  # not loaded this boot: its journal has nothing for this boot
        lost = pair.active_before and not _still_up(pair.after)
        if pair.newly_failed or lost or _enabled_not_active_candidate(pair.name, before, after) is not None:
            names.append(pair.name)
    return names[:40]


def regressions(
    before: Facts,
    after: Facts,
    policy: DriftPolicy,
    evidence: Mapping[str, str] | None = None,
    *,
    include_ignored: bool = False,
) -> list[Finding]:
    """What the reboot broke or failed to fix, most severe first. One finding per unit at most."""
    journal = dict(evidence or {})
    out = _Collector(policy, "after", include_ignored)
    new_failed: list[str] = []
    for pair in unit_pairs(before, after):
        name, b, a = pair.name, pair.before, pair.after
        text = journal.get(name, "")
        if pair.newly_failed and a is not None:
            new_failed.append(name)
            was = "was running before the reboot and " if pair.active_before else ""
            out.add(
                "new-failed-unit",
                name,
                f"{name} {was}failed at boot (Result={a.result or 'unknown'})",
                _telling_lines(text) or _unit_evidence(after, a),
                pair.aliases,
            )
            continue
        if _enabled_not_active_candidate(name, before, after) is not None and a is not None:
            finding = _enabled_not_active(name, b, a, after, text)
            if finding is not None:
                message, ev = finding
                out.add("enabled-not-active", name, message, ev, pair.aliases)
                continue
        if b is None or not b.is_active or _still_up(a):
            continue
        lost = _lost(name, b, a, before, after, text)
        if lost is not None:
            message, ev = lost
            out.add("lost-unit", name, message, ev, pair.aliases)

    old, booted = before.kernel_newest or after.kernel_newest, after.kernel_running
    if old and booted and kernel_version_key(old) > kernel_version_key(booted):
        out.add(
            "kernel-not-updated",
            old,
            f"booted {booted} again although {old} was installed (check the boot loader's default entry)",
            f"before: running {before.kernel_running}, newest {before.kernel_newest}; "
            f"after: running {booted}",
        )
    if after.system_state in _BAD_STATES and before.system_state not in _BAD_STATES and not new_failed:
        out.add(
            "degraded-after-boot",
            "host",
            f"systemd says the system is {after.system_state} after the boot (it was "
            f"{before.system_state or 'unknown'} before); see systemctl --failed",
            f"is-system-running: {after.system_state}",
        )
    return out.result()


def _enabled_not_active(
    name: str, before_unit: UnitState | None, unit: UnitState, after: Facts, text: str
) -> tuple[str, str] | None:
    dependency = "Dependency failed" in text or "result 'dependency'" in text
    if not dependency and _condition_skipped(unit, text):
        return None
    was_up = before_unit is not None and before_unit.is_active
    if not (dependency or unit.started is False or was_up):
        return None  # no sign that the boot tried and failed to start it
    if before_unit is not None and before_unit.active == "inactive" and before_unit.started is False:
        return None  # the boot before this one did not start it either: not a regression of this reboot
    units = after.units or {}
    failed = sorted(u.name for u in units.values() if u.is_failed)
    named = [n for n in failed if name in (units[n].pulled_by or ())]
    if dependency:
        if named:
            cause = f"its dependency {', '.join(named)} failed"
        elif failed:
            cause = f"a unit it requires failed, probably {', '.join(failed)}"
        else:
            cause = "a unit it requires failed"
        message = (
            f"{name} is enabled but did not start at boot: {cause} (unmet dependency, or ordered too early)"
        )
    else:
        hint = f"; failed at this boot: {', '.join(named or failed)}" if (named or failed) else ""
        message = (
            f"{name} is enabled but was never started at this boot "
            f"(unmet dependency, or ordered too early? see its journal{hint})"
        )
    return message, _telling_lines(text) or _unit_evidence(after, unit)


def _lost(
    name: str, b: UnitState, a: UnitState | None, before: Facts, after: Facts, text: str
) -> tuple[str, str] | None:
    # Started on demand or by a trigger: not running right after boot is normal. A lost trigger (socket,
    # timer, path) is reported on its own.
    facts = after if a is not None else before
    if _on_demand(facts, a or b, name) or _on_demand(before, b, name):
        return None
    after_units, before_units = after.units or {}, before.units or {}
    for trigger in _triggers(after, name) or _triggers(before, name):
        if trigger in after_units and after_units[trigger].is_active:
            return None  # it will be started when needed
        if trigger in before_units and before_units[trigger].is_active:
            return None  # the trigger itself is reported as lost
    skipped = _condition_skipped(a, text)
    if b.sub == "exited" and (skipped or (a is not None and a.started and a.result == "success")):
        # A oneshot that had run: it ran again at this boot, or its start condition no longer holds
        # (first-boot units, hardware-dependent ones). Either way nothing was lost.
        return None
    state = before.unit_file_state_of(name)
    if a is None:
        cause = "nothing started it at boot"
        if state in NOT_AT_BOOT_STATES:
            cause += f" (it is {state}: started by hand?)"
    elif skipped:
        cause = "its start condition was not met at boot"
    elif a.started and a.result == "success":
        cause = "it ran at boot and exited"
    else:
        cause = f"it is {a.active} ({a.sub})"
    what = "had run (a one-shot unit)" if b.sub == "exited" else "was running"
    return (
        f"{name} {what} before the reboot and is not active now: {cause}",
        _telling_lines(text) or (_unit_evidence(after, a) if a else "not loaded after the boot"),
    )
