"""The inventory: a YAML file that names the hosts, their groups, the policy and the health checks.

Every mistake is reported with the file, the line and the key path, says what was expected, and ends the
command with exit code 2 (see ``InventoryError``). The format is documented in ``docs/inventory.md``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from console.load.yamldoc import Path_, YamlDoc, kind_of, read_inventory_text
from console.model.durations import DurationError, parse_duration
from console.model.errors import InventoryError, did_you_mean
from console.model.findings import DriftPolicy
from console.model.host import Host
from console.model.inventory import NOTIFY_EVENTS, Group, Inventory, NotifySettings, SSHSettings
from console.model.policy import Amount, Policy
from console.model.specs import (
    HOST_KINDS,
    PHASES,
    PLACEHOLDER,
    SERVICE_KINDS,
    CheckSpec,
    HookSpec,
    placeholder_value,
)
from console.model.windows import DAYS, MaintenanceWindow, parse_time

TOP_KEYS = ("name", "ssh", "policy", "groups", "hosts", "checks", "service_checks", "hooks", "notify", "vars")
HOOK_KEYS = ("name", "command", "on", "timeout", "groups", "hosts")
NOTIFY_KEYS = ("webhook", "events", "timeout")
WINDOW_KEYS = ("days", "start", "end", "timezone")
SSH_KEYS = ("user", "port", "known_hosts", "identity_files", "agent", "config")
HOST_KEYS = ("name", "address", "port", "user", "groups", "vars")
GROUP_KEYS = ("hosts", "max_unavailable", "vars", "description")
_CHECK_COMMON = ("name", "timeout", "retries", "retry_delay", "initial_delay", "status", "body", "insecure")
CHECK_KEYS = ("command", "systemd", "tcp", "http", *_CHECK_COMMON, "groups", "hosts")
SERVICE_CHECK_KEYS = ("command", "tcp", "http", "prometheus", "alerts", *_CHECK_COMMON)
POLICY_KEYS = (
    "batch",
    "max_unavailable",
    "group_max_unavailable",
    "bake",
    "reboot_timeout",
    "connect_timeout",
    "command_timeout",
    "poll_interval",
    "check_interval",
    "recheck_interval",
    "max_failures",
    "reboot_command",
    "boot_id_command",
    "canaries",
    "order",
    "max_uptime",
    "drift",
    "resume_grace",
    "windows",
    "max_reboots_per_hour",
    "min_slice_gap",
)

ORDERS = ("inventory", "uptime", "risk")
SECRET_KEYS = ("password", "passphrase", "ssh_password", "ansible_password", "ansible_ssh_pass")
NAME_RE = re.compile(r"^[^\x00-\x1f\x7f]+$")


# ---------------------------------------------------------------------------------------------------
# YAML with line numbers


# ---------------------------------------------------------------------------------------------------
# Loading


def load_inventory(path: str | os.PathLike[str]) -> Inventory:
    """Read and validate an inventory file; raises ``InventoryError`` (exit 2) on any mistake."""
    return parse_inventory(read_inventory_text(path), str(path), base_dir=Path(path).parent)


def parse_inventory(text: str, path: str = "<inventory>", *, base_dir: Path | None = None) -> Inventory:
    doc = YamlDoc(path, text)
    return _Loader(doc, base_dir or Path(".")).load(text)


def build_inventory(
    value: Any, lines: Mapping[Path_, int], path: str, *, text: str, base_dir: Path | None = None
) -> Inventory:
    """Validate a native-format structure built elsewhere (e.g. from an Ansible inventory).

    ``lines`` maps native key paths to lines of the file at ``path``, so errors still point there.
    """
    doc = YamlDoc.__new__(YamlDoc)
    doc.path = path
    doc.lines = dict(lines)
    doc.value = value
    return _Loader(doc, base_dir or Path(path).parent).load(text)


class _Loader:
    def __init__(self, doc: YamlDoc, base_dir: Path) -> None:
        self.doc = doc
        self.base_dir = base_dir

    def err(self, path: Path_, message: str) -> InventoryError:
        return self.doc.error(path, message)

    # -- generic validators -------------------------------------------------------------------------

    def mapping(self, value: Any, path: Path_, allowed: tuple[str, ...] | None) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.err(path, f"expected a mapping of keys, got {kind_of(value)}")
        if allowed is not None:
            for key in value:
                if key in SECRET_KEYS or key.endswith("_password"):
                    raise self.err(
                        (*path, key),
                        "passwords are not accepted in inventories; use SSH keys or ssh-agent",
                    )
                if key not in allowed:
                    raise self.err(
                        (*path, key),
                        f"unknown key{did_you_mean(key, allowed)}; expected one of: {', '.join(allowed)}",
                    )
        return value

    def string(self, value: Any, path: Path_, *, what: str = "a string") -> str:
        if isinstance(value, bool) or value is None or isinstance(value, dict | list):
            raise self.err(path, f"expected {what}, got {kind_of(value)}")
        text = str(value)
        if not text.strip():
            raise self.err(path, f"expected {what}, got an empty string")
        return text

    def name(self, value: Any, path: Path_) -> str:
        text = self.string(value, path, what="a name")
        if not NAME_RE.match(text):
            raise self.err(path, "names cannot contain control characters or newlines")
        return text

    def integer(self, value: Any, path: Path_, *, low: int, high: int | None = None, what: str = "") -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.err(path, f"expected {what or 'a whole number'}, got {kind_of(value)}")
        if value < low or (high is not None and value > high):
            rng = f"{low}–{high}" if high is not None else f"at least {low}"
            raise self.err(path, f"expected {what or 'a whole number'} ({rng}), got {value}")
        return value

    def duration(self, value: Any, path: Path_, *, positive: bool = True) -> float:
        try:
            seconds = parse_duration(value)
        except DurationError as exc:
            raise self.err(path, str(exc)) from None
        if positive and seconds <= 0:
            raise self.err(path, f"expected a duration above zero, got {value!r}")
        return seconds

    def amount(self, value: Any, path: Path_, *, what: str) -> Amount:
        if isinstance(value, bool):
            raise self.err(path, f"expected {what}: a number of hosts or a percentage such as '25%'")
        if isinstance(value, int):
            if value < 1:
                raise self.err(
                    path,
                    f"{what} of {value} would block every host; use at least 1 (or a percentage)",
                )
            return Amount(count=value)
        if isinstance(value, str):
            m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%\s*", value)
            if m:
                pct = float(m.group(1))
                if pct <= 0:
                    raise self.err(path, f"{what} of {value} would block every host; use more than 0%")
                if pct > 100:
                    raise self.err(path, f"expected a percentage up to 100%, got {value}")
                return Amount(percent=pct)
            if value.strip().isdigit():
                return self.amount(int(value), path, what=what)
        raise self.err(
            path, f"expected {what}: a number of hosts or a percentage such as '25%', got {value!r}"
        )

    def str_list(self, value: Any, path: Path_, *, what: str) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str):
            return [self.name(value, path)]
        if not isinstance(value, list):
            raise self.err(path, f"expected a list of {what}, got {kind_of(value)}")
        return [self.name(item, (*path, i)) for i, item in enumerate(value)]

    # -- sections -----------------------------------------------------------------------------------

    def load(self, text: str) -> Inventory:
        root = self.doc.value
        if root is None:
            raise self.err((), "the file is empty; expected at least a 'hosts' section")
        top = self.mapping(root, (), TOP_KEYS)
        ssh = self.ssh(top.get("ssh"))
        group_specs = self.groups_section(top.get("groups"))
        fleet_vars = self.vars(top.get("vars"), ("vars",))
        hosts = self.hosts_section(top.get("hosts"), ssh, group_specs, fleet_vars)
        groups = self.resolve_groups(group_specs, hosts)
        hosts = self.apply_group_vars(hosts, groups, fleet_vars)
        names = {h.name for h in hosts}
        policy = self.policy(top.get("policy"), names, groups, len(hosts))
        checks = self.checks(top.get("checks"), ("checks",), CHECK_KEYS, names, groups, hosts)
        service_checks = self.checks(
            top.get("service_checks"), ("service_checks",), SERVICE_CHECK_KEYS, names, groups, hosts
        )
        hooks = self.hooks(top.get("hooks"), names, groups)
        notify = self.notify(top.get("notify"))
        name = top.get("name")
        inv_name = self.name(name, ("name",)) if name is not None else Path(self.doc.path).stem
        return Inventory(
            path=self.doc.path,
            name=inv_name,
            hosts=tuple(hosts),
            groups=groups,
            policy=policy,
            checks=tuple(checks),
            service_checks=tuple(c for c in service_checks),
            ssh=ssh,
            hooks=tuple(hooks),
            notify=notify,
            content_hash=hashlib.sha256(text.encode()).hexdigest(),
            text=text,
        )

    def ssh(self, value: Any) -> SSHSettings:
        path: Path_ = ("ssh",)
        data = self.mapping(value, path, SSH_KEYS)
        user = self.name(data["user"], (*path, "user")) if data.get("user") is not None else None
        port = self.integer(data.get("port", 22), (*path, "port"), low=1, high=65535, what="a TCP port")
        known = data.get("known_hosts")
        known_path = None
        if known is not None:
            known_path = str(
                self.resolve_path(self.string(known, (*path, "known_hosts"), what="a file path"))
            )
        ids = [
            str(self.resolve_path(p))
            for p in self.str_list(
                data.get("identity_files"), (*path, "identity_files"), what="key file paths"
            )
        ]
        agent = data.get("agent", True)
        if not isinstance(agent, bool):
            raise self.err((*path, "agent"), f"expected true or false, got {kind_of(agent)}")
        config = None
        if data.get("config") is not None:
            config = str(
                self.resolve_path(self.string(data["config"], (*path, "config"), what="a file path"))
            )
        return SSHSettings(user, port, known_path, tuple(ids), agent, config, "port" in data)

    def resolve_path(self, text: str) -> Path:
        p = Path(os.path.expanduser(text))
        return p if p.is_absolute() else (self.base_dir / p)

    def vars(self, value: Any, path: Path_) -> dict[str, Any]:
        data = self.mapping(value, path, None)
        for key in data:
            if key.lower() in SECRET_KEYS or key.lower().endswith("password"):
                raise self.err(
                    (*path, key), "passwords are not accepted in inventories; use SSH keys or ssh-agent"
                )
        return data

    def groups_section(self, value: Any) -> dict[str, dict[str, Any]]:
        path: Path_ = ("groups",)
        data = self.mapping(value, path, None)
        out: dict[str, dict[str, Any]] = {}
        for gname, spec in data.items():
            gpath = (*path, gname)
            self.name(gname, gpath)
            if isinstance(spec, list):
                spec = {"hosts": spec}
            body = self.mapping(spec, gpath, GROUP_KEYS)
            budget = None
            if "max_unavailable" in body:
                budget = self.amount(
                    body["max_unavailable"], (*gpath, "max_unavailable"), what="max_unavailable"
                )
            out[gname] = {
                "members": self.str_list(body.get("hosts"), (*gpath, "hosts"), what="host names"),
                "max_unavailable": budget,
                "vars": self.vars(body.get("vars"), (*gpath, "vars")),
                "description": str(body.get("description") or ""),
            }
        return out

    def hosts_section(
        self,
        value: Any,
        ssh: SSHSettings,
        group_specs: Mapping[str, Mapping[str, Any]],
        fleet_vars: Mapping[str, Any],
    ) -> list[Host]:
        path: Path_ = ("hosts",)
        if value is None:
            raise self.err(
                path if "hosts" in (self.doc.value or {}) else (), "no hosts: add a 'hosts' section"
            )
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
                body = self.mapping(spec, hpath, HOST_KEYS)
                if "name" not in body:
                    raise self.err(hpath, "each host in a list needs a 'name'")
                entries.append((self.name(body["name"], (*hpath, "name")), body, hpath))
        else:
            raise self.err(
                path, f"expected a mapping of host name to settings (or a list), got {kind_of(value)}"
            )
        if not entries:
            raise self.err(path, "no hosts: the 'hosts' section is empty")
        seen: dict[str, Path_] = {}
        hosts: list[Host] = []
        for hname, spec, hpath in entries:
            self.name(hname, hpath)
            if hname in seen:
                raise self.err(
                    hpath, f"duplicate host name {hname!r} (first on line {self.doc.line(seen[hname])})"
                )
            seen[hname] = hpath
            if spec is None:
                spec = {}
            elif isinstance(spec, str):
                spec = {"address": spec}
            body = self.mapping(spec, hpath, HOST_KEYS)
            address = self.string(body.get("address", hname), (*hpath, "address"), what="an address")
            if any(c.isspace() for c in address) or address.startswith("-"):
                raise self.err((*hpath, "address"), f"expected a host name or IP address, got {address!r}")
            port = self.integer(
                body.get("port", ssh.port), (*hpath, "port"), low=1, high=65535, what="a TCP port"
            )
            user = self.name(body["user"], (*hpath, "user")) if body.get("user") is not None else ssh.user
            groups = self.str_list(body.get("groups"), (*hpath, "groups"), what="group names")
            for i, g in enumerate(groups):
                if g not in group_specs:
                    raise self.err(
                        (*hpath, "groups", i),
                        f"unknown group {g!r}{did_you_mean(g, group_specs)}; declare groups under 'groups'",
                    )
            hvars = self.vars(body.get("vars"), (*hpath, "vars"))
            explicit = {k for k in ("address", "port", "user") if body.get(k) is not None}
            if ssh.port_set:
                explicit.add("port")
            if ssh.user is not None:
                explicit.add("user")
            hosts.append(
                Host(
                    hname,
                    address,
                    port,
                    user,
                    tuple(groups),
                    hvars,
                    self.doc.line(hpath),
                    frozenset(explicit),
                )
            )
        return hosts

    def resolve_groups(self, specs: Mapping[str, Mapping[str, Any]], hosts: list[Host]) -> dict[str, Group]:
        names = [h.name for h in hosts]
        members: dict[str, list[str]] = {g: [] for g in specs}
        for gname, spec in specs.items():
            for i, member in enumerate(spec["members"]):
                if member not in names:
                    raise self.err(
                        ("groups", gname, "hosts", i),
                        f"unknown host {member!r}{did_you_mean(member, names)}",
                    )
                if member in members[gname]:
                    raise self.err(("groups", gname, "hosts", i), f"host {member!r} is listed twice")
                members[gname].append(member)
        for h in hosts:
            for g in h.groups:
                if h.name not in members[g]:
                    members[g].append(h.name)
        order = {n: i for i, n in enumerate(names)}
        groups: dict[str, Group] = {}
        for gname, spec in specs.items():
            ordered = tuple(sorted(members[gname], key=order.__getitem__))
            groups[gname] = Group(gname, ordered, spec["max_unavailable"], spec["vars"], spec["description"])
        return groups

    def apply_group_vars(
        self, hosts: list[Host], groups: Mapping[str, Group], fleet_vars: Mapping[str, Any]
    ) -> list[Host]:
        out = []
        for h in hosts:
            member_of = tuple(g for g in groups if h.name in groups[g].members)
            merged: dict[str, Any] = dict(fleet_vars)
            for g in member_of:
                merged.update(groups[g].vars)
            merged.update(h.vars)
            out.append(Host(h.name, h.address, h.port, h.user, member_of, merged, h.line, h.explicit))
        return out

    def policy(self, value: Any, names: set[str], groups: Mapping[str, Group], total: int) -> Policy:
        path: Path_ = ("policy",)
        data = self.mapping(value, path, POLICY_KEYS)
        kw: dict[str, Any] = {}
        if "batch" in data:
            raw = data["batch"]
            steps = raw if isinstance(raw, list) else [raw]
            if not steps:
                raise self.err(
                    (*path, "batch"), "expected a number, a percentage or a non-empty list of them"
                )
            kw["batch"] = tuple(
                self.amount(
                    s, (*path, "batch", i) if isinstance(raw, list) else (*path, "batch"), what="batch size"
                )
                for i, s in enumerate(steps)
            )
        for key in ("max_unavailable", "group_max_unavailable"):
            if key in data:
                kw[key] = self.amount(data[key], (*path, key), what=key)
        for key in Policy.DURATIONS:  # (pace_window is not a key: it is the hour of max_reboots_per_hour)
            if key in data:
                kw[key] = self.duration(
                    data[key], (*path, key), positive=key not in ("bake", "min_slice_gap")
                )
        if "max_uptime" in data:
            kw["max_uptime"] = self.duration(data["max_uptime"], (*path, "max_uptime"))
        if "max_reboots_per_hour" in data:
            kw["max_reboots_per_hour"] = self.integer(
                data["max_reboots_per_hour"], (*path, "max_reboots_per_hour"), low=1
            )
        if "windows" in data:
            kw["windows"] = self.windows(data["windows"], (*path, "windows"))
        if "max_failures" in data:
            kw["max_failures"] = self.integer(data["max_failures"], (*path, "max_failures"), low=0)
        for key in ("reboot_command", "boot_id_command"):
            if key in data:
                kw[key] = self.string(data[key], (*path, key), what="a command")
        if "order" in data:
            order = data["order"]
            if order not in ORDERS:
                raise self.err(
                    (*path, "order"),
                    f"expected one of {', '.join(ORDERS)}, got {order!r}{did_you_mean(str(order), ORDERS)}",
                )
            kw["order"] = order
        if "canaries" in data:
            cpath = (*path, "canaries")
            canaries: list[str] = []
            for i, item in enumerate(self.str_list(data["canaries"], cpath, what="host or group names")):
                ipath = (*cpath, i) if isinstance(data["canaries"], list) else cpath
                if item in groups:
                    canaries.extend(m for m in groups[item].members if m not in canaries)
                elif item in names:
                    if item not in canaries:
                        canaries.append(item)
                else:
                    raise self.err(
                        ipath,
                        f"unknown host or group {item!r}{did_you_mean(item, [*names, *groups])}",
                    )
            if len(canaries) >= total and total > 1:
                raise self.err(cpath, "every host is a canary; leave at least one host for the roll proper")
            kw["canaries"] = tuple(canaries)
        if data.get("drift") is False:  # `drift: off`: no facts, no findings during the roll
            if kw.get("max_uptime") is not None:
                raise self.err(
                    (*path, "max_uptime"),
                    "max_uptime is a drift finding, and the drift audit is off (drift: off)",
                )
            kw["drift"] = None
        else:
            if "drift" in data:
                kw["drift"] = self.drift(data["drift"], (*path, "drift"))
            drift_policy = kw.get("drift") or DriftPolicy.default()
            kw["drift"] = drift_policy.with_max_uptime(kw.get("max_uptime"))
        policy = Policy(**kw)
        if policy.poll_interval > policy.reboot_timeout:
            raise self.err((*path, "poll_interval"), "poll_interval is longer than reboot_timeout")
        return policy

    def windows(self, value: Any, path: Path_) -> tuple[MaintenanceWindow, ...]:
        from zoneinfo import ZoneInfoNotFoundError

        items = value if isinstance(value, list) else [value]
        out = []
        for i, item in enumerate(items):
            wpath = (*path, i) if isinstance(value, list) else path
            body = self.mapping(item, wpath, WINDOW_KEYS)
            for key in ("start", "end"):
                if key not in body:
                    raise self.err(wpath, f"a maintenance window needs '{key}' (a time of day such as 22:00)")
            times = []
            for key in ("start", "end"):
                raw = body[key]
                if isinstance(raw, int) and not isinstance(raw, bool):  # YAML 1.1 reads 22:00 as 1320
                    raw = f"{raw // 60}:{raw % 60:02d}"
                try:
                    times.append(parse_time(str(raw)))
                except ValueError as exc:
                    raise self.err((*wpath, key), str(exc)) from None
            days_raw = body.get("days", list(DAYS))
            days_list = days_raw if isinstance(days_raw, list) else [days_raw]
            days: set[int] = set()
            for j, d in enumerate(days_list):
                word = str(d).strip().lower()[:3]
                if word not in DAYS:
                    raise self.err(
                        (*wpath, "days", j) if isinstance(days_raw, list) else (*wpath, "days"),
                        f"expected a day such as mon or tuesday, got {d!r}",
                    )
                days.add(DAYS.index(word))
            tz = str(body.get("timezone", "UTC"))
            try:
                ZoneInfo(tz)
            except (ZoneInfoNotFoundError, ValueError):
                raise self.err(
                    (*wpath, "timezone"), f"unknown time zone {tz!r} (expected e.g. Europe/Paris)"
                ) from None
            if times[0] == times[1]:
                raise self.err(wpath, "a maintenance window must not start and end at the same time")
            out.append(MaintenanceWindow(frozenset(days), times[0], times[1], tz))
        return tuple(out)

    def hooks(self, value: Any, names: set[str], groups: Mapping[str, Group]) -> list[HookSpec]:
        path: Path_ = ("hooks",)
        data = self.mapping(value, path, PHASES)
        out: list[HookSpec] = []
        for phase in PHASES:
            items = data.get(phase)
            if items is None:
                continue
            ppath = (*path, phase)
            if not isinstance(items, list):
                items = [items]
            for i, item in enumerate(items):
                hpath = (*ppath, i)
                if isinstance(item, str):
                    item = {"command": item}
                body = self.mapping(item, hpath, HOOK_KEYS)
                if "command" not in body:
                    raise self.err(hpath, "a hook needs a 'command'")
                where = body.get("on", "local")
                if where not in ("local", "host"):
                    raise self.err((*hpath, "on"), f"expected local or host, got {where!r}")
                hgroups = self.str_list(body.get("groups"), (*hpath, "groups"), what="group names")
                for j, g in enumerate(hgroups):
                    if g not in groups:
                        raise self.err((*hpath, "groups", j), f"unknown group {g!r}{did_you_mean(g, groups)}")
                hhosts = self.str_list(body.get("hosts"), (*hpath, "hosts"), what="host names")
                for j, h in enumerate(hhosts):
                    if h not in names:
                        raise self.err((*hpath, "hosts", j), f"unknown host {h!r}{did_you_mean(h, names)}")
                out.append(
                    HookSpec(
                        name=self.name(body.get("name", f"{phase}-{i + 1}"), (*hpath, "name")),
                        phase=phase,
                        command=self.string(body["command"], (*hpath, "command"), what="a command"),
                        where=where,
                        timeout=self.duration(body.get("timeout", 60), (*hpath, "timeout")),
                        groups=tuple(hgroups),
                        hosts=tuple(hhosts),
                    )
                )
        return out

    def notify(self, value: Any) -> NotifySettings | None:
        if value is None:
            return None
        path: Path_ = ("notify",)
        body = self.mapping(value, path, NOTIFY_KEYS)
        if "webhook" not in body:
            raise self.err(path, "notify needs a 'webhook' URL")
        url = self.string(body["webhook"], (*path, "webhook"), what="a URL")
        if not re.match(r"https?://", url):
            raise self.err((*path, "webhook"), "expected an http:// or https:// URL")
        events = tuple(
            self.str_list(body.get("events", list(NOTIFY_EVENTS)), (*path, "events"), what="events")
        )
        for i, e in enumerate(events):
            if e not in NOTIFY_EVENTS:
                raise self.err(
                    (*path, "events", i),
                    f"unknown event {e!r}{did_you_mean(e, NOTIFY_EVENTS)}; one of {', '.join(NOTIFY_EVENTS)}",
                )
        timeout = self.duration(body.get("timeout", 5), (*path, "timeout"))
        return NotifySettings(url, events, timeout)

    def drift(self, value: Any, path: Path_) -> Any:
        from console.model.findings import DriftPolicy

        data = self.mapping(value, path, None)
        try:
            return DriftPolicy.from_mapping(data)
        except ValueError as exc:
            # Point at the most specific key the message names, when we can find it.
            sub = path
            for key in data:
                if isinstance(key, str) and key in str(exc):
                    sub = (*path, key)
                    break
            raise self.err(sub, str(exc)) from None

    def checks(
        self,
        value: Any,
        path: Path_,
        keys: tuple[str, ...],
        names: set[str],
        groups: Mapping[str, Group],
        hosts: list[Host],
    ) -> list[CheckSpec]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.err(path, f"expected a list of checks, got {kind_of(value)}")
        out: list[CheckSpec] = []
        seen: set[str] = set()
        service = path[0] == "service_checks"
        kinds = SERVICE_KINDS if service else HOST_KINDS
        for i, item in enumerate(value):
            cpath = (*path, i)
            if service and isinstance(item, dict) and "initial_delay" in item:
                raise self.err(
                    (*cpath, "initial_delay"),
                    "initial_delay is for per-host checks (the wait after a host's reboot); "
                    "service checks run before every slice and during the bake",
                )
            body = self.mapping(item, cpath, keys)
            present = [k for k in kinds if k in body]
            if len(present) != 1:
                wrong = [
                    k
                    for k in ("command", "systemd", "tcp", "http", "prometheus")
                    if k in body and k not in kinds
                ]
                if wrong:
                    where = "service_checks" if not service else "per-host checks"
                    raise self.err((*cpath, wrong[0]), f"a {wrong[0]!r} check belongs under {where}")
                raise self.err(
                    cpath,
                    "a check needs exactly one of: "
                    + ", ".join(kinds)
                    + (f" (got {', '.join(present)})" if present else ""),
                )
            kind = present[0]
            raw = body[kind]
            if kind == "tcp" and isinstance(raw, int) and not isinstance(raw, bool):
                if service:
                    raise self.err((*cpath, "tcp"), "a service-level tcp check needs host:port")
                target = str(self.integer(raw, (*cpath, "tcp"), low=1, high=65535, what="a TCP port"))
            else:
                target = self.string(
                    raw, (*cpath, kind), what="a command" if kind == "command" else f"a {kind} target"
                )
            if kind == "tcp" and not target.isdigit() and not re.fullmatch(r".+:\d{1,5}", target):
                raise self.err((*cpath, "tcp"), f"expected a port or host:port, got {target!r}")
            if kind in ("http", "prometheus") and not re.match(r"https?://", target):
                raise self.err((*cpath, kind), f"expected an http:// or https:// URL, got {target!r}")
            for extra, allowed in (
                ("status", ("http",)),
                ("body", ("http",)),
                ("alerts", ("prometheus",)),
                ("insecure", ("http", "prometheus")),
            ):
                if extra in body and kind not in allowed:
                    raise self.err(
                        (*cpath, extra), f"{extra!r} only applies to {' and '.join(allowed)} checks"
                    )
            status: tuple[int, ...] = ()
            if "status" in body:
                raw_status = body["status"] if isinstance(body["status"], list) else [body["status"]]
                status = tuple(
                    self.integer(v, (*cpath, "status"), low=100, high=599, what="an HTTP status")
                    for v in raw_status
                )
            pattern = None
            for key in ("body", "alerts"):
                if key in body:
                    text = self.string(body[key], (*cpath, key), what="a regular expression")
                    try:
                        re.compile(text)
                    except re.error as exc:
                        raise self.err((*cpath, key), f"not a valid regular expression: {exc}") from None
                    if key == "body":
                        pattern = text
            insecure = body.get("insecure", False)
            if not isinstance(insecure, bool):
                raise self.err((*cpath, "insecure"), f"expected true or false, got {kind_of(insecure)}")
            cname = self.name(body.get("name", f"{kind}-{i + 1}"), (*cpath, "name"))
            if cname in seen:
                raise self.err((*cpath, "name"), f"duplicate check name {cname!r}")
            seen.add(cname)
            cgroups = self.str_list(body.get("groups"), (*cpath, "groups"), what="group names")
            for j, g in enumerate(cgroups):
                if g not in groups:
                    raise self.err((*cpath, "groups", j), f"unknown group {g!r}{did_you_mean(g, groups)}")
            chosts = self.str_list(body.get("hosts"), (*cpath, "hosts"), what="host names")
            for j, h in enumerate(chosts):
                if h not in names:
                    raise self.err((*cpath, "hosts", j), f"unknown host {h!r}{did_you_mean(h, names)}")
            spec = CheckSpec(
                name=cname,
                command=target,
                kind=kind,
                scope="service" if service else "host",
                timeout=self.duration(body["timeout"], (*cpath, "timeout")) if "timeout" in body else None,
                retries=self.integer(body.get("retries", 0), (*cpath, "retries"), low=0, high=100),
                retry_delay=self.duration(
                    body.get("retry_delay", 1), (*cpath, "retry_delay"), positive=False
                ),
                initial_delay=self.duration(
                    body.get("initial_delay", 0), (*cpath, "initial_delay"), positive=False
                ),
                groups=tuple(cgroups),
                hosts=tuple(chosts),
                status=status,
                body=pattern,
                insecure=insecure,
                alerts=str(body.get("alerts", ".*")),
            )
            if not service:
                self.check_placeholders(spec, (*cpath, kind), hosts)
            out.append(spec)
        return out

    def check_placeholders(self, spec: CheckSpec, path: Path_, hosts: list[Host]) -> None:
        if spec.kind == "command":
            quoted = placeholders_in_quotes(spec.command)
            if quoted:
                raise self.err(
                    path,
                    f"write {quoted[0]} without quotes around it: placeholders are shell-quoted for you "
                    "(inside quotes a value could break out of them)",
                )
        for match in PLACEHOLDER.finditer(spec.command):
            key = match.group(1)
            for h in hosts:
                if spec.applies_to(h) and placeholder_value(key, h) is None:
                    raise self.err(path, f"placeholder {{{key}}} has no value for host {h.name!r}")


def placeholders_in_quotes(template: str) -> list[str]:
    """Placeholders that stand inside '…' or "…" in a shell line (where quoting them would not help)."""
    found = []
    state = ""  # "", "'", '"'
    spans = {m.start(): m.group(0) for m in PLACEHOLDER.finditer(template)}
    i = 0
    while i < len(template):
        c = template[i]
        if i in spans and state:
            found.append(spans[i])
        if state == "'":
            if c == "'":
                state = ""
        elif c == "\\":
            i += 1  # the next character is escaped (outside single quotes)
        elif state == '"':
            if c == '"':
                state = ""
        elif c in "'\"":
            state = c
        i += 1
    return found


Loader = Callable[[str], Inventory]
