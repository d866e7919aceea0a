"""Capture real systemd 252 outputs from a lab host into a fixtures folder (``tests/fixtures/systemd-252-extra``).

``python -m tests.reallab capture DEST``. One host, over real SSH (OpenSSH client), before and after one real
reboot. Each file holds what one command printed (stdout and stderr, merged) and then a line ``exit=N``;
``commands.txt`` lists ``name|command``.
"""

from __future__ import annotations

import shlex
import subprocess
import tempfile
from pathlib import Path

from .lab import Lab, LabError, LabHost

LEGACY_AGENT = """\
[Unit]
Description=Legacy agent, started by hand (has an [Install] section, not enabled)

[Service]
ExecStart=/bin/sleep infinity

[Install]
WantedBy=multi-user.target
"""

BROKEN_DEP = """\
[Unit]
Description=Dependency that fails at every boot once /etc/broken-dep.ok is gone

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/test -e /etc/broken-dep.ok
"""

APP_NEEDS_BROKEN = """\
[Unit]
Description=App that Requires= broken-dep.service
Requires=broken-dep.service
After=broken-dep.service

[Service]
ExecStart=/bin/sleep infinity

[Install]
WantedBy=multi-user.target
"""

SHOWN_UNITS = (
    "dbus.service dbus.socket ssh.service legacy-agent.service app-needs-broken.service broken-dep.service "
    "systemd-journald.service fstrim.timer"
)

COMMANDS = (
    ("boot_id", "cat /proc/sys/kernel/random/boot_id"),
    ("is_system_running", "systemctl is-system-running"),
    ("list_dependencies_default", "systemctl list-dependencies --all --plain default.target --no-pager"),
    (
        "list_units_socket_timer_path_json",
        "systemctl list-units --type=socket,timer,path --all --output=json --no-pager",
    ),
    ("list_unit_files_all", "systemctl list-unit-files --no-legend --no-pager"),
    (
        "show_units",
        f"systemctl show {SHOWN_UNITS} -p Id,ActiveState,SubState,Result,UnitFileState,LoadState,TriggeredBy,"
        "WantedBy --no-pager",
    ),
    ("failed_plain", "systemctl --failed --no-legend --plain --no-pager"),
    ("journal_app", "journalctl -b -u app-needs-broken.service --no-pager -o short-iso"),
)


def _ssh(lab: Lab, host: LabHost, command: str) -> tuple[str, int]:
    argv = [
        "ssh",
        "-F",
        "/dev/null",
        "-i",
        str(lab.client_key_path),
        "-o",
        f"UserKnownHostsFile={lab.known_hosts_path}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=10",
        f"root@{host.address}",
        f"{{ {command}\n}} 2>&1",
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode == 255:
        raise LabError(f"ssh to {host.name} failed: {proc.stderr.strip()}")
    return proc.stdout, proc.returncode


def _capture(lab: Lab, host: LabHost, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    _ssh(lab, host, "systemctl is-system-running --wait")
    for name, command in COMMANDS:
        out, rc = _ssh(lab, host, command)
        if out and not out.endswith("\n"):
            out += "\n"
        (dest / f"{name}.txt").write_text(f"{out}exit={rc}\n")


def capture(dest: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="slowroll-capture-") as tmp:
        lab = Lab.claim(Path(tmp))
        try:
            host = lab.add_host(
                "h1",
                extra_units={
                    "legacy-agent.service": LEGACY_AGENT,
                    "broken-dep.service": BROKEN_DEP,
                    "app-needs-broken.service": APP_NEEDS_BROKEN,
                },
                enable=["app-needs-broken.service"],
                start_by_hand=["legacy-agent.service"],
            )
            (host.rootfs / "etc/broken-dep.ok").write_text("")
            lab.start([host])
            _capture(lab, host, dest / "before")
            (host.rootfs / "etc/broken-dep.ok").unlink()
            _ssh(lab, host, "systemctl reboot")
            host.wait_boots(2, timeout=60)
            host.wait_ssh(timeout=60)
            _capture(lab, host, dest / "after")
        finally:
            lab.close()
    (dest / "commands.txt").write_text("".join(f"{n}|{c}\n" for n, c in COMMANDS))
    print(f"captured {len(COMMANDS)} commands before and after one reboot into {dest}")
    print("commands:", ", ".join(shlex.quote(n) for n, _ in COMMANDS))
