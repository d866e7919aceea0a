"""Real Debian 12 test hosts on this machine: systemd 252 as PID 1, real OpenSSH, real reboots.

Each host is a ``systemd-nspawn --boot`` container on a private veth attached to one Linux bridge in the
root network namespace. A tiny ``sh`` supervisor per host restarts nspawn when the container reboots (nspawn
exits with code 133 then); any other exit leaves the host down. Faults are made with links, routes, units,
files in the host's root file system and processes -- never with packet filters.

Safety: before any link exists, an ``unreachable`` route for the whole lab range is added in the root
namespace and the bridge gets a more specific prefix inside it, so no lab packet can ever leave through the
default route, even when a link or the bridge goes away. Containers get no gateway. ``Lab.setup`` refuses
to start when anything else already routes or owns an address in the range.

Everything a lab creates is recorded in ``/run/slowroll-lab/<name>.json`` *before* it is created, so
``cleanup_leftovers()`` (``python -m tests.reallab cleanup``) can remove what a killed session left behind.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# ---------------------------------------------------------------------------------------------------
# Constants

DEFAULT_PREFIX = "10.213.0.0/16"
DEFAULT_BRIDGE_NET = "10.213.7.0/24"
DEFAULT_NAME = "srlab"
DEFAULT_CACHE = "/var/cache/slowroll-lab"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
REGISTRY_DIR = Path(os.environ.get("SLOWROLL_LAB_REGISTRY", "/run/slowroll-lab"))
CGROUP_SUBDIR = "slowroll-lab"
NSPAWN_PROPAGATE = Path("/run/systemd/nspawn/propagate")
NSPAWN_LOCKS = Path("/run/systemd/nspawn/locks")
HOSTNAME_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
NOWHERE_MAC = "02:00:5e:1a:b0:00"  # locally administered; no container has it (nspawn derives theirs)
REBOOT_EXIT_CODE = 133  # systemd-nspawn's exit code when the container asked for a reboot

SUITE = "bookworm"
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "openssh-server",
    "dbus",
    "iproute2",
    "procps",
    "netbase",
)
# Bump when anything that goes into the golden image changes (the image file name carries a hash of it).
IMAGE_VERSION = 2
PRUNE = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "var/cache/apt/archives",
    "var/lib/apt/lists",
)

SSHD_DROPIN = """\
# slowroll test lab: root may log in with a key, nothing else.
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
HostKey /etc/ssh/ssh_host_ed25519_key
UseDNS no
"""

BOOT_RECORD_UNIT = """\
[Unit]
Description=Lab: record this boot's id in /var/lib/lab/boot_ids
DefaultDependencies=no
After=local-fs.target systemd-remount-fs.service
Before=sysinit.target ssh.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'mkdir -p /var/lib/lab && cat /proc/sys/kernel/random/boot_id >> /var/lib/lab/boot_ids'

[Install]
WantedBy=sysinit.target
"""

ROTATE_HOSTKEY_UNIT = """\
[Unit]
Description=Lab: install a staged SSH host key at boot
DefaultDependencies=no
After=local-fs.target systemd-remount-fs.service
Before=sysinit.target ssh.service
ConditionPathExists=/var/lib/lab/next_host_key

[Service]
Type=oneshot
ExecStart=/bin/mv -f /var/lib/lab/next_host_key.pub /etc/ssh/ssh_host_ed25519_key.pub
ExecStart=/bin/mv -f /var/lib/lab/next_host_key /etc/ssh/ssh_host_ed25519_key

[Install]
WantedBy=sysinit.target
"""

SLOW_BOOT_UNIT = "lab-slow-boot.service"
SLOW_BOOT_TEMPLATE = """\
[Unit]
Description=Lab: slow boot, sshd waits {seconds} s
Before=ssh.service

[Service]
Type=oneshot
RemainAfterExit=yes
TimeoutStartSec=infinity
ExecStart=/bin/sleep {seconds}

[Install]
WantedBy=multi-user.target
"""

NETWORK_TEMPLATE = """\
[Match]
Name=host0

[Link]
RequiredForOnline=yes

[Network]
Address={address}/{prefixlen}
LinkLocalAddressing=no
IPv6AcceptRA=no
ConfigureWithoutCarrier=yes
IgnoreCarrierLoss=yes
"""

# The supervisor of one container. Arguments: host dir, rootfs, machine name, host name, bridge, cgroups...
# It moves itself into its own cgroups first (or all containers would share one "payload" cgroup).
SUPERVISOR_SH = r"""
dir=$1; rootfs=$2; machine=$3; hostname=$4; bridge=$5; shift 5
for cg in "$@"; do echo $$ > "$cg/cgroup.procs" || exit 90; done
while :; do
  if [ -e "$dir/stay-down" ]; then echo "halted stay-down $(date +%s.%N)" >> "$dir/events"; exit 0; fi
  rm -rf "/run/systemd/nspawn/propagate/$machine"
  echo "spawn $(date +%s.%N)" >> "$dir/events"
  systemd-nspawn --boot --register=no --keep-unit --settings=no --link-journal=no \
    --resolv-conf=off --timezone=off --console=read-only \
    --directory="$rootfs" --machine="$machine" --hostname="$hostname" --network-bridge="$bridge" </dev/null
  rc=$?
  echo "exit $rc $(date +%s.%N)" >> "$dir/events"
  [ "$rc" -eq 133 ] && continue
  if [ -e "$dir/power-cycle" ]; then rm -f "$dir/power-cycle"; continue; fi
  echo "halted $rc $(date +%s.%N)" >> "$dir/events"
  exit 0
done
"""

TAR_FLAGS = ("--numeric-owner", "--acls", "--xattrs", "--xattrs-include=*")

CONTAINER_ENV = (
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG=C.UTF-8",
    "HOME=/root",
    "TERM=dumb",
    "SYSTEMD_PAGER=",
    "SYSTEMD_COLORS=0",
)

REQUIRED_TOOLS = (
    "systemd-nspawn",
    "debootstrap",
    "ip",
    "ssh-keygen",
    "nsenter",
    "tar",
    "systemctl",
    "unshare",
)


class LabError(RuntimeError):
    """Something in the lab could not be set up, started or checked."""


class LabBusy(LabError):
    """The lab's name, range or bridge is taken (by another lab or by something else)."""


# ---------------------------------------------------------------------------------------------------
# Small helpers


