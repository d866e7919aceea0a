"""An Ansible YAML inventory as Ansible reads it: groups nested under ``children``, hosts with ranges and
ports in their names, and vars, with the line and key path of everything (for errors).

``console.load.ansiblebuild`` turns it into slowroll's native structure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from console.load import yamldoc
from console.load.values import NAME_RE
from console.load.yamldoc import Path_
from console.model.errors import InventoryError, did_you_mean

GROUP_KEYS = ("hosts", "children", "vars")
PORT_VARS = ("ansible_port", "ansible_ssh_port")

_RANGE = re.compile(r"\[([0-9A-Za-z]+):([0-9A-Za-z]+)(?::([0-9]+))?\]")


@dataclass
class AnsibleVar:
    value: Any
    line: int | None
    path: Path_  # in the Ansible file, for errors


@dataclass
class AnsibleGroup:
    name: str
    line: int | None
    path: Path_
    children: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)  # listed directly under it, in file order
    host_lines: dict[str, int | None] = field(default_factory=dict)
    vars: dict[str, AnsibleVar] = field(default_factory=dict)
    parents: list[str] = field(default_factory=list)
    defined: bool = False  # has a body somewhere (not only named as a child)


@dataclass
class AnsibleHost:
    name: str
    line: int | None
    path: Path_
    vars: dict[str, AnsibleVar] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)  # direct


class AnsibleFile:
    """Walks the Ansible YAML into groups and hosts, with the line and key path of everything."""

    def __init__(self, path: str, value: Any, lines: Mapping[Path_, int]) -> None:
        self.path = path
        self.lines = lines
        self.groups: dict[str, AnsibleGroup] = {}
        self.hosts: dict[str, AnsibleHost] = {}
        self._host_groups: dict[str, set[str]] = {}
        self.read(value)

    def line(self, path: Path_) -> int | None:
        return yamldoc.line_of(self.lines, path)

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
        if not name.strip() or not NAME_RE.match(name):
            raise self.err(path, "a group name must be a non-empty name without control characters")
        if name == "all" and parent is not None:
            raise self.err(path, "'all' is the root group; it cannot be a child of another group")
        g = self.groups.get(name)
        if g is None:
            g = self.groups[name] = AnsibleGroup(name, self.line(path), path)
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
                g.vars[k] = AnsibleVar(v, self.line(vpath), vpath)
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

    def host(self, pattern: str, hvars: Any, path: Path_, group: AnsibleGroup) -> None:
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
                h = self.hosts[name] = AnsibleHost(name, line, path)
            if port is not None and not any(p in (hvars or {}) for p in PORT_VARS):
                h.vars["ansible_port"] = AnsibleVar(port, line, path)
            for k, v in (hvars or {}).items():
                h.vars[k] = AnsibleVar(
                    v, self.line((*path, k)), (*path, k)
                )  # a later listing wins, as in Ansible
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
        if not text or not NAME_RE.match(text):
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

    def host_groups(self, host: str) -> set[str]:
        """Every group ``host`` is in: those that list it and all of their ancestors ('all' included)."""
        if host not in self._host_groups:
            self._host_groups[host] = {a for g in self.hosts[host].groups for a in self.ancestors(g)}
        return self._host_groups[host]

    def priority(self, group: str) -> int:
        """The group's ``ansible_group_priority`` (1 when not set)."""
        var = self.groups[group].vars.get("ansible_group_priority")
        if var is None:
            return 1
        if isinstance(var.value, bool) or not isinstance(var.value, int):
            raise self.err(var.path, f"expected a whole number, got {yamldoc.kind_of(var.value)}")
        return var.value

    def all_vars(self) -> list[tuple[str, AnsibleVar, str]]:
        """Every var: (name, var, where) with where = 'host NAME' or 'group NAME'."""
        out = [(k, v, f"group {g.name}") for g in self.groups.values() for k, v in g.vars.items()]
        out += [(k, v, f"host {h.name}") for h in self.hosts.values() for k, v in h.vars.items()]
        return out
