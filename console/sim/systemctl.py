"""What ``systemctl`` and ``journalctl`` print about the systemd model, as systemd 252 prints it.

The verbs slowroll sends (is-active, is-failed, is-enabled, is-system-running, status, show, list-units,
list-unit-files, list-dependencies) and ``journalctl -b -u``; formats checked against output captured on
a real Debian 12 host (``tests/fixtures/systemd-252``). A verb or form not modelled gives ``None``.
"""

from __future__ import annotations

import fnmatch
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from console.sim.result import ExecResult
from console.sim.systemd import JournalEntry, Systemd, UnitRun
from console.sim.units import UNIT_TYPES, UnitDef

__all__ = [
    "dependency_text",
    "journalctl",
    "list_unit_files",
    "list_units_json",
    "list_units_plain",
    "show",
    "status",
    "systemctl",
]

# Property order of `systemctl show` (the D-Bus vtables: type-specific interface first, then Unit).
_SHOW_ORDER = (
    "Type",
    "Restart",
    "RemainAfterExit",
    "MainPID",
    "Result",
    "ExecMainPID",
    "ExecMainCode",
    "ExecMainStatus",
    "Id",
    "Names",
    "Requires",
    "Wants",
    "RequiredBy",
    "WantedBy",
    "BoundBy",
    "UpheldBy",
    "Triggers",
    "TriggeredBy",
    "Description",
    "LoadState",
    "ActiveState",
    "SubState",
    "FragmentPath",
    "UnitFileState",
    "UnitFilePreset",
    "InactiveExitTimestamp",
    "InactiveExitTimestampMonotonic",
    "ActiveEnterTimestamp",
    "ActiveEnterTimestampMonotonic",
    "ConditionResult",
    "ConditionTimestamp",
    "ConditionTimestampMonotonic",
)


# ----------------------------------------------------------------------------------------------
# listings, show, status


def list_units_json(sd: Systemd, types: Sequence[str] = UNIT_TYPES) -> str:
    items = [
        {"unit": n, "load": u.load, "active": r.active, "sub": r.sub, "description": u.description}
        for n, u, r in sd.listed(types)
    ]
    return json.dumps(items, separators=(",", ":"), ensure_ascii=False) + "\n"


def list_units_plain(
    sd: Systemd, types: Sequence[str] = UNIT_TYPES, *, state: str | None = None, all_units: bool = True
) -> str:
    rows = [
        (n, u.load, r.active, r.sub, u.description)
        for n, u, r in sd.listed(types)
        if (state is None or state in (u.load, r.active, r.sub))
        and (all_units or state is not None or r.active != "inactive")
    ]
    return _table(rows)


def list_unit_files(sd: Systemd, types: Sequence[str] = UNIT_TYPES) -> str:
    rows: dict[str, tuple[str, str]] = {}
    for unit in sd.defs.values():
        if unit.load == "loaded" and unit.type in types:
            rows[unit.name] = (unit.file_state, unit.preset)
    for name, (state, preset) in sd.extra_files.items():
        if name.rsplit(".", 1)[-1] in types:
            rows[name] = (state, preset)
    # instances are not unit files: list their templates instead
    for name in list(rows):
        if re.search(r"@[^.]+\.", name):
            del rows[name]
    ordered = sorted(rows.items(), key=lambda kv: (kv[0].rsplit(".", 1)[-1], kv[0]))
    return _table([(n, s, p) for n, (s, p) in ordered])


