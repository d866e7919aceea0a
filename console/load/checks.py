"""The ``checks:``, ``service_checks:`` and ``hooks:`` sections of an inventory (``console.remote`` runs
them)."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from console.load.values import Values
from console.load.yamldoc import Path_, kind_of
from console.model.errors import did_you_mean
from console.model.host import Host
from console.model.specs import (
    HOST_KINDS,
    PHASES,
    PLACEHOLDER,
    SERVICE_KINDS,
    CheckSpec,
    HookSpec,
    placeholder_value,
    render_plain,
)

HOOK_KEYS = ("name", "command", "on", "timeout", "groups", "hosts")
_CHECK_COMMON = ("name", "timeout", "retries", "retry_delay", "initial_delay", "status", "body", "insecure")
CHECK_KEYS = ("command", "systemd", "tcp", "http", *_CHECK_COMMON, "groups", "hosts")
SERVICE_CHECK_KEYS = ("command", "tcp", "http", "prometheus", "alerts", *_CHECK_COMMON)
# Keys that only some kinds of check take.
_KIND_KEYS = (
    ("status", ("http",)),
    ("body", ("http",)),
    ("alerts", ("prometheus",)),
    ("insecure", ("http", "prometheus")),
)


def read_checks(
    v: Values, value: object, path: Path_, names: Collection[str], groups: Collection[str], hosts: list[Host]
) -> list[CheckSpec]:
    """Per-host checks (``path`` is ``("checks",)``) or service checks (``("service_checks",)``)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise v.err(path, f"expected a list of checks, got {kind_of(value)}")
    out: list[CheckSpec] = []
    seen: set[str] = set()
    service = path[0] == "service_checks"
    for i, item in enumerate(value):
        cpath = (*path, i)
        spec = _check(v, item, cpath, i, service, names, groups, seen)
        seen.add(spec.name)
        if not service:
            _check_placeholders(v, spec, (*cpath, spec.kind), hosts)
        out.append(spec)
    return out


def _check(
    v: Values,
    item: object,
    cpath: Path_,
    i: int,
    service: bool,
    names: Collection[str],
    groups: Collection[str],
    seen: Collection[str],
) -> CheckSpec:
    """One check; ``seen`` holds the names of those before it in its section."""
    if service and isinstance(item, dict) and "initial_delay" in item:
        raise v.err(
            (*cpath, "initial_delay"),
            "initial_delay is for per-host checks (the wait after a host's reboot); "
            "service checks run before every slice and during the bake",
        )
    body = v.mapping(item, cpath, SERVICE_CHECK_KEYS if service else CHECK_KEYS)
    kind = _kind(v, body, cpath, service)
    target = _target(v, body, kind, cpath, service)
    for extra, allowed in _KIND_KEYS:
        if extra in body and kind not in allowed:
            raise v.err((*cpath, extra), f"{extra!r} only applies to {' and '.join(allowed)} checks")
    status: tuple[int, ...] = ()
    if "status" in body:
        raw_status = body["status"] if isinstance(body["status"], list) else [body["status"]]
        status = tuple(
            v.integer(s, (*cpath, "status"), low=100, high=599, what="an HTTP status") for s in raw_status
        )
    pattern = _patterns(v, body, cpath)
    insecure = v.boolean(body.get("insecure", False), (*cpath, "insecure"))
    cname = v.name(body.get("name", f"{kind}-{i + 1}"), (*cpath, "name"))
    if cname in seen:
        raise v.err((*cpath, "name"), f"duplicate check name {cname!r}")
    cgroups, chosts = scope(v, body, cpath, names, groups)
    return CheckSpec(
        name=cname,
        command=target,
        kind=kind,
        scope="service" if service else "host",
        timeout=v.duration(body["timeout"], (*cpath, "timeout")) if "timeout" in body else None,
        retries=v.integer(body.get("retries", 0), (*cpath, "retries"), low=0, high=100),
        retry_delay=v.duration(body.get("retry_delay", 1), (*cpath, "retry_delay"), positive=False),
        initial_delay=v.duration(body.get("initial_delay", 0), (*cpath, "initial_delay"), positive=False),
        groups=cgroups,
        hosts=chosts,
        status=status,
        body=pattern,
        insecure=insecure,
        alerts=str(body.get("alerts", ".*")),
    )


def _kind(v: Values, body: Mapping[str, Any], cpath: Path_, service: bool) -> str:
    """The check's one kind key (``command``, ``tcp``...), among those its section allows."""
    kinds = SERVICE_KINDS if service else HOST_KINDS
    present = [k for k in kinds if k in body]
    if len(present) == 1:
        return present[0]
    wrong = [k for k in ("command", "systemd", "tcp", "http", "prometheus") if k in body and k not in kinds]
    if wrong:
        where = "service_checks" if not service else "per-host checks"
        raise v.err((*cpath, wrong[0]), f"a {wrong[0]!r} check belongs under {where}")
    raise v.err(
        cpath,
        "a check needs exactly one of: "
        + ", ".join(kinds)
        + (f" (got {', '.join(present)})" if present else ""),
    )


