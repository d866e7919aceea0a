"""Ansible YAML inventories, read directly: hosts, nested groups and vars as Ansible sees them.

The hosts and groups come from the Ansible file; the slowroll part (policy, group budgets, checks, ssh...)
comes from a side file (``--policy FILE``, native sections) or from ``slowroll_*`` vars in the Ansible file
itself — each section from one place only. The result is built into the native structure and validated by
``console.inventory.build_inventory``, so every mistake still names file, line and key and exits 2.
See ``docs/ansible.md``.

Ansible's semantics that slowroll follows:

- ``all`` / ``children`` (nested to any depth) / ``hosts`` / ``vars``; other top-level keys are groups
  under ``all``; a group named in several places is one group (its parts merge).
- A host in group G is a member of every ancestor of G; a host listed under several groups is in each.
- Vars: ``all`` first, then groups by (depth, ``ansible_group_priority``, name) — a nearer (deeper) group
  overrides a farther one — then the host's own vars, which win.
- Host names may carry ranges (``web-[01:12]``, ``db-[a:c]``, ``[1:9:2]``) and a port (``web1:2222``).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from console.load import native, yamldoc
from console.load.native import build_inventory
from console.load.redact import SECRET_NAME
from console.load.yamldoc import Path_, read_yaml
from console.model.errors import InventoryError, did_you_mean
from console.model.inventory import Inventory

GROUP_KEYS = ("hosts", "children", "vars")
SPECIAL_GROUPS = ("all", "ungrouped")  # Ansible's own: never slowroll groups (no budget of their own)
ADDRESS_VARS = ("ansible_host", "ansible_ssh_host")
PORT_VARS = ("ansible_port", "ansible_ssh_port")
USER_VARS = ("ansible_user", "ansible_ssh_user")
KEY_FILE_VARS = ("ansible_ssh_private_key_file", "ansible_private_key_file")
SSH_CONNECTIONS = (
    "ssh",
    "smart",
    "paramiko",
    "paramiko_ssh",
    "ansible.builtin.ssh",
    "ansible.builtin.paramiko_ssh",
)
# Side-file sections (and ``slowroll_<section>`` in all.vars): every native section but the hosts, their
# groups and the fleet vars, which come from the Ansible file; plus ``exclude``.
SIDE_GROUP_KEYS = ("max_unavailable", "description")
GROUP_SETTING_VARS = {f"slowroll_{k}": k for k in SIDE_GROUP_KEYS}
NO_PASSWORDS = "passwords are not accepted; use keys or ssh-agent"
INI_MESSAGE = (
    "only YAML inventories are read; convert with `ansible-inventory -i hosts.ini --list -y > hosts.yml`"
)

_RANGE = re.compile(r"\[([0-9A-Za-z]+):([0-9A-Za-z]+)(?::([0-9]+))?\]")
_INI_SECTION = re.compile(r"^\[[^\[\]\s]+\]\s*(?:[#;].*)?$", re.M)
_YAML_TOP_KEY = re.compile(r"^[A-Za-z0-9_.-]+:(?:\s|$)", re.M)
_ANSIBLE_TAGS = re.compile(r"(?<=[:\-\s])!(?:vault|unsafe)(?=[ \t\r\n])")
_VAULT = "$ANSIBLE_VAULT;"


def side_sections() -> tuple[str, ...]:
    """Sections the side file (or ``slowroll_<section>`` in all.vars) may hold."""
    return (*(k for k in native.TOP_KEYS if k not in ("hosts", "groups", "vars")), "exclude")


# ---------------------------------------------------------------------------------------------------
# Sniffing


def is_ansible_inventory(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` looks like an Ansible inventory rather than a native slowroll one.

    A YAML file whose top level is ``all:`` (a mapping with ``children``, ``hosts`` or ``vars``), or whose
    top-level keys are all groups (mappings of ``hosts``/``children``/``vars``); also an Ansible INI file
    or an inventory-plugin config, so that ``load_ansible_inventory`` can say how to convert them.
    Never raises: an unreadable file is "not Ansible" (the native loader then reports the problem).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if p.suffix.lower() == ".ini":
        return True
    try:
        yamldoc.check_depth(text, str(p))
        node = yaml.compose(text, Loader=yaml.SafeLoader)  # nodes only: Ansible tags (!vault) are fine
    except (yaml.YAMLError, InventoryError, RecursionError):
        # Not YAML: an INI inventory, if it looks like one (a one-line YAML list such as `[web-01]` is
        # YAML, and goes to the native loader, which says what is wrong with it).
        return _looks_ini(text)
    if isinstance(node, yaml.ScalarNode) and _looks_ini(text):
        return True
    if not isinstance(node, yaml.MappingNode):
        return False
    top: dict[str, yaml.Node] = {}
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode):
            top[str(k.value)] = v
    if "plugin" in top:
        return True
    if "all" in top:
        value = top["all"]
        if isinstance(value, yaml.ScalarNode) and value.value in ("", "~", "null"):
            return True
        return isinstance(value, yaml.MappingNode) and any(
            isinstance(k, yaml.ScalarNode) and k.value in GROUP_KEYS for k, _ in value.value
        )
    if not top or any(k in native.TOP_KEYS for k in top):
        return False
    saw_group_key = False
    for value in top.values():
        if isinstance(value, yaml.ScalarNode) and value.value in ("", "~", "null"):
            continue
        if not isinstance(value, yaml.MappingNode):
            return False
        keys = [k.value for k, _ in value.value if isinstance(k, yaml.ScalarNode)]
        if not set(keys) <= set(GROUP_KEYS):
            return False
        saw_group_key = saw_group_key or bool(keys)
    return saw_group_key


def _looks_ini(text: str) -> bool:
    return bool(_INI_SECTION.search(text)) and not _YAML_TOP_KEY.search(text)


# ---------------------------------------------------------------------------------------------------
# The Ansible file's model


@dataclass
class _Var:
    value: Any
    line: int | None
    path: Path_  # in the Ansible file, for errors


@dataclass
class _Group:
    name: str
    line: int | None
    path: Path_
    children: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)  # listed directly under it, in file order
    host_lines: dict[str, int | None] = field(default_factory=dict)
    vars: dict[str, _Var] = field(default_factory=dict)
    parents: list[str] = field(default_factory=list)
    defined: bool = False  # has a body somewhere (not only named as a child)


@dataclass
class _Host:
    name: str
    line: int | None
    path: Path_
    vars: dict[str, _Var] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)  # direct


class _Reader:
    """Walks the Ansible YAML into groups and hosts, with the line and key path of everything."""

    def __init__(self, path: str, value: Any, lines: Mapping[Path_, int]) -> None:
        self.path = path
        self.lines = lines
        self.groups: dict[str, _Group] = {}
        self.hosts: dict[str, _Host] = {}
        self.read(value)

    def line(self, path: Path_) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def err(self, path: Path_, message: str) -> InventoryError:
        return InventoryError(self.path, self.line(path), yamldoc.key_path(path), message)

    def read(self, root: Any) -> None:
        if root is None:
            raise self.err((), "the file is empty; expected an Ansible inventory with 'all:'")
        if not isinstance(root, dict):
            raise self.err(
                (), f"expected an Ansible inventory (a mapping with 'all:'), got {yamldoc.kind_of(root)}"
            )
        if "plugin" in root:
            raise self.err(
                ("plugin",),
                "inventory plugins are not run; export the hosts with "
                "`ansible-inventory -i THIS_FILE --list -y > hosts.yml` and read that",
            )
        if "_meta" in root:
            raise self.err(
                ("_meta",),
                "this is `ansible-inventory --list` JSON output; export YAML instead with `--list -y`",
            )
        self.group("all", root.get("all"), ("all",), parent=None)
        for name, body in root.items():
            if name != "all":
                self.group(name, body, (name,), parent="all")

    def group(self, name: str, body: Any, path: Path_, *, parent: str | None) -> None:
        if not name.strip() or not native.NAME_RE.match(name):
            raise self.err(path, "a group name must be a non-empty name without control characters")
        if name == "all" and parent is not None:
            raise self.err(path, "'all' is the root group; it cannot be a child of another group")
        g = self.groups.get(name)
        if g is None:
            g = self.groups[name] = _Group(name, self.line(path), path)
        if parent is not None and parent not in g.parents:
            g.parents.append(parent)
            self.groups[parent].children.append(name)
        if body is None:
            return
        if not isinstance(body, dict):
            raise self.err(
                path,
                f"a group must be a mapping with 'hosts', 'children' and/or 'vars', got {yamldoc.kind_of(body)}",
            )
        if not g.defined:
            g.defined, g.line, g.path = True, self.line(path), path
        for key in body:
            if key not in GROUP_KEYS:
                raise self.err(
                    (*path, key),
                    f"unknown key in group {name!r}{did_you_mean(key, GROUP_KEYS)}; a group has only "
                    "'hosts', 'children' and 'vars' (a child group goes under 'children')",
                )
        gvars = body.get("vars")
        if gvars is not None:
            if not isinstance(gvars, dict):
                raise self.err((*path, "vars"), f"expected a mapping of vars, got {yamldoc.kind_of(gvars)}")
            for k, v in gvars.items():
                vpath = (*path, "vars", k)
                g.vars[k] = _Var(v, self.line(vpath), vpath)
        hosts = body.get("hosts")
        if hosts is not None:
            if not isinstance(hosts, dict):
                hint = " (write each host as a key: 'web1:' or 'web1: {ansible_host: ...}')"
                raise self.err(
                    (*path, "hosts"),
                    f"expected a mapping of host names to their vars, got {yamldoc.kind_of(hosts)}{hint}",
                )
            for pattern, hvars in hosts.items():
                self.host(pattern, hvars, (*path, "hosts", pattern), g)
        children = body.get("children")
        if children is not None:
            if not isinstance(children, dict):
                raise self.err(
                    (*path, "children"),
                    f"expected a mapping of child group names, got {yamldoc.kind_of(children)}"
                    + (
                        " (Ansible YAML lists children as keys: 'web:' on its own line)"
                        if isinstance(children, list)
                        else ""
                    ),
                )
            for child, cbody in children.items():
                self.group(child, cbody, (*path, "children", child), parent=name)

    def host(self, pattern: str, hvars: Any, path: Path_, group: _Group) -> None:
        if hvars is not None and not isinstance(hvars, dict):
            raise self.err(
                path,
                f"a host's value is its vars (a mapping, or nothing), got {yamldoc.kind_of(hvars)}",
            )
        line = self.line(path)
        names, port = self.expand(pattern, path)
        for name in names:
            h = self.hosts.get(name)
            if h is None:
                h = self.hosts[name] = _Host(name, line, path)
            if port is not None and not any(p in (hvars or {}) for p in PORT_VARS):
                h.vars["ansible_port"] = _Var(port, line, path)
            for k, v in (hvars or {}).items():
                h.vars[k] = _Var(v, self.line((*path, k)), (*path, k))  # a later listing wins, as in Ansible
            if group.name not in h.groups:
                h.groups.append(group.name)
            if name not in group.hosts:
                group.hosts.append(name)
                group.host_lines[name] = line

    def expand(self, pattern: str, path: Path_) -> tuple[list[str], int | None]:
        """Host names from a pattern: ``name[:port]``, with ``[a:b]`` / ``[a:b:step]`` ranges."""
        text = pattern.strip()
        port: int | None = None
        m = re.fullmatch(r"\[([^\]]+)\]:(\d+)", text)  # [IPv6]:port
        if m and ":" in m.group(1):
            text, port = m.group(1), int(m.group(2))
        elif text.count(":") == 1 and re.fullmatch(r"[^:]+:\d+", text) and not _RANGE.search(text):
            text, digits = text.split(":")
            port = int(digits)
        elif re.fullmatch(r".*\]:\d+", text) and _RANGE.search(text):
            text, digits = text.rsplit(":", 1)
            port = int(digits)
        if port is not None and not 1 <= port <= 65535:
            raise self.err(path, f"expected a TCP port (1–65535) after the host name, got {port}")
        if not text or not native.NAME_RE.match(text):
            raise self.err(path, "a host name must be non-empty and without control characters")
        names = [text]
        while any(_RANGE.search(n) for n in names):
            out: list[str] = []
            for n in names:
                m = _RANGE.search(n)
                if m is None:
                    out.append(n)
                    continue
                out += [n[: m.start()] + item + n[m.end() :] for item in self.range_items(m, path)]
            names = out
            if len(names) > 100_000:
                raise self.err(path, "this host range expands to more than 100000 hosts")
        return names, port

    def range_items(self, m: re.Match[str], path: Path_) -> list[str]:
        start, end, step_text = m.group(1), m.group(2), m.group(3)
        step = int(step_text) if step_text else 1
        if step < 1:
            raise self.err(path, f"the step of the range {m.group(0)} must be at least 1")
        if start.isdigit() and end.isdigit():
            lo, hi = int(start), int(end)
            if lo > hi:
                raise self.err(path, f"the range {m.group(0)} ends before it starts")
            width = len(start) if start.startswith("0") and len(start) > 1 else 0
            return [str(i).zfill(width) for i in range(lo, hi + 1, step)]
        if len(start) == 1 and len(end) == 1 and start.isalpha() and end.isalpha():
            if start > end:
                raise self.err(path, f"the range {m.group(0)} ends before it starts")
            return [chr(c) for c in range(ord(start), ord(end) + 1, step)]
        raise self.err(path, f"unreadable range {m.group(0)}: expected [01:20], [a:f] or [1:20:2]")

    # -- after reading ------------------------------------------------------------------------------

    def depths(self) -> dict[str, int]:
        """Each group's depth: the longest path from 'all' (as Ansible computes it); cycles are errors."""
        depth: dict[str, int] = {}
        visiting: list[str] = []

        def visit(name: str) -> int:
            if name in depth:
                return depth[name]
            if name in visiting:
                cycle = [*visiting[visiting.index(name) :], name]
                g = self.groups[name]
                raise self.err(g.path, "groups contain each other: " + " → ".join(cycle))
            visiting.append(name)
            parents = self.groups[name].parents
            d = 0 if name == "all" else 1 + max((visit(p) for p in parents), default=0)
            visiting.pop()
            depth[name] = d
            return d

        for name in self.groups:
            visit(name)
        return depth

    def ancestors(self, name: str) -> list[str]:
        out: list[str] = []
        todo = [name]
        while todo:
            g = todo.pop()
            if g in out:
                continue
            out.append(g)
            todo.extend(self.groups[g].parents)
        return out


