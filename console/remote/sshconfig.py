"""The part of OpenSSH's client configuration slowroll honours: Host blocks with HostName, User, Port,
IdentityFile, UserKnownHostsFile and ProxyJump (plus Include).

OpenSSH's rules apply: the first value found for a keyword wins (IdentityFile accumulates), ``Host``
patterns take ``*``, ``?`` and ``!negation``. ``Match`` blocks are not evaluated: they are skipped, and
``unsupported`` says so, so ``slowroll check`` can warn.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from console.model.errors import UsageError

KEYWORDS = {"hostname", "user", "port", "identityfile", "userknownhostsfile", "proxyjump"}


@dataclass(frozen=True)
class Jump:
    host: str
    user: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        return (f"{self.user}@" if self.user else "") + self.host + (f":{self.port}" if self.port else "")


@dataclass(frozen=True)
class Resolved:
    """What the configuration says about one host (None: not said)."""

    alias: str
    hostname: str | None = None
    user: str | None = None
    port: int | None = None
    identity_files: tuple[str, ...] = ()
    known_hosts: tuple[str, ...] = ()
    proxy_jump: tuple[Jump, ...] = ()


@dataclass
class _Block:
    patterns: list[str]
    options: list[tuple[str, str, str, int]] = field(default_factory=list)  # key, value, file, line
    match: bool = False

    def applies(self, name: str) -> bool:
        if self.match:
            return False
        hit = False
        for p in self.patterns:
            if p.startswith("!"):
                if fnmatch.fnmatchcase(name.lower(), p[1:].lower()):
                    return False
            elif fnmatch.fnmatchcase(name.lower(), p.lower()):
                hit = True
        return hit


class SSHConfig:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(os.path.expanduser(str(path)))
        self.blocks: list[_Block] = [_Block(["*"])]
        self.unsupported: list[str] = []
        self._read(self.path, depth=0)

    def _read(self, path: Path, depth: int) -> None:
        if depth > 8:
            raise UsageError(f"{path}: Include nested too deeply")
        try:
            text = path.read_text(errors="replace")
        except FileNotFoundError:
            if depth == 0:
                raise UsageError(f"{path}: no such ssh config file") from None
            return
        except OSError as exc:
            raise UsageError(f"{path}: cannot read: {exc.strerror}") from None
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            key, value = _split(line)
            if not value:
                continue
            lk = key.lower()
            if lk == "host":
                self.blocks.append(_Block(shlex.split(value)))
            elif lk == "match":
                self.blocks.append(_Block([], match=True))
                self.unsupported.append(f"{path}:{n}: Match blocks are not evaluated by slowroll (skipped)")
            elif lk == "include":
                for pattern in shlex.split(value):
                    full = os.path.expanduser(pattern)
                    if not os.path.isabs(full):
                        full = os.path.join(os.path.expanduser("~/.ssh"), full)
                    for inc in sorted(glob.glob(full)):
                        self._read(Path(inc), depth + 1)
            elif lk in KEYWORDS:
                self.blocks[-1].options.append((lk, value, str(path), n))

    def lookup(self, name: str) -> Resolved:
        found: dict[str, str] = {}
        identities: list[str] = []
        where: dict[str, str] = {}
        for block in self.blocks:
            if not block.applies(name):
                continue
            for key, value, file, line in block.options:
                if key == "identityfile":
                    identities.append(value)
                elif key not in found:
                    found[key] = value
                    where[key] = f"{file}:{line}"
        hostname = found.get("hostname")
        hostname = _tokens(hostname, name, None, None) if hostname else None
        port = None
        if "port" in found:
            try:
                port = int(found["port"])
            except ValueError:
                raise UsageError(f"{where['port']}: Port: expected a number, got {found['port']!r}") from None
        user = found.get("user")
        host_for_tokens = hostname or name
        ids = tuple(_tokens(os.path.expanduser(i), host_for_tokens, port, user) for i in identities)
        known = tuple(
            _tokens(os.path.expanduser(k), host_for_tokens, port, user)
            for k in shlex.split(found.get("userknownhostsfile", ""))
        )
        jumps: tuple[Jump, ...] = ()
        if "proxyjump" in found and found["proxyjump"].lower() != "none":
            jumps = tuple(_jump(j, where["proxyjump"]) for j in found["proxyjump"].split(","))
        return Resolved(name, hostname, user, port, ids, known, jumps)


def _split(line: str) -> tuple[str, str]:
    if "=" in line.split(None, 1)[0]:
        key, _, value = line.partition("=")
    else:
        parts = line.split(None, 1)
        key, value = parts[0], parts[1] if len(parts) > 1 else ""
        value = value.lstrip("= \t")
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return key.strip(), value


def _tokens(text: str, host: str, port: int | None, user: str | None) -> str:
    out = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "%" and i + 1 < len(text):
            t = text[i + 1]
            rep = {
                "h": host,
                "p": str(port or 22),
                "r": user or "",
                "u": os.environ.get("USER", ""),
                "d": os.path.expanduser("~"),
                "%": "%",
            }.get(t)
            if rep is not None:
                out.append(rep)
                i += 2
                continue
        out.append(c)
        i += 1
    return "".join(out)


def _jump(text: str, where: str) -> Jump:
    text = text.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    user = None
    if "@" in text:
        user, text = text.rsplit("@", 1)
    port = None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, p = text.partition(":")
        try:
            port = int(p)
        except ValueError:
            raise UsageError(f"{where}: ProxyJump: bad port in {text!r}") from None
    else:
        host = text
    if not host:
        raise UsageError(f"{where}: ProxyJump: expected [user@]host[:port]")
    return Jump(host, user, port)


def default_config() -> SSHConfig | None:
    path = Path(os.path.expanduser("~/.ssh/config"))
    return SSHConfig(path) if path.is_file() else None
