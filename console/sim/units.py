"""The unit files of a stock Debian 12 server, as systemd 252 loads them: the data the systemd model runs.

``STOCK_UNITS`` is what a fresh VM (udev, audit, no display manager) loads; ``STOCK_FILES`` the unit files
it has but does not load; ``role_unit`` the unit of a role service (``nginx``, ``postgresql.service``...).
Checked against output captured on a real host, see ``tests/fixtures/systemd-252``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "DBUS_SERVICES",
    "MULTI_USER",
    "STOCK_FILES",
    "STOCK_UNITS",
    "UNIT_TYPES",
    "UnitDef",
    "role_unit",
]

UNIT_TYPES = ("service", "socket", "timer", "path")
_UNIT_NAME = re.compile(r"^[A-Za-z0-9:_.\\@-]{1,200}\.(service|socket|timer|path)$")


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


def _d(name: str, description: str, **kw: object) -> UnitDef:
    return UnitDef(name, description, **kw)  # type: ignore[arg-type]


_SYS = ("sysinit.target",)
MULTI_USER = ("multi-user.target",)

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
       preset="enabled", wanted_by=MULTI_USER),
    _d("dbus.service", "D-Bus System Message Bus", wanted_by=MULTI_USER, kind="notify", requires=("dbus.socket",)),
    _d("e2scrub_reap.service", "Remove Stale Online ext4 Metadata Check Snapshots", file_state="enabled",
       preset="enabled", wanted_by=MULTI_USER, kind="oneshot"),
    _d("getty@tty1.service", "Getty on tty1", file_state="enabled", preset="enabled",
       wanted_by=("getty.target",), deps=("system-getty.slice", "sysinit.target")),
    _d("getty-static.service", "getty on tty2-tty6 if dbus and logind are not available",
       wanted_by=("getty.target",), kind="oneshot", condition="ConditionPathExists=!/usr/bin/dbus-daemon"),
    _d("ssh.service", "OpenBSD Secure Shell server", file_state="enabled", preset="enabled",
       wanted_by=MULTI_USER, kind="notify", aliases=("sshd.service",)),
    _d("systemd-logind.service", "User Login Management", wanted_by=MULTI_USER, kind="dbus",
       aliases=("dbus-org.freedesktop.login1.service",),
       deps=("modprobe@drm.service", "system.slice", "sysinit.target", "user.slice")),
    _d("systemd-networkd.service", "Network Configuration", file_state="enabled", preset="enabled",
       wanted_by=MULTI_USER, kind="notify", aliases=("dbus-org.freedesktop.network1.service",),
       requires=("systemd-networkd.socket",), deps=("network.target", "system.slice", "sysinit.target")),
    _d("systemd-user-sessions.service", "Permit User Sessions", wanted_by=MULTI_USER, kind="oneshot",
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


def role_unit(service: str) -> UnitDef | None:
    """The enabled unit of a role service (``nginx`` or ``nginx.service``), or None for a name systemd refuses."""
    name = service if "." in service else f"{service}.service"
    if not _UNIT_NAME.match(name):
        return None
    return UnitDef(
        name,
        ROLE_DESCRIPTIONS.get(name, f"{name.rsplit('.', 1)[0]} (role service)"),
        file_state="enabled",
        preset="enabled",
        wanted_by=MULTI_USER,
    )