# ---------------------------------------------------------------------------------------------------
# Building the native structure


@dataclass
class _Origin:
    """Where a native key path came from: which file, and its key path there (for error messages)."""

    file: str
    path: Path_


class _Builder:
    def __init__(self, reader: _Reader, side: tuple[str, Any, dict[Path_, int]] | None) -> None:
        self.r = reader
        self.path = reader.path
        self.side = side
        self.value: dict[str, Any] = {}
        self.lines: dict[Path_, int] = {(): 1}
        self.origins: list[tuple[Path_, _Origin]] = []
        self._host_groups: dict[str, set[str]] = {}

    def err(self, path: Path_, message: str) -> InventoryError:
        return self.r.err(path, message)

    def place(self, native_path: Path_, line: int | None, file: str, src: Path_) -> None:
        if line is not None:
            self.lines[native_path] = line
        self.origins.append((native_path, _Origin(file, src)))

    def copy_lines(self, src_lines: Mapping[Path_, int], src_prefix: Path_, dst_prefix: Path_) -> None:
        n = len(src_prefix)
        for p, line in src_lines.items():
            if p[:n] == src_prefix:
                self.lines[(*dst_prefix, *p[n:])] = line

    def build(self) -> dict[str, Any]:
        r = self.r
        depth = r.depths()
        self.check_vars()
        sections, group_settings = self.settings()
        excluded = self.excluded(sections.pop("exclude", None))
        hosts_out: dict[str, Any] = {}
        key_files: list[tuple[str, _Var]] = []
        order = list(r.hosts)
        if not [h for h in order if h not in excluded]:
            raise self.err(("all",) if "all" in r.groups else (), "no hosts: the inventory lists no host")
        for name in order:
            if name in excluded:
                continue
            host = r.hosts[name]
            hpath: Path_ = ("hosts", name)
            self.place(hpath, host.line, self.path, host.path)
            groups = self.host_groups(name) | {"all"}
            chain = sorted(groups, key=lambda g: (depth[g], self.priority(g), g))
            merged: dict[str, _Var] = {}
            for g in chain:
                merged.update(r.groups[g].vars)
            merged.update(host.vars)
            body: dict[str, Any] = {}
            address = self.first(merged, ADDRESS_VARS)
            if address is not None:
                body["address"] = self.address(address)
                self.place((*hpath, "address"), address.line, self.path, address.path)
            port = self.first(merged, PORT_VARS)
            if port is not None:
                body["port"] = self.port(port)
                self.place((*hpath, "port"), port.line, self.path, port.path)
            user = self.first(merged, USER_VARS)
            if user is not None:
                body["user"] = self.plain(user, "a user name")
                self.place((*hpath, "user"), user.line, self.path, user.path)
            conn = merged.get("ansible_connection")
            if conn is not None and str(conn.value) not in SSH_CONNECTIONS:
                raise self.err(
                    conn.path,
                    f"host {name!r} is reached with ansible_connection {conn.value!r}, not SSH; slowroll "
                    "reboots hosts over SSH only (leave it out with 'exclude' in the policy file)",
                )
            key_file = self.first(merged, KEY_FILE_VARS)
            if key_file is not None:
                key_files.append((name, key_file))
            hvars = self.keep_vars(merged)
            if hvars:
                body["vars"] = {k: v.value for k, v in hvars.items()}
                for k, v in hvars.items():
                    self.place((*hpath, "vars", k), v.line, self.path, v.path)
            hosts_out[name] = body
        self.value["hosts"] = hosts_out
        self.lines[("hosts",)] = min((h.line for h in r.hosts.values() if h.line), default=1)

        fleet_vars = self.keep_vars(r.groups["all"].vars)
        if fleet_vars:
            self.value["vars"] = {k: v.value for k, v in fleet_vars.items()}
            for k, v in fleet_vars.items():
                self.place(("vars", k), v.line, self.path, v.path)

        groups_out: dict[str, Any] = {}
        for gname, grp in r.groups.items():
            if gname in SPECIAL_GROUPS:
                continue
            members = [h for h in order if h not in excluded and gname in self.host_groups(h)]
            gpath: Path_ = ("groups", gname)
            self.place(gpath, grp.line, self.path, grp.path)
            gbody: dict[str, Any] = {"hosts": members}
            for i, h in enumerate(members):
                self.lines[(*gpath, "hosts", i)] = r.hosts[h].line or 1
            own = self.keep_vars(grp.vars)
            if own:
                gbody["vars"] = {k: v.value for k, v in own.items()}
                for k, v in own.items():
                    self.place((*gpath, "vars", k), v.line, self.path, v.path)
            for key, (value, line, file, src) in group_settings.get(gname, {}).items():
                gbody[key] = value
                self.place((*gpath, key), line, file, src)
            groups_out[gname] = gbody
        for gname in group_settings:
            if gname not in groups_out:
                _, line, file, src = next(iter(group_settings[gname].values()))
                known = [g for g in r.groups if g not in SPECIAL_GROUPS]
                where = "in this file" if file == self.path else f"in {self.path}"
                raise InventoryError(
                    file,
                    line,
                    yamldoc.key_path(src[:-1]) if file != self.path else yamldoc.key_path(src),
                    f"no group {gname!r} {where}{did_you_mean(gname, known)}"
                    if gname not in SPECIAL_GROUPS
                    else f"{gname!r} is Ansible's own group and has no budget; "
                    "for a fleet-wide budget set policy.max_unavailable",
                )
        if groups_out:
            self.value["groups"] = groups_out

        for section, (value, line, file, src, src_lines) in sections.items():
            self.value[section] = value
            self.place((section,), line, file, src)
            self.copy_lines(src_lines, src, (section,))
        if key_files:
            self.identity_files(key_files)
        return self.value

    # -- pieces -------------------------------------------------------------------------------------

    def host_groups(self, host: str) -> set[str]:
        """Every group ``host`` is in: those that list it and all of their ancestors ('all' included)."""
        if host not in self._host_groups:
            self._host_groups[host] = {a for g in self.r.hosts[host].groups for a in self.r.ancestors(g)}
        return self._host_groups[host]

    def priority(self, group: str) -> int:
        var = self.r.groups[group].vars.get("ansible_group_priority")
        if var is None:
            return 1
        if isinstance(var.value, bool) or not isinstance(var.value, int):
            raise self.err(var.path, f"expected a whole number, got {yamldoc.kind_of(var.value)}")
        return var.value

    @staticmethod
    def first(merged: Mapping[str, _Var], names: tuple[str, ...]) -> _Var | None:
        for n in names:
            if n in merged:
                return merged[n]
        return None

    def plain(self, var: _Var, what: str) -> str:
        value = var.value
        if isinstance(value, str) and "{{" in value:
            raise self.err(
                var.path,
                "Jinja templates are not evaluated; export the resolved inventory with "
                "`ansible-inventory -i FILE --list -y` or write the value itself",
            )
        if value is None or isinstance(value, bool | dict | list) or not str(value).strip():
            raise self.err(var.path, f"expected {what}, got {yamldoc.kind_of(value)}")
        text = str(value)
        if text.lstrip().startswith(_VAULT):
            raise self.err(var.path, "Ansible Vault values are not decrypted; write this value in clear")
        if any(c.isspace() for c in text) or not native.NAME_RE.match(text):
            raise self.err(var.path, f"expected {what}, got {text!r}")
        return text

    def address(self, var: _Var) -> str:
        text = self.plain(var, "a host name or IP address")
        if text.startswith("-"):
            raise self.err(var.path, f"expected a host name or IP address, got {text!r}")
        return text

    def port(self, var: _Var) -> int:
        value = var.value
        if isinstance(value, str) and "{{" in value:
            self.plain(var, "a TCP port")
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.err(var.path, f"expected a TCP port number, got {yamldoc.kind_of(var.value)}")
        if not 1 <= value <= 65535:
            raise self.err(var.path, f"expected a TCP port (1–65535), got {value}")
        return value

    def keep_vars(self, values: Mapping[str, _Var]) -> dict[str, _Var]:
        """The vars slowroll carries: not Ansible's own, not slowroll settings, nothing secret."""
        out: dict[str, _Var] = {}
        for k, v in values.items():
            if k.startswith(("ansible_", "slowroll_")) or SECRET_NAME.search(k):
                continue
            if isinstance(v.value, str) and v.value.lstrip().startswith(_VAULT):
                continue  # an Ansible Vault value: ciphertext, of no use to a check
            out[k] = v
        return out

    def all_vars(self) -> list[tuple[str, _Var, str]]:
        """Every var: (name, var, where) with where = 'host NAME' or 'group NAME'."""
        out = [(k, v, f"group {g.name}") for g in self.r.groups.values() for k, v in g.vars.items()]
        out += [(k, v, f"host {h.name}") for h in self.r.hosts.values() for k, v in h.vars.items()]
        return out

    def check_vars(self) -> None:
        fleet = {f"slowroll_{s}" for s in side_sections()}
        known = sorted(fleet | set(GROUP_SETTING_VARS))
        for name, var, where in self.all_vars():
            lower = name.lower()
            if lower.startswith("ansible_") and "pass" in lower:
                hint = ""
                if "become" in lower or "sudo" in lower or "su_pass" in lower:
                    hint = " (for sudo, allow the reboot command without a password and set policy.reboot_command)"
                raise self.err(var.path, NO_PASSWORDS + hint)
            if not lower.startswith("slowroll_"):
                continue
            if name in fleet:
                if where != "group all":
                    raise self.err(var.path, f"{name} applies to the whole roll: set it in all.vars")
            elif name in GROUP_SETTING_VARS:
                if not where.startswith("group ") or where in ("group all", "group ungrouped"):
                    budget = " (for a fleet-wide budget use policy.max_unavailable)" if "max_" in name else ""
                    raise self.err(
                        var.path, f"{name} is a group's own setting: set it in a group's vars{budget}"
                    )
            else:
                raise self.err(
                    var.path,
                    f"unknown slowroll setting{did_you_mean(name, known)}; known: {', '.join(known)}",
                )

    def settings(
        self,
    ) -> tuple[
        dict[str, tuple[Any, int | None, str, Path_, Mapping[Path_, int]]],
        dict[str, dict[str, tuple[Any, int | None, str, Path_]]],
    ]:
        """The slowroll sections and group settings, from the side file and from slowroll_* vars."""
        sections: dict[str, tuple[Any, int | None, str, Path_, Mapping[Path_, int]]] = {}
        groups: dict[str, dict[str, tuple[Any, int | None, str, Path_]]] = {}
        if self.side is not None:
            spath, svalue, slines = self.side
            for section, body in svalue.items():
                if section == "groups":
                    continue
                sections[section] = (body, slines.get((section,)), spath, (section,), slines)
            gbody = svalue.get("groups")
            for gname, settings in (gbody or {}).items():
                for key, value in settings.items():
                    src: Path_ = ("groups", gname, key)
                    groups.setdefault(gname, {})[key] = (value, slines.get(src), spath, src)
        for k, var in self.r.groups["all"].vars.items():
            if not k.startswith("slowroll_") or k in GROUP_SETTING_VARS:
                continue
            section = k.removeprefix("slowroll_")
            if section in sections:
                other = sections[section]
                raise self.err(
                    var.path,
                    f"'{section}' is set both here and in {other[2]}:{other[1]}; keep one of them",
                )
            sections[section] = (var.value, var.line, self.path, var.path, self.r.lines)
        for g in self.r.groups.values():
            for k, var in g.vars.items():
                if k not in GROUP_SETTING_VARS:
                    continue
                key = GROUP_SETTING_VARS[k]
                if key in groups.get(g.name, {}):
                    first = groups[g.name][key]
                    raise self.err(
                        var.path,
                        f"the {key} of group {g.name!r} is set both here and in {first[2]}:{first[1]}; "
                        "keep one of them",
                    )
                groups.setdefault(g.name, {})[key] = (var.value, var.line, self.path, var.path)
        return sections, groups

    def excluded(self, exclude: tuple[Any, int | None, str, Path_, Mapping[Path_, int]] | None) -> set[str]:
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
            if item in self.r.hosts:
                out.add(item)
            elif item in self.r.groups:
                out |= {h for h in self.r.hosts if item == "all" or item in self.host_groups(h)}
            else:
                names = [*self.r.hosts, *self.r.groups]
                raise InventoryError(
                    file,
                    where,
                    yamldoc.key_path(ipath),
                    f"no host or group {item!r}{did_you_mean(item, names)}",
                )
        return out

    def identity_files(self, key_files: list[tuple[str, _Var]]) -> None:
        """ansible_ssh_private_key_file values become the fleet's key files (each host is offered each)."""
        ssh = self.value.get("ssh")
        if isinstance(ssh, dict) and "identity_files" in ssh:
            return  # the slowroll settings name the keys themselves
        if ssh is None:
            ssh = self.value["ssh"] = {}
        elif not isinstance(ssh, dict):
            return  # build_inventory reports it
        files: list[str] = []
        for _, var in key_files:
            text = self.plain(var, "a key file path")
            if text not in files:
                self.place(("ssh", "identity_files", len(files)), var.line, self.path, var.path)
                files.append(text)
        ssh["identity_files"] = files

    def relocate(self, exc: InventoryError) -> InventoryError:
        """A native error, re-pointed at the file and key it came from (Ansible file or side file)."""
        best: tuple[Path_, _Origin] | None = None
        for npath, origin in self.origins:
            k = yamldoc.key_path(npath)
            if (exc.key == k or exc.key.startswith((k + ".", k + "["))) and (
                best is None or len(npath) > len(best[0])
            ):
                best = (npath, origin)
        if best is None:
            return InventoryError(self.path, exc.line, exc.key, exc.message)
        npath, origin = best
        key = yamldoc.key_path(origin.path) + exc.key[len(yamldoc.key_path(npath)) :]
        return InventoryError(origin.file, exc.line, key, exc.message)