def _run(
    argv: Sequence[str],
    *,
    check: bool = True,
    timeout: float = 60,
    input: str | None = None,
    pass_fds: Sequence[int] = (),
) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            check=False,
            pass_fds=tuple(pass_fds),
        )
    except FileNotFoundError as exc:
        raise LabError(f"{argv[0]}: not installed ({exc})") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"{shlex.join(argv)}: no answer within {timeout} s") from None
    if check and proc.returncode != 0:
        raise LabError(
            f"{shlex.join(argv)} failed with exit code {proc.returncode}: "
            f"{(proc.stderr or proc.stdout).strip()[-2000:]}"
        )
    return proc


def _ip_json(*args: str) -> list[dict[str, Any]]:
    out = _run(["ip", "-j", *args]).stdout.strip()
    return json.loads(out) if out else []


def _link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    os.replace(tmp, path)


def _proc_start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int, start_time: str | None) -> bool:
    now = _proc_start_time(pid)
    return now is not None and (start_time is None or now == start_time)


def _keygen(path: Path, comment: str) -> str:
    """A new ed25519 key pair without passphrase at ``path``; returns the public key line."""
    for p in (path, path.with_name(path.name + ".pub")):
        p.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    return path.with_name(path.name + ".pub").read_text().strip()


def _umount_under(path: Path) -> None:
    """Lazily unmount whatever is mounted at or below ``path`` (deepest first)."""
    root = str(path.resolve())
    mounts = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            target = line.split()[1].replace("\\040", " ")
            if target == root or target.startswith(root + "/"):
                mounts.append(target)
    for target in sorted(mounts, key=len, reverse=True):
        _run(["umount", "-l", target], check=False)


def _remove_tree(path: Path) -> None:
    if not path.exists() and not path.is_symlink():
        return
    _umount_under(path)
    _run(["rm", "-rf", "--one-file-system", "--", str(path)], check=False, timeout=120)


# ---------------------------------------------------------------------------------------------------
# Environment checks


def cgroup_roots() -> list[Path]:
    """Mount points of the cgroup hierarchies a container launcher must be placed in.

    The v2 (unified) hierarchy and the v1 ``name=systemd`` hierarchy, whichever are mounted.
    """
    v2: list[Path] = []
    v1: list[Path] = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, _, right = line.partition(" - ")
            fields = right.split()
            if len(fields) < 3:
                continue
            target = Path(left.split()[4])
            if fields[0] == "cgroup2":
                v2.append(target)
            elif fields[0] == "cgroup" and "name=systemd" in fields[2].split(","):
                v1.append(target)
    return v2[:1] + v1[:1]