def _target(v: Values, body: Mapping[str, Any], kind: str, cpath: Path_, service: bool) -> str:
    """What the check looks at: a shell line, a unit, a port or host:port, a URL."""
    raw = body[kind]
    if kind == "tcp" and isinstance(raw, int) and not isinstance(raw, bool):
        if service:
            raise v.err((*cpath, "tcp"), "a service-level tcp check needs host:port")
        target = str(v.port(raw, (*cpath, "tcp")))
    else:
        target = v.string(raw, (*cpath, kind), what="a command" if kind == "command" else f"a {kind} target")
    port = r"\d{1,5}" if service else r"(\d{1,5}|\{vars\.[A-Za-z_][A-Za-z0-9_-]*\})"  # a host var may name it
    if kind == "tcp" and not target.isdigit() and not re.fullmatch(rf".+:{port}", target):
        raise v.err((*cpath, "tcp"), f"expected a port or host:port, got {target!r}")
    if kind in ("http", "prometheus") and not re.match(r"https?://", target):
        raise v.err((*cpath, kind), f"expected an http:// or https:// URL, got {target!r}")
    return target


def _patterns(v: Values, body: Mapping[str, Any], cpath: Path_) -> str | None:
    """Checks the ``body`` and ``alerts`` regular expressions; returns ``body`` (None when not set)."""
    pattern = None
    for key in ("body", "alerts"):
        if key in body:
            text = v.string(body[key], (*cpath, key), what="a regular expression")
            try:
                re.compile(text)
            except re.error as exc:
                raise v.err((*cpath, key), f"not a valid regular expression: {exc}") from None
            if key == "body":
                pattern = text
    return pattern


def scope(
    v: Values, body: Mapping[str, Any], path: Path_, names: Collection[str], groups: Collection[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The ``groups`` and ``hosts`` a check or hook is limited to; each must exist."""
    sgroups = v.str_list(body.get("groups"), (*path, "groups"), what="group names")
    for j, g in enumerate(sgroups):
        if g not in groups:
            raise v.err((*path, "groups", j), f"unknown group {g!r}{did_you_mean(g, groups)}")
    shosts = v.str_list(body.get("hosts"), (*path, "hosts"), what="host names")
    for j, h in enumerate(shosts):
        if h not in names:
            raise v.err((*path, "hosts", j), f"unknown host {h!r}{did_you_mean(h, names)}")
    return tuple(sgroups), tuple(shosts)


def _check_placeholders(v: Values, spec: CheckSpec, path: Path_, hosts: list[Host]) -> None:
    """Placeholders stand outside quotes, and each has a value for every host the check applies to."""
    if spec.kind == "command":
        quoted = placeholders_in_quotes(spec.command)
        if quoted:
            raise v.err(
                path,
                f"write {quoted[0]} without quotes around it: placeholders are shell-quoted for you "
                "(inside quotes a value could break out of them)",
            )
    for match in PLACEHOLDER.finditer(spec.command):
        key = match.group(1)
        for h in hosts:
            if spec.applies_to(h) and placeholder_value(key, h) is None:
                raise v.err(path, f"placeholder {{{key}}} has no value for host {h.name!r}")
    if spec.kind == "tcp" and PLACEHOLDER.search(spec.command.rpartition(":")[2]):
        for h in hosts:
            port = render_plain(spec.command, h).rpartition(":")[2] if spec.applies_to(h) else "1"
            if not (port.isdigit() and 1 <= int(port) <= 65535):
                raise v.err(path, f"the port of host {h.name!r} is {port!r}, not a TCP port")


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


def read_hooks(v: Values, value: object, names: Collection[str], groups: Collection[str]) -> list[HookSpec]:
    """Hooks by phase (``pre_reboot``, ``post_reboot``): a command alone, or its settings."""
    path: Path_ = ("hooks",)
    data = v.mapping(value, path, PHASES)
    out: list[HookSpec] = []
    for phase in PHASES:
        items = data.get(phase)
        if items is None:
            continue
        if not isinstance(items, list):
            items = [items]
        for i, item in enumerate(items):
            out.append(_hook(v, item, (*path, phase, i), phase, i, names, groups))
    return out


def _hook(
    v: Values,
    item: object,
    hpath: Path_,
    phase: str,
    i: int,
    names: Collection[str],
    groups: Collection[str],
) -> HookSpec:
    if isinstance(item, str):
        item = {"command": item}
    body = v.mapping(item, hpath, HOOK_KEYS)
    if "command" not in body:
        raise v.err(hpath, "a hook needs a 'command'")
    where = body.get("on", "local")
    if where not in ("local", "host"):
        raise v.err((*hpath, "on"), f"expected local or host, got {where!r}")
    hgroups, hhosts = scope(v, body, hpath, names, groups)
    return HookSpec(
        name=v.name(body.get("name", f"{phase}-{i + 1}"), (*hpath, "name")),
        phase=phase,
        command=v.string(body["command"], (*hpath, "command"), what="a command"),
        where=where,
        timeout=v.duration(body.get("timeout", 60), (*hpath, "timeout")),
        groups=hgroups,
        hosts=hhosts,
    )
