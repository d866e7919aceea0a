"""The operating system of one simulated host, in memory: a stock Debian 12 server running systemd 252.

``SimSystem`` holds what the host is -- its kernels (running, installed, next to boot), live patches,
taint, a pending ``/var/run/reboot-required``, the files slowroll reads -- and its systemd
(``systemd.py``). ``execute`` answers a command line through the host's small shell (``shell.py``);
``boot`` reboots it. Faults (``faults.py``) change it the way people do.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from console.remote.facts import kernel_version_key
from console.sim.result import ExecResult
from console.sim.shell import Shell
from console.sim.systemd import Systemd
from console.sim.units import DBUS_SERVICES

__all__ = ["SimSystem"]


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
        self.clock = clock
        self.kernel = kernel
        self.kernels_installed: list[str] = [kernel]
        self.boot_kernel: str | None = None  # what the next boot runs (None: the newest installed)
        self.livepatches: list[str] = []
        self.tainted = 0
        self.reboot_required_pkgs: list[str] | None = None  # None: no /var/run/reboot-required
        self.faults: set[str] = set()  # the drift faults applied to it (faults.apply_drift_fault)
        self.systemd = Systemd(rng=rng, clock=clock, services=services)
        self.shell = Shell(self)
        self._boot(at=clock() - uptime_at_start)

    @property
    def boot_id(self) -> str:
        return self.systemd.boot_id

    @property
    def uptime(self) -> float:
        return max(0.0, self.clock() - self.systemd.boot_wall)

    def execute(self, command: str) -> ExecResult | None:
        """What the host prints for ``command``, or None when it is not an OS command modelled here."""
        return self.shell.execute(command)

    # ------------------------------------------------------------------------------------------
    # boot

    def boot(self) -> None:
        """A (re)boot: new boot id, uptime from 0, /run emptied, the boot tree started again."""
        self._boot(at=self.clock())

    def _boot(self, *, at: float) -> None:
        if self.systemd.boots:  # not the first boot we model: the boot loader picks the kernel
            self.kernel = self.boot_kernel or max(self.kernels_installed, key=kernel_version_key)
        self.livepatches = []
        self.tainted = 0
        self.reboot_required_pkgs = None  # /var/run is a tmpfs
        self.systemd.boot(at=at, kernel=self.kernel)

    # ------------------------------------------------------------------------------------------
    # the file system slowroll reads

    def files(self) -> dict[str, str]:
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

    def dirs(self) -> dict[str, list[str]]:
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