def lab_problems() -> list[str]:
    """Why real hosts cannot run here (empty when they can)."""
    problems: list[str] = []
    if os.geteuid() != 0:
        problems.append("not running as root")
    missing = [t for t in REQUIRED_TOOLS if shutil.which(t) is None]
    if missing:
        problems.append(f"missing tools: {', '.join(missing)} (apt-get install $(cat .ci/lab-apt-packages))")
    roots = cgroup_roots()
    if not roots:
        problems.append("no cgroup v2 or v1 name=systemd hierarchy is mounted")
    elif os.geteuid() == 0 and not all(os.access(r, os.W_OK) for r in roots):
        problems.append(f"cgroup hierarchies not writable: {', '.join(map(str, roots))}")
    if not Path("/proc/self/ns/net").exists():
        problems.append("network namespaces are not available")
    elif os.geteuid() == 0 and shutil.which("unshare"):
        probe = subprocess.run(
            ["unshare", "--net", "--mount", "--pid", "--uts", "--ipc", "--fork", "true"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode != 0:
            problems.append(f"cannot create namespaces: {probe.stderr.strip()}")
    return problems


def apt_mirror() -> str:
    """The Debian mirror apt is configured with (env ``SLOWROLL_LAB_MIRROR`` overrides)."""
    env = os.environ.get("SLOWROLL_LAB_MIRROR")
    if env:
        return env
    candidates: list[str] = []
    src = Path("/etc/apt")
    files = sorted((src / "sources.list.d").glob("*.sources")) if (src / "sources.list.d").is_dir() else []
    for f in files:
        with contextlib.suppress(OSError):
            for stanza in f.read_text().split("\n\n"):
                fields: dict[str, str] = {}
                for line in stanza.splitlines():
                    if ":" in line and not line.startswith(("#", " ")):
                        k, _, v = line.partition(":")
                        fields[k.strip().lower()] = v.strip()
                if "deb" in fields.get("types", "").split() and SUITE in fields.get("suites", "").split():
                    candidates += fields.get("uris", "").split()
    lists = [src / "sources.list", *sorted((src / "sources.list.d").glob("*.list"))]
    for f in lists:
        with contextlib.suppress(OSError):
            for line in f.read_text().splitlines():
                parts = line.split("#", 1)[0].split()
                if len(parts) >= 3 and parts[0] == "deb":
                    uri_i = next((i for i, p in enumerate(parts[1:], 1) if "://" in p), None)
                    if uri_i is not None and len(parts) > uri_i + 1 and parts[uri_i + 1] == SUITE:
                        candidates.append(parts[uri_i])
    for uri in candidates:
        if uri.rstrip("/").endswith("/debian"):
            return uri.rstrip("/")
    return DEFAULT_MIRROR


# ---------------------------------------------------------------------------------------------------
# Golden image


class GoldenImage:
    """A debootstrapped Debian 12 root file system, prepared for the lab, kept as a tarball.

    Built once (``debootstrap --variant=minbase``, ~1 min) under a file lock and written atomically, then
    unpacked per host. The cache folder is ``$SLOWROLL_LAB_CACHE`` or ``/var/cache/slowroll-lab``.
    """

    def __init__(self, cache_dir: str | os.PathLike[str] | None = None, *, mirror: str | None = None) -> None:
        self.cache_dir = Path(cache_dir or os.environ.get("SLOWROLL_LAB_CACHE") or DEFAULT_CACHE)
        self.mirror = mirror or apt_mirror()
        self.build_seconds: float | None = None  # set when this object built the image

    @staticmethod
    def recipe_id() -> str:
        recipe = json.dumps(
            [IMAGE_VERSION, SUITE, PACKAGES, PRUNE, SSHD_DROPIN, BOOT_RECORD_UNIT, ROTATE_HOSTKEY_UNIT]
        )
        return hashlib.sha256(recipe.encode()).hexdigest()[:12]

    @property
    def tarball(self) -> Path:
        return self.cache_dir / f"debian-{SUITE}-lab-{self.recipe_id()}.tar"

    def ensure(self) -> Path:
        """The tarball, built first if missing. Safe against concurrent builders."""
        if self.tarball.is_file():
            return self.tarball
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with open(self.cache_dir / ".build.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.tarball.is_file():  # another builder finished while we waited
                return self.tarball
            for stale in self.cache_dir.glob(".build-*"):  # a builder that was killed (we hold the lock)
                _remove_tree(stale)
            started = time.monotonic()
            tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=self.cache_dir))
            try:
                rootfs = tmp / "rootfs"
                # The builder's children inherit the lock: if this process is killed, the next builder
                # waits until they are gone too, before it removes their folder.
                keep = (lock.fileno(),)
                self._debootstrap(rootfs, tmp / "debootstrap.log", keep)
                self._customize(rootfs)
                part = tmp / "image.tar"
                _run(
                    ["tar", *TAR_FLAGS, "-C", str(rootfs), "-cf", str(part), "."], timeout=300, pass_fds=keep
                )
                os.replace(part, self.tarball)
            finally:
                _remove_tree(tmp)
            self.build_seconds = time.monotonic() - started
            self._prune_old()
        return self.tarball

    def _prune_old(self) -> None:
        """Remove images of older recipes (a tree only while no overlay uses it as its lower layer)."""
        mounts = ""
        with contextlib.suppress(OSError):
            mounts = Path("/proc/self/mountinfo").read_text()
        for old in self.cache_dir.glob(f"debian-{SUITE}-lab-*"):
            if old in (self.tarball, self.tree) or old.name.startswith("."):
                continue
            if old.suffix == ".tar":
                old.unlink(missing_ok=True)
            elif old.suffix == ".tree" and f"lowerdir={old}" not in mounts:
                _remove_tree(old)

    def unpack(self, dest: Path) -> None:
        """A full private copy of the image at ``dest`` (which must not exist)."""
        dest.mkdir(parents=True, exist_ok=False)
        _run(["tar", *TAR_FLAGS, "-C", str(dest), "-xpf", str(self.ensure())], timeout=300)

    @property
    def tree(self) -> Path:
        return self.cache_dir / f"debian-{SUITE}-lab-{self.recipe_id()}.tree"

    def ensure_tree(self) -> Path:
        """The image unpacked once, read-only by convention: the shared lower layer of the hosts' overlays."""
        if self.tree.is_dir():
            return self.tree
        tarball = self.ensure()
        with open(self.cache_dir / ".build.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.tree.is_dir():
                return self.tree
            tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=self.cache_dir))
            try:
                _run(
                    ["tar", *TAR_FLAGS, "-C", str(tmp), "-xpf", str(tarball)],
                    timeout=300,
                    pass_fds=(lock.fileno(),),
                )
                tmp.chmod(0o755)
                os.rename(tmp, self.tree)
            except BaseException:
                _remove_tree(tmp)
                raise
        return self.tree

    def make_rootfs(self, host_dir: Path, mode: str = "overlay") -> Path:
        """``host_dir/rootfs`` for one host: an overlay on the shared tree (instant), or a full copy."""
        rootfs = host_dir / "rootfs"
        if mode == "copy":
            self.unpack(rootfs)
            return rootfs
        if mode != "overlay":
            raise LabError(f"unknown rootfs mode {mode!r} (overlay or copy)")
        lower = self.ensure_tree()
        for sub in ("upper", "work", "rootfs"):
            (host_dir / sub).mkdir(parents=True, exist_ok=False)
        (host_dir / "upper").chmod(0o755)
        options = f"lowerdir={lower},upperdir={host_dir / 'upper'},workdir={host_dir / 'work'}"
        _run(["mount", "-t", "overlay", "overlay", "-o", options, str(rootfs)])
        return rootfs

    def _debootstrap(self, rootfs: Path, log: Path, pass_fds: Sequence[int] = ()) -> None:
        argv = [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(PACKAGES)}",
            SUITE,
            str(rootfs),
            self.mirror,
        ]
        with open(log, "w") as out:
            proc = subprocess.run(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                check=False,
                timeout=900,
                pass_fds=tuple(pass_fds),
            )
        if proc.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise LabError(f"{shlex.join(argv)} failed with exit code {proc.returncode}:\n{tail}")

    @staticmethod
    def _customize(root: Path) -> None:
        for key in (root / "etc/ssh").glob("ssh_host_*"):
            key.unlink()
        (root / "etc/machine-id").write_text("")  # each host gets its own
        dbus_id = root / "var/lib/dbus/machine-id"
        dbus_id.unlink(missing_ok=True)
        dbus_id.parent.mkdir(parents=True, exist_ok=True)
        dbus_id.symlink_to("/etc/machine-id")
        (root / "etc/hostname").write_text("localhost\n")
        (root / "etc/resolv.conf").unlink(missing_ok=True)  # debootstrap copied the build machine's
        (root / "etc/resolv.conf").write_text("# slowroll test lab: no name servers\n")
        _write(root / "etc/ssh/sshd_config.d/50-lab.conf", SSHD_DROPIN)
        _write(root / "etc/systemd/system/lab-boot-record.service", BOOT_RECORD_UNIT)
        _write(root / "etc/systemd/system/lab-rotate-hostkey.service", ROTATE_HOSTKEY_UNIT)
        (root / "var/lib/lab").mkdir(parents=True, exist_ok=True)
        systemctl = ["systemctl", f"--root={root}"]
        _run(
            [
                *systemctl,
                "enable",
                "systemd-networkd.service",
                "lab-boot-record.service",
                "lab-rotate-hostkey.service",
            ]
        )
        # The hosts have no route to any mirror: keep apt from trying at boot.
        _run([*systemctl, "disable", "apt-daily.timer", "apt-daily-upgrade.timer"], check=False)
        for rel in PRUNE:
            d = root / rel
            if d.is_dir():
                for child in d.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    elif child.name != "lock":
                        child.unlink()


# ---------------------------------------------------------------------------------------------------
# Registry of what a lab created (for cleanup after a crash)


