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
from console.model.specs import render_plain
from console.remote.sshconfig import SSHConfig, default_config
from console.sim.endpoints import Endpoint, hold
from console.sim.faults import DRIFT_FAULTS, apply_drift_fault
from console.sim.ports import (
    FILES_MARGIN,
    PORT_HIGH,
    PORT_LOW,
    allocate_ports,
    ensure_open_files,
    ephemeral_range,
    port_order,
)
from console.sim.rehearse import (
    LOOPBACK,
    SERVED_KINDS,
    answer,
    port_var,
    redacted,
    served,
    stays_local,
    twin_check,
)
from console.sim.result import ExecResult
from console.sim.system import SimSystem

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
    forward_to: frozenset[int] | None = None  # a bastion forwards to these ports only (None: any)
    jitter: float = 0.2  # boot time varies by ± this fraction
    sudoers: frozenset[str] | None = (
        None  # who may sudo besides root (None: every user; host var sim_sudoers)
    )


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
        spec = self.host.spec
        if not spec.bastion or dest_host not in ("127.0.0.1", "localhost"):
            return False
        if spec.forward_to is not None and dest_port not in spec.forward_to:
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
        self.endpoints: dict[int, Endpoint] = {}  # the inventory's check index -> its tcp/http endpoint
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
        if self._holder is None:
            # never block the simulator's loop for it: a port taken meanwhile simply stays unheld
            self._holder = sock if sock is not None else hold(self.port)

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
        await asyncio.gather(*(e.open() for e in self.endpoints.values()))

    async def _hang(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.hung_sockets.append(writer)  # accept TCP, never say a word

    async def _process(self, process: asyncssh.SSHServerProcess[str]) -> None:
        command = process.command or ""
        self.commands += 1
        result, reboot = self.execute(command, user=process.get_extra_info("username") or "root")
        if result.stdout:
            process.stdout.write(result.stdout)
        if result.stderr:
            process.stderr.write(result.stderr)
        process.exit(result.exit_status)
        if reboot:
            self._spawn(self.reboot())

    def execute(self, command: str, *, user: str = "root") -> tuple[ExecResult, bool]:
        """Answer one command run by ``user`` as the simulated host would. Returns (result, reboot now?)."""
        text = command.strip()
        rest = _after_sudo(text)
        if rest is not None:  # sudo [-n] CMD: as root for the host's sudoers, else what sudo -n says
            if not self.may_sudo(user):
                return ExecResult(1, "", "sudo: a password is required\n"), False
            return self.execute(rest, user="root")
        reboot_command = _after_sudo(self.spec.reboot_command.strip()) or self.spec.reboot_command.strip()
        if text in (reboot_command, "systemctl reboot", "reboot", "shutdown -r now"):
            if user != "root":  # as systemd 252 answers an unprivileged user (polkit refuses)
                denied = "Failed to reboot system via logind: Interactive authentication required.\n"
                return ExecResult(1, "", denied), False
            return ExecResult(0), True
        if text == self.spec.boot_id_command.strip():
            return ExecResult(0, self.system.boot_id + "\n"), False
        if text.startswith("env SLOWROLL_HOST="):  # a hook run on the host (remote.hooks.remote_command)
            return ExecResult(0, f"ok (simulated hook on {self.name})\n"), False
        if text in self.spec.check_commands:
            failure = self.check_failure()
            if failure is not None:
                return ExecResult(1, "", failure + "\n"), False
        answer = self.system.execute(text)
        if answer is not None:
            return answer, False
        if text in self.spec.check_commands:
            return ExecResult(0, "ok (simulated)\n"), False
        return ExecResult(127, "", f"sh: 1: {text.split()[0] if text.split() else text}: not found\n"), False

    def may_sudo(self, user: str) -> bool:
        """root, and the users in host var ``sim_sudoers`` (every user when the var is not set), but nobody
        else under the fault no-sudo."""
        if user == "root":
            return True
        if "no-sudo" in self.spec.faults:
            return False
        return self.spec.sudoers is None or user in self.spec.sudoers

    def check_failure(self, *, flap: bool = True) -> str | None:
        """Why the host's health checks fail now (its faults), or None; ``flap``: a flapping check's turn."""
        faults = self.spec.faults
        if "unhealthy" in faults:
            return f"simulated check failure on {self.name} (fault unhealthy)"
        if self.reboots > 0 and "check-fails" in faults:
            return f"simulated check failure on {self.name} (fault check-fails)"
        if flap and self.reboots > 0 and "flapping" in faults:
            self.flap += 1
            if self.flap % 2 == 0:
                return f"simulated flapping check on {self.name}: fail"
        return None

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
        await asyncio.gather(*(e.close() for e in self.endpoints.values()))
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
        for endpoint in self.endpoints.values():
            endpoint.release()


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
        os.chmod(self.workdir, 0o700)  # the client's private key, the twin inventory, its ssh config
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
        self._twins: dict[str, Host] = {}  # each host as the console reaches its twin
        self.jump_host: SimHost | None = None  # the bastion, when the inventory's hosts sit behind one
        self.ssh_config_path = self.workdir / "ssh_config"
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

    def _ports(self, count: int) -> list[tuple[int, socket.socket]]:
        """``count`` free TCP ports on 127.0.0.1 outside the ephemeral range, each held by a bound socket
        until its server listens."""
        ephemeral = ephemeral_range()
        start = self.base_port or random.randrange(PORT_LOW, min(PORT_HIGH, ephemeral[0]))
        return allocate_ports(count, port_order(start, ephemeral), hold, ephemeral=ephemeral)

    async def start(self) -> None:
        client_key = asyncssh.generate_private_key("ssh-ed25519", comment="slowroll-sim-client")
        write_private(self.client_key_path, client_key.export_private_key().decode())
        self.authorized_keys = asyncssh.import_authorized_keys(
            client_key.export_public_key("openssh").decode()
        )
        inv = self.inventory
        served_checks = {i: c for i, c in enumerate(inv.checks) if served(c)}
        wanted = {h.name: [i for i, c in served_checks.items() if c.applies_to(h)] for h in inv.hosts}
        jumped = self._jumped()
        count = len(inv.hosts) + sum(map(len, wanted.values())) + bool(jumped)
        ensure_open_files(count + FILES_MARGIN)
        ports = iter(self._ports(count))
        lines = []
        for n, host in enumerate(inv.hosts):
            port, sock = next(ports)
            taken = {i: next(ports) for i in wanted[host.name]}
            twin = replace(
                host,
                address=f"sim-jump-{n}" if host.name in jumped else "127.0.0.1",
                port=port,
                vars={**redacted(dict(host.vars)), **{port_var(i): p for i, (p, _) in taken.items()}},
            )
            self._twins[host.name] = twin
            sim = SimHost(self._spec(host, twin, port), self, random.Random(self.rng.random()))
            for i, (p, held) in taken.items():
                status, body = answer(served_checks[i])
                sim.endpoints[i] = Endpoint(
                    p,
                    http=served_checks[i].kind == "http",
                    status=status,
                    body=body,
                    failing=lambda flap, sim=sim: sim.check_failure(flap=flap),
                    held=held,
                )
            sim.hold_port(sock)  # held until its server listens
            self.hosts[host.name] = sim
            key = sim.host_key.export_public_key("openssh").decode().strip()
            lines.append(f"[127.0.0.1]:{port} {key}\n")
        if jumped:
            lines.append(self._start_bastion(*next(ports), jumped))
        write_private(self.known_hosts_path, "".join(lines))
        await asyncio.gather(*(h.start() for h in self.hosts.values()))
        if self.jump_host is not None:
            await self.jump_host.start()

    def _jumped(self) -> set[str]:
        """The hosts that the inventory's ssh config (or ~/.ssh/config) reaches through a ProxyJump."""
        path = self.inventory.ssh.config
        if path and not Path(path).expanduser().is_file():
            return set()  # an ssh config that only the real machine has (the real roll says it is missing)
        config = SSHConfig(path) if path else default_config()
        if config is None:
            return set()
        return {h.name for h in self.inventory.hosts if config.lookup(h.address).proxy_jump}

    def _start_bastion(self, port: int, sock: socket.socket, jumped: set[str]) -> str:
        """A simulated bastion that forwards to the twins of the ``jumped`` hosts only, and the ssh config
        that sends those twins through it (the connector's ProxyJump path); its known_hosts line."""
        spec = SimHostSpec(
            name="bastion",
            port=port,
            bastion=True,
            forward_to=frozenset(self._twins[n].port for n in jumped),
        )
        self.jump_host = SimHost(spec, self, random.Random(self.rng.random()))
        self.jump_host.hold_port(sock)
        blocks = [
            f"Host {t.address}\n  HostName 127.0.0.1\n  Port {t.port}\n  ProxyJump root@127.0.0.1:{port}\n"
            for t in self._twins.values()
            if t.name in jumped
        ]
        write_private(self.ssh_config_path, "".join(blocks))
        key = self.jump_host.host_key.export_public_key("openssh").decode().strip()
        return f"[127.0.0.1]:{port} {key}\n"

    def _spec(self, host: Host, twin: Host, port: int) -> SimHostSpec:
        """The simulated host of ``host``: the checks it answers are rendered as the console sends them (to
        its ``twin``), and the units its ``systemd`` checks name run on it, enabled and active."""
        checks = self.inventory.checks_for(host)
        units = [render_plain(c.command, twin) for c in checks if c.kind == "systemd"]
        services = list(_services_for(host))
        policy = self.inventory.policy
        return SimHostSpec(
            name=host.name,
            port=port,
            services=tuple(services + [u for u in units if u not in services]),
            boot_time=self.boot_time / self.speed,
            faults=set(self.faults.get(host.name, set())),
            check_commands=frozenset(c.render(twin).strip() for c in checks if not c.local),
            reboot_command=policy.reboot_command,
            boot_id_command=policy.boot_id_command,
            reboot_timeout=policy.reboot_timeout / self.speed,
            bastion=self.bastion,
            jitter=self.jitter,
            sudoers=_sudoers(host),
        )

    async def stop(self) -> None:
        hosts = [*self.hosts.values(), *([self.jump_host] if self.jump_host is not None else [])]
        await asyncio.gather(*(h.stop() for h in hosts), return_exceptions=True)
        for entry in self.ledger:  # reboots still under way when the fleet stops
            if id(entry) in self._open:
                self.record(entry)

    async def __aenter__(self) -> SimFleet:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def twin_inventory(self, *, scale_policy: bool = True, local_hooks: bool = False) -> Inventory:
        """The inventory with every host pointed at its simulated twin (and the policy scaled by speed).

        Secret-looking vars are redacted; what cannot be rehearsed is left out (``rehearse.rehearsal_notes``
        says what): checks whose http body no answer satisfies, service checks and console-side hooks that
        would reach the real service (hooks run on the console only with ``local_hooks``).
        """
        hosts = tuple(self._twins[h.name] for h in self.inventory.hosts)
        ssh = SSHSettings(
            user=self.inventory.ssh.user or "root",
            port=22,
            known_hosts=str(self.known_hosts_path),
            identity_files=(str(self.client_key_path),),
            agent=False,
            config=str(self.ssh_config_path) if self.jump_host is not None else None,
        )
        policy = self.inventory.policy.scaled(self.speed) if scale_policy else self.inventory.policy
        speed = self.speed if scale_policy else 1.0
        checks = tuple(
            twin_check(c, i).scaled(speed)
            for i, c in enumerate(self.inventory.checks)
            if served(c) or c.kind not in SERVED_KINDS
        )
        service = tuple(c.scaled(speed) for c in self.inventory.service_checks if stays_local(c))
        hooks = tuple(h.scaled(speed) for h in self.inventory.hooks if local_hooks or h.where == "host")
        notify = self.inventory.notify
        if notify is not None and urllib.parse.urlsplit(notify.webhook).hostname not in LOOPBACK:
            notify = None
        return replace(
            self.inventory,
            hosts=hosts,
            groups={n: replace(g, vars=redacted(dict(g.vars))) for n, g in self.inventory.groups.items()},
            ssh=ssh,
            policy=policy,
            checks=checks,
            service_checks=service,
            hooks=hooks,
            notify=notify,
        )


def write_private(path: Path, text: str) -> None:
    """Write ``path`` readable by its owner alone (0600 whatever the umask), replacing it atomically."""
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _after_sudo(text: str) -> str | None:
    """The command that ``sudo [-n] CMD`` runs, or None when ``text`` does not start with sudo."""
    words = text.split()
    if not words or words[0] not in ("sudo", "/usr/bin/sudo"):
        return None
    i = 1
    while i < len(words) and words[i].startswith("-") and words[i] != "--":
        i += 1
    i += i < len(words) and words[i] == "--"
    return " ".join(words[i:])


def _sudoers(host: Host) -> frozenset[str] | None:
    """The users host var ``sim_sudoers`` lets run sudo on the simulated host (None: not set, everyone)."""
    value = host.vars.get("sim_sudoers")
    if value is None:
        return None
    return frozenset(str(u) for u in (value if isinstance(value, list) else [value]))


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
