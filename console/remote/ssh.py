"""The one place slowroll talks SSH (asyncssh): strict host keys, timeouts always set, typed errors.

Host keys are checked strictly by default against ``~/.ssh/known_hosts`` or the inventory's
``ssh.known_hosts``. An unknown host is refused with a message that says how to trust it; with
``accept_new`` (``--accept-new``) an unknown host's key is recorded, like OpenSSH's
``StrictHostKeyChecking=accept-new``. A *changed* key is always refused. Keys and ssh-agent only.

Identity files are offered first, in order, a passphrase-protected one through ssh-agent (its public key,
``FILE.pub`` or the key file's own header, names the agent key to use, as OpenSSH does), then the agent's
other keys: the keys named come before the agent's others, so sshd's MaxAuthTries is not spent on them. No
passphrase is ever asked for: an encrypted key must be in the agent.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import fcntl
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import asyncssh

from console.remote.result import CommandResult
from console.remote.sshconfig import Jump, SSHConfig

__all__ = [
    "Connector",
    "HostSession",
    "SSHError",
    "SSHErrorKind",
    "SSHOptions",
    "SSHTarget",
]


class SSHErrorKind(StrEnum):
    """What went wrong, so callers decide without parsing messages."""

    UNREACHABLE = "unreachable"  # refused, no route, reset before the banner
    TIMEOUT = "timeout"  # no answer (or no banner) within the connect timeout
    AUTH = "auth"  # the server refused every key
    HOSTKEY_UNKNOWN = "hostkey-unknown"
    HOSTKEY_CHANGED = "hostkey-changed"
    DISCONNECTED = "disconnected"  # the connection went away during a command
    COMMAND_TIMEOUT = "command-timeout"
    PROTOCOL = "protocol"

    @property
    def host_key(self) -> bool:
        """The host's key is not the one trusted: a security stop, never retried by itself."""
        return self in (SSHErrorKind.HOSTKEY_UNKNOWN, SSHErrorKind.HOSTKEY_CHANGED)


def _ciphers() -> list[str]:
    """asyncssh's default ciphers with AES-GCM first.

    The client's order decides. asyncssh computes chacha20-poly1305 in Python (two cipher objects per
    packet); AES-GCM is one call into OpenSSL, with AES-NI. Both are authenticated ciphers that OpenSSH
    offers by default; preferring GCM halves the crypto cost of a fleet-wide audit on both ends.
    """
    algs = [a.decode() for a in asyncssh.encryption.get_default_encryption_algs()]
    return sorted(algs, key=lambda a: not a.startswith("aes") or not a.endswith("-gcm@openssh.com"))


CIPHERS = _ciphers()