@contextlib.contextmanager
def _registry_lock() -> Iterator[None]:
    """Serialises claiming names, ranges and bridges among the labs of all processes on this machine."""
    REGISTRY_DIR.mkdir(parents=True, exist_ok=True)
    with open(REGISTRY_DIR / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _registry_path(name: str) -> Path:
    return REGISTRY_DIR / f"{name}.json"


def _save_record(record: Mapping[str, Any]) -> None:
    REGISTRY_DIR.mkdir(parents=True, exist_ok=True)
    _write(_registry_path(record["name"]), json.dumps(record, indent=2) + "\n", 0o600)


def _load_records() -> list[dict[str, Any]]:
    records = []
    if REGISTRY_DIR.is_dir():
        for f in sorted(REGISTRY_DIR.glob("*.json")):
            with contextlib.suppress(OSError, ValueError):
                records.append(json.loads(f.read_text()))
    return records


def _cgroup_dirs(lab_name: str, machine: str | None = None) -> list[Path]:
    parts = [CGROUP_SUBDIR, lab_name] + ([machine] if machine else [])
    return [root.joinpath(*parts) for root in cgroup_roots()]


def _cgroup_pids(dirs: Iterable[Path]) -> set[int]:
    """PIDs in these cgroup trees. Folders come and go while containers run: errors mean "gone"."""
    pids: set[int] = set()
    for d in dirs:
        for folder, _subdirs, _files in os.walk(d):  # os.walk ignores folders that vanish
            with contextlib.suppress(OSError, ValueError):
                pids.update(int(x) for x in Path(folder, "cgroup.procs").read_text().split())
    return pids


def _kill_cgroups(dirs: Sequence[Path], timeout: float = 15) -> None:
    """SIGKILL every process in these cgroup trees, wait until they are empty, remove the folders."""
    for d in dirs:
        kill = d / "cgroup.kill"
        if kill.exists():
            with contextlib.suppress(OSError):
                kill.write_text("1")
    deadline = time.monotonic() + timeout
    while True:
        pids = _cgroup_pids(dirs)
        if not pids:
            break
        if time.monotonic() > deadline:
            raise LabError(f"processes {sorted(pids)} in {', '.join(map(str, dirs))} do not die")
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)
    for d in dirs:
        if not d.is_dir():
            continue
        for folder, _subdirs, _files in os.walk(d, topdown=False):
            with contextlib.suppress(OSError):
                os.rmdir(folder)
        with contextlib.suppress(OSError):
            d.rmdir()


def _teardown_host(lab_name: str, host: Mapping[str, Any]) -> None:
    machine = host["machine"]
    hdir = Path(host["dir"])
    if hdir.is_dir():
        with contextlib.suppress(OSError):
            (hdir / "stay-down").touch()
    _kill_cgroups(_cgroup_dirs(lab_name, machine))
    if _link_exists(f"vb-{machine}"):
        _run(["ip", "link", "del", f"vb-{machine}"], check=False)
    _remove_tree(NSPAWN_PROPAGATE / machine)
    rootfs = hdir / "rootfs"
    with contextlib.suppress(OSError):
        st = rootfs.stat()
        (NSPAWN_LOCKS / f"inode-{st.st_dev}:{st.st_ino}").unlink(missing_ok=True)
    _remove_tree(hdir)


def _teardown_record(record: Mapping[str, Any]) -> list[str]:
    """Remove everything a lab recorded. Idempotent; returns what went wrong (best effort continues)."""
    errors: list[str] = []
    name = record["name"]
    for host in record.get("hosts", []):
        try:
            _teardown_host(name, host)
        except LabError as exc:
            errors.append(str(exc))
    try:
        _kill_cgroups(_cgroup_dirs(name))
    except LabError as exc:
        errors.append(str(exc))
    for root in cgroup_roots():
        with contextlib.suppress(OSError):
            (root / CGROUP_SUBDIR).rmdir()  # only when no other lab uses it
    bridge = record.get("bridge")
    if record.get("bridge_created") and bridge and _link_exists(bridge):
        _run(["ip", "link", "del", bridge], check=False)
    if record.get("route_created"):
        prefix = record["prefix"]
        # Only routes inside the lab range: we refused to start unless the range was free, so all are ours
        # (the unreachable route, partitions of single hosts).
        _run(["ip", "-4", "route", "flush", "root", prefix], check=False)
        _run(["ip", "route", "del", "unreachable", prefix], check=False)
    with contextlib.suppress(OSError):
        for stale in Path(record.get("workdir", "/nonexistent")).glob("hosts/*"):
            _remove_tree(stale)
    if not errors:
        _registry_path(name).unlink(missing_ok=True)
    return errors


def cleanup_leftovers(*, force: bool = False) -> list[str]:
    """Tear down labs whose owning process is gone (all labs with ``force``). Returns the names cleaned."""
    cleaned = []
    with _registry_lock():
        records = _load_records()
    for record in records:
        if not force and _alive(record.get("pid", -1), record.get("pid_start")):
            continue
        errors = _teardown_record(record)
        if errors:
            raise LabError(f"lab {record['name']}: " + "; ".join(errors))
        cleaned.append(record["name"])
    return cleaned


# ---------------------------------------------------------------------------------------------------
# Hosts


@dataclass(frozen=True)
class Probe:
    """What a TCP probe of a host's SSH port saw."""

    ok: bool
    detail: str


