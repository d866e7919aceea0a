from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from console.model.host import Host
from console.model.policy import Amount, Policy
from console.model.specs import (
    CheckSpec,
    HookSpec,
)

NOTIFY_EVENTS = ("pause", "failure", "window-wait", "complete")  # what notify.events may name


@dataclass(frozen=True)
class Group:
    name: str
    members: tuple[str, ...]
    max_unavailable: Amount | None = None
    vars: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def budget(self, policy: Policy) -> Amount:
        return self.max_unavailable or policy.group_max_unavailable


@dataclass(frozen=True)
class SSHSettings:
    user: str | None = None
    port: int = 22
    known_hosts: str | None = None  # None: ~/.ssh/known_hosts
    identity_files: tuple[str, ...] = ()
    agent: bool = True
    config: str | None = None  # an ssh config file (default: ~/.ssh/config when it exists)
    port_set: bool = False


@dataclass(frozen=True)
class Inventory:
    path: str
    name: str
    hosts: tuple[Host, ...]
    groups: Mapping[str, Group]
    policy: Policy
    checks: tuple[CheckSpec, ...] = ()
    service_checks: tuple[CheckSpec, ...] = ()
    ssh: SSHSettings = field(default_factory=SSHSettings)
    hooks: tuple[HookSpec, ...] = ()
    notify: NotifySettings | None = None
    content_hash: str = ""
    text: str = ""

    def host(self, name: str) -> Host:
        return self.by_name[name]

    @property
    def by_name(self) -> dict[str, Host]:
        return {h.name: h for h in self.hosts}

    def checks_for(self, host: Host) -> tuple[CheckSpec, ...]:
        return tuple(c for c in self.checks if c.applies_to(host))

    def hooks_for(self, host: Host, phase: str) -> tuple[HookSpec, ...]:
        return tuple(h for h in self.hooks if h.phase == phase and h.applies_to(host))


@dataclass(frozen=True)
class NotifySettings:
    webhook: str
    events: tuple[str, ...] = NOTIFY_EVENTS
    timeout: float = 5.0
