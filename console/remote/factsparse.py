"""Reading the facts script's output back into ``Facts`` (see ``console.remote.gather``).

``parse_facts`` never raises: a fact that cannot be read (no systemd, a missing file, a truncated or
garbled section) is ``None`` -- shown as ``unknown`` -- and the reason goes to ``Facts.errors``. Incomplete
lists are never used as if complete: a unit list or boot tree that was cut off is ``None``, because half a
boot tree would make every other unit look lost.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from console.remote.facts import Facts, UnitState, kernel_version_key

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


def _is_release(text: str) -> bool:
    return bool(re.fullmatch(r"\d[\w.+~-]*", text)) and "rescue" not in text


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
