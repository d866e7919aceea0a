"""The operating system of one simulated host, in memory: a stock Debian 12 server running systemd 252.

``SimSystem.execute`` answers the OS commands slowroll sends -- ``FACTS_SCRIPT``, the evidence command,
``cat``/``ls``/``uname`` of the files that matter, ``systemctl`` (is-active, is-system-running, status,
show, list-units, list-unit-files, list-dependencies) and ``journalctl -b -u`` -- with what real bash and
systemd 252 print (formats checked against output captured on a real Debian 12 host, see
``tests/fixtures/systemd-252``). Anything else gives ``None``: the simulator's host (``fleet.py``) handles
health checks and reboots.

The model: unit definitions (a stock set plus the role ``services``), what ``default.target`` pulls in,
and a boot that starts that tree in dependency order -- start conditions, failing units, dependency
failures -- and writes the journal lines systemd writes. Faults (``DRIFT_FAULTS``) change the host the
way people do: a unit started by hand, an enabled unit whose dependency fails at boot, a live patch, a
newer kernel installed (booted next time, or not).
"""

from __future__ import annotations

import fnmatch
import json
import random
import re
import shlex
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from console.remote.facts import (
    FACTS_COMMAND,
    FACTS_SCRIPT,
    SHOW_PROPERTIES,
    TAINT_LIVEPATCH,
    kernel_version_key,
)

__all__ = ["DRIFT_FAULTS", "ExecResult", "SimSystem"]

DRIFT_FAULTS = frozenset(
    {"hand-started-unit", "early-unit", "live-patched", "kernel-pending", "stale-kernel"}
)

TAINT_OOT_MODULE = 1 << 12  # "O": a live patch is an out-of-tree module
UNIT_TYPES = ("service", "socket", "timer", "path")
_UNIT_NAME = re.compile(r"^[A-Za-z0-9:_.\\@-]{1,200}\.(service|socket|timer|path)$")


@dataclass(frozen=True)
class ExecResult:
    exit_status: int
    stdout: str = ""
    stderr: str = ""


