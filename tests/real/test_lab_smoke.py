"""Smoke tests of the real-host lab itself: real systemd, real sshd, real reboots, real links."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import asyncssh
import pytest

from tests.reallab.capture import LEGACY_AGENT
from tests.reallab.lab import (
    REGISTRY_DIR,
    Lab,
    LabBusy,
    LabHost,
    cgroup_roots,
    cleanup_leftovers,
    probe_ssh,
)

pytestmark = pytest.mark.realhost

REPO = Path(__file__).resolve().parents[2]

HAND_UNIT = LEGACY_AGENT  # started by hand, has an [Install] section, not enabled

ENABLED_UNIT = """\
[Unit]
Description=enabled at install time

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true

[Install]
WantedBy=multi-user.target
"""


async def connect(lab: Lab, host: LabHost, *, timeout: float = 5) -> asyncssh.SSHClientConnection:
    """A strict connection: the lab's key only, host key checked against the lab's known_hosts."""
    return await asyncssh.connect(
        host.address,
        port=host.port,
        username="root",
        client_keys=[str(lab.client_key_path)],
        known_hosts=str(lab.known_hosts_path),
        agent_path=None,
        connect_timeout=timeout,
    )


async def ssh_run(lab: Lab, host: LabHost, command: str) -> str:
    async with await connect(lab, host) as conn:
        result = await conn.run(command, check=True, timeout=20)
    return str(result.stdout)


async def request_reboot(lab: Lab, host: LabHost) -> None:
    async with await connect(lab, host) as conn:
        # the connection may drop while the host goes down
        with contextlib.suppress(asyncssh.Error, OSError):
            await conn.run("systemctl reboot", timeout=10)


async def test_hosts_are_distinct_machines_reachable_with_strict_host_keys(lab: Lab) -> None:
    a = lab.add_host(
        "alpha",
        extra_units={"legacy-agent.service": HAND_UNIT, "app.service": ENABLED_UNIT},
        enable=["app.service"],
        start_by_hand=["legacy-agent.service"],
    )
    b = lab.add_host("beta")
    lab.start()
    seen = {}
    for host in (a, b):
        out = await ssh_run(lab, host, "hostname; cat /etc/machine-id /proc/sys/kernel/random/boot_id; id -u")
        hostname, machine_id, boot_id, uid = out.split()
        assert (hostname, uid) == (host.name, "0")
        assert machine_id == host.machine_id
        assert boot_id == host.boot_id() == host.boot_ids()[-1]
        assert host.boot_ids() == [boot_id]
        assert host.run("readlink /proc/1/exe").stdout.strip() == "/usr/lib/systemd/systemd"
        seen[host.name] = (machine_id, boot_id, host.address)
    assert seen["alpha"][0] != seen["beta"][0] and seen["alpha"][1] != seen["beta"][1]
    assert seen["alpha"][2] != seen["beta"][2]
    state = a.run(
        "systemctl is-enabled legacy-agent.service app.service; systemctl is-active legacy-agent app"
    )
    assert state.stdout.split() == ["disabled", "enabled", "active", "active"]


async def test_reboot_over_ssh_brings_a_new_boot_id_and_one_more_record(lab: Lab) -> None:
    a, b = lab.add_host("a"), lab.add_host("b")
    lab.start()
    before = (await ssh_run(lab, a, "cat /proc/sys/kernel/random/boot_id")).strip()
    b_before = b.boot_ids()
    assert a.boot_ids() == [before]
    await request_reboot(lab, a)
    records = await a.await_boots(2, within=60)
    await a.await_ssh(within=60)
    after = (await ssh_run(lab, a, "cat /proc/sys/kernel/random/boot_id")).strip()
    assert after != before
    assert records == a.boot_ids() == [before, after]
    assert [e.split()[:2] for e in a.events if e.startswith("exit")] == [["exit", "133"]]
    # the other host did not notice
    assert b.boot_ids() == b_before and b.boot_id() == b_before[0]


async def test_link_down_cuts_ssh_and_link_up_restores_it(lab: Lab) -> None:
    a = lab.add_host("a")
    lab.start()
    assert (await ssh_run(lab, a, "echo up")).strip() == "up"
    a.link_down()
    with pytest.raises((TimeoutError, OSError)):
        await connect(lab, a, timeout=2)
    a.link_up()
    await a.await_ssh(within=20)
    assert (await ssh_run(lab, a, "echo back")).strip() == "back"
    assert len(a.boot_ids()) == 1  # a partition is not a reboot


async def test_partition_survives_a_reboot_until_healed(lab: Lab) -> None:
    a = lab.add_host("a")
    lab.start()
    a.partition("drop")
    assert not probe_ssh(a.address, timeout=1).ok
    a.systemctl("reboot")
    await a.await_boots(2, within=60)
    await a.await_active("ssh.service", within=30)
    assert not probe_ssh(a.address, timeout=1).ok  # up, but still cut off
    a.heal()
    await a.await_ssh(within=20)
    assert (await ssh_run(lab, a, "echo healed")).strip() == "healed"


async def test_stop_for_good_host_does_not_come_back(lab: Lab) -> None:
    a = lab.add_host("a")
    lab.start()
    a.stop_for_good()
    await request_reboot(lab, a)
    await a.await_down(within=30)
    assert a.state == "down"
    assert len(a.boot_ids()) == 1
    assert a.events[-1].startswith("halted stay-down")
    with pytest.raises((TimeoutError, OSError)):
        await connect(lab, a, timeout=2)


async def test_rotated_host_key_is_presented_only_after_the_next_boot(lab: Lab) -> None:
    a = lab.add_host("a")
    lab.start()
    old = a.host_public_key
    new = a.rotate_host_key()
    assert new != old
    await ssh_run(lab, a, "true")  # same boot: still the old key
    await request_reboot(lab, a)
    await a.await_boots(2, within=60)
    await a.await_ssh(within=60)
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await connect(lab, a)
    assert a.host_public_key == new
    lab.write_known_hosts()
    await ssh_run(lab, a, "true")


async def test_break_auth_refuses_the_lab_key_and_restore_auth_accepts_it(lab: Lab) -> None:
    a = lab.add_host("a")
    lab.start()
    for mode in ("remove", "replace"):
        a.break_auth(mode)
        with pytest.raises(asyncssh.PermissionDenied):
            await connect(lab, a)
        a.restore_auth()
        await ssh_run(lab, a, "true")


async def test_delay_sshd_starts_sshd_only_after_the_slow_unit(lab: Lab) -> None:
    a = lab.add_host("a")
    a.delay_sshd(2)
    lab.start()
    shown = a.run(
        "systemctl show -p ExecMainStartTimestampMonotonic lab-slow-boot.service;"
        "systemctl show -p ActiveEnterTimestampMonotonic ssh.service"
    ).stdout.split()
    values = dict(line.split("=", 1) for line in shown)
    slow_started = int(values["ExecMainStartTimestampMonotonic"])
    ssh_ready = int(values["ActiveEnterTimestampMonotonic"])
    assert slow_started > 0
    assert ssh_ready - slow_started >= 2_000_000


async def test_inventory_loads_as_a_slowroll_inventory(lab: Lab, tmp_path: Path) -> None:
    from console.load.native import load_inventory

    hosts = [lab.add_host("web1"), lab.add_host("web2")]
    path = lab.write_inventory(tmp_path / "lab.yaml", hosts, {"batch": 1}, groups={"web": ["web1", "web2"]})
    inv = load_inventory(path)
    assert [(h.name, h.address, h.port, h.user) for h in inv.hosts] == [
        (h.name, h.address, 22, "root") for h in hosts
    ]
    assert inv.ssh.known_hosts == str(lab.known_hosts_path)
    assert inv.ssh.identity_files == (str(lab.client_key_path),)
    assert inv.ssh.agent is False
    known = lab.known_hosts_path.read_text().splitlines()
    assert known == [f"{h.address} {h.host_public_key}" for h in hosts]


def test_a_second_lab_on_the_same_range_or_name_is_refused(lab: Lab, tmp_path: Path) -> None:
    with pytest.raises(LabBusy, match="already routed"):
        Lab(tmp_path / "x", prefix=str(lab.prefix), bridge_net=str(lab.bridge_net), name="other").setup()
    with pytest.raises(LabBusy, match="in use by process"):
        Lab(tmp_path / "y", prefix="10.214.0.0/20", bridge_net="10.214.7.0/24", name=lab.name).setup()


def _running(pid: int | None) -> bool:
    """Alive and not a zombie (a killed container's PID 1 is reaped by this machine's init, later)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _leftovers(lab_name: str, hosts: list[tuple[str, str, Path]], bridge: str, prefix: str) -> list[str]:
    found = []
    for machine, veth, rootfs in hosts:
        if Path("/sys/class/net", veth).exists():
            found.append(f"veth {veth}")
        if Path("/run/systemd/nspawn/propagate", machine).exists():
            found.append(f"propagate/{machine}")
        if rootfs.exists():
            found.append(f"rootfs {rootfs}")
    if Path("/sys/class/net", bridge).exists():
        found.append(f"bridge {bridge}")
    routes = subprocess.run(["ip", "-4", "route", "show", "root", prefix], capture_output=True, text=True)
    if routes.stdout.strip():
        found.append(f"routes {routes.stdout.strip()}")
    for root in cgroup_roots():
        if (root / "slowroll-lab" / lab_name).exists():
            found.append(f"cgroup {root / 'slowroll-lab' / lab_name}")
    if (REGISTRY_DIR / f"{lab_name}.json").exists():
        found.append("registry record")
    return found


