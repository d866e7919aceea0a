"""From an Ansible inventory (and its slowroll settings) to the native structure that
``console.load.native.build_inventory`` validates, remembering where each native key came from so that a
native error names the Ansible file (or the side file) and its key.

Vars: ``all`` first, then groups by (depth, ``ansible_group_priority``, name) — a nearer (deeper) group
overrides a farther one — then the host's own vars, which win.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from console.load import yamldoc
from console.load.ansiblefile import PORT_VARS, AnsibleFile, AnsibleVar
from console.load.ansibleside import GroupSettings, Sections, SideFile, check_vars, excluded, settings
from console.load.redact import SECRET_NAME
from console.load.values import NAME_RE
from console.load.yamldoc import Path_
from console.model.errors import InventoryError, did_you_mean

SPECIAL_GROUPS = ("all", "ungrouped")  # Ansible's own: never slowroll groups (no budget of their own)
ADDRESS_VARS = ("ansible_host", "ansible_ssh_host")
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
VAULT = "$ANSIBLE_VAULT;"


@dataclass
class Origin:
    """Where a native key path came from: which file, and its key path there (for error messages)."""

    file: str
    path: Path_


class Builder:
    """Builds ``value`` (the native structure) and ``lines`` (the line of each of its key paths)."""

    def __init__(self, f: AnsibleFile, side: SideFile | None) -> None:
        self.f = f
        self.path = f.path
        self.side = side
        self.value: dict[str, Any] = {}
        self.lines: dict[Path_, int] = {(): 1}
        self.origins: list[tuple[Path_, Origin]] = []

    def place(self, native_path: Path_, line: int | None, file: str, src: Path_) -> None:
        if line is not None:
            self.lines[native_path] = line
        self.origins.append((native_path, Origin(file, src)))

    def copy_lines(self, src_lines: Mapping[Path_, int], src_prefix: Path_, dst_prefix: Path_) -> None:
        n = len(src_prefix)
        for p, line in src_lines.items():
            if p[:n] == src_prefix:
                self.lines[(*dst_prefix, *p[n:])] = line

    def build(self) -> dict[str, Any]:
        f = self.f
        depth = f.depths()
        check_vars(f)
        sections, group_settings = settings(f, self.side)
        left_out = excluded(f, sections.pop("exclude", None))
        order = [h for h in f.hosts if h not in left_out]
        if not order:
            raise f.err(("all",) if "all" in f.groups else (), "no hosts: the inventory lists no host")
        key_files = self.hosts(order, depth)
        self.fleet_vars()
        self.groups(order, group_settings)
        self.sections(sections)
        if key_files:
            self.identity_files(key_files)
        return self.value

    # -- sections -----------------------------------------------------------------------------------

    def hosts(self, order: list[str], depth: Mapping[str, int]) -> list[AnsibleVar]:
        """The ``hosts`` section; returns the key files the hosts name (ansible_ssh_private_key_file)."""
        hosts_out: dict[str, Any] = {}
        key_files: list[AnsibleVar] = []
        for name in order:
            hosts_out[name], key_file = self.host(name, depth)
            if key_file is not None:
                key_files.append(key_file)
        self.value["hosts"] = hosts_out
        self.lines[("hosts",)] = min((h.line for h in self.f.hosts.values() if h.line), default=1)
        return key_files

    def host(self, name: str, depth: Mapping[str, int]) -> tuple[dict[str, Any], AnsibleVar | None]:
        """One host's native settings from its merged vars, and its key file (if it names one)."""
        f = self.f
        host = f.hosts[name]
        hpath: Path_ = ("hosts", name)
        self.place(hpath, host.line, self.path, host.path)
        chain = sorted(f.host_groups(name) | {"all"}, key=lambda g: (depth[g], f.priority(g), g))
        merged: dict[str, AnsibleVar] = {}
        for g in chain:
            merged.update(f.groups[g].vars)
        merged.update(host.vars)
        body: dict[str, Any] = {}
        for key, names, read in _CONNECTION_VARS:
            var = first(merged, names)
            if var is not None:
                body[key] = read(f, var)
                self.place((*hpath, key), var.line, self.path, var.path)
        conn = merged.get("ansible_connection")
        if conn is not None and str(conn.value) not in SSH_CONNECTIONS:
            raise f.err(
                conn.path,
                f"host {name!r} is reached with ansible_connection {conn.value!r}, not SSH; slowroll "
                "reboots hosts over SSH only (leave it out with 'exclude' in the policy file)",
            )
        hvars = keep_vars(merged)
        if hvars:
            body["vars"] = {k: v.value for k, v in hvars.items()}
            for k, v in hvars.items():
                self.place((*hpath, "vars", k), v.line, self.path, v.path)
        return body, first(merged, KEY_FILE_VARS)

    def fleet_vars(self) -> None:
        fleet_vars = keep_vars(self.f.groups["all"].vars)
        if fleet_vars:
            self.value["vars"] = {k: v.value for k, v in fleet_vars.items()}
            for k, v in fleet_vars.items():
                self.place(("vars", k), v.line, self.path, v.path)

    def groups(self, order: list[str], group_settings: GroupSettings) -> None:
        """The ``groups`` section: every group but Ansible's own, its members, vars and settings."""
        f = self.f
        groups_out: dict[str, Any] = {}
        for gname, grp in f.groups.items():
            if gname in SPECIAL_GROUPS:
                continue
            members = [h for h in order if gname in f.host_groups(h)]
            gpath: Path_ = ("groups", gname)
            self.place(gpath, grp.line, self.path, grp.path)
            gbody: dict[str, Any] = {"hosts": members}
            for i, h in enumerate(members):
                self.lines[(*gpath, "hosts", i)] = f.hosts[h].line or 1
            own = keep_vars(grp.vars)
            if own:
                gbody["vars"] = {k: v.value for k, v in own.items()}
                for k, v in own.items():
                    self.place((*gpath, "vars", k), v.line, self.path, v.path)
            for key, setting in group_settings.get(gname, {}).items():
                gbody[key] = setting.value
                self.place((*gpath, key), setting.line, setting.file, setting.src)
            groups_out[gname] = gbody
        for gname in group_settings:
            if gname not in groups_out:
                raise self.unknown_group(gname, group_settings)
        if groups_out:
            self.value["groups"] = groups_out

    def unknown_group(self, gname: str, group_settings: GroupSettings) -> InventoryError:
        """Settings for a group the Ansible file does not have (or for Ansible's own)."""
        _, line, file, src, _ = next(iter(group_settings[gname].values()))
        known = [g for g in self.f.groups if g not in SPECIAL_GROUPS]
        where = "in this file" if file == self.path else f"in {self.path}"
        return InventoryError(
            file,
            line,
            yamldoc.key_path(src[:-1]) if file != self.path else yamldoc.key_path(src),
            f"no group {gname!r} {where}{did_you_mean(gname, known)}"
            if gname not in SPECIAL_GROUPS
            else f"{gname!r} is Ansible's own group and has no budget; "
            "for a fleet-wide budget set policy.max_unavailable",
        )

    def sections(self, sections: Sections) -> None:
        """The other native sections, as the side file or the ``slowroll_*`` vars wrote them."""
        for section, (value, line, file, src, src_lines) in sections.items():
            self.value[section] = value
            self.place((section,), line, file, src)
            self.copy_lines(src_lines, src, (section,))

    def identity_files(self, key_files: list[AnsibleVar]) -> None:
        """ansible_ssh_private_key_file values become the fleet's key files (each host is offered each)."""
        ssh = self.value.get("ssh")
        if isinstance(ssh, dict) and "identity_files" in ssh:
            return  # the slowroll settings name the keys themselves
        if ssh is None:
            ssh = self.value["ssh"] = {}
        elif not isinstance(ssh, dict):
            return  # build_inventory reports it
        files: list[str] = []
        for var in key_files:
            text = plain(self.f, var, "a key file path")
            if text not in files:
                self.place(("ssh", "identity_files", len(files)), var.line, self.path, var.path)
                files.append(text)
        ssh["identity_files"] = files

    def relocate(self, exc: InventoryError) -> InventoryError:
        """A native error, re-pointed at the file and key it came from (Ansible file or side file)."""
        best: tuple[Path_, Origin] | None = None
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
# Vars