@dataclass(frozen=True)
class UnitDef:
    """A unit file (or a name systemd loads without one: ``load="not-found"``)."""

    name: str
    description: str
    file_state: str = "static"  # what list-unit-files says ("" when there is no file)
    preset: str = "-"
    load: str = "loaded"
    wanted_by: tuple[str, ...] = ()  # .wants/ links: enablement, or links shipped by the package
    requires: tuple[str, ...] = ()  # Requires= (+After=): a failure here stops this unit from starting
    deps: tuple[str, ...] | None = None  # other dependencies list-dependencies shows (None: by type)
    triggers: tuple[str, ...] = ()  # for sockets, timers, paths: the service they start
    aliases: tuple[str, ...] = ()
    kind: str = "simple"  # simple, notify, dbus, oneshot (services); socket, timer, path, target, ...
    remain: bool = False  # RemainAfterExit=yes
    condition: str = ""  # a start condition that is not met on this host, e.g. ConditionFirstBoot=yes
    fails_at_boot: bool = False  # its ExecStart= fails when the boot starts it
    path: str = ""

    @property
    def type(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    @property
    def fragment(self) -> str:
        return self.path or f"/lib/systemd/system/{self.name}"


@dataclass
class UnitRun:
    """A loaded unit's state in this boot."""

    active: str = "inactive"
    sub: str = "dead"
    result: str = "success"
    exec_status: int = 0
    main_pid: int = 0
    inactive_exit_mono: int = 0  # µs since boot; 0: never left "inactive" this boot
    active_enter_wall: float | None = None
    condition_result: bool = False
    condition_mono: int = 0
    changed_wall: float | None = None


def _d(name: str, description: str, **kw: object) -> UnitDef:
    return UnitDef(name, description, **kw)  # type: ignore[arg-type]


_SYS = ("sysinit.target",)
_MU = ("multi-user.target",)

# A stock Debian 12 server (a VM: udev, audit, no display manager), as systemd 252 loads it.
# fmt: off
STOCK_UNITS: tuple[UnitDef, ...] = (
    # targets, slices, mounts: what the boot tree is made of
    _d("default.target", "Graphical Interface", kind="target",
       deps=("display-manager.service", "systemd-update-utmp-runlevel.service", "multi-user.target")),
    _d("multi-user.target", "Multi-User System", kind="target",
       deps=("basic.target", "getty.target", "remote-fs.target")),
    _d("basic.target", "Basic System", kind="target",
       deps=("-.mount", "tmp.mount", "paths.target", "slices.target", "sockets.target", "sysinit.target",
             "timers.target")),
    _d("sysinit.target", "System Initialization", kind="target",
       deps=("dev-hugepages.mount", "dev-mqueue.mount", "proc-sys-fs-binfmt_misc.automount",
             "sys-fs-fuse-connections.mount", "sys-kernel-config.mount", "sys-kernel-debug.mount",
             "sys-kernel-tracing.mount", "cryptsetup.target", "integritysetup.target", "local-fs.target",
             "swap.target", "veritysetup.target")),
    _d("local-fs.target", "Local File Systems", kind="target",
       deps=("-.mount", "boot-efi.mount", "local-fs-pre.target")),
    _d("local-fs-pre.target", "Preparation for Local File Systems", kind="target", deps=()),
    _d("sockets.target", "Socket Units", kind="target", deps=()),
    _d("timers.target", "Timer Units", kind="target", deps=()),
    _d("paths.target", "Path Units", kind="target", deps=()),
    _d("slices.target", "Slice Units", kind="target", deps=("-.slice", "system.slice")),
    _d("getty.target", "Login Prompts", kind="target", deps=()),
    _d("remote-fs.target", "Remote File Systems", kind="target", deps=()),
    _d("swap.target", "Swaps", kind="target", deps=()),
    _d("cryptsetup.target", "Local Encrypted Volumes", kind="target", deps=()),
    _d("integritysetup.target", "Local Integrity Protected Volumes", kind="target", deps=()),
    _d("veritysetup.target", "Local Verity Protected Volumes", kind="target", deps=()),
    _d("time-set.target", "System Time Set", kind="target", deps=()),
    _d("network.target", "Network", kind="target", deps=()),
    _d("-.slice", "Root Slice", kind="slice", deps=()),
    _d("system.slice", "System Slice", kind="slice", deps=("-.slice",)),
    _d("system-getty.slice", "Slice /system/getty", kind="slice", deps=("system.slice",)),
    _d("system-modprobe.slice", "Slice /system/modprobe", kind="slice", deps=("system.slice",)),
    _d("user.slice", "User and Session Slice", kind="slice", deps=("-.slice",)),
    _d("-.mount", "Root Mount", kind="mount", deps=("-.slice",)),
    _d("boot-efi.mount", "/boot/efi", kind="mount", deps=("-.mount", "system.slice")),
    _d("tmp.mount", "Temporary Directory /tmp", kind="mount", deps=("-.mount", "system.slice")),
    _d("dev-hugepages.mount", "Huge Pages File System", kind="mount", deps=("-.slice",)),
    _d("dev-mqueue.mount", "POSIX Message Queue File System", kind="mount", deps=("-.slice",)),
    _d("proc-sys-fs-binfmt_misc.automount", "Arbitrary Executable File Formats File System Automount Point",
       kind="automount", deps=()),
    _d("sys-fs-fuse-connections.mount", "FUSE Control File System", kind="mount",
       deps=("modprobe@fuse.service", "system-modprobe.slice")),
    _d("sys-kernel-config.mount", "Kernel Configuration File System", kind="mount",
       deps=("modprobe@configfs.service",)),
    _d("sys-kernel-debug.mount", "Kernel Debug File System", kind="mount", deps=()),
    _d("sys-kernel-tracing.mount", "Kernel Trace File System", kind="mount", deps=()),
    # early services (DefaultDependencies=no), pulled in by sysinit.target and local-fs.target
    _d("apparmor.service", "Load AppArmor profiles", file_state="enabled", preset="enabled",
       wanted_by=_SYS, kind="oneshot", remain=True, deps=()),
    _d("keyboard-setup.service", "Set the console keyboard layout", file_state="enabled", preset="enabled",
       wanted_by=_SYS, kind="oneshot", remain=True, deps=()),
    _d("kmod-static-nodes.service", "Create List of Static Device Nodes", wanted_by=_SYS, kind="oneshot",
       remain=True, deps=()),
    _d("systemd-journald.service", "Journal Service", wanted_by=_SYS, kind="notify", deps=(),
       requires=("systemd-journald.socket",)),
    _d("systemd-journal-flush.service", "Flush Journal to Persistent Storage", wanted_by=_SYS,
       kind="oneshot", remain=True, deps=("systemd-journald.service",)),
    _d("systemd-modules-load.service", "Load Kernel Modules", wanted_by=_SYS, kind="oneshot", remain=True,
       deps=()),
    _d("systemd-network-generator.service", "Generate network units from Kernel command line",
       file_state="enabled", preset="enabled", wanted_by=_SYS, kind="oneshot", remain=True,
       deps=("network-pre.target",)),
    _d("network-pre.target", "Preparation for Network", kind="target", deps=()),
    _d("systemd-random-seed.service", "Load/Save Random Seed", wanted_by=_SYS, kind="oneshot",
       remain=True, deps=()),
    _d("systemd-remount-fs.service", "Remount Root and Kernel File Systems", file_state="enabled-runtime",
       preset="enabled", wanted_by=("local-fs.target",), kind="oneshot", remain=True, deps=()),
    _d("systemd-sysctl.service", "Apply Kernel Variables", wanted_by=_SYS, kind="oneshot", remain=True,
       deps=()),
    _d("systemd-sysusers.service", "Create System Users", wanted_by=_SYS, kind="oneshot", remain=True,
       deps=()),
    _d("systemd-timesyncd.service", "Network Time Synchronization", file_state="enabled",
       preset="enabled", wanted_by=_SYS, kind="notify", aliases=("dbus-org.freedesktop.timesync1.service",),
       deps=("system.slice", "time-set.target")),
    _d("systemd-tmpfiles-setup-dev.service", "Create Static Device Nodes in /dev", wanted_by=_SYS,
       kind="oneshot", remain=True, deps=()),
    _d("systemd-tmpfiles-setup.service", "Create System Files and Directories", wanted_by=_SYS,
       kind="oneshot", remain=True, deps=()),
    _d("systemd-udevd.service", "Rule-based Manager for Device Events and Files", wanted_by=_SYS,
       kind="notify", deps=("system.slice",)),
    _d("systemd-udev-trigger.service", "Coldplug All udev Devices", wanted_by=_SYS, kind="oneshot",
       remain=True, deps=()),
    _d("systemd-update-utmp.service", "Record System Boot/Shutdown in UTMP", wanted_by=_SYS,
       kind="oneshot", remain=True, deps=("system.slice",)),
    _d("systemd-pstore.service", "Platform Persistent Storage Archival", file_state="enabled",
       preset="enabled", wanted_by=_SYS, kind="oneshot", remain=True, deps=("modprobe@efi_pstore.service",),
       condition="ConditionDirectoryNotEmpty=/sys/fs/pstore"),
    _d("systemd-firstboot.service", "First Boot Wizard", wanted_by=_SYS, kind="oneshot", remain=True,
       deps=("first-boot-complete.target",), condition="ConditionFirstBoot=yes"),
    _d("first-boot-complete.target", "First Boot Complete", kind="target", deps=()),
    _d("systemd-pcrphase-sysinit.service", "TPM2 PCR Barrier (Initialization)", wanted_by=_SYS,
       kind="oneshot", remain=True, deps=(), condition="ConditionSecurity=tpm2"),
    _d("systemd-pcrphase.service", "TPM2 PCR Barrier (User)", wanted_by=_SYS, kind="oneshot", remain=True,
       deps=(), condition="ConditionSecurity=tpm2"),
    _d("systemd-machine-id-commit.service", "Commit a transient machine-id on disk", wanted_by=_SYS,
       kind="oneshot", remain=True, deps=(), condition="ConditionPathIsMountPoint=/etc/machine-id"),
    _d("systemd-binfmt.service", "Set Up Additional Binary Formats", wanted_by=_SYS, kind="oneshot",
       remain=True, deps=(), condition="ConditionPathIsMountPoint=/proc/sys/fs/binfmt_misc"),
    _d("systemd-repart.service", "Repartition Root Disk", wanted_by=_SYS, kind="oneshot", remain=True,
       deps=("modprobe@dm_mod.service", "modprobe@loop.service"),
       condition="ConditionDirectoryNotEmpty=|/usr/lib/repart.d"),
    _d("systemd-fsck-root.service", "File System Check on Root Device", wanted_by=("local-fs.target",),
       kind="oneshot", remain=True, deps=(), condition="ConditionPathExists=!/run/initramfs/fsck-root"),
    _d("modprobe@configfs.service", "Load Kernel Module configfs", kind="oneshot",
       deps=("system-modprobe.slice",)),
    _d("modprobe@dm_mod.service", "Load Kernel Module dm_mod", kind="oneshot",
       deps=("system-modprobe.slice",)),
    _d("modprobe@drm.service", "Load Kernel Module drm", kind="oneshot", deps=("system-modprobe.slice",)),
    _d("modprobe@efi_pstore.service", "Load Kernel Module efi_pstore", kind="oneshot",
       deps=("system-modprobe.slice",)),
    _d("modprobe@fuse.service", "Load Kernel Module fuse", kind="oneshot", deps=("system-modprobe.slice",)),
    _d("modprobe@loop.service", "Load Kernel Module loop", kind="oneshot", deps=("system-modprobe.slice",)),
    # sockets, timers, paths
    _d("dbus.socket", "D-Bus System Message Bus Socket", wanted_by=("sockets.target",), kind="socket",
       triggers=("dbus.service",)),
    _d("systemd-journald.socket", "Journal Socket", wanted_by=("sockets.target",), kind="socket",
       triggers=("systemd-journald.service",), deps=("-.mount", "system.slice")),
    _d("systemd-journald-dev-log.socket", "Journal Socket (/dev/log)", wanted_by=("sockets.target",),
       kind="socket", triggers=("systemd-journald.service",), deps=("-.mount", "system.slice")),
    _d("systemd-journald-audit.socket", "Journal Audit Socket", wanted_by=("sockets.target",),
       kind="socket", triggers=("systemd-journald.service",), deps=("-.mount", "system.slice")),
    _d("systemd-initctl.socket", "initctl Compatibility Named Pipe", wanted_by=("sockets.target",),
       kind="socket", triggers=("systemd-initctl.service",)),
    _d("systemd-udevd-control.socket", "udev Control Socket", wanted_by=("sockets.target",),
       kind="socket", triggers=("systemd-udevd.service",), deps=("-.mount", "system.slice")),
    _d("systemd-udevd-kernel.socket", "udev Kernel Socket", wanted_by=("sockets.target",), kind="socket",
       triggers=("systemd-udevd.service",), deps=("-.mount", "system.slice")),
    _d("systemd-networkd.socket", "Network Service Netlink Socket", file_state="enabled",
       preset="enabled", wanted_by=("sockets.target",), kind="socket", triggers=("systemd-networkd.service",)),
    _d("systemd-ask-password-console.path", "Dispatch Password Requests to Console Directory Watch",
       wanted_by=("cryptsetup.target",), kind="path", triggers=("systemd-ask-password-console.service",)),
    _d("systemd-ask-password-wall.path", "Forward Password Requests to Wall Directory Watch",
       wanted_by=("multi-user.target",), kind="path", triggers=("systemd-ask-password-wall.service",)),
    _d("apt-daily.timer", "Daily apt download activities", file_state="enabled", preset="enabled",
       wanted_by=("timers.target",), kind="timer", triggers=("apt-daily.service",)),
    _d("apt-daily-upgrade.timer", "Daily apt upgrade and clean activities", file_state="enabled",
       preset="enabled", wanted_by=("timers.target",), kind="timer", triggers=("apt-daily-upgrade.service",)),
    _d("dpkg-db-backup.timer", "Daily dpkg database backup timer", file_state="enabled", preset="enabled",
       wanted_by=("timers.target",), kind="timer", triggers=("dpkg-db-backup.service",)),
    _d("e2scrub_all.timer", "Periodic ext4 Online Metadata Check for All Filesystems",
       file_state="enabled", preset="enabled", wanted_by=("timers.target",), kind="timer",
       triggers=("e2scrub_all.service",)),
    _d("fstrim.timer", "Discard unused blocks once a week", file_state="enabled", preset="enabled",
       wanted_by=("timers.target",), kind="timer", triggers=("fstrim.service",)),
    _d("logrotate.timer", "Daily rotation of log files", file_state="enabled", preset="enabled",
       wanted_by=("timers.target",), kind="timer", triggers=("logrotate.service",)),
    _d("man-db.timer", "Daily man-db regeneration", file_state="enabled", preset="enabled",
       wanted_by=("timers.target",), kind="timer", triggers=("man-db.service",)),
    _d("systemd-tmpfiles-clean.timer", "Daily Cleanup of Temporary Directories",
       wanted_by=("timers.target",), kind="timer", triggers=("systemd-tmpfiles-clean.service",)),
    # services of the running system
    _d("cron.service", "Regular background program processing daemon", file_state="enabled",
       preset="enabled", wanted_by=_MU),
    _d("dbus.service", "D-Bus System Message Bus", wanted_by=_MU, kind="notify", requires=("dbus.socket",)),
    _d("e2scrub_reap.service", "Remove Stale Online ext4 Metadata Check Snapshots", file_state="enabled",
       preset="enabled", wanted_by=_MU, kind="oneshot"),
    _d("getty@tty1.service", "Getty on tty1", file_state="enabled", preset="enabled",
       wanted_by=("getty.target",), deps=("system-getty.slice", "sysinit.target")),
    _d("getty-static.service", "getty on tty2-tty6 if dbus and logind are not available",
       wanted_by=("getty.target",), kind="oneshot", condition="ConditionPathExists=!/usr/bin/dbus-daemon"),
    _d("ssh.service", "OpenBSD Secure Shell server", file_state="enabled", preset="enabled",
       wanted_by=_MU, kind="notify", aliases=("sshd.service",)),
    _d("systemd-logind.service", "User Login Management", wanted_by=_MU, kind="dbus",
       aliases=("dbus-org.freedesktop.login1.service",),
       deps=("modprobe@drm.service", "system.slice", "sysinit.target", "user.slice")),
    _d("systemd-networkd.service", "Network Configuration", file_state="enabled", preset="enabled",
       wanted_by=_MU, kind="notify", aliases=("dbus-org.freedesktop.network1.service",),
       requires=("systemd-networkd.socket",), deps=("network.target", "system.slice", "sysinit.target")),
    _d("systemd-user-sessions.service", "Permit User Sessions", wanted_by=_MU, kind="oneshot",
       remain=True),
    _d("systemd-update-utmp-runlevel.service", "Record Runlevel Change in UTMP", kind="oneshot",
       requires=("systemd-update-utmp.service",), deps=("system.slice",)),
    # loaded because something refers to them; started only on demand
    _d("apt-daily.service", "Daily apt download activities", kind="oneshot"),
    _d("apt-daily-upgrade.service", "Daily apt upgrade and clean activities", kind="oneshot"),
    _d("dpkg-db-backup.service", "Daily dpkg database backup service", kind="oneshot"),
    _d("e2scrub_all.service", "Online ext4 Metadata Check for All Filesystems", kind="oneshot"),
    _d("fstrim.service", "Discard unused blocks on filesystems from /etc/fstab", kind="oneshot"),
    _d("logrotate.service", "Rotate log files", kind="oneshot"),
    _d("man-db.service", "Daily man-db regeneration", kind="oneshot"),
    _d("systemd-tmpfiles-clean.service", "Cleanup of Temporary Directories", kind="oneshot"),
    _d("systemd-ask-password-console.service", "Dispatch Password Requests to Console"),
    _d("systemd-ask-password-wall.service", "Forward Password Requests to Wall"),
    _d("systemd-initctl.service", "initctl Compatibility Daemon"),
    _d("emergency.service", "Emergency Shell"),
    _d("rescue.service", "Rescue Shell"),
    _d("auditd.service", "auditd.service", file_state="", load="not-found"),
    _d("display-manager.service", "display-manager.service", file_state="", load="not-found"),
    _d("plymouth-quit-wait.service", "plymouth-quit-wait.service", file_state="", load="not-found"),
    _d("plymouth-start.service", "plymouth-start.service", file_state="", load="not-found"),
    _d("syslog.service", "syslog.service", file_state="", load="not-found"),
    # the login session of whoever is connected (slowroll itself, as root)
    _d("user@0.service", "User Manager for UID 0", kind="notify", deps=("user-runtime-dir@0.service",)),
    _d("user-runtime-dir@0.service", "User Runtime Directory /run/user/0", kind="oneshot", remain=True),
)
# fmt: on

# unit files that are not loaded on a stock host (list-unit-files shows them)
STOCK_FILES: tuple[tuple[str, str, str], ...] = (
    ("autovt@.service", "alias", "-"),
    ("container-getty@.service", "static", "-"),
    ("cryptdisks-early.service", "masked", "enabled"),
    ("cryptdisks.service", "masked", "enabled"),
    ("dbus-org.freedesktop.hostname1.service", "alias", "-"),
    ("dbus-org.freedesktop.locale1.service", "alias", "-"),
    ("dbus-org.freedesktop.login1.service", "alias", "-"),
    ("dbus-org.freedesktop.network1.service", "alias", "-"),
    ("dbus-org.freedesktop.timedate1.service", "alias", "-"),
    ("dbus-org.freedesktop.timesync1.service", "alias", "-"),
    ("debug-shell.service", "disabled", "disabled"),
    ("e2scrub@.service", "static", "-"),
    ("getty@.service", "enabled", "enabled"),
    ("hwclock.service", "masked", "enabled"),
    ("modprobe@.service", "static", "-"),
    ("rc-local.service", "static", "-"),
    ("serial-getty@.service", "disabled", "enabled"),
    ("ssh.socket", "disabled", "enabled"),
    ("ssh@.service", "static", "-"),
    ("sshd.service", "alias", "-"),
    ("systemd-hostnamed.service", "static", "-"),
    ("systemd-localed.service", "static", "-"),
    ("systemd-networkd-wait-online.service", "disabled", "disabled"),
    ("systemd-timedated.service", "static", "-"),
    ("systemd-time-wait-sync.service", "disabled", "disabled"),
    ("user-runtime-dir@.service", "static", "-"),
    ("user@.service", "static", "-"),
)

DBUS_SERVICES: tuple[tuple[str, str], ...] = (
    ("org.freedesktop.hostname1", "dbus-org.freedesktop.hostname1.service"),
    ("org.freedesktop.locale1", "dbus-org.freedesktop.locale1.service"),
    ("org.freedesktop.login1", "dbus-org.freedesktop.login1.service"),
    ("org.freedesktop.network1", "dbus-org.freedesktop.network1.service"),
    ("org.freedesktop.timedate1", "dbus-org.freedesktop.timedate1.service"),
    ("org.freedesktop.timesync1", "dbus-org.freedesktop.timesync1.service"),
)

ROLE_DESCRIPTIONS = {
    "nginx.service": "A high performance web server and a reverse proxy server",
    "apache2.service": "The Apache HTTP Server",
    "postgresql.service": "PostgreSQL RDBMS",
    "redis-server.service": "Advanced key-value store",
    "rabbitmq-server.service": "RabbitMQ Messaging Server",
    "haproxy.service": "HAProxy Load Balancer",
    "docker.service": "Docker Application Container Engine",
}

# The units the faults add, exactly as on the real host in tests/fixtures/systemd-252.
LEGACY_AGENT = _d(
    "legacy-agent.service",
    "Legacy agent (started by hand, never enabled)",
    file_state="disabled",
    preset="enabled",
    path="/etc/systemd/system/legacy-agent.service",
)
BROKEN_DEP = _d(
    "broken-dep.service",
    "Dependency that fails at every boot (works only while /run/broken-dep.ok exists)",
    kind="oneshot",
    remain=True,
    fails_at_boot=True,
    path="/etc/systemd/system/broken-dep.service",
)
APP_NEEDS_BROKEN = _d(
    "app-needs-broken.service",
    "App that Requires= broken-dep.service",
    file_state="enabled",
    preset="enabled",
    wanted_by=_MU,
    requires=("broken-dep.service",),
    path="/etc/systemd/system/app-needs-broken.service",
)

# Property order of `systemctl show` (the D-Bus vtables: type-specific interface first, then Unit).
_SHOW_ORDER = (
    "Type",
    "Restart",
    "RemainAfterExit",
    "MainPID",
    "Result",
    "ExecMainPID",
    "ExecMainCode",
    "ExecMainStatus",
    "Id",
    "Names",
    "Requires",
    "Wants",
    "RequiredBy",
    "WantedBy",
    "BoundBy",
    "UpheldBy",
    "Triggers",
    "TriggeredBy",
    "Description",
    "LoadState",
    "ActiveState",
    "SubState",
    "FragmentPath",
    "UnitFileState",
    "UnitFilePreset",
    "InactiveExitTimestamp",
    "InactiveExitTimestampMonotonic",
    "ActiveEnterTimestamp",
    "ActiveEnterTimestampMonotonic",
    "ConditionResult",
    "ConditionTimestamp",
    "ConditionTimestampMonotonic",
)


@dataclass
class _JournalEntry:
    wall: float
    boot: str
    unit: str | None
    ident: str
    text: str


@dataclass
class _Shell:
    """What a run of simple commands printed."""

    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    status: int = 0


class SimSystem:
    """The in-memory OS of one simulated Debian 12 host."""

    def __init__(
        self,
        hostname: str,
        *,
        rng: random.Random,
        clock: Callable[[], float],
        kernel: str = "6.1.0-26-amd64",
        uptime_at_start: float = 40 * 86400,
        services: Sequence[str] = (),
    ) -> None:
        self.hostname = hostname
        self.rng = rng
        self.clock = clock
        self.kernel = kernel
        self.kernels_installed: list[str] = [kernel]
        self.boot_kernel: str | None = None  # what the next boot runs (None: the newest installed)
        self.livepatches: list[str] = []
        self.tainted = 0
        self.reboot_required_pkgs: list[str] | None = None  # None: no /var/run/reboot-required
        self.faults: set[str] = set()
        self.defs: dict[str, UnitDef] = {u.name: u for u in STOCK_UNITS}
        for name in services:
            unit = name if "." in name else f"{name}.service"
            if _UNIT_NAME.match(unit) and unit not in self.defs:
                self.defs[unit] = _d(
                    unit,
                    ROLE_DESCRIPTIONS.get(unit, f"{unit.rsplit('.', 1)[0]} (role service)"),
                    file_state="enabled",
                    preset="enabled",
                    wanted_by=_MU,
                )
        self.extra_files: dict[str, tuple[str, str]] = {n: (s, p) for n, s, p in STOCK_FILES}
        self.runs: dict[str, UnitRun] = {}
        self.hand_started: list[str] = []
        self.journal: list[_JournalEntry] = []
        self.boots: list[str] = []
        self.boot_id = ""
        self.boot_wall = 0.0
        self._pid = 1
        self._boot(at=clock() - uptime_at_start)

    # ------------------------------------------------------------------------------------------
    # time

    @property
    def uptime(self) -> float:
        return max(0.0, self.clock() - self.boot_wall)

    def _mono(self, wall: float | None = None) -> int:
        """µs since boot (CLOCK_MONOTONIC) at wall-clock time ``wall`` (default: now)."""
        return max(1, int(((self.clock() if wall is None else wall) - self.boot_wall) * 1_000_000))

    def _next_pid(self) -> int:
        self._pid += self.rng.randint(1, 40)
        return self._pid

    # ------------------------------------------------------------------------------------------
    # boot

    def boot(self) -> None:
        """A (re)boot: new boot id, uptime from 0, /run emptied, the boot tree started again."""
        self._boot(at=self.clock())

    def _boot(self, *, at: float) -> None:
        self.boot_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        self.boots.append(self.boot_id)
        self.journal = [e for e in self.journal if e.boot in self.boots[-5:]]
        self.boot_wall = at
        self._pid = 1
        if self.boots[:-1]:  # not the first boot we model: the boot loader picks the kernel
            self.kernel = self.boot_kernel or max(self.kernels_installed, key=kernel_version_key)
        self.livepatches = []
        self.tainted = 0
        self.reboot_required_pkgs = None  # /var/run is a tmpfs
        self.hand_started = []
        self.runs = {}
        self._log(at, None, "kernel", f"Linux version {self.kernel} (debian-kernel@lists.debian.org)")
        clock = [at + 0.9]
        tree = self.boot_tree()
        for name in self._start_order(tree):
            self._start_at_boot(name, clock)
        for name in self._loaded_names(tree):
            self.runs.setdefault(name, UnitRun())
        # the SSH login of whoever is looking (logind starts the user's manager)
        for name in ("user-runtime-dir@0.service", "user@0.service"):
            self._start_now(name, wall=at + 5.0)

    def _start_order(self, tree: Iterable[str]) -> list[str]:
        order: list[str] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen:
                return
            seen.add(name)
            unit = self.defs.get(name)
            if unit is not None:
                for req in unit.requires:
                    visit(req)
            order.append(name)

        for name in sorted(tree, key=lambda n: (not n.startswith(("systemd-journald", "-")), n)):
            visit(name)
        return order

    def _start_at_boot(self, name: str, clock: list[float]) -> None:
        unit = self.defs.get(name)
        if unit is None or unit.load != "loaded" or name in self.runs:
            return
        clock[0] += 0.004
        wall = clock[0]
        run = UnitRun()
        self.runs[name] = run
        label = f"{name} - {unit.description}"
        failed_reqs = [r for r in unit.requires if self.runs.get(r) and self.runs[r].active == "failed"]
        if failed_reqs:
            self._log(wall, name, "systemd[1]", f"Dependency failed for {label}.")
            self._log(wall, name, "systemd[1]", f"{name}: Job {name}/start failed with result 'dependency'.")
            return
        if unit.condition:
            run.condition_mono = self._mono(wall)
            run.condition_result = False
            self._log(
                wall,
                name,
                "systemd[1]",
                f"{label} was skipped because of an unmet condition check ({unit.condition}).",
            )
            return
        run.condition_mono = self._mono(wall)
        run.condition_result = True
        self._activate(unit, run, wall, at_boot=True)

    def _activate(self, unit: UnitDef, run: UnitRun, wall: float, *, at_boot: bool) -> None:
        name = unit.name
        label = f"{name} - {unit.description}"
        run.inactive_exit_mono = self._mono(wall)
        run.changed_wall = wall
        t = unit.type
        if t == "socket":
            run.active, run.sub = "active", "listening"
            self._log(wall, name, "systemd[1]", f"Listening on {label}.")
        elif t in ("timer", "path"):
            run.active, run.sub = "active", "waiting"
            self._log(wall, name, "systemd[1]", f"Started {label}.")
        elif t == "target":
            run.active, run.sub = "active", "active"
            self._log(wall, name, "systemd[1]", f"Reached target {label}.")
        elif t == "service":
            if unit.kind != "simple":  # a Type=simple unit is "started" at once: no "Starting" line
                self._log(wall, name, "systemd[1]", f"Starting {label}...")
            pid = self._next_pid()
            if unit.fails_at_boot and at_boot:
                run.active, run.sub, run.result, run.exec_status = "failed", "failed", "exit-code", 1
                run.main_pid = 0
                self._log(
                    wall, name, "systemd[1]", f"{name}: Main process exited, code=exited, status=1/FAILURE"
                )
                self._log(wall, name, "systemd[1]", f"{name}: Failed with result 'exit-code'.")
                self._log(wall, name, "systemd[1]", f"Failed to start {label}.")
                return
            if unit.kind == "oneshot":
                run.sub = "exited" if unit.remain else "dead"
                run.active = "active" if unit.remain else "inactive"
                run.main_pid = 0
                if not unit.remain:
                    self._log(wall, name, "systemd[1]", f"{name}: Deactivated successfully.")
                self._log(wall, name, "systemd[1]", f"Finished {label}.")
            else:
                run.active, run.sub, run.main_pid = "active", "running", pid
                self._log(wall, name, "systemd[1]", f"Started {label}.")
        else:  # mounts, slices, automounts
            run.active, run.sub = "active", {"slice": "active", "automount": "waiting"}.get(t, "mounted")
        if run.active == "active":
            run.active_enter_wall = wall
        # sockets with a running service show "running"
        if t == "service":
            for trig in self._triggered_by(name):
                if trig in self.runs and self.runs[trig].sub == "listening" and run.active == "active":
                    self.runs[trig].sub = "running"

    def _start_now(self, name: str, *, wall: float | None = None) -> None:
        unit = self.defs[name]
        run = UnitRun(condition_result=True)
        when = self.clock() if wall is None else wall
        run.condition_mono = self._mono(when)
        self.runs[name] = run
        self._activate(unit, run, when, at_boot=False)

    def _log(self, wall: float, unit: str | None, ident: str, text: str) -> None:
        self.journal.append(_JournalEntry(wall, self.boot_id, unit, ident, text))

    # ------------------------------------------------------------------------------------------
    # the unit graph

    def _wants(self) -> dict[str, list[str]]:
        wants: dict[str, list[str]] = {}
        for unit in self.defs.values():
            for target in unit.wanted_by:
                wants.setdefault(target, []).append(unit.name)
        return wants

    def _forward(self, name: str, wants: dict[str, list[str]]) -> list[str]:
        unit = self.defs.get(name)
        if unit is None or unit.load != "loaded":
            return []
        if unit.deps is not None:
            base = list(unit.deps)
        elif unit.type == "service":
            base = ["system.slice", "sysinit.target"]
        elif unit.type in ("socket", "path"):
            base = ["sysinit.target"]
        elif unit.type == "timer":
            base = ["sysinit.target", "time-set.target"]
        else:
            base = []
        out = [*base, *unit.requires, *wants.get(name, ())]
        return list(dict.fromkeys(out))

    def dependency_listing(self) -> list[str]:
        """`systemctl list-dependencies --all --plain default.target`: each unit once, depth first."""
        wants = self._wants()
        lines = ["default.target"]
        done = {"default.target"}

        def key(n: str) -> tuple[bool, str]:
            return (n.endswith(".target"), n.lower())

        def walk(name: str) -> None:
            for dep in sorted(self._forward(name, wants), key=key):
                if dep in done:
                    continue
                done.add(dep)
                lines.append("  " + dep)
                walk(dep)

        walk("default.target")
        return lines

    def boot_tree(self) -> set[str]:
        return {line.strip() for line in self.dependency_listing()}

    def _loaded_names(self, tree: Iterable[str]) -> list[str]:
        names = [n for n in tree if n in self.defs]
        for name in list(names):
            names.extend(self.defs[name].triggers)
        for unit in self.defs.values():
            if unit.load == "not-found":
                names.append(unit.name)
        return list(dict.fromkeys(names))

    def _triggered_by(self, name: str) -> list[str]:
        return sorted(u.name for u in self.defs.values() if name in u.triggers)

    def _pulled_by(self, name: str) -> dict[str, list[str]]:
        unit = self.defs.get(name)
        wanted = list(unit.wanted_by) if unit else []
        required = sorted(u.name for u in self.defs.values() if name in u.requires and u.name in self.runs)
        return {"WantedBy": wanted, "RequiredBy": required}

    # ------------------------------------------------------------------------------------------
    # faults

    def apply_fault(self, kind: str) -> None:
        """Change the host the way people do; the effects at the next boot follow from the change."""
        if kind not in DRIFT_FAULTS:
            raise ValueError(
                f"unknown drift fault {kind!r}; expected one of {', '.join(sorted(DRIFT_FAULTS))}"
            )
        self.faults.add(kind)
        if kind == "hand-started-unit":
            self.defs[LEGACY_AGENT.name] = LEGACY_AGENT
            self._start_now(LEGACY_AGENT.name)
            self.hand_started.append(LEGACY_AGENT.name)
        elif kind == "early-unit":
            # `systemctl enable --now app-needs-broken.service` while /run/broken-dep.ok exists
            self.defs[BROKEN_DEP.name] = BROKEN_DEP
            self.defs[APP_NEEDS_BROKEN.name] = APP_NEEDS_BROKEN
            self._start_now(BROKEN_DEP.name)
            self._start_now(APP_NEEDS_BROKEN.name)
        elif kind == "live-patched":
            patch = "livepatch_" + re.sub(r"[^0-9a-zA-Z]", "_", self.kernel) + "_cve_2024_1086"
            if patch not in self.livepatches:
                self.livepatches.append(patch)
            self.tainted |= TAINT_LIVEPATCH | TAINT_OOT_MODULE
            self._log(self.clock(), None, "kernel", f"livepatch: enabling patch '{patch}'")
        elif kind in ("kernel-pending", "stale-kernel"):
            newer = _next_kernel(self.kernel)  # both faults install the same update
            if newer not in self.kernels_installed:
                self.kernels_installed.append(newer)
            self.reboot_required_pkgs = [*(self.reboot_required_pkgs or []), f"linux-image-{newer}"]
            if kind == "stale-kernel":
                self.boot_kernel = self.kernel  # the boot loader keeps booting the old one

    # ------------------------------------------------------------------------------------------
    # the file system slowroll reads

    def _files(self) -> dict[str, str]:
        files = {
            "/proc/sys/kernel/random/boot_id": self.boot_id + "\n",
            "/proc/uptime": f"{self.uptime:.2f} {self.uptime * 1.87:.2f}\n",
            "/proc/sys/kernel/tainted": f"{self.tainted}\n",
            "/etc/hostname": self.hostname + "\n",
        }
        if self.reboot_required_pkgs is not None:
            files["/var/run/reboot-required"] = "*** System restart required ***\n"
            files["/var/run/reboot-required.pkgs"] = "".join(p + "\n" for p in self.reboot_required_pkgs)
        return files

    def _dirs(self) -> dict[str, list[str]]:
        boot = ["efi", "grub"]
        for k in self.kernels_installed:
            boot += [f"System.map-{k}", f"config-{k}", f"initrd.img-{k}", f"vmlinuz-{k}"]
        return {
            "/boot": sorted(boot),
            "/lib/modules": sorted(self.kernels_installed),
            "/sys/kernel/livepatch": sorted(self.livepatches),
            "/var/lib/dpkg": ["arch", "available", "info", "status"],
            "/usr/share/dbus-1/system-services": sorted(f"{n}.service" for n, _ in DBUS_SERVICES),
        }

    # ------------------------------------------------------------------------------------------
    # systemctl

    def _state(self, name: str) -> UnitRun | None:
        return self.runs.get(self._resolve(name))

    def _resolve(self, name: str) -> str:
        for unit in self.defs.values():
            if name in unit.aliases:
                return unit.name
        return name

    def system_state(self) -> str:
        return "degraded" if any(r.active == "failed" for r in self.runs.values()) else "running"

    def _listed(self, types: Sequence[str]) -> list[tuple[str, UnitDef, UnitRun]]:
        rows = []
        for name, run in self.runs.items():
            unit = self.defs.get(name)
            if unit is None or unit.type not in types:
                continue
            rows.append((name, unit, run))
        rows.sort(key=lambda r: (r[1].type, r[0].lower()))
        return rows

    def _unit_file_state(self, name: str) -> str:
        unit = self.defs.get(name)
        if unit is not None:
            return unit.file_state
        return self.extra_files.get(name, ("", ""))[0]

    def list_units_json(self, types: Sequence[str] = UNIT_TYPES) -> str:
        items = [
            {"unit": n, "load": u.load, "active": r.active, "sub": r.sub, "description": u.description}
            for n, u, r in self._listed(types)
        ]
        return json.dumps(items, separators=(",", ":"), ensure_ascii=False) + "\n"

    def list_units_plain(
        self, types: Sequence[str] = UNIT_TYPES, *, state: str | None = None, all_units: bool = True
    ) -> str:
        rows = [
            (n, u.load, r.active, r.sub, u.description)
            for n, u, r in self._listed(types)
            if (state is None or state in (u.load, r.active, r.sub))
            and (all_units or state is not None or r.active != "inactive")
        ]
        return _table(rows)

    def list_unit_files(self, types: Sequence[str] = UNIT_TYPES) -> str:
        rows: dict[str, tuple[str, str]] = {}
        for unit in self.defs.values():
            if unit.load == "loaded" and unit.type in types:
                rows[unit.name] = (unit.file_state, unit.preset)
        for name, (state, preset) in self.extra_files.items():
            if name.rsplit(".", 1)[-1] in types:
                rows[name] = (state, preset)
        # instances are not unit files: list their templates instead
        for name in list(rows):
            if re.search(r"@[^.]+\.", name):
                del rows[name]
        ordered = sorted(rows.items(), key=lambda kv: (kv[0].rsplit(".", 1)[-1], kv[0]))
        return _table([(n, s, p) for n, (s, p) in ordered])

    def _props(self, name: str) -> dict[str, str]:
        real = self._resolve(name)
        unit = self.defs.get(real)
        run = self.runs.get(real)
        if unit is None or run is None:
            # systemctl show of a unit that is not loaded: loads it for the question
            state = self._unit_file_state(real)
            base = {
                "Id": real,
                "Names": real,
                "Description": real,
                "LoadState": "loaded" if state else "not-found",
                "ActiveState": "inactive",
                "SubState": "dead",
                "UnitFileState": state,
                "Result": "success",
                "ExecMainStatus": "0",
                "InactiveExitTimestampMonotonic": "0",
                "ActiveEnterTimestampMonotonic": "0",
                "ConditionResult": "no",
                "ConditionTimestampMonotonic": "0",
            }
            return {k: base.get(k, "") for k in _SHOW_ORDER} | base
        pulled = self._pulled_by(real)
        service = unit.type == "service"
        props = {
            "Type": unit.kind if service else "",
            "Result": run.result,
            "ExecMainStatus": str(run.exec_status) if service else "",
            "MainPID": str(run.main_pid) if service else "",
            "Id": real,
            "Names": " ".join((real, *unit.aliases)),
            "Requires": " ".join(unit.requires),
            "RequiredBy": " ".join(pulled["RequiredBy"]),
            "WantedBy": " ".join(pulled["WantedBy"]),
            "BoundBy": "",
            "UpheldBy": "",
            "Triggers": " ".join(unit.triggers),
            "TriggeredBy": " ".join(self._triggered_by(real)),
            "Description": unit.description,
            "LoadState": unit.load,
            "ActiveState": run.active,
            "SubState": run.sub,
            "FragmentPath": unit.fragment if unit.load == "loaded" else "",
            "UnitFileState": unit.file_state,
            "UnitFilePreset": unit.preset if unit.preset != "-" else "",
            "InactiveExitTimestamp": self._stamp_mono(run.inactive_exit_mono),
            "InactiveExitTimestampMonotonic": str(run.inactive_exit_mono),
            "ActiveEnterTimestamp": _stamp(run.active_enter_wall),
            "ActiveEnterTimestampMonotonic": str(
                self._mono(run.active_enter_wall) if run.active_enter_wall else 0
            ),
            "ConditionResult": "yes" if run.condition_result else "no",
            "ConditionTimestamp": self._stamp_mono(run.condition_mono),
            "ConditionTimestampMonotonic": str(run.condition_mono),
        }
        if not service:
            for key in ("Type", "ExecMainStatus", "MainPID"):
                props.pop(key)
        return props

    def _stamp_mono(self, mono: int) -> str:
        return _stamp(self.boot_wall + mono / 1_000_000) if mono else ""

    def show(self, names: Sequence[str], properties: Sequence[str] | None) -> str:
        blocks = []
        for name in names:
            props = self._props(name)
            keys = [k for k in _SHOW_ORDER if k in props and (properties is None or k in properties)]
            blocks.append("".join(f"{k}={props[k]}\n" for k in keys))
        return "\n".join(blocks)

    def _expand(self, patterns: Sequence[str]) -> list[str]:
        out: list[str] = []
        for pattern in patterns:
            if any(c in pattern for c in "*?["):
                out.extend(sorted(n for n in self.runs if fnmatch.fnmatchcase(n, pattern)))
            else:
                out.append(pattern if "." in pattern else pattern + ".service")
        return out

    def status(self, names: Sequence[str]) -> tuple[str, int]:
        chunks: list[str] = []
        code = 0
        for name in names:
            real = self._resolve(name)
            unit, run = self.defs.get(real), self.runs.get(real)
            if unit is None or (run is None and unit.load != "loaded"):
                return "", 4
            run = run or UnitRun()
            glyph = {"active": "●", "failed": "×"}.get(run.active, "○")
            lines = [f"{glyph} {real} - {unit.description}"]
            preset = f"; preset: {unit.preset}" if unit.preset != "-" else ""
            lines.append(f"     Loaded: {unit.load} ({unit.fragment}; {unit.file_state}{preset})")
            if run.active == "failed":
                since = run.changed_wall or self.boot_wall
                lines.append(
                    f"     Active: failed (Result: {run.result}) since {_stamp(since)}; {_ago(self.clock() - since)}"
                )
            elif run.active == "active" and run.active_enter_wall is not None:
                since = run.active_enter_wall
                lines.append(
                    f"     Active: active ({run.sub}) since {_stamp(since)}; {_ago(self.clock() - since)}"
                )
            else:
                lines.append(f"     Active: {run.active} ({run.sub})")
            trig = self._triggered_by(real)
            if trig:
                lines.append("TriggeredBy: " + "\n             ".join(f"● {t}" for t in trig))
            if run.main_pid:
                lines.append(f"   Main PID: {run.main_pid} ({real.split('.')[0].split('@')[0]})")
            entries = [e for e in self.journal if e.boot == self.boot_id and e.unit == real][-10:]
            if entries:
                lines.append("")
                lines.extend(f"{_short(e.wall)} {self.hostname} {e.ident}: {e.text}" for e in entries)
            chunks.append("\n".join(lines) + "\n")
            if run.active != "active":
                code = 3
        return "\n".join(chunks), code

    # ------------------------------------------------------------------------------------------
    # journalctl

    def journalctl(self, args: Sequence[str]) -> ExecResult:
        units: list[str] = []
        lines: int | None = None
        boot: str | None = None
        fmt = "short"
        i = 0
        while i < len(args):
            a = args[i]
            if a in ("-b", "--boot"):
                boot = self.boot_id
                if i + 1 < len(args) and re.fullmatch(r"-?\d+", args[i + 1]):
                    offset = int(args[i + 1])
                    index = len(self.boots) - 1 + offset if offset <= 0 else offset - 1
                    if not 0 <= index < len(self.boots):
                        return ExecResult(
                            1,
                            "",
                            "Data from the specified boot is not available: No such boot ID in journal\n",
                        )
                    boot = self.boots[index]
                    i += 1
            elif a in ("-u", "--unit") and i + 1 < len(args):
                units.append(args[i + 1])
                i += 1
            elif a.startswith("--unit="):
                units.append(a[len("--unit=") :])
            elif a in ("-n", "--lines") and i + 1 < len(args):
                lines = int(args[i + 1]) if args[i + 1].isdigit() else None
                i += 1
            elif a.startswith("--lines="):
                value = a[len("--lines=") :]
                lines = int(value) if value.isdigit() else None
            elif a in ("-o", "--output") and i + 1 < len(args):
                fmt = args[i + 1]
                i += 1
            elif a.startswith("--output="):
                fmt = a[len("--output=") :]
            elif a in ("--no-pager", "-q", "--quiet", "--no-hostname", "-a", "--all", "-l", "--full"):
                pass
            elif a.startswith("-"):
                return ExecResult(1, "", f"journalctl: unrecognized option '{a}'\n")
            i += 1
        wanted = {self._resolve(u if "." in u else u + ".service") for u in units}
        entries = [
            e for e in self.journal if (boot is None or e.boot == boot) and (not wanted or e.unit in wanted)
        ]
        if lines is not None:
            entries = entries[-lines:] if lines else []
        if not entries:
            return ExecResult(0, "-- No entries --\n")
        stamp = _iso if fmt == "short-iso" else _short
        return ExecResult(
            0, "".join(f"{stamp(e.wall)} {self.hostname} {e.ident}: {e.text}\n" for e in entries)
        )

    # ------------------------------------------------------------------------------------------
    # commands

    def execute(self, command: str) -> ExecResult | None:
        """What the host prints for ``command``, or None when it is not an OS command modelled here."""
        text = command.strip()
        if text in (FACTS_COMMAND.strip(), FACTS_SCRIPT.strip()):
            return self.facts_output()
        try:
            words = shlex.split(text)
        except ValueError:
            return None
        if len(words) == 3 and words[0] in ("sh", "/bin/sh", "bash", "/bin/bash") and words[1] == "-c":
            if words[2].strip() == FACTS_SCRIPT.strip():
                return self.facts_output()
            return self.execute(words[2])
        try:
            lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|")
            lexer.whitespace_split = True
            tokens = list(lexer)
        except ValueError:
            return None
        commands: list[tuple[str, list[str]]] = []
        current: list[str] = []
        op = ";"
        for tok in tokens:
            if tok in (";", "&&", "||"):
                commands.append((op, current))
                current, op = [], tok
            elif tok in ("|", "&", ";;") or set(tok) <= set(";&|"):
                return None  # pipes and background jobs are not modelled
            else:
                current.append(tok)
        commands.append((op, current))
        shell = _Shell()
        for op, words in commands:
            if not words:
                continue
            if (op == "&&" and shell.status != 0) or (op == "||" and shell.status == 0):
                continue
            result = self._simple(_strip_redirections(words))
            if result is None:
                return None
            shell.out.append(result.stdout)
            shell.err.append(result.stderr)
            shell.status = result.exit_status
        return ExecResult(shell.status, "".join(shell.out), "".join(shell.err))

    def _simple(self, words: list[str]) -> ExecResult | None:
        if not words:
            return ExecResult(0)
        cmd, args = words[0].rsplit("/", 1)[-1], words[1:]
        if cmd == "cat":
            return self._cat(args)
        if cmd == "ls":
            return self._ls(args)
        if cmd == "uname":
            if args == ["-r"]:
                return ExecResult(0, self.kernel + "\n")
            if args == ["-n"]:
                return ExecResult(0, self.hostname + "\n")
            if not args or args == ["-s"]:
                return ExecResult(0, "Linux\n")
            return None
        if cmd == "hostname" and not args:
            return ExecResult(0, self.hostname + "\n")
        if cmd in ("printf", "echo"):
            return ExecResult(0, _printf(args) if cmd == "printf" else " ".join(args) + "\n")
        if cmd in ("true", ":"):
            return ExecResult(0)
        if cmd == "false":
            return ExecResult(1)
        if cmd == "systemctl":
            return self._systemctl(args)
        if cmd == "journalctl":
            return self.journalctl(args)
        return None

    def _cat(self, paths: Sequence[str]) -> ExecResult:
        files = self._files()
        out, err, code = [], [], 0
        for path in paths:
            if path in files:
                out.append(files[path])
            elif path in self._dirs():
                err.append(f"cat: {path}: Is a directory\n")
                code = 1
            else:
                err.append(f"cat: {path}: No such file or directory\n")
                code = 1
        return ExecResult(code, "".join(out), "".join(err))

    def _ls(self, args: Sequence[str]) -> ExecResult | None:
        paths = [a for a in args if not a.startswith("-")]
        if any(a.startswith("-") and a not in ("-1", "-A", "-a") for a in args):
            return None
        dirs, files = self._dirs(), self._files()
        out, err, code = [], [], 0
        for path in paths or ["."]:
            if path in dirs:
                if len(paths) > 1:
                    out.append(f"{path}:\n")
                out.extend(f"{n}\n" for n in dirs[path])
            elif path in files:
                out.append(path + "\n")
            else:
                err.append(f"ls: cannot access '{path}': No such file or directory\n")
                code = 2
        return ExecResult(code, "".join(out), "".join(err))

    def _systemctl(self, args: Sequence[str]) -> ExecResult | None:
        flags: set[str] = set()
        types: list[str] = []
        states: list[str] = []
        props: list[str] | None = None
        output = ""
        rest: list[str] = []
        i = 0
        while i < len(args):
            a = args[i]
            if a.startswith("--type=") or (a.startswith("-t") and len(a) > 2):
                types += (a.split("=", 1)[1] if "=" in a else a[2:]).split(",")
            elif a in ("-t", "--type") and i + 1 < len(args):
                types += args[i + 1].split(",")
                i += 1
            elif a.startswith("--state="):
                states += a.split("=", 1)[1].split(",")
            elif a == "--failed":
                states.append("failed")
            elif a in ("-p", "--property") and i + 1 < len(args):
                props = (props or []) + args[i + 1].split(",")
                i += 1
            elif a.startswith("--property="):
                props = (props or []) + a.split("=", 1)[1].split(",")
            elif a.startswith("-p") and len(a) > 2:
                props = (props or []) + a[2:].split(",")
            elif a.startswith("--output="):
                output = a.split("=", 1)[1]
            elif a in ("-o", "--output") and i + 1 < len(args):
                output = args[i + 1]
                i += 1
            elif a.startswith("-"):
                flags.add({"-a": "--all", "-q": "--quiet", "-l": "--full"}.get(a, a))
            else:
                rest.append(a)
            i += 1
        verb, names = (rest[0], rest[1:]) if rest else ("list-units", [])
        kinds = [t for t in types if t in UNIT_TYPES] or (list(UNIT_TYPES) if not types else [])
        quiet = "--quiet" in flags
        if verb == "is-system-running":
            state = self.system_state()
            return ExecResult(0 if state == "running" else 1, "" if quiet else state + "\n")
        if verb in ("is-active", "is-failed"):
            if not names:
                return ExecResult(1, "", "Too few arguments.\n")
            words, hit = [], False
            for name in names:
                run = self._state(name if "." in name else name + ".service")
                state = run.active if run else "inactive"
                words.append(state)
                hit = hit or (state == ("active" if verb == "is-active" else "failed"))
            return ExecResult(0 if hit else 3, "" if quiet else "".join(w + "\n" for w in words))
        if verb == "is-enabled":
            states_out = [
                self._unit_file_state(self._resolve(n if "." in n else n + ".service")) for n in names
            ]
            ok = all(
                s in ("enabled", "enabled-runtime", "static", "alias", "indirect", "generated")
                for s in states_out
            )
            if any(not s for s in states_out):
                missing = next(n for n, s in zip(names, states_out, strict=True) if not s)
                return ExecResult(
                    1, "", f"Failed to get unit file state for {missing}: No such file or directory\n"
                )
            return ExecResult(0 if ok else 1, "" if quiet else "".join(s + "\n" for s in states_out))
        if verb == "list-units":
            if output == "json":
                return ExecResult(0, self.list_units_json(kinds))
            text = self.list_units_plain(
                kinds, state=states[0] if states else None, all_units="--all" in flags
            )
            return ExecResult(0, text)
        if verb == "list-unit-files":
            return ExecResult(0, self.list_unit_files(kinds))
        if verb == "list-dependencies":
            if names not in ([], ["default.target"]):
                return None
            return ExecResult(0, "".join(line + "\n" for line in self.dependency_listing()))
        if verb == "show":
            if not names:
                return None
            return ExecResult(0, self.show(self._expand(names), props))
        if verb == "status":
            text, code = self.status(self._expand(names))
            if code == 4:
                missing = names[0] if "." in names[0] else names[0] + ".service"
                return ExecResult(4, "", f"Unit {missing} could not be found.\n")
            return ExecResult(code, text)
        return None

    # ------------------------------------------------------------------------------------------
    # FACTS_SCRIPT

    def facts_output(self) -> ExecResult:
        """Exactly what ``FACTS_SCRIPT`` prints on this host (stdout), and its stderr."""
        out: list[str] = []
        err: list[str] = []

        def section(name: str, result: ExecResult) -> None:
            out.append(f"@@slowroll:{name}\n{result.stdout}\n@@exit={result.exit_status}\n")
            err.append(result.stderr)

        def run(*words: str) -> ExecResult:
            result = self._simple(list(words))
            assert result is not None
            return result

        section("boot_id", run("cat", "/proc/sys/kernel/random/boot_id"))
        section("uptime", run("cat", "/proc/uptime"))
        section("kernel", run("uname", "-r"))
        section("boot", run("ls", "-1", "/boot"))
        section("modules", run("ls", "-1", "/lib/modules"))
        section("livepatch", run("ls", "-1", "/sys/kernel/livepatch"))
        section("tainted", run("cat", "/proc/sys/kernel/tainted"))
        if self.reboot_required_pkgs is not None:
            rr = ExecResult(0, "required\n" + "".join(p + "\n" for p in self.reboot_required_pkgs))
        else:
            rr = ExecResult(0, "not-required\n")
        section("reboot_required", rr)
        section("system_state", run("systemctl", "is-system-running"))
        section("units", ExecResult(0, self.list_units_json(UNIT_TYPES)))
        names = [n for n, _, _ in self._listed(UNIT_TYPES)]
        section("unit_props", ExecResult(0, self.show(names, SHOW_PROPERTIES)))
        section("boot_tree", ExecResult(0, "".join(line + "\n" for line in self.dependency_listing())))
        dbus = "".join(f"SystemdService={svc}\n" for _, svc in DBUS_SERVICES)
        section("dbus", ExecResult(0, dbus))
        return ExecResult(0, "".join(out), "".join(err))


# ----------------------------------------------------------------------------------------------
# formatting helpers


def _table(rows: Sequence[tuple[str, ...]]) -> str:
    """systemd's table with --no-legend --plain: columns padded with spaces, the last one not."""
    if not rows:
        return ""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append(" ".join([*cells, row[-1]]).rstrip() + "\n")
    return "".join(lines)


def _stamp(wall: float | None) -> str:
    """``Sat 2026-11-28 04:30:14 UTC`` (systemctl show/status timestamps)."""
    if wall is None:
        return ""
    return time.strftime("%a %Y-%m-%d %H:%M:%S UTC", time.gmtime(wall))


def _iso(wall: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(wall))


def _short(wall: float) -> str:
    return time.strftime("%b %d %H:%M:%S", time.gmtime(wall))


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    days, rem = divmod(seconds, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    if days:
        return f"{days} days ago" if not hours else f"{days} days {hours}h ago"
    if hours:
        return f"{hours}h {minutes}min ago"
    if minutes:
        return f"{minutes}min {secs}s ago"
    return f"{secs}s ago"


def _printf(args: Sequence[str]) -> str:
    """printf(1) for %s, %d, %% and the \\n and \\t escapes; the format is reused for extra arguments."""
    if not args:
        return ""
    fmt = args[0].replace("\\n", "\n").replace("\\t", "\t")
    values = list(args[1:])
    per_round = len(re.findall(r"%[sd]", fmt))
    out = []
    while True:
        group, values = values[:per_round], values[per_round:]
        it = iter(group)
        out.append(re.sub(r"%[sd]|%%", lambda m, it=it: "%" if m.group() == "%%" else next(it, ""), fmt))
        if not values or per_round == 0:
            break
    return "".join(out)


def _strip_redirections(words: list[str]) -> list[str]:
    out: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
            continue
        if re.fullmatch(r"\d?>>?|<", word):
            skip = True
            continue
        if re.fullmatch(r"\d?>>?\S+|\d>&\d|<\S+", word):
            continue
        out.append(word)
    return out


def _next_kernel(release: str) -> str:
    """``6.1.0-26-amd64`` → ``6.1.0-27-amd64``: the next ABI of the same flavour."""
    m = re.match(r"^(\d+\.\d+\.\d+-)(\d+)(.*)$", release)
    if m:
        return f"{m.group(1)}{int(m.group(2)) + 1}{m.group(3)}"
    m = re.match(r"^(.*?)(\d+)([^\d]*)$", release)
    if m:
        return f"{m.group(1)}{int(m.group(2)) + 1}{m.group(3)}"
    return release + ".1"