class SSHError(Exception):
    """An SSH failure with a ``kind`` and a sentence for people."""

    def __init__(self, kind: SSHErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind

    @property
    def reaches_host(self) -> bool:
        """True when the host answered at the network level (it is up, something else is wrong)."""
        return self.kind in (
            SSHErrorKind.AUTH,
            SSHErrorKind.HOSTKEY_UNKNOWN,
            SSHErrorKind.HOSTKEY_CHANGED,
            SSHErrorKind.PROTOCOL,
        )


@dataclass(frozen=True)
class SSHTarget:
    name: str
    address: str
    port: int = 22
    user: str | None = None
    explicit: frozenset[str] = frozenset()  # what the inventory set itself (wins over the ssh config)

    @property
    def where(self) -> str:
        return f"{self.address}:{self.port}"


@dataclass(frozen=True)
class SSHOptions:
    known_hosts: str | None = None  # None: ~/.ssh/known_hosts
    accept_new: bool = False
    identity_files: tuple[str, ...] = ()
    agent: bool = True
    keepalive_interval: float = 15.0
    max_connections: int = 256
    max_connecting: int = 64  # handshakes in flight at once: a herd of key exchanges starves the loop
    config: SSHConfig | None = None  # ~/.ssh/config or --ssh-config: HostName, User, Port, IdentityFile...
    known_hosts_explicit: bool = False  # known_hosts came from the inventory: it wins over UserKnownHostsFile
    identity_files_explicit: bool = False


@dataclass(frozen=True)
class Route:
    """Where and how to reach a target once the ssh config has had its say."""

    hostname: str
    port: int
    user: str | None
    identity_files: tuple[str, ...]
    known_hosts: KnownHosts
    jumps: tuple[Jump, ...] = ()

    @property
    def where(self) -> str:
        via = f" via {', '.join(str(j) for j in self.jumps)}" if self.jumps else ""
        return f"{self.hostname}:{self.port}{via}"


@dataclass(frozen=True)
class Identity:
    """One identity file: its keys if they could be loaded, else (encrypted) the public keys it stands for."""

    path: str
    keys: tuple[asyncssh.SSHKeyPair, ...]  # empty: passphrase-protected, usable only through ssh-agent
    public: frozenset[bytes]  # public key (and certificate) blobs, to find the key in the agent

    @property
    def encrypted(self) -> bool:
        return not self.keys


def load_identity(path: str) -> Identity:
    """Load an identity file; a passphrase-protected one is not an error (its key may be in the agent)."""
    try:
        keys = asyncssh.load_keypairs([path], ignore_encrypted=True)
    except (OSError, asyncssh.KeyImportError, ValueError) as exc:
        raise SSHError(SSHErrorKind.AUTH, f"cannot use identity file {path}: {_reason(exc)}") from exc
    if keys:
        return Identity(
            path, tuple(keys), frozenset(b for k in keys for b in (k.key_public_data, k.public_data))
        )
    public: set[bytes] = set()
    with contextlib.suppress(OSError, asyncssh.KeyImportError, ValueError):
        public.add(asyncssh.read_public_key(path + ".pub").public_data)
    with contextlib.suppress(OSError, asyncssh.KeyImportError, ValueError):
        public.add(asyncssh.read_certificate(path + "-cert.pub").public_data)
    blob = _openssh_public_blob(path)
    if blob is not None:
        public.add(blob)
    return Identity(path, (), frozenset(public))


def _openssh_public_blob(path: str) -> bytes | None:
    """The public key an OpenSSH-format private key file carries unencrypted (as ``ssh-keygen -y`` reads it)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return None
    begin, end = "-----BEGIN OPENSSH PRIVATE KEY-----", "-----END OPENSSH PRIVATE KEY-----"
    if begin not in text or end not in text:
        return None
    try:
        raw = base64.b64decode("".join(text.split(begin, 1)[1].split(end, 1)[0].split()))
    except (binascii.Error, ValueError):
        return None
    magic = b"openssh-key-v1\0"
    if not raw.startswith(magic):
        return None
    pos = len(magic)
    for _ in range(3):  # skip the cipher name, KDF name and KDF options
        pos += 4 + int.from_bytes(raw[pos : pos + 4], "big")
    if int.from_bytes(raw[pos : pos + 4], "big") != 1:
        return None
    size = int.from_bytes(raw[pos + 4 : pos + 8], "big")
    blob = raw[pos + 8 : pos + 8 + size]
    return blob if len(blob) == size and size else None


@dataclass
class Offer:
    """The keys offered on one connection, and why an encrypted identity file could not be used."""

    keys: list[asyncssh.SSHKeyPair]
    agent: asyncssh.SSHAgentClient | None  # signs for the agent's keys; closed after the handshake
    locked: tuple[Identity, ...] = ()  # encrypted identity files whose key the agent does not offer
    why: str = ""  # why not (no agent, agent off, unreachable, does not hold it)
    fix: str = ""

    def note(self) -> str:
        if not self.locked:
            return ""
        files = ", ".join(i.path for i in self.locked)
        verb = "is" if len(self.locked) == 1 else "are"
        return (
            f"{files} {verb} encrypted (passphrase-protected) and {self.why}; slowroll never asks for a "
            f"passphrase: {self.fix}"
        )

    async def close(self) -> None:
        agent, self.agent = self.agent, None
        await _close_agent(agent)


async def _close_agent(agent: asyncssh.SSHAgentClient | None) -> None:
    if agent is not None:
        agent.close()
        with contextlib.suppress(Exception):
            await agent.wait_closed()


def known_hosts_entry_name(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"


class KnownHosts:
    """Reads a known_hosts file (re-read when it changes) and appends to it for accept-new."""

    def __init__(self, path: str | None) -> None:
        self.path = Path(os.path.expanduser(path or "~/.ssh/known_hosts"))
        self._cache: tuple[float, int, asyncssh.SSHKnownHosts | None] | None = None

    def _load(self) -> asyncssh.SSHKnownHosts | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        key = (st.st_mtime, st.st_size)
        if self._cache is not None and self._cache[:2] == key:
            return self._cache[2]
        try:
            data = asyncssh.import_known_hosts(self.path.read_text(errors="replace"))
        except (ValueError, OSError) as exc:
            raise SSHError(
                SSHErrorKind.PROTOCOL, f"cannot read known_hosts file {self.path}: {exc}"
            ) from None
        self._cache = (key[0], key[1], data)
        return data

    def has_entry(self, address: str, port: int) -> bool:
        data = self._load()
        if data is None:
            return False
        result = asyncssh.match_known_hosts(data, address, address, port if port != 22 else None)
        trusted, ca_keys = result[0], result[1]
        return bool(trusted or ca_keys)

    def known_hosts_arg(self) -> asyncssh.SSHKnownHosts | bytes:
        data = self._load()
        return data if data is not None else b""

    def add(self, address: str, port: int, key: asyncssh.SSHKey) -> None:
        """Append ``key`` for the host (under a lock, once, mode 0600 for a new file)."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        line = (
            f"{known_hosts_entry_name(address, port)} {key.export_public_key('openssh').decode().strip()}\n"
        )
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._cache = None
            if self.has_entry(address, port):
                return
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self._cache = None


