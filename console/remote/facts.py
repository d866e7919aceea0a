"""What a host looks like at one moment: ``Facts`` (boot id, kernels, live patches, systemd's units...) and
``UnitState``, with the facts derived from them and their JSON form (``to_dict`` / ``from_dict``).

Every fact that could not be read is ``None`` -- shown as ``unknown`` -- and the reason is in
``Facts.errors``. ``console.remote.gather`` gathers them from a host in one SSH round trip;
``console.remote.factsparse`` reads the script's output.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TAINT_LIVEPATCH = 1 << 15  # /proc/sys/kernel/tainted bit 15 ("K"): a live patch was applied since boot


@dataclass(frozen=True, slots=True)
class UnitState:
    """One unit as systemd reports it.

    The first seven fields come from ``list-units`` / ``list-unit-files`` / ``show``. The rest come from
    ``systemctl show`` and are ``None`` when it could not be read:

    - ``triggered_by``: the sockets, timers and paths that start this unit on demand;
    - ``pulled_by``: units that want, require, bind or uphold it (``WantedBy`` + ``RequiredBy`` + ...);
    - ``started``: whether it left the inactive state at least once since boot (it has run this boot);
    - ``condition_failed``: whether a start condition was checked this boot and was not met.
    """

    name: str
    load: str
    active: str
    sub: str
    unit_file_state: str | None
    result: str | None
    description: str = ""
    aliases: tuple[str, ...] = ()
    triggered_by: tuple[str, ...] | None = None
    pulled_by: tuple[str, ...] | None = None
    started: bool | None = None
    condition_failed: bool | None = None

    @property
    def is_active(self) -> bool:
        """Up and doing its job (``active`` or ``reloading``), whatever the sub-state."""
        return self.active in ("active", "reloading")

    @property
    def is_failed(self) -> bool:
        return self.active == "failed"

    @property
    def template(self) -> str | None:
        """``getty@.service`` for ``getty@tty1.service``; None for a unit that is not an instance."""
        return template_of(self.name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "load": self.load,
            "active": self.active,
            "sub": self.sub,
            "unit_file_state": self.unit_file_state,
            "result": self.result,
            "description": self.description,
            "aliases": list(self.aliases),
            "triggered_by": None if self.triggered_by is None else list(self.triggered_by),
            "pulled_by": None if self.pulled_by is None else list(self.pulled_by),
            "started": self.started,
            "condition_failed": self.condition_failed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UnitState:
        if not isinstance(data, Mapping):
            raise ValueError(f"a unit must be a mapping, got {type(data).__name__}")
        try:
            return cls(
                name=_req_str(data, "name"),
                load=_req_str(data, "load"),
                active=_req_str(data, "active"),
                sub=_req_str(data, "sub"),
                unit_file_state=_opt_str(data, "unit_file_state"),
                result=_opt_str(data, "result"),
                description=_opt_str(data, "description") or "",
                aliases=_str_tuple(data.get("aliases", [])) or (),
                triggered_by=_str_tuple(data.get("triggered_by")),
                pulled_by=_str_tuple(data.get("pulled_by")),
                started=_opt_bool(data, "started"),
                condition_failed=_opt_bool(data, "condition_failed"),
            )
        except (TypeError, KeyError) as exc:
            raise ValueError(f"bad unit record: {exc}") from None


@dataclass(frozen=True)
class Facts:
    """A host's state at one moment. Every fact that could not be read is ``None`` ("unknown")."""

    boot_id: str | None = None
    uptime_seconds: float | None = None
    kernel_running: str | None = None
    kernels_installed: tuple[str, ...] | None = None
    livepatches: tuple[str, ...] | None = None
    tainted: int | None = None
    reboot_required: bool | None = None
    reboot_required_pkgs: tuple[str, ...] = ()
    system_state: str | None = None
    units: Mapping[str, UnitState] | None = None
    unit_files: Mapping[str, str] | None = None
    boot_tree: frozenset[str] | None = None
    dbus_services: frozenset[str] | None = None  # SystemdService= names of D-Bus activatable services
    errors: tuple[str, ...] = field(default=())

    # ---- derived facts

    @property
    def kernel_newest(self) -> str | None:
        """The newest installed kernel, by version; of the running kernel's flavour when there is one."""
        if not self.kernels_installed:
            return None
        pool = list(self.kernels_installed)
        if self.kernel_running:
            flavour = _kernel_flavour(self.kernel_running)
            same = [k for k in pool if _kernel_flavour(k) == flavour]
            if same:
                pool = same
        return max(pool, key=kernel_version_key)

    @property
    def kernel_pending(self) -> bool | None:
        """A newer kernel is installed than the one running (a reboot would change the kernel)."""
        newest = self.kernel_newest
        if newest is None or self.kernel_running is None:
            return None
        return kernel_version_key(newest) > kernel_version_key(self.kernel_running)

    @property
    def live_patched(self) -> bool | None:
        """The running kernel was live-patched since boot (a patch is loaded, or the taint bit says so)."""
        if self.livepatches:
            return True
        if self.tainted is not None and self.tainted & TAINT_LIVEPATCH:
            return True
        if self.livepatches is None and self.tainted is None:
            return None
        return False

    def unit_file_state_of(self, name: str) -> str | None:
        """The unit-file state of ``name``: from ``show`` if known, else ``unit_files`` (or its template)."""
        unit = (self.units or {}).get(name)
        if unit is not None and unit.unit_file_state:
            return unit.unit_file_state
        files = self.unit_files or {}
        if name in files:
            return files[name]
        template = template_of(name)
        return files.get(template) if template is not None else None

    # ---- serialisation

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (lists and dicts only); ``Facts.from_dict`` gives back an equal object."""
        return {
            "boot_id": self.boot_id,
            "uptime_seconds": self.uptime_seconds,
            "kernel_running": self.kernel_running,
            "kernels_installed": _list_or_none(self.kernels_installed),
            "livepatches": _list_or_none(self.livepatches),
            "tainted": self.tainted,
            "reboot_required": self.reboot_required,
            "reboot_required_pkgs": list(self.reboot_required_pkgs),
            "system_state": self.system_state,
            "units": None if self.units is None else {k: u.to_dict() for k, u in sorted(self.units.items())},
            "unit_files": None if self.unit_files is None else dict(sorted(self.unit_files.items())),
            "boot_tree": None if self.boot_tree is None else sorted(self.boot_tree),
            "dbus_services": None if self.dbus_services is None else sorted(self.dbus_services),
            "errors": list(self.errors),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Facts:
        """Read ``to_dict`` output back; raises ValueError on a record of the wrong shape."""
        if not isinstance(data, Mapping):
            raise ValueError(f"facts must be a mapping, got {type(data).__name__}")
        try:
            units_raw = data.get("units")
            units: dict[str, UnitState] | None = None
            if units_raw is not None:
                if not isinstance(units_raw, Mapping):
                    raise TypeError("units must be a mapping")
                units = {str(k): UnitState.from_dict(v) for k, v in units_raw.items()}
            files_raw = data.get("unit_files")
            files: dict[str, str] | None = None
            if files_raw is not None:
                if not isinstance(files_raw, Mapping):
                    raise TypeError("unit_files must be a mapping")
                files = {str(k): str(v) for k, v in files_raw.items()}
            tree = _str_tuple(data.get("boot_tree"))
            dbus = _str_tuple(data.get("dbus_services"))
            uptime = data.get("uptime_seconds")
            if uptime is not None and (isinstance(uptime, bool) or not isinstance(uptime, int | float)):
                raise TypeError("uptime_seconds must be a number")
            tainted = data.get("tainted")
            if tainted is not None and (isinstance(tainted, bool) or not isinstance(tainted, int)):
                raise TypeError("tainted must be an integer")
            return cls(
                boot_id=_opt_str(data, "boot_id"),
                uptime_seconds=None if uptime is None else float(uptime),
                kernel_running=_opt_str(data, "kernel_running"),
                kernels_installed=_str_tuple(data.get("kernels_installed")),
                livepatches=_str_tuple(data.get("livepatches")),
                tainted=tainted,
                reboot_required=_opt_bool(data, "reboot_required"),
                reboot_required_pkgs=_str_tuple(data.get("reboot_required_pkgs", [])) or (),
                system_state=_opt_str(data, "system_state"),
                units=units,
                unit_files=files,
                boot_tree=None if tree is None else frozenset(tree),
                dbus_services=None if dbus is None else frozenset(dbus),
                errors=_str_tuple(data.get("errors", [])) or (),
            )
        except TypeError as exc:
            raise ValueError(f"bad facts record: {exc}") from None

    def summary(self) -> dict[str, Any]:
        """A few display-ready values; anything unknown is the string ``"unknown"``."""

        def show(value: object) -> object:
            return "unknown" if value is None else value

        units = self.units
        return {
            "boot_id": show(self.boot_id),
            "uptime_seconds": show(None if self.uptime_seconds is None else round(self.uptime_seconds)),
            "kernel": show(self.kernel_running),
            "kernel_newest": show(self.kernel_newest),
            "live_patched": show(self.live_patched),
            "reboot_required": show(self.reboot_required),
            "system_state": show(self.system_state),
            "units_active": show(None if units is None else sum(1 for u in units.values() if u.is_active)),
            "units_failed": show(
                None if units is None else sorted(u.name for u in units.values() if u.is_failed)
            ),
            "errors": len(self.errors),
        }


# --------------------------------------------------------------------------------------------------
# Kernel versions and unit names


def kernel_version_key(release: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key for kernel releases: numbers compare as numbers (``6.1.0-27`` > ``6.1.0-9``)."""
    return tuple(
        (0, int(tok), "") if tok.isdigit() else (1, 0, tok) for tok in re.findall(r"\d+|[A-Za-z]+", release)
    )


def _kernel_flavour(release: str) -> tuple[str, ...]:
    # amd64 / cloud-amd64 / generic / lowlatency / el.x86_64 / +debug: the words, without the numbers
    return tuple(re.findall(r"[A-Za-z]+", release))


def template_of(name: str) -> str | None:
    """The template a unit is an instance of (``getty@.service`` for ``getty@tty1.service``), or None."""
    at = name.find("@")
    dot = name.rfind(".")
    if at <= 0 or dot <= at + 1:
        return None
    return name[: at + 1] + name[dot:]


# --------------------------------------------------------------------------------------------------
# small helpers for from_dict


def _req_str(data: Mapping[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} must be a string")
    return value


def _opt_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{key} must be a string or null")
    return value


def _opt_bool(data: Mapping[str, Any], key: str) -> bool | None:
    value = data.get(key)
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"{key} must be true, false or null")
    return value


def _str_tuple(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise TypeError("expected a list of strings")
    return tuple(value)


def _list_or_none(value: tuple[str, ...] | None) -> list[str] | None:
    return None if value is None else list(value)