def test_close_removes_everything_and_is_idempotent(lab_factory: Callable[[], Lab]) -> None:
    lab = lab_factory()
    a, b = lab.add_host("a"), lab.add_host("b")
    lab.start()
    a.systemctl("reboot")  # so nspawn has made (and left) its /run files once
    a.wait_boots(2, timeout=60)
    a.wait_ssh(timeout=60)
    a.partition("unreachable")
    hosts = [(h.machine, h.veth, h.rootfs) for h in (a, b)]
    pids = {a.leader_pid(), b.leader_pid()}
    assert None not in pids
    assert _leftovers(lab.name, hosts, lab.bridge, str(lab.prefix)) != []
    lab.close()
    assert _leftovers(lab.name, hosts, lab.bridge, str(lab.prefix)) == []
    assert not [pid for pid in pids if _running(pid)]
    lab.close()  # again: nothing to do, no error


def test_cleanup_removes_what_a_killed_session_left(golden_image, tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "from tests.reallab.lab import Lab, GoldenImage\n"
        f"lab = Lab.claim({str(tmp_path)!r}, image=GoldenImage({str(golden_image.cache_dir)!r}))\n"
        "h = lab.add_host('orphan')\n"
        "lab.start()\n"
        "print(lab.name, h.machine, h.veth, h.rootfs, lab.bridge, lab.prefix, h.leader_pid(), flush=True)\n"
        "time.sleep(120)\n"  # keeps the session alive until the test kills it
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO, env=env
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().split()
        assert line, "the child lab did not start"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    name, machine, veth, rootfs, bridge, prefix, leader = line
    hosts = [(machine, veth, Path(rootfs))]
    assert json.loads((REGISTRY_DIR / f"{name}.json").read_text())["pid"] == child.pid
    assert _running(int(leader))  # the host outlived its session
    assert name in cleanup_leftovers()
    assert _leftovers(name, hosts, bridge, prefix) == []
    assert not _running(int(leader))