def _props(sd: Systemd, name: str) -> dict[str, str]:
    real = sd.resolve(name)
    unit = sd.defs.get(real)
    run = sd.runs.get(real)
    if unit is None or run is None:
        # systemctl show of a unit that is not loaded: loads it for the question
        state = sd.unit_file_state(real)
        base = {
            "Id": real,
            "Names": real,
            "Description": real,
            "LoadState": "loaded" if state else "not-found",
            "ActiveState": "inactive",
            "SubState": "dead",
            "UnitFileState": state,
            "Result": "success",
            "ExecMainStatus": "0",
            "InactiveExitTimestampMonotonic": "0",
            "ActiveEnterTimestampMonotonic": "0",
            "ConditionResult": "no",
            "ConditionTimestampMonotonic": "0",
        }
        return {k: base.get(k, "") for k in _SHOW_ORDER} | base
    pulled = sd.pulled_by(real)
    service = unit.type == "service"
    props = {
        "Type": unit.kind if service else "",
        "Result": run.result,
        "ExecMainStatus": str(run.exec_status) if service else "",
        "MainPID": str(run.main_pid) if service else "",
        "Id": real,
        "Names": " ".join((real, *unit.aliases)),
        "Requires": " ".join(unit.requires),
        "RequiredBy": " ".join(pulled["RequiredBy"]),
        "WantedBy": " ".join(pulled["WantedBy"]),
        "BoundBy": "",
        "UpheldBy": "",
        "Triggers": " ".join(unit.triggers),
        "TriggeredBy": " ".join(sd.triggered_by(real)),
        "Description": unit.description,
        "LoadState": unit.load,
        "ActiveState": run.active,
        "SubState": run.sub,
        "FragmentPath": unit.fragment if unit.load == "loaded" else "",
        "UnitFileState": unit.file_state,
        "UnitFilePreset": unit.preset if unit.preset != "-" else "",
        "InactiveExitTimestamp": _stamp_mono(sd, run.inactive_exit_mono),
        "InactiveExitTimestampMonotonic": str(run.inactive_exit_mono),
        "ActiveEnterTimestamp": _stamp(run.active_enter_wall),
        "ActiveEnterTimestampMonotonic": str(sd.mono(run.active_enter_wall) if run.active_enter_wall else 0),
        "ConditionResult": "yes" if run.condition_result else "no",
        "ConditionTimestamp": _stamp_mono(sd, run.condition_mono),
        "ConditionTimestampMonotonic": str(run.condition_mono),
    }
    if not service:
        for key in ("Type", "ExecMainStatus", "MainPID"):
            props.pop(key)
    return props


def show(sd: Systemd, names: Sequence[str], properties: Sequence[str] | None) -> str:
    blocks = []
    for name in names:
        props = _props(sd, name)
        keys = [k for k in _SHOW_ORDER if k in props and (properties is None or k in properties)]
        blocks.append("".join(f"{k}={props[k]}\n" for k in keys))
    return "\n".join(blocks)


def _expand(sd: Systemd, patterns: Sequence[str]) -> list[str]:
    out: list[str] = []
    for pattern in patterns:
        if any(c in pattern for c in "*?["):
            out.extend(sorted(n for n in sd.runs if fnmatch.fnmatchcase(n, pattern)))
        else:
            out.append(pattern if "." in pattern else pattern + ".service")
    return out


def dependency_text(sd: Systemd) -> str:
    """``systemctl list-dependencies --all --plain default.target``"""
    return "".join(line + "\n" for line in sd.dependency_listing())


def _stamp_mono(sd: Systemd, mono: int) -> str:
    return _stamp(sd.boot_wall + mono / 1_000_000) if mono else ""


def status(sd: Systemd, hostname: str, names: Sequence[str]) -> tuple[str, int]:
    """``systemctl status NAMES``: the text and the exit code (3: one is not active, 4: one is unknown)."""
    chunks: list[str] = []
    code = 0
    for name in names:
        real = sd.resolve(name)
        unit, run = sd.defs.get(real), sd.runs.get(real)
        if unit is None or (run is None and unit.load != "loaded"):
            return "", 4
        run = run or UnitRun()
        chunks.append(_status_block(sd, hostname, real, unit, run))
        if run.active != "active":
            code = 3
    return "\n".join(chunks), code


def _status_block(sd: Systemd, hostname: str, real: str, unit: UnitDef, run: UnitRun) -> str:
    glyph = {"active": "●", "failed": "×"}.get(run.active, "○")
    lines = [f"{glyph} {real} - {unit.description}"]
    preset = f"; preset: {unit.preset}" if unit.preset != "-" else ""
    lines.append(f"     Loaded: {unit.load} ({unit.fragment}; {unit.file_state}{preset})")
    if run.active == "failed":
        since = run.changed_wall or sd.boot_wall
        lines.append(
            f"     Active: failed (Result: {run.result}) since {_stamp(since)}; {_ago(sd.clock() - since)}"
        )
    elif run.active == "active" and run.active_enter_wall is not None:
        since = run.active_enter_wall
        lines.append(f"     Active: active ({run.sub}) since {_stamp(since)}; {_ago(sd.clock() - since)}")
    else:
        lines.append(f"     Active: {run.active} ({run.sub})")
    trig = sd.triggered_by(real)
    if trig:
        lines.append("TriggeredBy: " + "\n             ".join(f"● {t}" for t in trig))
    if run.main_pid:
        lines.append(f"   Main PID: {run.main_pid} ({real.split('.')[0].split('@')[0]})")
    entries = [e for e in sd.journal if e.boot == sd.boot_id and e.unit == real][-10:]
    if entries:
        lines.append("")
        lines.extend(_journal_line(e, hostname, _short) for e in entries)
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------
# systemctl


