"""A real sshd behind a jump host (ProxyJump), on real Debian 12 hosts.

Two lab hosts: ``bastion`` and ``inner``. The direct route from this machine to ``inner`` is cut (an
unreachable route: connects fail at once), so the only way in is through the bastion -- as behind a real
bastion. slowroll reads the ProxyJump from an ssh config (``--ssh-config`` or the inventory's
``ssh.config``), rolls ``inner`` through the bastion, and the hosts themselves say what happened: ``inner``
has exactly one new boot and its sshd saw every login come from the bastion's address; the bastion stayed
up and was logged into once (one shared connection for the whole roll, the target's reboot included).
Host keys are checked strictly at both hops.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest
import yaml

from tests.real.helpers import restore, run_roll, shared_lab, slowroll, write_inventory
from tests.reallab.lab import GoldenImage, Lab, LabHost

pytestmark = pytest.mark.realhost


@pytest.fixture(scope="module")
def lab(golden_image: GoldenImage, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with shared_lab(golden_image, tmp_path_factory.mktemp("jump"), ("bastion", "inner")) as lab:
        yield lab


@pytest.fixture(autouse=True)
def _behind_the_bastion(lab: Lab) -> Iterator[None]:
    """``inner`` cannot be reached from this machine except through the bastion (during each test)."""
    inner = lab.hosts["inner"]
    inner.partition("unreachable")
    with pytest.raises(OSError):  # the cut is real: no direct connection
        socket.create_connection((inner.address, inner.port), timeout=2).close()
    yield
    restore(lab)


def ssh_config(path: Path, inner: LabHost, bastion: LabHost) -> Path:
    path.write_text(f"Host {inner.address}\n    ProxyJump root@{bastion.address}\n")
    return path


def logins(host: LabHost) -> list[str]:
    """The source address of every accepted login, from the host's own sshd log (all boots)."""
    out = host.run("journalctl --no-pager -o cat _COMM=sshd", check=True).stdout
    return [line.split(" from ")[1].split()[0] for line in out.splitlines() if "Accepted publickey" in line]


def test_roll_through_a_bastion_reboots_the_inner_host_while_the_bastion_stays_up(
    lab: Lab, tmp_path: Path
) -> None:
    bastion, inner = lab.hosts["bastion"], lab.hosts["inner"]
    boots_inner, boots_bastion = inner.boot_ids(), bastion.boot_ids()
    logins_inner, logins_bastion = len(logins(inner)), len(logins(bastion))
    config = ssh_config(tmp_path / "ssh_config", inner, bastion)
    inv = write_inventory(
        lab, tmp_path / "jump.yaml", [inner], checks=[{"name": "sshd", "systemd": "ssh.service"}]
    )

    r = run_roll(inv, tmp_path / "state", "--ssh-config", config, timeout=60)

    assert r.returncode == 0, r.explain()
    s = r.summary
    assert (s["state"], s["rebooted"], s["failed"]) == ("complete", ["inner"], []), s
    after = inner.boot_ids()
    assert after[:-1] == boots_inner and len(after) == len(boots_inner) + 1  # exactly one real reboot
    assert r.first("inner", "rebooting")["boot_id"] == boots_inner[-1]
    assert r.first("inner", "booting")["boot_id"] == after[-1] == inner.boot_id()  # seen through the bastion
    assert bastion.boot_ids() == boots_bastion  # the bastion stayed up, untouched
    new_inner = logins(inner)[logins_inner:]
    assert len(new_inner) >= 2, new_inner  # before the reboot and after it
    assert set(new_inner) == {bastion.address}, new_inner  # every login came through the bastion
    # one shared connection to the bastion carried the whole roll, the inner host's reboot included
    assert len(logins(bastion)) - logins_bastion == 1, logins(bastion)


def test_host_keys_are_checked_strictly_behind_the_bastion(lab: Lab, tmp_path: Path) -> None:
    """Through the jump, the inner host's key is checked like any other: unknown and changed keys refused."""
    bastion, inner = lab.hosts["bastion"], lab.hosts["inner"]
    boots = inner.boot_ids()
    config = ssh_config(tmp_path / "ssh_config", inner, bastion)
    known = tmp_path / "known_hosts"
    inv = write_inventory(lab, tmp_path / "jump.yaml", [inner], known_hosts=known)
    data = yaml.safe_load(inv.read_text())
    data["ssh"]["config"] = str(config)  # the inventory's own ssh config, this time
    inv.write_text(yaml.safe_dump(data, sort_keys=False))
    forged = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode().strip()

    def audit_error() -> str:
        r = slowroll("audit", inv, "--json", "--all", "--state", tmp_path / "state", timeout=30)
        audits = {e["host"]: e for e in r.events if e["event"] == "audit"}
        assert list(audits) == ["inner"], r.explain()
        return audits["inner"]["error"] or ""

    known.write_text(bastion.known_hosts_line + "\n" + f"{inner.address} {forged}\n")
    error = audit_error()
    assert "HOST KEY CHANGED" in error and "possible impersonation" in error, error
    assert f"via root@{bastion.address}" in error, error

    known.write_text(bastion.known_hosts_line + "\n")  # inner unknown: refused, nothing recorded
    error = audit_error()
    fingerprint = asyncssh.import_public_key(inner.host_public_key).get_fingerprint()
    assert "unknown host key" in error and fingerprint in error, error
    assert known.read_text() == bastion.known_hosts_line + "\n"

    known.write_text(inner.known_hosts_line + "\n")  # the bastion unknown: refused at the first hop
    error = audit_error()
    assert "unknown host key" in error and "jump host" in error and bastion.address in error, error

    known.write_text(bastion.known_hosts_line + "\n" + inner.known_hosts_line + "\n")
    assert audit_error() == ""  # both keys right: through
    assert inner.boot_ids() == boots  # an audit reboots nothing
