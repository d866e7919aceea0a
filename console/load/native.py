"""The inventory: a YAML file that names the hosts, their groups, the policy and the health checks.

Every mistake is reported with the file, the line and the key path, says what was expected, and ends the
command with exit code 2 (see ``InventoryError``). The format is documented in ``docs/inventory.md``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from console.load.checks import read_checks, read_hooks
from console.load.hosts import apply_group_vars, read_groups, read_hosts, resolve_groups
from console.load.policy import read_policy
from console.load.settings import read_notify, read_ssh
from console.load.values import Values
from console.load.yamldoc import Path_, YamlDoc, read_inventory_text
from console.model.inventory import Inventory

TOP_KEYS = ("name", "ssh", "policy", "groups", "hosts", "checks", "service_checks", "hooks", "notify", "vars")


def load_inventory(path: str | os.PathLike[str]) -> Inventory:
    """Read and validate an inventory file; raises ``InventoryError`` (exit 2) on any mistake."""
    return parse_inventory(read_inventory_text(path), str(path), base_dir=Path(path).parent)


def parse_inventory(text: str, path: str = "<inventory>", *, base_dir: Path | None = None) -> Inventory:
    return _load(Values(YamlDoc(path, text), base_dir or Path(".")), text)


def build_inventory(
    value: Any, lines: Mapping[Path_, int], path: str, *, text: str, base_dir: Path | None = None
) -> Inventory:
    """Validate a native-format structure built elsewhere (e.g. from an Ansible inventory).

    ``lines`` maps native key paths to lines of the file at ``path``, so errors still point there.
    """
    doc = YamlDoc.built(path, value, lines)
    return _load(Values(doc, base_dir or Path(path).parent), text)


def _load(v: Values, text: str) -> Inventory:
    """The inventory, section by section: each may refer only to those read before it."""
    if v.doc.value is None:
        raise v.err((), "the file is empty; expected at least a 'hosts' section")
    top = v.mapping(v.doc.value, (), TOP_KEYS)
    ssh = read_ssh(v, top.get("ssh"))
    group_specs = read_groups(v, top.get("groups"))
    fleet_vars = v.vars(top.get("vars"), ("vars",))
    hosts = read_hosts(v, top.get("hosts"), ssh, group_specs)
    groups = resolve_groups(v, group_specs, hosts)
    hosts = apply_group_vars(hosts, groups, fleet_vars)
    names = {h.name for h in hosts}
    policy = read_policy(v, top.get("policy"), names, groups, len(hosts))
    checks = read_checks(v, top.get("checks"), ("checks",), names, groups, hosts)
    service_checks = read_checks(v, top.get("service_checks"), ("service_checks",), names, groups, hosts)
    hooks = read_hooks(v, top.get("hooks"), names, groups)
    notify = read_notify(v, top.get("notify"))
    name = top.get("name")
    return Inventory(
        path=v.doc.path,
        name=v.name(name, ("name",)) if name is not None else Path(v.doc.path).stem,
        hosts=tuple(hosts),
        groups=groups,
        policy=policy,
        checks=tuple(checks),
        service_checks=tuple(service_checks),
        ssh=ssh,
        hooks=tuple(hooks),
        notify=notify,
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
        text=text,
    )
