"""What a host looks like right now, gathered in one SSH round trip.

``FACTS_SCRIPT`` is one constant POSIX ``sh`` script. It prints sections, each introduced by a line
``@@slowroll:NAME`` and closed by ``@@exit=N`` (the exit status of the section's command). It is sent as
``sh -c <quoted script>`` (``FACTS_COMMAND``): OpenSSH hands an exec request to the user's login shell
as ``$SHELL -c <string>``, and the quoted script is one word for any POSIX-style login shell (sh, dash,
bash, zsh, ksh; fish too, since the script has no doubled backslash). A csh/tcsh login shell is not supported
(it rejects newlines inside quotes).

The script's stdout carries only the sections; stderr is left alone (the parser never needs it).
Everything host-specific is read on the host; no inventory value is ever pasted into the script.

``parse_facts`` turns the text back into ``Facts``. It never raises: a fact that cannot be read (no
systemd, a missing file, a truncated or garbled section) is ``None`` -- shown as ``unknown`` -- and the
reason goes to ``Facts.errors``. Incomplete lists are never used as if complete: a unit list or boot
tree that was cut off is ``None``, because half a boot tree would make every other unit look lost.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from console.remote.result import Runner

__all__ = [
    "FACTS_COMMAND",
    "FACTS_SCRIPT",
    "TAINT_LIVEPATCH",
    "Facts",
    "UnitState",
    "evidence_command",
    "gather_evidence",
    "gather_facts",
    "kernel_version_key",
    "parse_evidence",
    "parse_facts",
]

TAINT_LIVEPATCH = 1 << 15  # /proc/sys/kernel/tainted bit 15 ("K"): a live patch was applied since boot

# Unit types the audit looks at: services and the units that activate them.
UNIT_TYPES = "service,socket,timer,path"

# Properties read with `systemctl show` for every loaded unit of UNIT_TYPES. The rest (load, active, sub,
# description) comes from list-units.
SHOW_PROPERTIES = (
    "Id",
    "Names",
    "RequiredBy",
    "WantedBy",
    "BoundBy",
    "UpheldBy",
    "TriggeredBy",
    "UnitFileState",
    "Result",
    "InactiveExitTimestampMonotonic",
    "ConditionResult",
    "ConditionTimestampMonotonic",
)

FACTS_SCRIPT = r"""PATH=$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LC_ALL=C
SYSTEMD_PAGER=
SYSTEMD_COLORS=0
export PATH LC_ALL SYSTEMD_PAGER SYSTEMD_COLORS
s() { printf '@@slowroll:%s\n' "$1"; shift; "$@" </dev/null; printf '\n@@exit=%s\n' "$?"; }
have() { command -v "$1" >/dev/null 2>&1; }
sd() { have systemctl || return 127; systemctl "$@"; }
livepatches() { [ -e /sys/kernel/livepatch ] || return 0; ls -1 /sys/kernel/livepatch; }
reboot_required() {
  if [ -e /var/run/reboot-required ]; then
    echo required; cat /var/run/reboot-required.pkgs 2>/dev/null; return 0
  fi
  if have needs-restarting; then
    nr=$(needs-restarting -r 2>/dev/null)
    case $? in 0) echo not-required;; 1) echo required; printf '%s\n' "$nr";; *) return 2;; esac
    return 0
  fi
  if [ -d /var/lib/dpkg ]; then echo not-required; return 0; fi
  return 127
}
units() {
  have systemctl || return 127
  out=$(systemctl list-units --type=service,socket,timer,path --all --output=json --no-pager 2>/dev/null)
  case $out in '['*) printf '%s\n' "$out"; return 0;; esac
  systemctl list-units --type=service,socket,timer,path --all --no-legend --plain --full --no-pager
}
dbus_services() {
  for d in /usr/share/dbus-1 /etc/dbus-1 /usr/local/share/dbus-1; do
    [ -d "$d/system-services" ] && grep -h '^SystemdService=' "$d"/system-services/*.service 2>/dev/null
  done
  return 0
}
s boot_id cat /proc/sys/kernel/random/boot_id
s uptime cat /proc/uptime
s kernel uname -r
s boot ls -1 /boot
s modules ls -1 /lib/modules
s livepatch livepatches
s tainted cat /proc/sys/kernel/tainted
s reboot_required reboot_required
s system_state sd is-system-running
s units units
props=Id,Names,RequiredBy,WantedBy,BoundBy,UpheldBy,TriggeredBy,UnitFileState,Result
props=$props,InactiveExitTimestampMonotonic,ConditionResult,ConditionTimestampMonotonic
s unit_props sd show --all --no-pager -p "$props" '*.service' '*.socket' '*.timer' '*.path'
s boot_tree sd list-dependencies --all --plain --full --no-pager default.target
s dbus dbus_services
"""

# What gather_facts sends: the login shell runs `sh -c '<script>'`.
FACTS_COMMAND = "sh -c " + shlex.quote(FACTS_SCRIPT)

SECTION_NAMES = (
    "boot_id",
    "uptime",
    "kernel",
    "boot",
    "modules",
    "livepatch",
    "tainted",
    "reboot_required",
    "system_state",
    "units",
    "unit_props",
    "boot_tree",
    "dbus",
)

_MARK = re.compile(r"^@@slowroll:([A-Za-z0-9_:.-]+)\s*$")
_EXIT = re.compile(r"^@@exit=(\d{1,3})\s*$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# A unit name as systemd allows it (unit_name_is_valid): letters, digits, ":-_.\@", one type suffix.
_UNIT = re.compile(r"^[A-Za-z0-9:_.\\@-]{1,250}\.[a-z]{3,9}$")
_SYSTEM_STATES = frozenset(
    {"initializing", "starting", "running", "degraded", "maintenance", "stopping", "offline", "unknown"}
)
_JOB_TYPES = frozenset(
    {"start", "stop", "reload", "restart", "try-restart", "try-reload", "reload-or-start", "verify-active"}
    | {"nop"}
)


# --------------------------------------------------------------------------------------------------
# Running commands


# --------------------------------------------------------------------------------------------------
# Facts


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
        at = self.name.find("@")
        dot = self.name.rfind(".")
        if at <= 0 or dot <= at + 1:
            return None
        return self.name[: at + 1] + self.name[dot:]

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
        at = name.find("@")
        dot = name.rfind(".")
        if 0 < at < dot:
            return files.get(name[: at + 1] + name[dot:])
        return None

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
# Kernel versions


def kernel_version_key(release: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key for kernel releases: numbers compare as numbers (``6.1.0-27`` > ``6.1.0-9``)."""
    return tuple(
        (0, int(tok), "") if tok.isdigit() else (1, 0, tok) for tok in re.findall(r"\d+|[A-Za-z]+", release)
    )


def _kernel_flavour(release: str) -> tuple[str, ...]:
    # amd64 / cloud-amd64 / generic / lowlatency / el.x86_64 / +debug: the words, without the numbers
    return tuple(re.findall(r"[A-Za-z]+", release))


def _is_release(text: str) -> bool:
    return bool(re.fullmatch(r"\d[\w.+~-]*", text)) and "rescue" not in text


# --------------------------------------------------------------------------------------------------
# Parsing


@dataclass
class _Section:
    lines: list[str]
    exit_status: int | None  # None: the section was never closed (output cut off)

    @property
    def complete(self) -> bool:
        return self.exit_status is not None

    @property
    def body(self) -> list[str]:
        """The lines, without the blank line the script adds before ``@@exit``."""
        lines = list(self.lines)
        while lines and not lines[-1].strip():
            lines.pop()
        return lines


def _split_sections(text: str) -> dict[str, _Section]:
    sections: dict[str, _Section] = {}
    current: _Section | None = None
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        if line.startswith("@@"):  # both markers start so: the regexes run on those lines only
            mark = _MARK.match(line)
            if mark:
                current = _Section([], None)
                # The first copy of a section wins: a later duplicate cannot overwrite real output.
                sections.setdefault(mark.group(1), current)
                continue
            if current is not None:
                done = _EXIT.match(line)
                if done:
                    current.exit_status = int(done.group(1))
                    current = None
                    continue
        if current is not None:
            current.lines.append(line)
    return sections


class _Parser:
    def __init__(self, text: str) -> None:
        self.sections = _split_sections(text)
        self.errors: list[str] = []
        if not self.sections:
            self.errors.append("no facts in the output (is sh available on the host?)")

    def get(self, name: str, *, need_ok: bool = True) -> _Section | None:
        """The section, if it is there, complete and (with ``need_ok``) its command succeeded."""
        sec = self.sections.get(name)
        if sec is None:
            if self.sections:
                self.errors.append(f"{name}: missing from the output")
            return None
        if not sec.complete:
            self.errors.append(f"{name}: output was cut off")
            return None
        if need_ok and sec.exit_status != 0:
            if sec.exit_status != 127:  # 127: the command is not there (no systemd...): simply unknown
                self.errors.append(f"{name}: command failed (exit {sec.exit_status})")
            return None
        return sec

    def boot_id(self) -> str | None:
        sec = self.get("boot_id")
        if sec is None:
            return None
        for line in sec.body:
            value = line.strip().lower()
            if _UUID.match(value):
                return value
        self.errors.append("boot_id: not a boot id")
        return None

    def uptime(self) -> float | None:
        sec = self.get("uptime")
        if sec is None:
            return None
        for line in sec.body:
            parts = line.split()
            if parts:
                try:
                    value = float(parts[0])
                except ValueError:
                    continue
                if value >= 0 and value == value and value != float("inf"):
                    return value
        self.errors.append("uptime: not a number")
        return None

    def kernel(self) -> str | None:
        sec = self.get("kernel")
        if sec is None:
            return None
        for line in sec.body:
            value = line.strip()
            if value and " " not in value and len(value) < 200:
                return value
        self.errors.append("kernel: no release in the output")
        return None

    def kernels_installed(self) -> tuple[str, ...] | None:
        boot = self.get("boot", need_ok=False)
        boot_names: list[str] = []
        if boot is not None and boot.exit_status == 0:
            for line in boot.body:
                name = line.strip()
                if name.startswith("vmlinuz-") and _is_release(name[len("vmlinuz-") :]):
                    boot_names.append(name[len("vmlinuz-") :])
        modules = self.get("modules", need_ok=False)
        module_names: list[str] = []
        if modules is not None and modules.exit_status == 0:
            module_names = [line.strip() for line in modules.body if _is_release(line.strip())]
        # /boot says what the boot loader can boot; /lib/modules is the fallback when /boot has no
        # versioned images (vmlinuz-linux on Arch, a separate /boot not mounted, containers).
        chosen = boot_names or module_names
        if not chosen:
            return None
        return tuple(sorted(set(chosen), key=kernel_version_key))

    def livepatches(self) -> tuple[str, ...] | None:
        sec = self.get("livepatch")
        if sec is None:
            return None
        names = [line.strip() for line in sec.body if line.strip()]
        if any(not re.fullmatch(r"[\w.-]+", n) for n in names):
            self.errors.append("livepatch: unexpected output")
            return None
        return tuple(sorted(names))

    def tainted(self) -> int | None:
        sec = self.get("tainted")
        if sec is None:
            return None
        for line in sec.body:
            value = line.strip()
            if value.isdigit():
                return int(value)
        self.errors.append("tainted: not a number")
        return None

    def reboot_required(self) -> tuple[bool | None, tuple[str, ...]]:
        sec = self.get("reboot_required")
        if sec is None or not sec.body:
            return None, ()
        verdict = sec.body[0].strip()
        if verdict not in ("required", "not-required"):
            self.errors.append("reboot_required: unexpected output")
            return None, ()
        pkgs: list[str] = []
        for line in sec.body[1:]:
            text = line.strip()
            # needs-restarting -r lists "  * kernel"; /var/run/reboot-required.pkgs one package a line
            if text.startswith("* "):
                text = text[2:].strip()
            elif " " in text or not text:
                continue
            if re.fullmatch(r"[\w.+:~-]+", text) and text not in pkgs:
                pkgs.append(text)
        return verdict == "required", tuple(pkgs)

    def system_state(self) -> str | None:
        # is-system-running exits non-zero for every state but "running": its word is what counts.
        sec = self.get("system_state", need_ok=False)
        if sec is None:
            return None
        for line in sec.body:
            word = line.strip()
            if word in _SYSTEM_STATES:
                return word
        if sec.exit_status not in (0, 127):
            self.errors.append(f"system_state: no state in the output (exit {sec.exit_status})")
        return None

    def units(self) -> dict[str, UnitState] | None:
        sec = self.get("units")
        if sec is None:
            return None
        body = [line for line in sec.body if line.strip()]
        if body and body[0].lstrip().startswith("["):
            parsed = _parse_units_json("\n".join(body))
            if parsed is None:
                self.errors.append("units: JSON output could not be read")
            return parsed
        return _parse_units_plain(body)

    def unit_files(self) -> dict[str, str] | None:
        # Optional: FACTS_SCRIPT no longer runs list-unit-files (0.3-0.6 s on a real host, twice per
        # reboot). ``show`` gives UnitFileState for every loaded unit, instances and transient units
        # included; a ``unit_files`` section, when some collector sends one, is still read as a fallback.
        if "unit_files" not in self.sections:
            return None
        sec = self.get("unit_files")
        if sec is None:
            return None
        files: dict[str, str] = {}
        for line in sec.body:
            parts = line.split()
            if len(parts) >= 2 and _unit_name(parts[0]):
                files[_s(parts[0])] = _s(parts[1])
        return files

    def unit_props(self) -> dict[str, dict[str, str]] | None:
        sec = self.get("unit_props")
        if sec is None:
            return None
        return parse_show(sec.body)

    def boot_tree(self) -> frozenset[str] | None:
        sec = self.get("boot_tree")
        if sec is None:
            return None
        names: set[str] = set()
        for line in sec.body:
            name = line.strip()
            # --plain prints "  name" per unit; a bullet can only appear without --plain: tolerate it
            for glyph in ("●", "○", "×", "*"):
                if name.startswith(glyph + " "):
                    name = name[2:].strip()
            if _unit_name(name):
                names.add(_s(name))
        if "default.target" not in names:
            self.errors.append("boot_tree: default.target missing from list-dependencies output")
            return None
        return frozenset(names)

    def dbus_services(self) -> frozenset[str] | None:
        sec = self.get("dbus")
        if sec is None:
            return None
        names: set[str] = set()
        for line in sec.body:
            key, _, value = line.strip().partition("=")
            if key == "SystemdService" and _UNIT.match(value.strip()):
                names.add(value.strip())
        return frozenset(names)


def _parse_units_json(text: str) -> dict[str, UnitState] | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, list):
        return None
    units: dict[str, UnitState] = {}
    for item in data:
        if not isinstance(item, dict):
            continue
        name, load, active, sub = (item.get(k) for k in ("unit", "load", "active", "sub"))
        if not all(isinstance(v, str) and v for v in (name, load, active, sub)):
            continue
        assert isinstance(name, str) and isinstance(load, str)  # for the type checker
        assert isinstance(active, str) and isinstance(sub, str)
        if not _UNIT.match(name):
            continue
        desc = item.get("description")
        units[name] = UnitState(name, load, active, sub, None, None, desc if isinstance(desc, str) else "")
    return units


def _parse_units_plain(lines: Sequence[str]) -> dict[str, UnitState]:
    units: dict[str, UnitState] = {}
    for line in lines:
        parts = line.split(None, 5)
        if parts and parts[0] in ("●", "○", "×", "*"):  # a failed-unit bullet, if --plain was ignored
            parts = line.split(None, 6)[1:]
        if len(parts) < 4 or not _UNIT.match(parts[0]):
            continue
        name, load, active, sub = parts[:4]
        rest = parts[4:]
        # A JOB column appears only while some unit has a job queued.
        if len(rest) == 2 and rest[0] in _JOB_TYPES:
            rest = rest[1:]
        desc = " ".join(rest).strip()
        units[name] = UnitState(name, load, active, sub, None, None, desc)
    return units


def parse_show(lines: Sequence[str]) -> dict[str, dict[str, str]]:
    """``systemctl show`` output for several units (blocks split by blank lines) → {Id: {prop: value}}."""
    out: dict[str, dict[str, str]] = {}
    block: dict[str, str] = {}

    def flush() -> None:
        unit_id = block.get("Id", "")
        if _unit_name(unit_id):
            out.setdefault(unit_id, dict(block))
        block.clear()

    for line in lines:
        if not line or line.isspace():
            flush()
            continue
        key, sep, value = line.partition("=")
        if sep and key.isascii() and key.isalpha():
            block.setdefault(key, value)
    flush()
    return out


# The same unit names and property values repeat on every unit of a host and on every host of a fleet:
# parsing them once, and sharing the resulting strings and tuples, keeps a 10,000-host audit fast and small.
@functools.lru_cache(maxsize=1 << 16)
def _unit_name(word: str) -> bool:
    return _UNIT.match(word) is not None


@functools.lru_cache(maxsize=1 << 14)
def _words_of(value: str) -> tuple[str, ...]:
    return tuple(sys.intern(w) for w in value.split() if _unit_name(w))


def _words(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else _words_of(value)


def _s(text: str) -> str:
    """One shared copy of a short, often repeated string (unit names, states, descriptions)."""
    return sys.intern(text) if len(text) <= 200 else text


def _merge_units(
    units: dict[str, UnitState],
    files: Mapping[str, str] | None,
    props: Mapping[str, Mapping[str, str]] | None,
) -> dict[str, UnitState]:
    merged: dict[str, UnitState] = {}
    for name, unit in units.items():
        p = (props or {}).get(name)
        file_state: str | None = None
        result: str | None = None
        aliases: tuple[str, ...] = ()
        triggered_by = pulled_by = None
        started = condition_failed = None
        if p is not None:
            file_state = p.get("UnitFileState") or None
            result = p.get("Result") or None
            aliases = tuple(n for n in (_words(p.get("Names")) or ()) if n != name)
            triggered_by = _words(p.get("TriggeredBy"))
            pulled: list[str] = []
            present = False
            for key in ("WantedBy", "RequiredBy", "BoundBy", "UpheldBy"):
                words = _words(p.get(key))
                if words is not None:
                    present = True
                    pulled.extend(w for w in words if w not in pulled)
            pulled_by = tuple(pulled) if present else None
            started = _mono_set(p.get("InactiveExitTimestampMonotonic"))
            checked = _mono_set(p.get("ConditionTimestampMonotonic"))
            cond = p.get("ConditionResult")
            if checked is not None and cond in ("yes", "no"):
                condition_failed = checked and cond == "no"
        if file_state is None and files is not None:
            file_state = files.get(name)
            if file_state is None and unit.template:
                file_state = files.get(unit.template)
        key = _s(name)
        merged[key] = UnitState(
            key,
            _s(unit.load),
            _s(unit.active),
            _s(unit.sub),
            None if file_state is None else _s(file_state),
            None if result is None else _s(result),
            _s(unit.description),
            aliases,
            triggered_by,
            pulled_by,
            started,
            condition_failed,
        )
    return merged


def _mono_set(value: str | None) -> bool | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value) > 0


def parse_facts(text: str) -> Facts:
    """Read ``FACTS_SCRIPT`` output. Pure, never raises; unknown facts are None (see ``Facts.errors``)."""
    if not isinstance(text, str):  # a caller's bug must not crash a roll
        return Facts(errors=("no facts in the output",))  # type: ignore[unreachable]
    p = _Parser(text)
    units = p.units()
    files = p.unit_files()
    props = p.unit_props()
    reboot_required, pkgs = p.reboot_required()
    return Facts(
        boot_id=p.boot_id(),
        uptime_seconds=p.uptime(),
        kernel_running=p.kernel(),
        kernels_installed=p.kernels_installed(),
        livepatches=p.livepatches(),
        tainted=p.tainted(),
        reboot_required=reboot_required,
        reboot_required_pkgs=pkgs,
        system_state=p.system_state(),
        units=None if units is None else _merge_units(units, files, props),
        unit_files=files,
        boot_tree=p.boot_tree(),
        dbus_services=p.dbus_services(),
        errors=tuple(p.errors),
    )


# --------------------------------------------------------------------------------------------------
# Gathering


async def gather_facts(runner: Runner, *, timeout: float) -> Facts:
    """Run ``FACTS_COMMAND`` once and parse it. Connection errors from the runner propagate."""
    result = await runner.run(FACTS_COMMAND, timeout=timeout)
    facts = parse_facts(result.stdout)
    extra: list[str] = []
    if result.exit_status is None:
        extra.append(f"the facts command did not finish within {timeout:g}s")
    if not result.stdout.strip() and result.stderr.strip():
        extra.append("stderr: " + result.stderr.strip().splitlines()[0][:200])
    if extra:
        facts = replace(facts, errors=(*facts.errors, *extra))
    return facts


def evidence_command(units: Sequence[str], *, lines: int = 20) -> str:
    """One command that prints this boot's journal for each unit, each after a marker line.

    Unit names come from the host: each one is passed through ``shlex.quote`` as a single
    ``--unit=NAME`` word. Markers carry an index, never a name, so no name can forge one.
    """
    n = max(1, int(lines))
    parts: list[str] = []
    for i, unit in enumerate(units):
        parts.append(f"printf '@@slowroll:evidence:%s\\n' {i}")
        parts.append(
            "journalctl -b --no-pager -o short-iso -n " + str(n) + " " + shlex.quote("--unit=" + unit)
        )
    return "; ".join(parts)


def parse_evidence(text: str, units: Sequence[str]) -> dict[str, str]:
    """Split ``evidence_command`` output per unit; lines such as ``-- No entries --`` are dropped."""
    out = dict.fromkeys(units, "")
    current: str | None = None
    collected: dict[str, list[str]] = {u: [] for u in units}
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        m = re.fullmatch(r"@@slowroll:evidence:(\d+)\s*", line)
        if m:
            idx = int(m.group(1))
            current = units[idx] if idx < len(units) else None
            continue
        if current is None or not line.strip() or line.startswith("-- "):
            continue
        collected[current].append(line)
    for unit, got in collected.items():
        out[unit] = "\n".join(got)
    return out


async def gather_evidence(
    runner: Runner,
    units: Sequence[str],
    *,
    timeout: float,
    lines: int = 20,
) -> dict[str, str]:
    """This boot's last ``lines`` journal lines for each unit, in one round trip: {unit: text}."""
    wanted = list(dict.fromkeys(u for u in units if isinstance(u, str) and u))
    if not wanted:
        return {}
    result = await runner.run(evidence_command(wanted, lines=lines), timeout=timeout)
    return parse_evidence(result.stdout, wanted)


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


def _str_tuple(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise TypeError("expected a list of strings")
    return tuple(value)


def _list_or_none(value: tuple[str, ...] | None) -> list[str] | None:
    return None if value is None else list(value)
