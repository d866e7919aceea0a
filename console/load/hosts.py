"""The ``hosts:`` and ``groups:`` sections of an inventory, and the vars a host inherits from its groups."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from console.load.values import Values
from console.load.yamldoc import Path_, kind_of
from console.model.errors import did_you_mean
from console.model.host import Host
from console.model.inventory import Group, SSHSettings
from console.model.policy import Amount

HOST_KEYS = ("name", "address", "port", "user", "groups", "vars")
GROUP_KEYS = ("hosts", "max_unavailable", "vars", "description")


@dataclass(frozen=True)
class GroupSpec:
    """A group as the ``groups:`` section writes it (members named there only, before the hosts)."""

    members: list[str]
    max_unavailable: Amount | None
    vars: dict[str, Any]
    description: str


def read_groups(v: Values, value: object) -> dict[str, GroupSpec]:
    path: Path_ = ("groups",)
    data = v.mapping(value, path, None)
    out: dict[str, GroupSpec] = {}
    for gname, spec in data.items():
        gpath = (*path, gname)
        v.name(gname, gpath)
        if isinstance(spec, list):
            spec = {"hosts": spec}
        body = v.mapping(spec, gpath, GROUP_KEYS)
        budget = None
        if "max_unavailable" in body:
            budget = v.amount(body["max_unavailable"], (*gpath, "max_unavailable"), what="max_unavailable")
        out[gname] = GroupSpec(
            members=v.str_list(body.get("hosts"), (*gpath, "hosts"), what="host names"),
            max_unavailable=budget,
            vars=v.vars(body.get("vars"), (*gpath, "vars")),
            description=str(body.get("description") or ""),
        )
    return out


def read_hosts(
    v: Values, value: object, ssh: SSHSettings, group_specs: Mapping[str, GroupSpec]
) -> list[Host]:
    """The hosts in file order; the groups they name must be declared under ``groups``."""
    path: Path_ = ("hosts",)
    entries = _host_entries(v, value)
    if not entries:
        raise v.err(path, "no hosts: the 'hosts' section is empty")
    seen: dict[str, Path_] = {}
    hosts: list[Host] = []
    for hname, spec, hpath in entries:
        v.name(hname, hpath)
        if hname in seen:
            raise v.err(hpath, f"duplicate host name {hname!r} (first on line {v.doc.line(seen[hname])})")
        seen[hname] = hpath
        hosts.append(_host(v, hname, spec, hpath, ssh, group_specs))
    return hosts


def _host_entries(v: Values, value: object) -> list[tuple[str, Any, Path_]]:
    """(name, settings, key path) of each host, from a mapping of name to settings or from a list."""
    path: Path_ = ("hosts",)
    if value is None:
        raise v.err(path if "hosts" in (v.doc.value or {}) else (), "no hosts: add a 'hosts' section")
    entries: list[tuple[str, Any, Path_]] = []
    if isinstance(value, dict):
        for hname, spec in value.items():
            entries.append((hname, spec, (*path, hname)))
    elif isinstance(value, list):
        for i, spec in enumerate(value):
            hpath = (*path, i)
            if isinstance(spec, str):
                entries.append((spec, None, hpath))
                continue
            body = v.mapping(spec, hpath, HOST_KEYS)
            if "name" not in body:
                raise v.err(hpath, "each host in a list needs a 'name'")
            entries.append((v.name(body["name"], (*hpath, "name")), body, hpath))
    else:
        raise v.err(path, f"expected a mapping of host name to settings (or a list), got {kind_of(value)}")
    return entries


def _host(
    v: Values, hname: str, spec: object, hpath: Path_, ssh: SSHSettings, group_specs: Mapping[str, GroupSpec]
) -> Host:
    if spec is None:
        spec = {}
    elif isinstance(spec, str):
        spec = {"address": spec}
    body = v.mapping(spec, hpath, HOST_KEYS)
    address = v.string(body.get("address", hname), (*hpath, "address"), what="an address")
    if any(c.isspace() for c in address) or address.startswith("-"):
        raise v.err((*hpath, "address"), f"expected a host name or IP address, got {address!r}")
    port = v.port(body.get("port", ssh.port), (*hpath, "port"))
    user = v.optional_name(body, "user", hpath) or ssh.user
    groups = v.str_list(body.get("groups"), (*hpath, "groups"), what="group names")
    for i, g in enumerate(groups):
        if g not in group_specs:
            raise v.err(
                (*hpath, "groups", i),
                f"unknown group {g!r}{did_you_mean(g, group_specs)}; declare groups under 'groups'",
            )
    hvars = v.vars(body.get("vars"), (*hpath, "vars"))
    explicit = {k for k in ("address", "port", "user") if body.get(k) is not None}
    if ssh.port_set:
        explicit.add("port")
    if ssh.user is not None:
        explicit.add("user")
    return Host(hname, address, port, user, tuple(groups), hvars, v.doc.line(hpath), frozenset(explicit))


def resolve_groups(v: Values, specs: Mapping[str, GroupSpec], hosts: list[Host]) -> dict[str, Group]:
    """The groups with their members: those the group lists, then the hosts that name it, in host order."""
    names = [h.name for h in hosts]
    members: dict[str, list[str]] = {g: [] for g in specs}
    for gname, spec in specs.items():
        for i, member in enumerate(spec.members):
            if member not in names:
                raise v.err(
                    ("groups", gname, "hosts", i),
                    f"unknown host {member!r}{did_you_mean(member, names)}",
                )
            if member in members[gname]:
                raise v.err(("groups", gname, "hosts", i), f"host {member!r} is listed twice")
            members[gname].append(member)
    for h in hosts:
        for g in h.groups:
            if h.name not in members[g]:
                members[g].append(h.name)
    order = {n: i for i, n in enumerate(names)}
    groups: dict[str, Group] = {}
    for gname, spec in specs.items():
        ordered = tuple(sorted(members[gname], key=order.__getitem__))
        groups[gname] = Group(gname, ordered, spec.max_unavailable, spec.vars, spec.description)
    return groups


def apply_group_vars(
    hosts: list[Host], groups: Mapping[str, Group], fleet_vars: Mapping[str, Any]
) -> list[Host]:
    """Each host with all its groups and its vars merged: the fleet's, then its groups', then its own."""
    out = []
    for h in hosts:
        member_of = tuple(g for g in groups if h.name in groups[g].members)
        merged: dict[str, Any] = dict(fleet_vars)
        for g in member_of:
            merged.update(groups[g].vars)
        merged.update(h.vars)
        out.append(Host(h.name, h.address, h.port, h.user, member_of, merged, h.line, h.explicit))
    return out
