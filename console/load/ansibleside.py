"""The slowroll settings of an Ansible inventory: a side file (``--policy FILE``) in native sections, and
``slowroll_*`` vars in the Ansible file itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from console.load import yamldoc
from console.load.ansiblefile import AnsibleFile
from console.load.native import TOP_KEYS
from console.load.values import resolve_path
from console.load.yamldoc import Path_, read_yaml
from console.model.errors import InventoryError, did_you_mean

# Side-file sections (and ``slowroll_<section>`` in all.vars): every native section but the hosts, their
# groups and the fleet vars, which come from the Ansible file; plus ``exclude``.
SIDE_GROUP_KEYS = ("max_unavailable", "description")
GROUP_SETTING_VARS = {f"slowroll_{k}": k for k in SIDE_GROUP_KEYS}


def side_sections() -> tuple[str, ...]:
    """Sections the side file (or ``slowroll_<section>`` in all.vars) may hold."""
    return (*(k for k in TOP_KEYS if k not in ("hosts", "groups", "vars")), "exclude")


class Setting(NamedTuple):
    """One slowroll setting and where it was written: for errors, and to point native errors back there."""

    value: Any
    line: int | None
    file: str
    src: Path_  # its key path in that file
    lines: Mapping[Path_, int]  # the lines of that file's key paths


@dataclass(frozen=True)
class SideFile:
    path: str
    value: dict[str, Any]
    lines: dict[Path_, int]
    text: str


def read_side(path: str) -> SideFile:
    """Read and check the side file: its sections, and the group settings under ``groups``."""
    text = yamldoc.read_inventory_text(path)
    value, lines = read_yaml(text, path)
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise InventoryError(
            path, lines.get((), 1), "", f"expected a mapping of sections, got {yamldoc.kind_of(value)}"
        )
    allowed = (*side_sections(), "groups")
    for key, body in value.items():
        if key in ("hosts", "vars"):
            raise InventoryError(
                path,
                lines.get((key,)),
                key,
                "the hosts and their vars come from the Ansible inventory; "
                + ("list hosts there" if key == "hosts" else "put fleet-wide vars in all.vars there"),
            )
        if key not in allowed:
            raise InventoryError(
                path,
                lines.get((key,)),
                key,
                f"unknown section{did_you_mean(key, allowed)}; expected one of: " + ", ".join(allowed),
            )
        if key == "groups" and body is not None:
            _check_groups(path, body, lines)
    ssh = value.get("ssh")
    if isinstance(ssh, dict):
        # Relative paths in the side file are relative to the side file, wherever the inventory is.
        base = Path(path).parent
        for key in ("known_hosts", "identity_files"):
            item = ssh.get(key)
            if isinstance(item, str):
                ssh[key] = resolve_path(item, base)
            elif isinstance(item, list):
                ssh[key] = [resolve_path(i, base) if isinstance(i, str) else i for i in item]
    return SideFile(path, value, lines, text)


def _check_groups(path: str, body: object, lines: Mapping[Path_, int]) -> None:
    """The side file's ``groups``: each group's own settings only (an empty one becomes ``{}``)."""
    if not isinstance(body, dict):
        raise InventoryError(
            path,
            lines.get(("groups",)),
            "groups",
            f"expected a mapping of group names, got {yamldoc.kind_of(body)}",
        )
    for gname, settings in body.items():
        gpath: Path_ = ("groups", gname)
        if settings is None:
            body[gname] = {}
            continue
        if not isinstance(settings, dict):
            raise InventoryError(
                path,
                lines.get(gpath),
                yamldoc.key_path(gpath),
                "expected the group's settings (max_unavailable, description), "
                f"got {yamldoc.kind_of(settings)}",
            )
        for k in settings:
            if k not in SIDE_GROUP_KEYS:
                why = (
                    "members come from the Ansible inventory"
                    if k in ("hosts", "children")
                    else "group vars belong in the Ansible inventory"
                    if k == "vars"
                    else f"expected one of: {', '.join(SIDE_GROUP_KEYS)}{did_you_mean(k, SIDE_GROUP_KEYS)}"
                )
                raise InventoryError(
                    path,
                    lines.get((*gpath, k)),
                    yamldoc.key_path((*gpath, k)),
                    f"not a group setting here: {why}",
                )


# ---------------------------------------------------------------------------------------------------
# slowroll_* vars, and the settings from both places

NO_PASSWORDS = "passwords are not accepted; use keys or ssh-agent"

Sections = dict[str, Setting]  # section name -> its setting
GroupSettings = dict[str, dict[str, Setting]]  # group name -> key -> its setting


def check_vars(f: AnsibleFile) -> None:
    """No passwords; ``slowroll_*`` vars are known settings, each where it belongs."""
    fleet = {f"slowroll_{s}" for s in side_sections()}
    known = sorted(fleet | set(GROUP_SETTING_VARS))
    for name, var, where in f.all_vars():
        lower = name.lower()
        if lower.startswith("ansible_") and "pass" in lower:
            hint = ""
            if "become" in lower or "sudo" in lower or "su_pass" in lower:
                hint = (
                    " (for sudo, allow the reboot command without a password and set policy.reboot_command)"
                )
            raise f.err(var.path, NO_PASSWORDS + hint)
        if not lower.startswith("slowroll_"):
            continue
        if name in fleet:
            if where != "group all":
                raise f.err(var.path, f"{name} applies to the whole roll: set it in all.vars")
        elif name in GROUP_SETTING_VARS:
            if not where.startswith("group ") or where in ("group all", "group ungrouped"):
                budget = " (for a fleet-wide budget use policy.max_unavailable)" if "max_" in name else ""
                raise f.err(var.path, f"{name} is a group's own setting: set it in a group's vars{budget}")
        else:
            raise f.err(
                var.path,
                f"unknown slowroll setting{did_you_mean(name, known)}; known: {', '.join(known)}",
            )


def settings(f: AnsibleFile, side: SideFile | None) -> tuple[Sections, GroupSettings]:
    """The slowroll sections and group settings, from the side file and from slowroll_* vars."""
    sections: Sections = {}
    groups: GroupSettings = {}
    if side is not None:
        for section, body in side.value.items():
            if section == "groups":
                continue
            sections[section] = Setting(body, side.lines.get((section,)), side.path, (section,), side.lines)
        for gname, values in (side.value.get("groups") or {}).items():
            for key, value in values.items():
                src: Path_ = ("groups", gname, key)
                groups.setdefault(gname, {})[key] = Setting(
                    value, side.lines.get(src), side.path, src, side.lines
                )
    for k, var in f.groups["all"].vars.items():
        if not k.startswith("slowroll_") or k in GROUP_SETTING_VARS:
            continue
        section = k.removeprefix("slowroll_")
        if section in sections:
            other = sections[section]
            raise f.err(
                var.path, f"'{section}' is set both here and in {other.file}:{other.line}; keep one of them"
            )
        sections[section] = Setting(var.value, var.line, f.path, var.path, f.lines)
    for g in f.groups.values():
        for k, var in g.vars.items():
            if k not in GROUP_SETTING_VARS:
                continue
            key = GROUP_SETTING_VARS[k]
            if key in groups.get(g.name, {}):
                first = groups[g.name][key]
                raise f.err(
                    var.path,
                    f"the {key} of group {g.name!r} is set both here and in {first.file}:{first.line}; "
                    "keep one of them",
                )
            groups.setdefault(g.name, {})[key] = Setting(var.value, var.line, f.path, var.path, f.lines)
    return sections, groups


def excluded(f: AnsibleFile, exclude: Setting | None) -> set[str]:
    """The hosts ``exclude`` names, one by one or by group."""
    if exclude is None:
        return set()
    value, line, file, src, src_lines = exclude
    items = value if isinstance(value, list) else [value]
    out: set[str] = set()
    for i, item in enumerate(items):
        ipath = (*src, i) if isinstance(value, list) else src
        where = src_lines.get(ipath, line)
        if not isinstance(item, str) or not item:
            raise InventoryError(file, where, yamldoc.key_path(ipath), "expected host or group names")
        if item in f.hosts:
            out.add(item)
        elif item in f.groups:
            out |= {h for h in f.hosts if item == "all" or item in f.host_groups(h)}
        else:
            names = [*f.hosts, *f.groups]
            raise InventoryError(
                file,
                where,
                yamldoc.key_path(ipath),
                f"no host or group {item!r}{did_you_mean(item, names)}",
            )
    return out
