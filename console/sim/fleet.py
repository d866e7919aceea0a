"""The simulated fleet: one asyncssh server per simulated host on 127.0.0.1, with an in-memory OS.

A simulated reboot closes the session and the port, stays down for a boot time, and comes back with a
new boot id. The fleet keeps a ground-truth ledger of every reboot it really did (``ledger.jsonl``), so
tests judge the engine by what happened, not by what the engine says happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import random
import socket
import struct
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import asyncssh

from console.model.host import Host
from console.model.inventory import Inventory, SSHSettings
from console.model.specs import CheckSpec
from console.sim.faults import DRIFT_FAULTS, apply_drift_fault
from console.sim.result import ExecResult
from console.sim.system import SimSystem

PORT_LOW, PORT_HIGH = 20000, 32000  # below the ephemeral range, so a host can listen again after a reboot
DEFAULT_BOOT_TIME = 8.0


@dataclass
class LedgerEntry:
    host: str
    at: float
    boot_id_before: str
    boot_id_after: str | None = None
    down_at: float | None = None
    up_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "at": self.at,
            "boot_id_before": self.boot_id_before,
            "boot_id_after": self.boot_id_after,
            "down_at": self.down_at,
            "up_at": self.up_at,
        }


@dataclass
class SimHostSpec:
    name: str
    port: int
    services: tuple[str, ...] = ()
    boot_time: float = DEFAULT_BOOT_TIME  # real seconds (already divided by speed)
    faults: set[str] = field(default_factory=set)
    check_commands: frozenset[str] = frozenset()
    reboot_command: str = "systemctl reboot"
    boot_id_command: str = "cat /proc/sys/kernel/random/boot_id"
    reboot_timeout: float = 600.0  # real seconds, for slow-boot
    bastion: bool = False  # forwards SSH connections to other simulated hosts (ProxyJump)
    jitter: float = 0.2  # boot time varies by ± this fraction


class _Server(asyncssh.SSHServer):
    def __init__(self, host: SimHost) -> None:
        self.host = host
        self.conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.host.connections.add(conn)
        self.host.accepted += 1
        sock = conn.get_extra_info("socket")
        if sock is not None:
            # Close with a reset, leaving no TIME_WAIT on the host's port: after a reboot the port must be
            # free to hold (see SimHost.hold_port) and to listen on again.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.host.connections.discard(self.conn)

    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str, orig_port: int) -> bool:
        """A jump host forwards to loopback only (the simulated fleet), and counts what it forwards."""
        if not self.host.spec.bastion or dest_host not in ("127.0.0.1", "localhost"):
            return False
        self.host.forwarded += 1
        return True


class SimHost:
    """One simulated machine: its OS, its sshd (up, down, hung or halted) and its reboots."""

    def __init__(self, spec: SimHostSpec, fleet: SimFleet, rng: random.Random) -> None:
        self.spec = spec
        self.fleet = fleet
        self.rng = rng
        self.name = spec.name
        self.port = spec.port
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.system = SimSystem(
            spec.name,
            rng=rng,
            clock=fleet.sim_clock,
            uptime_at_start=rng.uniform(3, 150) * 86400,
            services=spec.services,
        )
        for kind in spec.faults & DRIFT_FAULTS:
            apply_drift_fault(self.system, kind)
        self.status = "down"  # up, down, hung, halted
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self.acceptor: asyncssh.SSHAcceptor | None = None
        self.hang_server: asyncio.AbstractServer | None = None
        self.hung_sockets: list[asyncio.StreamWriter] = []
        self.reboots = 0
        self.flap = 0
        self.commands = 0
        self.forwarded = 0
        self._holder: socket.socket | None = None
        self.accepted = 0
        self._rebooting = False
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def boot_id(self) -> str:
        return self.system.boot_id

    async def start(self) -> None:
        await self._listen()

    def hold_port(self, sock: socket.socket | None = None) -> None:
        """Keep the port bound (not listening) while the host is down: connections are refused, as from
        a machine that is rebooting, and no other program on this machine can take the port meanwhile
        (which would look like an impostor with another host key)."""
        if self._holder is not None:
            return
        if sock is not None:
            self._holder = sock
            return
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", self.port))  # no SO_REUSEADDR: nobody else can share it
        except OSError:  # never block the simulator's loop for it: the port simply stays unheld
            s.close()
            return
        self._holder = s

    def _release_port(self) -> None:
        if self._holder is not None:
            self._holder.close()
            self._holder = None

    async def _listen(self) -> None:
        self._release_port()
        if "ssh-hangs" in self.spec.faults and self.reboots > 0:
            self.hang_server = await asyncio.start_server(
                self._hang, "127.0.0.1", self.port, reuse_address=True
            )
            self.status = "hung"
            return
        for attempt in range(50):
            try:
                self.acceptor = await asyncssh.listen(
                    "127.0.0.1",
                    self.port,
                    server_factory=lambda: _Server(self),
                    server_host_keys=[self.host_key],
                    authorized_client_keys=self.fleet.authorized_keys,
                    process_factory=self._process,
                    encoding="utf-8",
                    reuse_address=True,
                    login_timeout=30,
                    keepalive_interval=0,
                )
                break
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or attempt == 49:
                    raise
                await asyncio.sleep(0.05)
        self.status = "up"

    async def _hang(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.hung_sockets.append(writer)  # accept TCP, never say a word

    async def _process(self, process: asyncssh.SSHServerProcess[str]) -> None:
        command = process.command or ""
        self.commands += 1
        result, reboot = self.execute(command)
        if result.stdout:
            process.stdout.write(result.stdout)
        if result.stderr:
            process.stderr.write(result.stderr)
        process.exit(result.exit_status)
        if reboot:
            self._spawn(self.reboot())

    def execute(self, command: str) -> tuple[ExecResult, bool]:
        """Answer one command as the simulated host would. Returns (result, reboot now?)."""
        text = command.strip()
        if text == self.spec.reboot_command.strip() or text in (
            "systemctl reboot",
            "reboot",
            "shutdown -r now",
        ):
            return ExecResult(0), True
        if text == self.spec.boot_id_command.strip():
            return ExecResult(0, self.system.boot_id + "\n"), False
        if text.startswith("env SLOWROLL_HOST="):  # a hook run on the host (remote.hooks.remote_command)
            return ExecResult(0, f"ok (simulated hook on {self.name})\n"), False
        if text in self.spec.check_commands:
            if "unhealthy" in self.spec.faults:
                return ExecResult(1, "", f"simulated check failure on {self.name} (fault unhealthy)\n"), False
            if self.reboots > 0 and "check-fails" in self.spec.faults:
                return ExecResult(
                    1, "", f"simulated check failure on {self.name} (fault check-fails)\n"
                ), False
            if self.reboots > 0 and "flapping" in self.spec.faults:
                self.flap += 1
                if self.flap % 2 == 0:
                    return ExecResult(1, "", f"simulated flapping check on {self.name}: fail\n"), False
        answer = self.system.execute(text)
        if answer is not None:
            return answer, False
        if text in self.spec.check_commands:
            return ExecResult(0, "ok (simulated)\n"), False
        return ExecResult(127, "", f"sh: 1: {text.split()[0] if text.split() else text}: not found\n"), False

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def reboot(self) -> None:
        if self._rebooting or self.status != "up":
            return
        self._rebooting = True
        try:
            await asyncio.sleep(0.02)  # like systemd: the command returns, then the system goes down
            entry = LedgerEntry(self.name, time.time(), self.system.boot_id, down_at=time.time())
            self.reboots += 1
            self.fleet.begin(entry)
            await self._go_down()
            if "never-returns" in self.spec.faults:
                self.status = "halted"
                self.fleet.record(entry)
                return
            boot = self.spec.boot_time * self.rng.uniform(1 - self.spec.jitter, 1 + self.spec.jitter)
            if "slow-boot" in self.spec.faults:
                boot = self.spec.reboot_timeout * 1.5
            await asyncio.sleep(boot)
            self.system.boot()
            if "new-host-key" in self.spec.faults:
                self.host_key = asyncssh.generate_private_key("ssh-ed25519")
            entry.boot_id_after = self.system.boot_id
            await self._listen()
            entry.up_at = time.time()
            self.fleet.record(entry)
        finally:
            self._rebooting = False

    async def _go_down(self) -> None:
        self.status = "down"
        if self.acceptor is not None:
            self.acceptor.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.acceptor.wait_closed(), 2)
            self.acceptor = None
        for conn in list(self.connections):
            conn.abort()
        self.connections.clear()
        for _ in range(50):  # the aborted connections let go of the port within a few loop turns
            self.hold_port()
            if self._holder is not None or self.status == "halted":
                break
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self._go_down()
        if self.hang_server is not None:
            self.hang_server.close()
            for w in self.hung_sockets:
                w.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.hang_server.wait_closed(), 2)
        self.status = "halted"
        self._release_port()


class SimFleet:
    """Serve simulated twins of an inventory's hosts; write known_hosts, a client key and the ledger."""

    def __init__(
        self,
        inventory: Inventory,
        workdir: str | os.PathLike[str],
        *,
        speed: float = 1.0,
        faults: dict[str, set[str]] | None = None,
        seed: int | None = None,
        boot_time: float = DEFAULT_BOOT_TIME,
        base_port: int | None = None,
        bastion: bool = False,
        jitter: float = 0.2,
    ) -> None:
        self.inventory = inventory
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.speed = speed
        self.faults = faults or {}
        self.rng = random.Random(seed)
        self.boot_time = boot_time
        self.base_port = base_port
        self.bastion = bastion
        self.jitter = jitter
        self.hosts: dict[str, SimHost] = {}
        self.ledger: list[LedgerEntry] = []
        self.ledger_path = self.workdir / "ledger.jsonl"
        self.known_hosts_path = self.workdir / "known_hosts"
        self.client_key_path = self.workdir / "client_key"
        self._t0_real = time.monotonic()
        self._t0_sim = time.time()
        self.authorized_keys: asyncssh.SSHAuthorizedKeys | None = None
        self._reserved: list[socket.socket] = []
        self._open: set[int] = set()

    def sim_clock(self) -> float:
        """Simulated wall clock: runs ``speed`` times faster than real time."""
        return self._t0_sim + (time.monotonic() - self._t0_real) * self.speed

    def begin(self, entry: LedgerEntry) -> None:
        """A reboot really started (the machine went down): in the ledger from this moment."""
        self.ledger.append(entry)
        self._open.add(id(entry))

    def record(self, entry: LedgerEntry) -> None:
        """Write the reboot's line once it is over (back up, or halted for good)."""
        self._open.discard(id(entry))
        line = json.dumps(entry.to_dict()) + "\n"
        fd = os.open(self.ledger_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def reboots_of(self, name: str) -> list[LedgerEntry]:
        return [e for e in self.ledger if e.host == name]

    def _ports(self, count: int) -> list[int]:
        """Free TCP ports on 127.0.0.1 below the ephemeral range (held until the servers listen)."""
        rng = random.Random()
        start = self.base_port or rng.randrange(PORT_LOW, PORT_HIGH - count - 1)
        ports: list[int] = []
        port = start
        tried = 0
        while len(ports) < count:
            if port >= PORT_HIGH:
                port = PORT_LOW
            tried += 1
            if tried > PORT_HIGH - PORT_LOW:
                raise RuntimeError("no free ports for the simulated fleet")
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
            else:
                self._reserved.append(s)
                ports.append(port)
            port += 1
        return ports

    async def start(self) -> None:
        client_key = asyncssh.generate_private_key("ssh-ed25519", comment="slowroll-sim-client")
        client_key.write_private_key(str(self.client_key_path))
        os.chmod(self.client_key_path, 0o600)
        self.authorized_keys = asyncssh.import_authorized_keys(
            client_key.export_public_key("openssh").decode()
        )
        ports = self._ports(len(self.inventory.hosts))
        policy = self.inventory.policy
        lines = []
        for host, port in zip(self.inventory.hosts, ports, strict=True):
            spec = SimHostSpec(
                name=host.name,
                port=port,
                services=tuple(_services_for(host)),
                boot_time=self.boot_time / self.speed,
                faults=set(self.faults.get(host.name, set())),
                check_commands=frozenset(
                    c.render(host).strip() for c in self.inventory.checks_for(host) if not c.local
                ),
                reboot_command=policy.reboot_command,
                boot_id_command=policy.boot_id_command,
                reboot_timeout=policy.reboot_timeout / self.speed,
                bastion=self.bastion,
                jitter=self.jitter,
            )
            sim = SimHost(spec, self, random.Random(self.rng.random()))
            self.hosts[host.name] = sim
            key = sim.host_key.export_public_key("openssh").decode().strip()
            lines.append(f"[127.0.0.1]:{port} {key}\n")
        self.known_hosts_path.write_text("".join(lines))
        os.chmod(self.known_hosts_path, 0o600)
        for sim, sock in zip(self.hosts.values(), self._reserved, strict=True):
            sim.hold_port(sock)  # held until each server listens
        self._reserved.clear()
        await asyncio.gather(*(h.start() for h in self.hosts.values()))

    async def stop(self) -> None:
        await asyncio.gather(*(h.stop() for h in self.hosts.values()), return_exceptions=True)
        for entry in self.ledger:  # reboots still under way when the fleet stops
            if id(entry) in self._open:
                self.record(entry)

    async def __aenter__(self) -> SimFleet:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def twin_inventory(self, *, scale_policy: bool = True, local_hooks: bool = False) -> Inventory:
        """The inventory with every host pointed at its simulated twin (and the policy scaled by speed)."""
        hosts = tuple(
            replace(h, address="127.0.0.1", port=self.hosts[h.name].port) for h in self.inventory.hosts
        )
        ssh = SSHSettings(
            user=self.inventory.ssh.user or "root",
            port=22,
            known_hosts=str(self.known_hosts_path),
            identity_files=(str(self.client_key_path),),
            agent=False,
        )
        policy = self.inventory.policy.scaled(self.speed) if scale_policy else self.inventory.policy
        speed = self.speed if scale_policy else 1.0
        # Console-side checks of a host (tcp, http) probe its simulated sshd: the twin has no other port.
        checks = tuple(
            (replace(c, kind="tcp", command="{port}", status=(), body=None) if c.local else c).scaled(speed)
            for c in self.inventory.checks
        )
        # Service-level checks run as written when they stay on this machine; the others would reach the
        # real service, which a rehearsal must not touch.
        service = tuple(c.scaled(speed) for c in self.inventory.service_checks if _stays_local(c))
        # Hooks change things (drain a load balancer...): in a rehearsal only those on the (simulated) host
        # run, unless asked for.
        hooks = tuple(h.scaled(speed) for h in self.inventory.hooks if local_hooks or h.where == "host")
        notify = self.inventory.notify
        if notify is not None and urllib.parse.urlsplit(notify.webhook).hostname not in (
            "127.0.0.1",
            "::1",
            "localhost",
        ):
            notify = None
        return replace(
            self.inventory,
            hosts=hosts,
            ssh=ssh,
            policy=policy,
            checks=checks,
            service_checks=service,
            hooks=hooks,
            notify=notify,
        )


def _stays_local(check: CheckSpec) -> bool:
    if check.kind == "command":
        return True
    target = check.command
    host = (
        urllib.parse.urlsplit(target).hostname if "://" in target else target.rpartition(":")[0].strip("[]")
    )
    return host in ("127.0.0.1", "::1", "localhost")


def _services_for(host: Host) -> Iterable[str]:
    """Role services for a simulated host: ``vars.sim_services`` or a guess from its groups."""
    explicit = host.vars.get("sim_services")
    if isinstance(explicit, list):
        return [str(s) for s in explicit]
    guess = {
        "web": ["nginx.service"],
        "app": ["app.service"],
        "api": ["app.service"],
        "db": ["postgresql.service"],
        "cache": ["redis-server.service"],
        "queue": ["rabbitmq-server.service"],
    }
    out: list[str] = []
    for g in host.groups:
        for key, units in guess.items():
            if key in g:
                out.extend(u for u in units if u not in out)
    return out
