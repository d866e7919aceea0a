"""Ansible YAML inventories, read directly: hosts, nested groups and vars as Ansible sees them.

The hosts and groups come from the Ansible file; the slowroll part (policy, group budgets, checks, ssh...)
comes from a side file (``--policy FILE``, native sections) or from ``slowroll_*`` vars in the Ansible file
itself — each section from one place only. The result is built into the native structure and validated by
``console.load.native.build_inventory``, so every mistake still names file, line and key and exits 2.
See ``docs/ansible.md``.

Ansible's semantics that slowroll follows:

- ``all`` / ``children`` (nested to any depth) / ``hosts`` / ``vars``; other top-level keys are groups
  under ``all``; a group named in several places is one group (its parts merge).
- A host in group G is a member of every ancestor of G; a host listed under several groups is in each.
- Vars: ``all`` first, then groups by (depth, ``ansible_group_priority``, name) — a nearer (deeper) group
  overrides a farther one — then the host's own vars, which win.
- Host names may carry ranges (``web-[01:12]``, ``db-[a:c]``, ``[1:9:2]``) and a port (``web1:2222``).

Here: telling an Ansible inventory from a native one, and reading one. The Ansible file is walked by
``console.load.ansiblefile``, the slowroll settings read by ``console.load.ansibleside``, the native
structure built by ``console.load.ansiblebuild``.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import replace
from pathlib import Path

import yaml

from console.load import yamldoc
from console.load.ansiblebuild import Builder
from console.load.ansiblefile import GROUP_KEYS, AnsibleFile
from console.load.ansibleside import read_side
from console.load.native import TOP_KEYS, build_inventory
from console.load.yamldoc import read_yaml
from console.model.errors import InventoryError
from console.model.inventory import Inventory

INI_MESSAGE = (
    "only YAML inventories are read; convert with `ansible-inventory -i hosts.ini --list -y > hosts.yml`"
)

_INI_SECTION = re.compile(r"^\[[^\[\]\s]+\]\s*(?:[#;].*)?$", re.M)
_YAML_TOP_KEY = re.compile(r"^[A-Za-z0-9_.-]+:(?:\s|$)", re.M)
_ANSIBLE_TAGS = re.compile(r"(?<=[:\-\s])!(?:vault|unsafe)(?=[ \t\r\n])")


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
    if not top or any(k in TOP_KEYS for k in top):
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
# Loading


def _without_ansible_tags(text: str) -> str:
    """``!vault`` and ``!unsafe`` blanked out (same length: lines and columns stay where they were)."""
    return _ANSIBLE_TAGS.sub(lambda m: " " * len(m.group(0)), text)


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
    f = AnsibleFile(path, value, lines)
    side = read_side(str(policy_path)) if policy_path is not None else None
    builder = Builder(f, side)
    structure = builder.build()
    try:
        inv = build_inventory(structure, builder.lines, path, text=text, base_dir=Path(path).parent)
    except InventoryError as exc:
        raise builder.relocate(exc) from None
    if side is not None:
        # The journal keeps the Ansible file's text; the hash covers the policy file too, so a changed
        # policy is a changed inventory.
        both = hashlib.sha256(text.encode() + b"\0" + side.text.encode()).hexdigest()
        inv = replace(inv, content_hash=both)
    return inv


def unread_vars_dirs(path: str | os.PathLike[str]) -> list[str]:
    """``group_vars``/``host_vars`` folders next to the inventory: Ansible reads them, slowroll does not.

    For the command line to print as a warning (their vars, ansible_host included, are not applied).
    """
    base = Path(path).parent
    return [str(base / d) for d in ("group_vars", "host_vars") if (base / d).is_dir()]