# ---------------------------------------------------------------------------------------------------
# Loading


def _without_ansible_tags(text: str) -> str:
    """``!vault`` and ``!unsafe`` blanked out (same length: lines and columns stay where they were)."""
    return _ANSIBLE_TAGS.sub(lambda m: " " * len(m.group(0)), text)


def _read_side(path: str) -> tuple[str, dict[str, Any], dict[Path_, int], str]:
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
        if key == "groups":
            if body is None:
                continue
            if not isinstance(body, dict):
                raise InventoryError(
                    path,
                    lines.get((key,)),
                    key,
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
    ssh = value.get("ssh")
    if isinstance(ssh, dict):
        # Relative paths in the side file are relative to the side file, wherever the inventory is.
        base = Path(path).parent
        for key in ("known_hosts", "identity_files"):
            item = ssh.get(key)
            if isinstance(item, str):
                ssh[key] = _rebase(item, base)
            elif isinstance(item, list):
                ssh[key] = [_rebase(i, base) if isinstance(i, str) else i for i in item]
    return path, value, lines, text


def _rebase(text: str, base: Path) -> str:
    p = Path(os.path.expanduser(text))
    return str(p if p.is_absolute() else base / p)


def load_ansible_inventory(path: str | os.PathLike[str], *, policy_path: str | None = None) -> Inventory:
    """Read an Ansible YAML inventory (plus an optional slowroll policy file) into a validated Inventory.

    Raises ``InventoryError`` (exit 2) naming file, line and key on any mistake, in either file.
    """
    shown = str(path)
    text = yamldoc.read_inventory_text(shown)
    if Path(shown).suffix.lower() == ".ini":
        raise InventoryError(shown, None, "", INI_MESSAGE)
    return parse_ansible_inventory(text, shown, policy_path=policy_path)


def parse_ansible_inventory(
    text: str, path: str = "<inventory>", *, policy_path: str | None = None
) -> Inventory:
    """``load_ansible_inventory`` for text already read (``path`` names it in errors)."""
    if _looks_ini(text):
        raise InventoryError(path, None, "", INI_MESSAGE)
    try:
        value, lines = read_yaml(_without_ansible_tags(text), path)
    except InventoryError as exc:
        if _INI_SECTION.search(text):
            raise InventoryError(path, None, "", INI_MESSAGE) from None
        raise exc from None
    reader = _Reader(path, value, lines)
    side = None
    side_text = ""
    if policy_path is not None:
        spath, svalue, slines, side_text = _read_side(str(policy_path))
        side = (spath, svalue, slines)
    builder = _Builder(reader, side)
    structure = builder.build()
    try:
        inv = build_inventory(structure, builder.lines, path, text=text, base_dir=Path(path).parent)
    except InventoryError as exc:
        raise builder.relocate(exc) from None
    if side is not None:
        # The journal keeps the Ansible file's text; the hash covers the policy file too, so a changed
        # policy is a changed inventory.
        both = hashlib.sha256(text.encode() + b"\0" + side_text.encode()).hexdigest()
        inv = replace(inv, content_hash=both)
    return inv


def unread_vars_dirs(path: str | os.PathLike[str]) -> list[str]:
    """``group_vars``/``host_vars`` folders next to the inventory: Ansible reads them, slowroll does not.

    For the command line to print as a warning (their vars, ansible_host included, are not applied).
    """
    base = Path(path).parent
    return [str(base / d) for d in ("group_vars", "host_vars") if (base / d).is_dir()]