class _RecordingClient(asyncssh.SSHClient):
    """Used only when the host has no known_hosts entry: remembers the key it was offered."""

    def __init__(self, accept: bool) -> None:
        self.accept = accept
        self.offered: asyncssh.SSHKey | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        self.offered = key
        return self.accept


class HostSession:
    """One SSH connection to one host. Commands always run with a timeout."""

    def __init__(
        self, target: SSHTarget, conn: asyncssh.SSHClientConnection, release: Callable[[], None]
    ) -> None:
        self.target = target
        self._conn = conn
        self._release = release
        self._closed = False

    async def run(self, command: str, *, timeout: float) -> CommandResult:
        """Run ``command`` (a shell line; quote its words with ``shlex.quote``) and return its result."""
        try:
            result = await self._conn.run(command, check=False, timeout=timeout)
        except asyncssh.TimeoutError as exc:
            raise SSHError(
                SSHErrorKind.COMMAND_TIMEOUT, f"{self.target.name}: command timed out after {timeout:g}s"
            ) from exc
        except TimeoutError as exc:
            raise SSHError(
                SSHErrorKind.COMMAND_TIMEOUT, f"{self.target.name}: command timed out after {timeout:g}s"
            ) from exc
        except (asyncssh.ChannelOpenError, asyncssh.DisconnectError, asyncssh.ConnectionLost) as exc:
            raise SSHError(
                SSHErrorKind.DISCONNECTED, f"{self.target.name}: connection lost ({_reason(exc)})"
            ) from exc
        except (ConnectionError, OSError, BrokenPipeError) as exc:
            raise SSHError(
                SSHErrorKind.DISCONNECTED, f"{self.target.name}: connection lost ({_reason(exc)})"
            ) from exc
        status = result.exit_status
        if status is None and result.exit_signal:
            status = 128 + 9
        return CommandResult(status, _text(result.stdout), _text(result.stderr))

    async def fire(self, command: str, *, timeout: float) -> CommandResult | None:
        """Run a command that may take the connection down with it (a reboot): a drop is not an error."""
        try:
            return await self.run(command, timeout=timeout)
        except SSHError as exc:
            if exc.kind in (SSHErrorKind.DISCONNECTED, SSHErrorKind.COMMAND_TIMEOUT):
                return None
            raise

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._conn.close()
        self._release()

    async def aclose(self) -> None:
        self.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._conn.wait_closed(), 2)