@dataclass
class _Options:
    """The options of one ``systemctl`` command line, and the verb with its unit names."""

    flags: set[str] = field(default_factory=set)
    types: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    props: list[str] | None = None
    output: str = ""
    rest: list[str] = field(default_factory=list)

    @property
    def verb(self) -> str:
        return self.rest[0] if self.rest else "list-units"

    @property
    def names(self) -> list[str]:
        return self.rest[1:]

    @property
    def kinds(self) -> list[str]:
        return [t for t in self.types if t in UNIT_TYPES] or (list(UNIT_TYPES) if not self.types else [])

    @property
    def quiet(self) -> bool:
        return "--quiet" in self.flags


def _systemctl_options(args: Sequence[str]) -> _Options:
    o = _Options()
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("--type=") or (a.startswith("-t") and len(a) > 2):
            o.types += (a.split("=", 1)[1] if "=" in a else a[2:]).split(",")
        elif a in ("-t", "--type") and i + 1 < len(args):
            o.types += args[i + 1].split(",")
            i += 1
        elif a.startswith("--state="):
            o.states += a.split("=", 1)[1].split(",")
        elif a == "--failed":
            o.states.append("failed")
        elif a in ("-p", "--property") and i + 1 < len(args):
            o.props = (o.props or []) + args[i + 1].split(",")
            i += 1
        elif a.startswith("--property="):
            o.props = (o.props or []) + a.split("=", 1)[1].split(",")
        elif a.startswith("-p") and len(a) > 2:
            o.props = (o.props or []) + a[2:].split(",")
        elif a.startswith("--output="):
            o.output = a.split("=", 1)[1]
        elif a in ("-o", "--output") and i + 1 < len(args):
            o.output = args[i + 1]
            i += 1
        elif a.startswith("-"):
            o.flags.add({"-a": "--all", "-q": "--quiet", "-l": "--full"}.get(a, a))
        else:
            o.rest.append(a)
        i += 1
    return o


def systemctl(sd: Systemd, hostname: str, args: Sequence[str]) -> ExecResult | None:
    """``systemctl ARGS``, or None for a verb (or a form of it) that is not modelled."""
    o = _systemctl_options(args)
    verb = _VERBS.get(o.verb)
    return verb(sd, hostname, o) if verb is not None else None


def _is_system_running(sd: Systemd, hostname: str, o: _Options) -> ExecResult | None:
    state = sd.system_state()
    return ExecResult(0 if state == "running" else 1, "" if o.quiet else state + "\n")


def _is_active(sd: Systemd, hostname: str, o: _Options) -> ExecResult | None:
    """``is-active`` and ``is-failed``: success when one of the units is in the state asked about."""
    if not o.names:
        return ExecResult(1, "", "Too few arguments.\n")
    words, hit = [], False
    for name in o.names:
        run = sd.state(name if "." in name else name + ".service")
        state = run.active if run else "inactive"
        words.append(state)
        hit = hit or (state == ("active" if o.verb == "is-active" else "failed"))
    return ExecResult(0 if hit else 3, "" if o.quiet else "".join(w + "\n" for w in words))


def _is_enabled(sd: Systemd, hostname: str, o: _Options) -> ExecResult | None:
    names = o.names
    states_out = [sd.unit_file_state(sd.resolve(n if "." in n else n + ".service")) for n in names]
    ok = all(
        s in ("enabled", "enabled-runtime", "static", "alias", "indirect", "generated") for s in states_out
    )
    if any(not s for s in states_out):
        missing = next(n for n, s in zip(names, states_out, strict=True) if not s)
        return ExecResult(1, "", f"Failed to get unit file state for {missing}: No such file or directory\n")
    return ExecResult(0 if ok else 1, "" if o.quiet else "".join(s + "\n" for s in states_out))


def _list_units(sd: Systemd, hostname: str, o: _Options) -> ExecResult | None:
    if o.output == "json":
        return ExecResult(0, list_units_json(sd, o.kinds))
    text = list_units_plain(
        sd, o.kinds, state=o.states[0] if o.states else None, all_units="--all" in o.flags
    )
    return ExecResult(0, text)


def _list_unit_files(sd: Systemd, hostname: str, o: _Options) -> ExecResult | None:
    return ExecResult(0, list_unit_files(sd, o.kinds))


def _list_dependencies(sd: Systemd, hostname: str, o: _Options) -> ExecResult | None:
    if o.names not in ([], ["default.target"]):
        return None
    return ExecResult(0, dependency_text(sd))


def _show(sd: Systemd, hostname: str, o: _Options) -> ExecResult | None:
    if not o.names:
        return None
    return ExecResult(0, show(sd, _expand(sd, o.names), o.props))


def _status(sd: Systemd, hostname: str, o: _Options) -> ExecResult | None:
    names = o.names
    text, code = status(sd, hostname, _expand(sd, names))
    if code == 4:
        missing = names[0] if "." in names[0] else names[0] + ".service"
        return ExecResult(4, "", f"Unit {missing} could not be found.\n")
    return ExecResult(code, text)


