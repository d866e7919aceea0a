"""The fleet-wide drift audit: facts from every host (one SSH round trip each) and pre-flight findings.

Used by ``slowroll audit`` (nothing is rebooted), by the engine to order a roll by uptime or risk, and
by the console's audit view before a roll starts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from console.drift.findings import preflight
from console.model.durations import format_duration
from console.model.findings import DriftPolicy, Finding, Severity, severity_label
from console.model.host import Host
from console.model.inventory import Inventory
from console.remote.facts import Facts
from console.remote.gather import gather_facts
from console.remote.ssh import Connector, SSHError, SSHTarget

RISK_WEIGHT = {Severity.BLOCK: 100, Severity.WARN: 10, Severity.IGNORE: 0}


@dataclass(frozen=True)
class HostAudit:
    host: str
    facts: Facts | None
    findings: tuple[Finding, ...] = ()
    error: str | None = None
    duration: float = 0.0

    @property
    def blocking(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.BLOCK)

    @property
    def risk(self) -> int:
        """Most findings first: blocking findings weigh most; an unreachable host is riskiest of all."""
        if self.error:
            return 1000
        return sum(RISK_WEIGHT.get(f.severity, 0) for f in self.findings)

    @property
    def uptime(self) -> float | None:
        return self.facts.uptime_seconds if self.facts else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "error": self.error,
            "uptime": self.uptime,
            "kernel": self.facts.kernel_running if self.facts else None,
            "findings": [f.to_dict() for f in self.findings],
            "duration": round(self.duration, 3),
        }


@dataclass
class FleetAudit:
    hosts: dict[str, HostAudit] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0

    @property
    def blocking(self) -> bool:
        return any(a.blocking for a in self.hosts.values())

    @property
    def unreachable(self) -> list[str]:
        return [n for n, a in self.hosts.items() if a.error]

    def uptimes(
        self, history: Mapping[str, float] | None = None, now: float | None = None
    ) -> dict[str, float | None]:
        """Uptime per host; where it cannot be read, time since its last good reboot in the history."""
        now = time.time() if now is None else now
        out: dict[str, float | None] = {}
        for name, a in self.hosts.items():
            up = a.uptime
            if up is None and history and name in history:
                up = max(0.0, now - history[name])
            out[name] = up
        return out

    def risks(self) -> dict[str, int]:
        return {n: a.risk for n, a in self.hosts.items()}


async def audit_host(
    host: Host,
    inventory: Inventory,
    connector: Connector,
    *,
    history: Mapping[str, float] | None = None,
    clock: Callable[[], float] = time.time,
    keep_facts: bool = True,
) -> HostAudit:
    """Facts and findings of one host. ``keep_facts=False`` keeps, once the findings are made, only what
    an audit report shows (boot id, uptime, kernel): a fleet-wide audit then holds ~20 KB less per host."""
    policy = inventory.policy
    started = time.monotonic()
    target = SSHTarget(host.name, host.address, host.port, host.user, host.explicit)
    try:
        session = await connector.connect(target, timeout=policy.connect_timeout)
    except SSHError as exc:
        return HostAudit(host.name, None, (), str(exc), time.monotonic() - started)
    try:
        facts = await gather_facts(session, timeout=policy.command_timeout)
    except SSHError as exc:
        return HostAudit(host.name, None, (), str(exc), time.monotonic() - started)
    finally:
        session.close()
    findings = preflight(
        facts,
        policy.drift or DriftPolicy.default(),  # `slowroll audit` looks even when the roll's audit is off
        last_reboot_at=(history or {}).get(host.name),
        now=clock(),
    )
    if not keep_facts:
        facts = Facts(
            boot_id=facts.boot_id, uptime_seconds=facts.uptime_seconds, kernel_running=facts.kernel_running
        )
    return HostAudit(host.name, facts, tuple(findings), None, time.monotonic() - started)


async def audit_fleet(
    inventory: Inventory,
    connector: Connector,
    *,
    hosts: Iterable[str] | None = None,
    history: Mapping[str, float] | None = None,
    clock: Callable[[], float] = time.time,
    on_host: Callable[[HostAudit], None] | None = None,
    keep_facts: bool = True,
) -> FleetAudit:
    """Audit every host concurrently (the connector caps open connections); ``keep_facts``: see audit_host."""
    wanted = set(hosts) if hosts is not None else None
    result = FleetAudit(started=clock())

    async def one(h: Host) -> None:
        a = await audit_host(h, inventory, connector, history=history, clock=clock, keep_facts=keep_facts)
        result.hosts[h.name] = a
        if on_host is not None:
            on_host(a)

    await asyncio.gather(*(one(h) for h in inventory.hosts if wanted is None or h.name in wanted))
    result.hosts = {h.name: result.hosts[h.name] for h in inventory.hosts if h.name in result.hosts}
    result.finished = clock()
    return result


def format_audit(audit: FleetAudit, *, show_ok: bool = False) -> str:
    """A table of findings per host for people."""
    lines: list[str] = []
    width = max((len(n) for n in audit.hosts), default=4)
    clean = 0
    for name, a in audit.hosts.items():
        if a.error:
            lines.append(f"{name:<{width}}  ✘ UNREACHABLE  {a.error}")
            continue
        if not a.findings:
            clean += 1
            if show_ok:
                lines.append(f"{name:<{width}}  ✔ no findings  up {format_duration(a.uptime)}")
            continue
        for i, f in enumerate(a.findings):
            head = name if i == 0 else ""
            lines.append(f"{head:<{width}}  {severity_label(f.severity):<7}  {f.kind:<20} {f.message}")
            if f.evidence and f.kind != "uptime-debt":  # its message already says it all
                for ev in f.evidence.strip().splitlines()[:3]:
                    lines.append(f"{'':<{width}}  {'':<8} {'':<20} │ {ev}")
    blocking = sum(1 for a in audit.hosts.values() if a.blocking)
    warned = sum(1 for a in audit.hosts.values() if a.findings and not a.blocking)
    took = audit.finished - audit.started
    lines.append("")
    lines.append(
        f"{len(audit.hosts)} hosts audited in {took:.1f}s: {clean} without findings, {warned} with warnings, "
        f"{blocking} blocking, {len(audit.unreachable)} unreachable"
    )
    return "\n".join(lines)