class Connector:
    """Opens ``HostSession``s with one policy for host keys, credentials, timeouts and concurrency."""

    def __init__(self, options: SSHOptions | None = None) -> None:
        self.options = options or SSHOptions()
        self.known_hosts = KnownHosts(self.options.known_hosts)
        self._known_files: dict[str, KnownHosts] = {}
        self._identities: dict[tuple[str, ...], tuple[Identity, ...]] = {}
        self._slots = asyncio.Semaphore(self.options.max_connections)
        self._handshakes = asyncio.Semaphore(self.options.max_connecting)
        self._jumps: dict[tuple[str, int, str | None], asyncssh.SSHClientConnection] = {}
        self._jump_locks: dict[tuple[str, int, str | None], asyncio.Lock] = {}
        self.jump_connections_opened = 0

    def route(self, target: SSHTarget) -> Route:
        """Apply the ssh config (if any) to a target; what the inventory set explicitly wins."""
        cfg = self.options.config.lookup(target.address) if self.options.config else None
        hostname = target.address
        port = target.port
        user = target.user
        ids = self.options.identity_files
        known = self.known_hosts
        jumps: tuple[Jump, ...] = ()
        if cfg is not None:
            hostname = cfg.hostname or target.address
            if cfg.port is not None and "port" not in target.explicit:
                port = cfg.port
            if cfg.user is not None and "user" not in target.explicit:
                user = cfg.user
            if cfg.identity_files and not self.options.identity_files_explicit:
                ids = cfg.identity_files
            if cfg.known_hosts and not self.options.known_hosts_explicit:
                known = self._known_file(cfg.known_hosts[0])
            jumps = cfg.proxy_jump
        return Route(hostname, port, user, ids, known, jumps)

    def identities(self, paths: tuple[str, ...]) -> tuple[Identity, ...]:
        """Identity files read once, not at every connection (thousands of them in a big roll)."""
        if paths not in self._identities:
            self._identities[paths] = tuple(load_identity(p) for p in paths)
        return self._identities[paths]

    async def offer(self, route: Route, timeout: float) -> Offer:
        """The route's identity files in order (an encrypted one through the agent), then the agent's keys.

        Asked of the agent at each connection, so a key added with ssh-add during a roll is used."""
        ids = self.identities(route.identity_files)
        sock = os.environ.get("SSH_AUTH_SOCK", "") if self.options.agent else ""
        agent: asyncssh.SSHAgentClient | None = None
        agent_keys: list[asyncssh.SSHKeyPair] = []
        fix = "add it to ssh-agent (ssh-add FILE)"
        if not self.options.agent:
            why = "ssh-agent is turned off (ssh.agent: false)"
            fix = "set ssh.agent: true in the inventory and add the key to ssh-agent (ssh-add FILE)"
        elif not sock:
            why = "no ssh-agent is available (SSH_AUTH_SOCK is not set)"
            fix = "start ssh-agent, add the key to it (ssh-add FILE) and run slowroll with SSH_AUTH_SOCK set"
        else:
            why = f"the ssh-agent at {sock} does not hold its key"
            agent = asyncssh.SSHAgentClient(sock)
            try:
                async with asyncio.timeout(timeout):
                    agent_keys = list(await agent.get_keys())
            except (ValueError, OSError, TimeoutError) as exc:
                why = f"the ssh-agent at {sock} cannot be reached ({_reason(exc)})"
                fix = "make sure SSH_AUTH_SOCK points to a running ssh-agent holding the key (ssh-add FILE)"
            except BaseException:
                await _close_agent(agent)
                raise
        keys: list[asyncssh.SSHKeyPair] = []
        locked: list[Identity] = []
        mine: set[bytes] = set()
        for ident in ids:
            mine |= ident.public
            if not ident.encrypted:
                keys += ident.keys
                continue
            held = [k for k in agent_keys if k.public_data in ident.public and k not in keys]
            if not held:
                locked.append(ident)
            keys += held
        keys += [k for k in agent_keys if k.public_data not in mine]
        if not agent_keys:  # nothing will be signed by the agent
            await _close_agent(agent)
            agent = None
        if locked:
            fix = fix.replace("FILE", " ".join(shlex.quote(i.path) for i in locked))
        return Offer(keys, agent, tuple(locked), why, fix)

    def _known_file(self, path: str) -> KnownHosts:
        if path not in self._known_files:
            self._known_files[path] = KnownHosts(path)
        return self._known_files[path]

    async def close(self) -> None:
        """Close the shared jump-host connections."""
        conns, self._jumps = list(self._jumps.values()), {}
        for conn in conns:
            conn.close()
        for conn in conns:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), 2)

    async def connect(self, target: SSHTarget, *, timeout: float) -> HostSession:
        await self._slots.acquire()
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._slots.release()

        try:
            async with self._handshakes:  # the timeout starts when this host's handshake does
                conn = await self._open(target, timeout=timeout)
        except BaseException:
            release()
            raise
        return HostSession(target, conn, release)

    def _common(self, route: Route, timeout: float) -> dict[str, Any]:
        opts: dict[str, Any] = {
            "port": route.port,
            "connect_timeout": timeout,
            "login_timeout": timeout,
            "keepalive_interval": self.options.keepalive_interval,
            "keepalive_count_max": 3,
            "preferred_auth": "publickey",
            "password": None,
            "kbdint_auth": False,
            "password_auth": False,
            "config": None,  # the ssh config was applied by route(): asyncssh must not apply it again
            "encoding": None,
            "encryption_algs": CIPHERS,
        }
        if route.user:
            opts["username"] = route.user
        if not self.options.agent:
            opts["agent_path"] = None
        return opts

    async def _open(self, target: SSHTarget, *, timeout: float) -> asyncssh.SSHClientConnection:
        route = self.route(target)
        tunnel = await self._jump_chain(target, route, timeout) if route.jumps else None
        return await self._connect_one(target.name, route, timeout, tunnel)

    async def _jump_chain(
        self, target: SSHTarget, route: Route, timeout: float
    ) -> asyncssh.SSHClientConnection:
        """One shared connection per jump host (ProxyJump), opened once and reused for every host."""
        tunnel: asyncssh.SSHClientConnection | None = None
        for jump in route.jumps:
            jump_target = SSHTarget(
                f"jump host {jump}",
                jump.host,
                jump.port or 22,
                jump.user,
                frozenset(k for k, v in (("port", jump.port), ("user", jump.user)) if v is not None),
            )
            jroute = self.route(jump_target)
            jroute = Route(
                jroute.hostname, jroute.port, jroute.user, jroute.identity_files, jroute.known_hosts
            )
            key = (jroute.hostname, jroute.port, jroute.user)
            lock = self._jump_locks.setdefault(key, asyncio.Lock())
            async with lock:
                conn = self._jumps.get(key)
                if conn is None or conn.is_closed():
                    try:
                        conn = await self._connect_one(jump_target.name, jroute, timeout, tunnel)
                    except SSHError as exc:
                        raise SSHError(exc.kind, f"{target.name}: cannot reach it through {exc}") from exc
                    self._jumps[key] = conn
                    self.jump_connections_opened += 1
            tunnel = conn
        assert tunnel is not None
        return tunnel

    async def _connect_one(
        self, name: str, route: Route, timeout: float, tunnel: asyncssh.SSHClientConnection | None
    ) -> asyncssh.SSHClientConnection:
        offer: Offer | None = None
        if route.identity_files:
            offer = await self.offer(route, timeout)
            if not offer.keys:  # the agent is closed already: it has no keys
                raise SSHError(SSHErrorKind.AUTH, f"{name} ({route.where}): no key to offer: {offer.note()}")
        try:
            return await self._handshake(name, route, timeout, tunnel, offer)
        finally:
            if offer is not None:
                await offer.close()

    async def _handshake(
        self,
        name: str,
        route: Route,
        timeout: float,
        tunnel: asyncssh.SSHClientConnection | None,
        offer: Offer | None,
    ) -> asyncssh.SSHClientConnection:
        known_hosts = route.known_hosts
        known = known_hosts.has_entry(route.hostname, route.port)
        opts = self._common(route, timeout)
        if offer is not None:
            opts["client_keys"] = offer.keys
            opts["agent_path"] = None  # the agent's keys are among them, in the order they are offered
        if tunnel is not None:
            opts["tunnel"] = tunnel
        recorder: _RecordingClient | None = None
        if known:
            opts["known_hosts"] = known_hosts.known_hosts_arg()
        else:
            recorder = _RecordingClient(accept=self.options.accept_new)
            opts["known_hosts"] = b""
            opts["client_factory"] = lambda: recorder
        where = route.where
        try:
            # asyncio.timeout, not wait_for: no inner task whose late exception would go unretrieved
            async with asyncio.timeout(timeout + 1):
                conn = await asyncssh.connect(route.hostname, **opts)
        except asyncssh.HostKeyNotVerifiable as exc:
            raise self._host_key_error(name, route, known, recorder) from exc
        except asyncssh.KeyExchangeFailed as exc:
            if known:
                raise self._host_key_error(name, route, True, None) from exc
            raise SSHError(
                SSHErrorKind.PROTOCOL, f"{name} ({where}): key exchange failed: {exc.reason}"
            ) from exc
        except asyncssh.PermissionDenied as exc:
            user = route.user or os.environ.get("USER", "")
            note = f"; {offer.note()}" if offer is not None and offer.locked else ""
            raise SSHError(
                SSHErrorKind.AUTH,
                f"{name} ({where}): authentication failed for user {user!r}: the host refused "
                f"every key offered (check identity_files / ssh-agent and the host's authorized_keys){note}",
            ) from exc
        except TimeoutError as exc:
            raise SSHError(
                SSHErrorKind.TIMEOUT, f"{name} ({where}): no SSH answer within {timeout:g}s"
            ) from exc
        except asyncssh.DisconnectError as exc:
            raise SSHError(SSHErrorKind.UNREACHABLE, f"{name} ({where}): disconnected: {exc.reason}") from exc
        except asyncssh.ChannelOpenError as exc:
            raise SSHError(
                SSHErrorKind.UNREACHABLE, f"{name} ({where}): the jump host could not connect: {exc.reason}"
            ) from exc
        except ConnectionRefusedError as exc:
            raise SSHError(SSHErrorKind.UNREACHABLE, f"{name} ({where}): connection refused") from exc
        except (ConnectionError, OSError, asyncssh.ConnectionLost) as exc:
            raise SSHError(SSHErrorKind.UNREACHABLE, f"{name} ({where}): {_reason(exc)}") from exc
        if recorder is not None and self.options.accept_new:
            key = conn.get_server_host_key()
            if key is not None:
                known_hosts.add(route.hostname, route.port, key)
        return conn

    def _host_key_error(
        self, name: str, route: Route, known: bool, recorder: _RecordingClient | None
    ) -> SSHError:
        entry = known_hosts_entry_name(route.hostname, route.port)
        path = route.known_hosts.path
        where = route.where
        if known:
            return SSHError(
                SSHErrorKind.HOSTKEY_CHANGED,
                f"{name} ({where}): HOST KEY CHANGED — possible impersonation "
                f"(man-in-the-middle) or a reinstalled host. The key offered does not match {entry} in "
                f"{path}. Refused. If the change is expected, verify the new key out of band, "
                f"remove the old entry (ssh-keygen -R {shlex.quote(entry)} -f {path}) and connect again.",
            )
        fp = ""
        if recorder is not None and recorder.offered is not None:
            fp = (
                f" It offered {recorder.offered.algorithm.decode()} key {recorder.offered.get_fingerprint()}."
            )
        port_opt = f"-p {route.port} " if route.port != 22 else ""
        return SSHError(
            SSHErrorKind.HOSTKEY_UNKNOWN,
            f"{name} ({where}): unknown host key: no entry for {entry} in "
            f"{path}.{fp} Refused (strict host key checking). To trust it, verify the "
            f"fingerprint and add it: ssh-keyscan {port_opt}{route.hostname} >> {path} — or "
            "rerun with --accept-new to record keys of hosts seen for the first time.",
        )


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return str(data)


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    if reason:
        return str(reason)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