_VERBS: dict[str, Callable[[Systemd, str, _Options], ExecResult | None]] = {
    "is-system-running": _is_system_running,
    "is-active": _is_active,
    "is-failed": _is_active,
    "is-enabled": _is_enabled,
    "list-units": _list_units,
    "list-unit-files": _list_unit_files,
    "list-dependencies": _list_dependencies,
    "show": _show,
    "status": _status,
}


# ----------------------------------------------------------------------------------------------
# journalctl


@dataclass
class _Query:
    """What one ``journalctl`` command line asks for."""

    units: list[str] = field(default_factory=list)
    lines: int | None = None
    boot: str | None = None
    fmt: str = "short"


class _Refused(Exception):
    """journalctl refuses the command line: the message is its stderr."""


def journalctl(sd: Systemd, hostname: str, args: Sequence[str]) -> ExecResult:
    """``journalctl`` with -b [N], -u, -n, -o short|short-iso (and options that change nothing here)."""
    try:
        query = _journal_query(sd, args)
    except _Refused as refused:
        return ExecResult(1, "", str(refused))
    wanted = {sd.resolve(u if "." in u else u + ".service") for u in query.units}
    entries = [
        e
        for e in sd.journal
        if (query.boot is None or e.boot == query.boot) and (not wanted or e.unit in wanted)
    ]
    if query.lines is not None:
        entries = entries[-query.lines :] if query.lines else []
    if not entries:
        return ExecResult(0, "-- No entries --\n")
    stamp = _iso if query.fmt == "short-iso" else _short
    return ExecResult(0, "".join(_journal_line(e, hostname, stamp) + "\n" for e in entries))


def _journal_query(sd: Systemd, args: Sequence[str]) -> _Query:
    q = _Query()
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-b", "--boot"):
            q.boot = sd.boot_id
            if i + 1 < len(args) and re.fullmatch(r"-?\d+", args[i + 1]):
                q.boot = _boot_at(sd, int(args[i + 1]))
                i += 1
        elif a in ("-u", "--unit") and i + 1 < len(args):
            q.units.append(args[i + 1])
            i += 1
        elif a.startswith("--unit="):
            q.units.append(a[len("--unit=") :])
        elif a in ("-n", "--lines") and i + 1 < len(args):
            q.lines = int(args[i + 1]) if args[i + 1].isdigit() else None
            i += 1
        elif a.startswith("--lines="):
            value = a[len("--lines=") :]
            q.lines = int(value) if value.isdigit() else None
        elif a in ("-o", "--output") and i + 1 < len(args):
            q.fmt = args[i + 1]
            i += 1
        elif a.startswith("--output="):
            q.fmt = a[len("--output=") :]
        elif a in ("--no-pager", "-q", "--quiet", "--no-hostname", "-a", "--all", "-l", "--full"):
            pass
        elif a.startswith("-"):
            raise _Refused(f"journalctl: unrecognized option '{a}'\n")
        i += 1
    return q


def _boot_at(sd: Systemd, offset: int) -> str:
    """``-b N``: the Nth boot in the journal, counted from the first (N > 0) or back from this one."""
    index = len(sd.boots) - 1 + offset if offset <= 0 else offset - 1
    if not 0 <= index < len(sd.boots):
        raise _Refused("Data from the specified boot is not available: No such boot ID in journal\n")
    return sd.boots[index]


# ----------------------------------------------------------------------------------------------
# formatting helpers


def _journal_line(entry: JournalEntry, hostname: str, stamp: Callable[[float], str]) -> str:
    return f"{stamp(entry.wall)} {hostname} {entry.ident}: {entry.text}"


def _table(rows: Sequence[tuple[str, ...]]) -> str:
    """systemd's table with --no-legend --plain: columns padded with spaces, the last one not."""
    if not rows:
        return ""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append(" ".join([*cells, row[-1]]).rstrip() + "\n")
    return "".join(lines)


def _stamp(wall: float | None) -> str:
    """``Sat 2026-11-28 04:30:14 UTC`` (systemctl show/status timestamps)."""
    if wall is None:
        return ""
    return time.strftime("%a %Y-%m-%d %H:%M:%S UTC", time.gmtime(wall))


def _iso(wall: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(wall))


def _short(wall: float) -> str:
    return time.strftime("%b %d %H:%M:%S", time.gmtime(wall))


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    days, rem = divmod(seconds, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    if days:
        return f"{days} days ago" if not hours else f"{days} days {hours}h ago"
    if hours:
        return f"{hours}h {minutes}min ago"
    if minutes:
        return f"{minutes}min {secs}s ago"
    return f"{secs}s ago"