def first(merged: Mapping[str, AnsibleVar], names: tuple[str, ...]) -> AnsibleVar | None:
    """The first of ``names`` that is set (Ansible's aliases: ansible_host, then ansible_ssh_host)."""
    for n in names:
        if n in merged:
            return merged[n]
    return None


def plain(f: AnsibleFile, var: AnsibleVar, what: str) -> str:
    """A var's value as one word: no template, no vault, no spaces."""
    value = var.value
    if isinstance(value, str) and "{{" in value:
        raise f.err(
            var.path,
            "Jinja templates are not evaluated; export the resolved inventory with "
            "`ansible-inventory -i FILE --list -y` or write the value itself",
        )
    if value is None or isinstance(value, bool | dict | list) or not str(value).strip():
        raise f.err(var.path, f"expected {what}, got {yamldoc.kind_of(value)}")
    text = str(value)
    if text.lstrip().startswith(VAULT):
        raise f.err(var.path, "Ansible Vault values are not decrypted; write this value in clear")
    if any(c.isspace() for c in text) or not NAME_RE.match(text):
        raise f.err(var.path, f"expected {what}, got {text!r}")
    return text


def address(f: AnsibleFile, var: AnsibleVar) -> str:
    text = plain(f, var, "a host name or IP address")
    if text.startswith("-"):
        raise f.err(var.path, f"expected a host name or IP address, got {text!r}")
    return text


def port(f: AnsibleFile, var: AnsibleVar) -> int:
    value = var.value
    if isinstance(value, str) and "{{" in value:
        plain(f, var, "a TCP port")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise f.err(var.path, f"expected a TCP port number, got {yamldoc.kind_of(var.value)}")
    if not 1 <= value <= 65535:
        raise f.err(var.path, f"expected a TCP port (1–65535), got {value}")
    return value


def user(f: AnsibleFile, var: AnsibleVar) -> str:
    return plain(f, var, "a user name")


# The native host keys that Ansible's connection vars give, in the order they are read.
_CONNECTION_VARS: tuple[tuple[str, tuple[str, ...], Callable[[AnsibleFile, AnsibleVar], str | int]], ...] = (
    ("address", ADDRESS_VARS, address),
    ("port", PORT_VARS, port),
    ("user", USER_VARS, user),
)


def keep_vars(values: Mapping[str, AnsibleVar]) -> dict[str, AnsibleVar]:
    """The vars slowroll carries: not Ansible's own, not slowroll settings, nothing secret."""
    out: dict[str, AnsibleVar] = {}
    for k, v in values.items():
        if k.startswith(("ansible_", "slowroll_")) or SECRET_NAME.search(k):
            continue
        if isinstance(v.value, str) and v.value.lstrip().startswith(VAULT):
            continue  # an Ansible Vault value: ciphertext, of no use to a check
        out[k] = v
    return out