def probe_ssh(address: str, port: int = 22, timeout: float = 0.5) -> Probe:
    """One attempt: connect and read the SSH banner."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            banner = sock.recv(64)
    except OSError as exc:
        return Probe(False, f"{type(exc).__name__}: {exc}")
    if banner.startswith(b"SSH-"):
        return Probe(True, banner.decode(errors="replace").strip())
    return Probe(False, f"no SSH banner: {banner!r}")


class LabHost:
    """One Debian 12 container. Checks through ``run`` happen on the host itself (nsenter), not over SSH."""

    def __init__(self, lab: Lab, name: str, machine: str, address: str, hdir: Path) -> None:
        self.lab = lab
        self.name = name
        self.machine = machine  # nspawn's name: short and unique per lab (it names the veth and /run files)
        self.address = address
        self.port = 22
        self.dir = hdir
        self.rootfs = hdir / "rootfs"
        self.start_by_hand: list[str] = []
        self._proc: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"<LabHost {self.name} {self.address} {self.state}>"

    # -- identity --------------------------------------------------------------------------------------

    @property
    def host_public_key(self) -> str:
        """The host key the host has installed now (``type base64``), i.e. presents after its next start."""
        parts = (self.rootfs / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()
        return f"{parts[0]} {parts[1]}"

    @property
    def known_hosts_line(self) -> str:
        return f"{self.address} {self.host_public_key}"

    @property
    def machine_id(self) -> str:
        return (self.rootfs / "etc/machine-id").read_text().strip()

    @property
    def console_log(self) -> Path:
        return self.dir / "console.log"

    @property
    def events(self) -> list[str]:
        """The supervisor's log: ``spawn T``, ``exit RC T``, ``halted ...``."""
        try:
            return (self.dir / "events").read_text().splitlines()
        except FileNotFoundError:
            return []

    # -- state -----------------------------------------------------------------------------------------

    def supervisor_alive(self) -> bool:
        if self._proc is not None and self._proc.poll() is None:
            return True
        return bool(_cgroup_pids(d for d in _cgroup_dirs(self.lab.name, self.machine)))

    def leader_pid(self) -> int | None:
        """PID (in our namespace) of the container's PID 1, or None when it is not running."""
        for d in _cgroup_dirs(self.lab.name, self.machine)[:1]:
            for pid in sorted(_cgroup_pids([d / "payload"])):
                with contextlib.suppress(OSError):
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("NSpid:"):
                            ids = line.split()[1:]
                            if len(ids) >= 2 and ids[-1] == "1":
                                return pid
        return None

    @property
    def state(self) -> str:
        """``running`` (PID 1 exists), ``booting`` (supervisor alive, no PID 1 yet) or ``down``."""
        if self.leader_pid() is not None:
            return "running"
        return "booting" if self.supervisor_alive() else "down"

    def boot_ids(self) -> list[str]:
        """The boot ids the host recorded itself, one per boot, oldest first."""
        try:
            return (self.rootfs / "var/lib/lab/boot_ids").read_text().split()
        except FileNotFoundError:
            return []

    def boot_id(self) -> str:
        """The current boot id, read on the host."""
        return self.run("cat /proc/sys/kernel/random/boot_id", check=True).stdout.strip()

    # -- running commands on the host itself ------------------------------------------------------------

    def run(
        self,
        cmd: str,
        *,
        check: bool = False,
        timeout: float = 30,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` with ``/bin/sh -c`` inside the container (all its namespaces), as root."""
        pid = self.leader_pid()
        if pid is None:
            raise LabError(f"host {self.name} is not running ({self.state})")
        argv = [
            "nsenter",
            "-t",
            str(pid),
            "-a",
            "--",
            "/usr/bin/env",
            "-i",
            *CONTAINER_ENV,
            "/bin/sh",
            "-c",
            f"cd / && {cmd}",
        ]
        try:
            proc = subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout, input=input, check=False
            )
        except subprocess.TimeoutExpired:
            raise LabError(f"{self.name}: {cmd!r} did not finish within {timeout} s") from None
        if check and proc.returncode != 0:
            out = (proc.stderr or proc.stdout)[-2000:]
            raise LabError(f"{self.name}: {cmd!r} exited {proc.returncode}: {out}")
        return proc

    def systemctl(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return self.run(shlex.join(["systemctl", "--no-pager", *args]), check=check)

    # -- waiting ---------------------------------------------------------------------------------------

    def wait_ssh(self, timeout: float = 60) -> str:
        """Until sshd answers with a banner; returns the banner. Raises LabError on the deadline."""
        deadline = time.monotonic() + timeout
        last = Probe(False, "not tried")
        while time.monotonic() < deadline:
            last = probe_ssh(self.address, self.port)
            if last.ok:
                return last.detail
            if self.state == "down":
                raise LabError(f"host {self.name} went down while waiting for sshd: {self._tail()}")
            time.sleep(0.05)
        raise LabError(
            f"host {self.name}: sshd did not answer within {timeout} s ({last.detail}){self._tail()}"
        )

    async def await_ssh(self, within: float = 60) -> str:
        deadline = time.monotonic() + within
        last = Probe(False, "not tried")
        while time.monotonic() < deadline:
            last = await asyncio.to_thread(probe_ssh, self.address, self.port)
            if last.ok:
                return last.detail
            await asyncio.sleep(0.05)
        raise LabError(f"host {self.name}: sshd did not answer within {within} s ({last.detail})")

    def wait_boots(self, count: int, timeout: float = 60) -> list[str]:
        """Until the host's own record holds at least ``count`` boots; returns the record."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ids = self.boot_ids()
            if len(ids) >= count:
                return ids
            time.sleep(0.05)
        raise LabError(
            f"host {self.name}: {len(self.boot_ids())} boots recorded, waited for {count} "
            f"within {timeout} s ({self.state}){self._tail()}"
        )

    async def await_boots(self, count: int, within: float = 60) -> list[str]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            ids = self.boot_ids()
            if len(ids) >= count:
                return ids
            await asyncio.sleep(0.05)
        raise LabError(f"host {self.name}: {len(self.boot_ids())} boots recorded, waited for {count}")

    def wait_active(self, unit: str, timeout: float = 60) -> None:
        """Until ``systemctl is-active UNIT`` says active, checked on the host itself."""
        deadline = time.monotonic() + timeout
        state = "unknown"
        while time.monotonic() < deadline:
            if self.state == "running":
                state = self.run(shlex.join(["systemctl", "is-active", unit])).stdout.strip()
                if state == "active":
                    return
            time.sleep(0.05)
        raise LabError(f"host {self.name}: {unit} still {state} after {timeout} s")

    async def await_active(self, unit: str, within: float = 60) -> None:
        await asyncio.to_thread(self.wait_active, unit, within)

    def wait_down(self, timeout: float = 30) -> None:
        """Until the supervisor has given up (host halted / stopped for good)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.state == "down":
                return
            time.sleep(0.05)
        raise LabError(f"host {self.name} still {self.state} after {timeout} s")

    async def await_down(self, within: float = 30) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.state == "down":
                return
            await asyncio.sleep(0.05)
        raise LabError(f"host {self.name} still {self.state} after {within} s")

    def _tail(self, lines: int = 15) -> str:
        try:
            text = self.console_log.read_text(errors="replace").splitlines()[-lines:]
        except FileNotFoundError:
            return ""
        events = "\n".join(self.events)
        return "\n--- console (last lines) ---\n" + "\n".join(text) + "\n--- events ---\n" + events

    # -- power -----------------------------------------------------------------------------------------

    def power_on(self) -> None:
        """Start the supervisor (first start, or after the host halted). Does not wait."""
        if self.supervisor_alive():
            raise LabError(f"host {self.name} is already powered on ({self.state})")
        (self.dir / "stay-down").unlink(missing_ok=True)
        (self.dir / "power-cycle").unlink(missing_ok=True)
        self.lab._check_host_free(self)
        dirs = _cgroup_dirs(self.lab.name, self.machine)
        for d in dirs:
            d.mkdir(parents=True, exist_ok=True)
        with open(self.console_log, "ab") as log:
            self._proc = subprocess.Popen(
                [
                    "/bin/sh",
                    "-c",
                    SUPERVISOR_SH,
                    "lab-supervisor",
                    str(self.dir),
                    str(self.rootfs),
                    self.machine,
                    self.name,
                    self.lab.bridge,
                    *map(str, dirs),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop_for_good(self) -> None:
        """From now on, when the container shuts down or reboots it stays down."""
        (self.dir / "stay-down").touch()

    def power_off(self) -> None:
        """Clean poweroff now (systemd's SIGRTMIN+4); the host stays down. Does not wait (see wait_down)."""
        self.stop_for_good()
        pid = self.leader_pid()
        if pid is not None:
            os.kill(pid, signal.SIGRTMIN + 4)

    def crash(self, *, restart: bool = False) -> None:
        """Kill every process of the container at once (power loss). ``restart``: it boots again (reset)."""
        if restart:
            (self.dir / "power-cycle").touch()
        else:
            self.stop_for_good()
        for d in _cgroup_dirs(self.lab.name, self.machine):
            kill = d / "payload" / "cgroup.kill"
            if kill.exists():
                kill.write_text("1")
                return
        pid = self.leader_pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)

    def reap(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)
            self._proc = None

    # -- network faults --------------------------------------------------------------------------------

    @property
    def veth(self) -> str:
        """Host-side end of the container's link (recreated by nspawn at every boot)."""
        return f"vb-{self.machine}"

    def link_down(self) -> None:
        """Take the host-side veth down: a partition for the current boot (a reboot makes a new veth)."""
        _run(["ip", "link", "set", "dev", self.veth, "down"])

    def link_up(self) -> None:
        _run(["ip", "link", "set", "dev", self.veth, "up"])

    def partition(self, mode: str = "drop") -> None:
        """Cut the link between this machine and the host; it survives the host's reboots until ``heal``.

        ``drop``: a permanent neighbour entry on the bridge with a MAC nobody has, so our packets to the
        host vanish and connects time out (what a real partition looks like). ``unreachable``: a /32
        unreachable route, connects fail at once with "No route to host". Other hosts are not affected.
        """
        if mode not in ("drop", "unreachable"):
            raise ValueError(f"unknown partition mode {mode!r} (drop or unreachable)")
        self.heal()
        if mode == "drop":
            _run(
                [
                    "ip",
                    "neigh",
                    "replace",
                    self.address,
                    "lladdr",
                    NOWHERE_MAC,
                    "dev",
                    self.lab.bridge,
                    "nud",
                    "permanent",
                ]
            )
        else:
            _run(["ip", "route", "add", "unreachable", f"{self.address}/32"])

    def heal(self) -> None:
        """Undo ``partition``."""
        _run(["ip", "route", "del", "unreachable", f"{self.address}/32"], check=False)
        if _run(["ip", "neigh", "show", self.address, "dev", self.lab.bridge], check=False).stdout.strip():
            _run(["ip", "neigh", "del", self.address, "dev", self.lab.bridge], check=False)

    # -- SSH faults ------------------------------------------------------------------------------------

    def rotate_host_key(self) -> str:
        """Stage a new host key; the host installs it at its next boot. Returns the new ``type base64``."""
        line = _keygen(self.dir / "next_host_key", f"root@{self.name}")
        lab_dir = self.rootfs / "var/lib/lab"
        shutil.copyfile(self.dir / "next_host_key.pub", lab_dir / ".next_host_key.pub")
        os.replace(lab_dir / ".next_host_key.pub", lab_dir / "next_host_key.pub")
        shutil.copyfile(self.dir / "next_host_key", lab_dir / ".next_host_key")
        (lab_dir / ".next_host_key").chmod(0o600)
        os.replace(lab_dir / ".next_host_key", lab_dir / "next_host_key")  # the unit's condition: last
        return " ".join(line.split()[:2])

    def break_auth(self, mode: str = "remove") -> None:
        """The lab's client key stops working: ``remove`` authorized_keys, or ``replace`` it by another key.

        Takes effect at once (sshd reads the file at each login).
        """
        ak = self.rootfs / "root/.ssh/authorized_keys"
        if mode == "remove":
            ak.unlink(missing_ok=True)
        elif mode == "replace":
            other = _keygen(self.dir / "other_client_key", "someone-else")
            _write(ak, other + "\n", 0o600)
        else:
            raise ValueError(f"unknown break_auth mode {mode!r}")

    def restore_auth(self) -> None:
        _write(self.rootfs / "root/.ssh/authorized_keys", self.lab.client_public_key + "\n", 0o600)

    def delay_sshd(self, seconds: float) -> None:
        """From the next boot on, sshd starts ``seconds`` late (a unit ordered before it sleeps); 0 undoes."""
        unit = self.rootfs / "etc/systemd/system" / SLOW_BOOT_UNIT
        link = self.rootfs / "etc/systemd/system/multi-user.target.wants" / SLOW_BOOT_UNIT
        if seconds <= 0:
            link.unlink(missing_ok=True)
            unit.unlink(missing_ok=True)
        else:
            _write(unit, SLOW_BOOT_TEMPLATE.format(seconds=f"{seconds:g}"))
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink():
                link.symlink_to(f"/etc/systemd/system/{SLOW_BOOT_UNIT}")
        if self.state == "running":
            self.systemctl("daemon-reload")

    # -- units -----------------------------------------------------------------------------------------

    def write_unit(self, name: str, text: str, *, enable: bool = False) -> None:
        """Write ``/etc/systemd/system/NAME`` (reloading systemd if the host runs); optionally enable it."""
        if "/" in name or name.startswith("."):
            raise ValueError(f"bad unit name {name!r}")
        _write(self.rootfs / "etc/systemd/system" / name, text)
        running = self.state == "running"
        if running:
            self.systemctl("daemon-reload", check=True)
        if enable:
            self.enable(name)

    def enable(self, *units: str) -> None:
        if self.state == "running":
            self.systemctl("enable", *units, check=True)
        else:
            _run(["systemctl", f"--root={self.rootfs}", "enable", *units])


# ---------------------------------------------------------------------------------------------------
# The lab

_open_labs: weakref.WeakSet[Lab] = weakref.WeakSet()


@atexit.register
def _close_open_labs() -> None:
    for lab in list(_open_labs):
        with contextlib.suppress(Exception):
            lab.close()


class Lab:
    """A bridge, an unreachable route for the lab range, and containers on the bridge.

    Use as a context manager (or ``setup()`` / ``close()``); ``close`` removes everything, also after errors.
    """

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        prefix: str = DEFAULT_PREFIX,
        bridge_net: str = DEFAULT_BRIDGE_NET,
        name: str = DEFAULT_NAME,
        image: GoldenImage | None = None,
        rootfs_mode: str | None = None,
    ) -> None:
        if not (
            name.isascii() and name.isalnum() and name[:1].isalpha() and name.islower() and len(name) <= 8
        ):
            raise LabError(
                f"lab name {name!r}: up to 8 lowercase letters and digits (it names bridge and veths)"
            )
        self.name = name
        self.bridge = name
        self.workdir = Path(workdir).resolve()
        self.prefix = ipaddress.ip_network(prefix)
        self.bridge_net = ipaddress.ip_network(bridge_net)
        if self.prefix.version != 4 or self.bridge_net.version != 4:
            raise LabError("the lab range must be IPv4")
        if not self.bridge_net.subnet_of(self.prefix) or self.bridge_net == self.prefix:  # type: ignore[arg-type]
            raise LabError(f"bridge_net {bridge_net} must be a smaller network inside prefix {prefix}")
        self.gateway = next(self.bridge_net.hosts())  # the bridge's own address
        self.image = image or GoldenImage()
        # overlay: each host is an overlay on one shared unpacked image (instant, ~no disk); copy: full copy.
        self.rootfs_mode = rootfs_mode or os.environ.get("SLOWROLL_LAB_ROOTFS") or "overlay"
        self.hosts: dict[str, LabHost] = {}
        self._record: dict[str, Any] | None = None
        self._next_address = 10

    def __repr__(self) -> str:
        return f"<Lab {self.name} {self.bridge_net} hosts={list(self.hosts)}>"

    def __enter__(self) -> Lab:
        if self._record is None:  # Lab.claim() returns a lab that is set up already
            self.setup()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- paths -----------------------------------------------------------------------------------------

    @property
    def client_key_path(self) -> Path:
        return self.workdir / "client_ed25519"

    @property
    def client_public_key(self) -> str:
        return self.client_key_path.with_name("client_ed25519.pub").read_text().strip()

    @property
    def known_hosts_path(self) -> Path:
        return self.workdir / "known_hosts"

    # -- setup / teardown ------------------------------------------------------------------------------

    def setup(self) -> None:
        """Claim the name and range, add the unreachable route, then the bridge. Raises LabBusy if taken."""
        problems = lab_problems()
        if problems:
            raise LabError("real hosts cannot run here: " + "; ".join(problems))
        self.image.ensure()  # slow the first time: before taking the lock
        if self.rootfs_mode == "overlay":
            self.image.ensure_tree()
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "hosts").mkdir(exist_ok=True)
        record: dict[str, Any] = {
            "name": self.name,
            "pid": os.getpid(),
            "pid_start": _proc_start_time(os.getpid()),
            "workdir": str(self.workdir),
            "prefix": str(self.prefix),
            "bridge_net": str(self.bridge_net),
            "bridge": self.bridge,
            "route_created": False,
            "bridge_created": False,
            "hosts": [],
        }
        with _registry_lock():
            old = next((r for r in _load_records() if r.get("name") == self.name), None)
            if old is not None:
                if _alive(old.get("pid", -1), old.get("pid_start")):
                    raise LabBusy(f"lab {self.name!r} is in use by process {old['pid']}")
                errors = _teardown_record(old)  # left behind by a session that died
                if errors:
                    raise LabError(f"cannot remove the leftovers of lab {self.name!r}: {'; '.join(errors)}")
            self._check_range_free()
            # Record each thing before creating it, so a crash in between still gets it cleaned.
            self._record = record
            _open_labs.add(self)
            try:
                record["route_created"] = True
                _save_record(record)
                try:
                    _run(["ip", "route", "add", "unreachable", str(self.prefix)])
                except LabError:
                    record["route_created"] = False
                    raise
                record["bridge_created"] = True
                _save_record(record)
                try:
                    # A fixed MAC: otherwise the bridge takes its ports' lowest MAC, and each change (a
                    # host rebooting) flushes its neighbour table, permanent entries (partitions) too.
                    mac = "02:5a:" + ":".join(
                        f"{b:02x}" for b in hashlib.sha256(self.name.encode()).digest()[:4]
                    )
                    _run(["ip", "link", "add", "name", self.bridge, "address", mac, "type", "bridge"])
                except LabError:
                    record["bridge_created"] = False
                    raise
            except BaseException:
                self.close()
                raise
        try:
            with contextlib.suppress(OSError):
                Path(f"/proc/sys/net/ipv6/conf/{self.bridge}/disable_ipv6").write_text("1")
            _run(["ip", "addr", "add", f"{self.gateway}/{self.bridge_net.prefixlen}", "dev", self.bridge])
            _run(["ip", "link", "set", "dev", self.bridge, "up"])
            _keygen(self.client_key_path, f"slowroll-lab-{self.name}")
            self.known_hosts_path.write_text("")
        except BaseException:
            self.close()
            raise

    @classmethod
    def claim(
        cls,
        workdir: str | os.PathLike[str],
        *,
        base: str | None = None,
        image: GoldenImage | None = None,
        rootfs_mode: str | None = None,
        slots: int = 16,
    ) -> Lab:
        """Set up a lab in the first free slot of ``base`` (env ``SLOWROLL_LAB_PREFIX``, else 10.213.0.0/16).

        Slot k is named ``srlab<k>`` with the k-th /20 of the base as its range and a /24 in it for the
        bridge, so several sessions on one machine can each have a lab.
        """
        net = ipaddress.ip_network(base or os.environ.get("SLOWROLL_LAB_PREFIX") or DEFAULT_PREFIX)
        if net.version != 4 or net.prefixlen > 20:
            raise LabError(f"lab base range {net}: expected an IPv4 network of /20 or larger")
        busy: list[str] = []
        for k, prefix in enumerate(net.subnets(new_prefix=20)):
            if k >= slots:
                break
            bridge_net = list(prefix.subnets(new_prefix=24))[7]
            lab = cls(
                Path(workdir),
                prefix=str(prefix),
                bridge_net=str(bridge_net),
                name=f"srlab{k}",
                image=image,
                rootfs_mode=rootfs_mode,
            )
            try:
                lab.setup()
            except LabBusy as exc:
                busy.append(str(exc))
                continue
            return lab
        raise LabBusy("no free lab slot: " + "; ".join(busy))

    def _check_range_free(self) -> None:
        for route in _ip_json("-4", "route", "show", "table", "all"):
            dst = route.get("dst", "")
            if dst in ("default", "") or route.get("type") in ("broadcast",):
                continue
            with contextlib.suppress(ValueError):
                net = ipaddress.ip_network(dst, strict=False)
                if net.overlaps(self.prefix):
                    what = f"{route.get('type', 'unicast')} {dst} dev {route.get('dev', '-')}"
                    what += f" table {route.get('table', 'main')}"
                    raise LabBusy(
                        f"the lab range {self.prefix} is already routed ({what}); choose another prefix,"
                        " or run `python -m tests.reallab cleanup` if a crashed lab left it"
                    )
        for link in _ip_json("-4", "addr", "show"):
            for addr in link.get("addr_info", []):
                if ipaddress.ip_address(addr["local"]) in self.prefix:
                    raise LabBusy(
                        f"{link['ifname']} already has {addr['local']} in the lab range {self.prefix}"
                    )
        if _link_exists(self.bridge):
            raise LabBusy(f"a network link named {self.bridge!r} already exists")

    def close(self) -> None:
        """Remove every container, veth, cgroup, route, the bridge and the host copies. Idempotent."""
        _open_labs.discard(self)
        if self._record is None:
            return
        errors = _teardown_record(self._record)
        for host in self.hosts.values():
            host.reap()
        if errors:
            raise LabError(f"lab {self.name}: cleanup incomplete: {'; '.join(errors)}")
        self._record = None

    def _check_host_free(self, host: LabHost) -> None:
        if _link_exists(host.veth) and host.state == "down":
            raise LabError(f"link {host.veth} exists already (left by an earlier lab? see README)")

    # -- hosts -----------------------------------------------------------------------------------------

    def add_host(
        self,
        name: str,
        *,
        address: str | None = None,
        extra_units: Mapping[str, str] | None = None,
        enable: Sequence[str] = (),
        start_by_hand: Sequence[str] = (),
    ) -> LabHost:
        """Unpack a host from the golden image and make it a distinct machine (not started yet).

        ``extra_units``: unit name -> text for /etc/systemd/system; ``enable``: units to enable (offline);
        ``start_by_hand``: units ``start`` runs by hand once sshd is up (so they are active but not enabled).
        """
        if self._record is None:
            raise LabError("call setup() (or use the Lab as a context manager) first")
        if not HOSTNAME_RE.fullmatch(name):
            raise LabError(f"host name {name!r}: expected a lowercase host name (letters, digits, '-', '.')")
        if name in self.hosts:
            raise LabError(f"host {name!r} exists already")
        if address is None:
            while True:
                candidate = self.bridge_net.network_address + self._next_address
                self._next_address += 1
                if candidate not in self.bridge_net or candidate == self.bridge_net.broadcast_address:
                    raise LabError(f"no free address left in {self.bridge_net}")
                if all(h.address != str(candidate) for h in self.hosts.values()):
                    address = str(candidate)
                    break
        elif ipaddress.ip_address(address) not in self.bridge_net or address == str(self.gateway):
            raise LabError(f"address {address} is not a host address in {self.bridge_net}")
        machine = f"{self.name}-{len(self._record['hosts'])}"
        host = LabHost(self, name, machine, address, self.workdir / "hosts" / name)
        self._check_host_free(host)
        self._record["hosts"].append(
            {"name": name, "machine": machine, "dir": str(host.dir), "address": address}
        )
        _save_record(self._record)
        self.hosts[name] = host
        host.dir.mkdir(parents=True)
        self.image.make_rootfs(host.dir, self.rootfs_mode)
        self._personalize(host)
        for unit, text in (extra_units or {}).items():
            host.write_unit(unit, text)
        if enable:
            host.enable(*enable)
        host.start_by_hand = list(start_by_hand)
        return host

    def _personalize(self, host: LabHost) -> None:
        r = host.rootfs
        _write(r / "etc/hostname", host.name + "\n")
        _write(
            r / "etc/hosts",
            f"127.0.0.1\tlocalhost\n127.0.1.1\t{host.name}\n::1\tlocalhost ip6-localhost ip6-loopback\n",
        )
        _write(r / "etc/machine-id", uuid.uuid4().hex + "\n", 0o444)
        _keygen(host.dir / "ssh_host_ed25519_key", f"root@{host.name}")
        shutil.copyfile(host.dir / "ssh_host_ed25519_key", r / "etc/ssh/ssh_host_ed25519_key")
        (r / "etc/ssh/ssh_host_ed25519_key").chmod(0o600)
        shutil.copyfile(host.dir / "ssh_host_ed25519_key.pub", r / "etc/ssh/ssh_host_ed25519_key.pub")
        (r / "root/.ssh").mkdir(mode=0o700, exist_ok=True)
        host.restore_auth()
        _write(
            r / "etc/systemd/network/10-lab.network",
            NETWORK_TEMPLATE.format(address=host.address, prefixlen=self.bridge_net.prefixlen),
        )
        self.write_known_hosts()

    def write_known_hosts(self, hosts: Iterable[LabHost] | None = None) -> Path:
        """(Re)write ``known_hosts_path`` with the keys the hosts have installed now (see rotate_host_key)."""
        chosen = list(self.hosts.values()) if hosts is None else list(hosts)
        _write(self.known_hosts_path, "".join(h.known_hosts_line + "\n" for h in chosen))
        return self.known_hosts_path

    def start(self, hosts: Iterable[LabHost] | None = None, *, timeout: float = 60) -> None:
        """Boot the hosts and wait until each one's sshd answers; then start the ``start_by_hand`` units."""
        chosen = list(self.hosts.values()) if hosts is None else list(hosts)
        for host in chosen:
            host.power_on()
        for host in chosen:
            host.wait_ssh(timeout)
        for host in chosen:
            for unit in host.start_by_hand:
                host.systemctl("start", unit, check=True)

    async def astart(self, hosts: Iterable[LabHost] | None = None, *, within: float = 60) -> None:
        await asyncio.to_thread(self.start, hosts, timeout=within)

    # -- inventory -------------------------------------------------------------------------------------

    def inventory_dict(
        self,
        hosts: Iterable[LabHost] | None = None,
        policy: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
        **sections: Any,
    ) -> dict[str, Any]:
        """A slowroll inventory (docs/inventory.md) for these hosts, with the lab's key and known_hosts.

        Extra top-level sections (``groups``, ``checks``, ``vars``...) pass through unchanged.
        """
        chosen = list(self.hosts.values()) if hosts is None else list(hosts)
        inv: dict[str, Any] = {
            "name": name or self.name,
            "ssh": {
                "user": "root",
                "port": 22,
                "known_hosts": str(self.known_hosts_path),
                "identity_files": [str(self.client_key_path)],
                "agent": False,
            },
            "hosts": {h.name: {"address": h.address} for h in chosen},
        }
        if policy:
            inv["policy"] = dict(policy)
        inv.update(sections)
        return inv

    def inventory_yaml(
        self, hosts: Iterable[LabHost] | None = None, policy: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> str:
        return yaml.safe_dump(self.inventory_dict(hosts, policy, **kwargs), sort_keys=False)

    def write_inventory(
        self,
        path: str | os.PathLike[str],
        hosts: Iterable[LabHost] | None = None,
        policy: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Path:
        p = Path(path)
        _write(p, self.inventory_yaml(hosts, policy, **kwargs))
        return p
