"""What the inventory asks for around each reboot: health checks and hooks (specs only; ``console.remote``
runs them), and the placeholders a check may use (``{name}``, ``{address}``, ``{vars.x}``...)."""

from __future__ import annotations

import re
import shlex
import urllib.parse
from dataclasses import dataclass, replace

from console.model.host import Host
from console.model.policy import TIMEOUT_FLOOR, scale_duration

PLACEHOLDER = re.compile(r"(?<![$\\{])\{(name|address|port|user|groups|vars\.[A-Za-z_][A-Za-z0-9_-]*)\}")
HOST_KINDS = ("command", "systemd", "tcp", "http")
SERVICE_KINDS = ("command", "tcp", "http", "prometheus")
REMOTE_KINDS = ("command", "systemd")  # run over SSH on the host
PHASES = ("pre_reboot", "post_reboot")


class Scoped:
    """A spec that applies to some hosts: those named in ``hosts``, members of ``groups``, or all."""

    groups: tuple[str, ...]
    hosts: tuple[str, ...]

    def applies_to(self, host: Host) -> bool:
        if not self.groups and not self.hosts:
            return True
        return host.name in self.hosts or any(g in self.groups for g in host.groups)


@dataclass(frozen=True)
class CheckSpec(Scoped):
    name: str
    command: str = (
        ""  # command: the shell line; systemd: the unit; tcp: the port (or host:port); http/prometheus: URL
    )
    kind: str = "command"
    scope: str = "host"  # host: per host; service: service-level
    timeout: float | None = None  # None: the policy's command_timeout
    retries: int = 0
    retry_delay: float = 1.0
    initial_delay: float = 0.0
    groups: tuple[str, ...] = ()  # empty: every host
    hosts: tuple[str, ...] = ()
    status: tuple[int, ...] = ()  # http: accepted status codes (empty: 200-399)
    body: str | None = None  # http: a regex the body must match
    insecure: bool = False  # https without certificate verification
    alerts: str = ".*"  # prometheus: alert names (regex) that block

    @property
    def local(self) -> bool:
        """Runs on the console's machine (not over SSH on the host)."""
        return self.scope == "service" or self.kind not in REMOTE_KINDS

    def render(self, host: Host) -> str:
        """What runs for ``host``: for SSH kinds a shell line whose placeholders are shell-quoted values."""
        if self.kind == "systemd":
            unit = render_plain(self.command, host)
            return f"systemctl is-active -- {shlex.quote(unit)}"
        if self.kind == "command":
            return render_command(self.command, host)
        return render_plain(self.command, host, url=self.kind == "http")

    def describe(self) -> str:
        if self.kind == "command":
            return self.command
        if self.kind == "prometheus":
            return f"prometheus {self.command} alerts ~ /{self.alerts}/"
        return f"{self.kind} {self.command}"

    def scaled(self, speed: float) -> CheckSpec:
        return replace(
            self,
            timeout=None if self.timeout is None else scale_duration(self.timeout, speed, TIMEOUT_FLOOR),
            retry_delay=self.retry_delay / speed,
            initial_delay=self.initial_delay / speed,
        )


def placeholder_value(name: str, host: Host) -> str | None:
    if name == "name":
        return host.name
    if name == "address":
        return host.address
    if name == "port":
        return str(host.port)
    if name == "user":
        return host.user or ""
    if name == "groups":
        return ",".join(host.groups)
    if name.startswith("vars."):
        key = name[5:]
        if key not in host.vars:
            return None
        return str(host.vars[key])
    return None


def render_command(template: str, host: Host) -> str:
    """Placeholders become shell-quoted values: an inventory value is never pasted into a shell line."""

    def sub(match: re.Match[str]) -> str:
        value = placeholder_value(match.group(1), host)
        if value is None:
            raise KeyError(match.group(1))
        return shlex.quote(value)

    return PLACEHOLDER.sub(sub, template)


def render_plain(template: str, host: Host, *, url: bool = False) -> str:
    """Placeholders for values that never meet a shell (ports, URLs, unit names); URL parts are encoded."""

    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        value = placeholder_value(key, host)
        if value is None:
            raise KeyError(key)
        if url and key.startswith("vars."):
            return urllib.parse.quote(value, safe="")
        if url and key == "address" and ":" in value and not value.startswith("["):
            return f"[{value}]"  # an IPv6 literal in a URL
        return value

    return PLACEHOLDER.sub(sub, template)


@dataclass(frozen=True)
class HookSpec(Scoped):
    name: str
    phase: str  # pre_reboot, post_reboot
    command: str
    where: str = "local"  # local: on the console's machine; host: over SSH on the host
    timeout: float = 60.0
    groups: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()

    def scaled(self, speed: float) -> HookSpec:
        return replace(self, timeout=scale_duration(self.timeout, speed, TIMEOUT_FLOOR))
