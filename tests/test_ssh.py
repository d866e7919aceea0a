"""The SSH layer against real asyncssh servers (the simulator): host keys, auth, timeouts, quoting."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from console.drift.audit import audit_fleet
from console.model.host import Host
from console.model.specs import render_command
from console.remote.ssh import (
    Connector,
    SSHError,
    SSHErrorKind,
    SSHOptions,
    SSHTarget,
)
from tests.simlab import fleet_yaml, sim_roll


def target_of(roll, name: str = "w1") -> SSHTarget:
    h = roll.inventory.host(name)
    return SSHTarget(h.name, h.address, h.port, h.user)


def connector(roll, known_hosts: Path, **kw) -> Connector:
    return Connector(
        SSHOptions(
            known_hosts=str(known_hosts), identity_files=roll.inventory.ssh.identity_files, agent=False, **kw
        )
    )


async def test_unknown_host_is_refused_with_instructions(tmp_path: Path) -> None:
    async with sim_roll(tmp_path, fleet_yaml({"web": ["w1"]})) as roll:
        empty = tmp_path / "empty_known_hosts"
        with pytest.raises(SSHError) as info:
            await connector(roll, empty).connect(target_of(roll), timeout=5)
        assert info.value.kind == SSHErrorKind.HOSTKEY_UNKNOWN
        text = str(info.value)
        assert "ssh-keyscan" in text and "--accept-new" in text and "SHA256:" in text
        assert not empty.exists()  # strict mode writes nothing


async def test_accept_new_records_the_key_then_strict_accepts(tmp_path: Path) -> None:
    async with sim_roll(tmp_path, fleet_yaml({"web": ["w1"]})) as roll:
        kh = tmp_path / "kh"
        session = await connector(roll, kh, accept_new=True).connect(target_of(roll), timeout=5)
        result = await session.run("cat /proc/sys/kernel/random/boot_id", timeout=5)
        session.close()
        assert result.ok and result.stdout.strip() == roll.fleet.hosts["w1"].boot_id
        port = roll.fleet.hosts["w1"].port
        assert kh.read_text().startswith(f"[127.0.0.1]:{port} ssh-ed25519 ")
        assert (kh.stat().st_mode & 0o777) == 0o600
        session = await connector(roll, kh).connect(target_of(roll), timeout=5)
        session.close()


async def test_changed_key_is_refused_even_with_accept_new(tmp_path: Path) -> None:
    async with sim_roll(tmp_path, fleet_yaml({"web": ["w1"]})) as roll:
        other = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode().strip()
        kh = tmp_path / "kh"
        kh.write_text(f"[127.0.0.1]:{roll.fleet.hosts['w1'].port} {other}\n")
        for accept_new in (False, True):
            with pytest.raises(SSHError) as info:
                await connector(roll, kh, accept_new=accept_new).connect(target_of(roll), timeout=5)
            assert info.value.kind == SSHErrorKind.HOSTKEY_CHANGED
            assert "possible impersonation" in str(info.value)
        assert kh.read_text().count("\n") == 1  # nothing was added


async def test_wrong_key_is_an_authentication_failure(tmp_path: Path) -> None:
    async with sim_roll(tmp_path, fleet_yaml({"web": ["w1"]})) as roll:
        wrong = tmp_path / "wrong_key"
        asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(wrong))
        conn = Connector(
            SSHOptions(known_hosts=roll.inventory.ssh.known_hosts, identity_files=(str(wrong),), agent=False)
        )
        with pytest.raises(SSHError) as info:
            await conn.connect(target_of(roll), timeout=5)
        assert info.value.kind == SSHErrorKind.AUTH
        assert "authentication failed" in str(info.value)


async def test_closed_port_is_unreachable_and_silent_port_times_out(tmp_path: Path) -> None:
    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        conn = Connector(SSHOptions(known_hosts=str(tmp_path / "kh"), agent=False))
        with pytest.raises(SSHError) as info:
            await conn.connect(SSHTarget("x", "127.0.0.1", port), timeout=0.5)
        assert info.value.kind == SSHErrorKind.TIMEOUT
    finally:
        silent.close()
        await silent.wait_closed()
    with pytest.raises(SSHError) as info:
        await conn.connect(SSHTarget("x", "127.0.0.1", port), timeout=0.5)
    assert info.value.kind == SSHErrorKind.UNREACHABLE


@pytest.fixture
def ssh_agent(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real ssh-agent (OpenSSH), empty, on a short socket path; SSH_AUTH_SOCK points to it. Killed after."""
    folder = tempfile.mkdtemp(prefix="sr-agent-", dir="/tmp")  # AF_UNIX paths are short; tmp_path is long
    sock = os.path.join(folder, "agent.sock")
    proc = subprocess.Popen(
        ["ssh-agent", "-D", "-a", sock], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(sock):
            assert proc.poll() is None and time.monotonic() < deadline, "ssh-agent did not start"
            time.sleep(0.01)
        monkeypatch.setenv("SSH_AUTH_SOCK", sock)
        yield sock
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def ssh_add(sock: str, *keys: Path) -> None:
    subprocess.run(
        ["ssh-add", "-q", *map(str, keys)],
        env={**os.environ, "SSH_AUTH_SOCK": sock},
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )


def encrypted_copy(roll, folder: Path, *, pub: bool = True) -> Path:
    """The simulator's client key, passphrase-protected (``ssh-keygen -p``), with or without FILE.pub."""
    original = Path(roll.inventory.ssh.identity_files[0])
    copy = folder / "id_encrypted"
    shutil.copy(original, copy)
    os.chmod(copy, 0o600)
    subprocess.run(["ssh-keygen", "-q", "-p", "-P", "", "-N", "pass", "-f", str(copy)], check=True)
    with pytest.raises(asyncssh.KeyImportError, match="Passphrase"):
        asyncssh.read_private_key(str(copy))
    if pub:
        asyncssh.read_private_key(str(original)).write_public_key(str(copy) + ".pub")
    return copy


def decoys(folder: Path, n: int) -> list[Path]:
    paths = []
    for i in range(n):
        path = folder / f"decoy{i}"
        asyncssh.generate_private_key("ssh-ed25519", comment=f"decoy{i}").write_private_key(str(path))
        os.chmod(path, 0o600)
        paths.append(path)
    return paths


def agent_connector(roll, identity: Path, **kw) -> Connector:
    return Connector(
        SSHOptions(known_hosts=roll.inventory.ssh.known_hosts, identity_files=(str(identity),), **kw)
    )


@pytest.mark.parametrize("pub", [True, False], ids=["with-FILE.pub", "public-key-from-the-key-file"])
async def test_encrypted_identity_file_is_used_through_ssh_agent(
    tmp_path: Path, ssh_agent: str, pub: bool
) -> None:
    async with sim_roll(tmp_path, fleet_yaml({"web": ["w1", "w2", "w3"]})) as roll:
        enc = encrypted_copy(roll, tmp_path, pub=pub)
        # the agent holds other keys first: the identity file's key must be offered before them (sshd's
        # MaxAuthTries is 6 by default), and they are still offered after it
        ssh_add(ssh_agent, *decoys(tmp_path, 7), Path(roll.inventory.ssh.identity_files[0]))
        conn = agent_connector(roll, enc)
        offer = await conn.offer(conn.route(target_of(roll)), 5)
        await offer.close()
        wanted = asyncssh.read_private_key(roll.inventory.ssh.identity_files[0]).public_data
        assert [k.public_data == wanted for k in offer.keys] == [True] + [False] * 7
        assert not offer.locked

        audit = await audit_fleet(roll.inventory, conn)
        for name, host in roll.fleet.hosts.items():
            assert audit.hosts[name].error is None
            assert audit.hosts[name].facts.boot_id == host.boot_id


async def test_encrypted_identity_file_without_an_agent_says_to_add_it_to_the_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    async with sim_roll(tmp_path, fleet_yaml({"web": ["w1"]})) as roll:
        enc = encrypted_copy(roll, tmp_path)
        dead = str(tmp_path / "no-agent.sock")
        for agent, sock, why in (
            (True, None, "no ssh-agent is available (SSH_AUTH_SOCK is not set)"),
            (False, None, "ssh-agent is turned off (ssh.agent: false)"),
            (True, dead, f"the ssh-agent at {dead} cannot be reached"),
        ):
            if sock:
                monkeypatch.setenv("SSH_AUTH_SOCK", sock)
            with pytest.raises(SSHError) as info:
                await agent_connector(roll, enc, agent=agent).connect(target_of(roll), timeout=5)
            assert info.value.kind == SSHErrorKind.AUTH
            text = str(info.value)
            assert f"{enc} is encrypted (passphrase-protected)" in text and why in text
            assert f"ssh-add {enc}" in text and "never asks for a passphrase" in text
        assert roll.fleet.hosts["w1"].commands == 0


async def test_encrypted_identity_file_is_skipped_when_another_key_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    async with sim_roll(tmp_path, fleet_yaml({"web": ["w1"]})) as roll:
        enc = encrypted_copy(roll, tmp_path)
        plain = roll.inventory.ssh.identity_files[0]
        conn = Connector(
            SSHOptions(known_hosts=roll.inventory.ssh.known_hosts, identity_files=(str(enc), plain))
        )
        session = await conn.connect(target_of(roll), timeout=5)
        result = await session.run("cat /proc/sys/kernel/random/boot_id", timeout=5)
        session.close()
        assert result.stdout.strip() == roll.fleet.hosts["w1"].boot_id


async def test_agent_without_the_encrypted_key_is_a_clear_error(tmp_path: Path, ssh_agent: str) -> None:
    async with sim_roll(tmp_path, fleet_yaml({"web": ["w1"]})) as roll:
        enc = encrypted_copy(roll, tmp_path)
        with pytest.raises(SSHError) as info:  # an empty agent: nothing to offer, the host is not asked
            await agent_connector(roll, enc).connect(target_of(roll), timeout=5)
        assert info.value.kind == SSHErrorKind.AUTH
        assert f"no key to offer: {enc} is encrypted" in str(info.value)
        assert f"the ssh-agent at {ssh_agent} does not hold its key" in str(info.value)
        assert f"ssh-add {enc}" in str(info.value)

        ssh_add(ssh_agent, *decoys(tmp_path, 2))  # other keys: offered, refused, and the note says why
        with pytest.raises(SSHError) as info:
            await agent_connector(roll, enc).connect(target_of(roll), timeout=5)
        assert info.value.kind == SSHErrorKind.AUTH
        assert "authentication failed" in str(info.value)
        assert f"{enc} is encrypted (passphrase-protected) and the ssh-agent" in str(info.value)

        ssh_add(ssh_agent, Path(roll.inventory.ssh.identity_files[0]))  # added during the roll: used
        session = await agent_connector(roll, enc).connect(target_of(roll), timeout=5)
        session.close()


HOSTILE = [
    "; touch PWNED",
    "$(touch PWNED)",
    "`touch PWNED`",
    "' ; touch PWNED ; '",
    '" ; touch PWNED ; "',
    "a\ntouch PWNED",
    "\\'; touch PWNED #",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_placeholders_are_shell_quoted_on_a_real_shell(tmp_path: Path, value: str) -> None:
    host = Host(name=value, address="127.0.0.1", vars={"x": value})
    command = render_command("printf '%s|%s\\n' {name} {vars.x}", host)
    out = subprocess.run(["sh", "-c", command], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert not (tmp_path / "PWNED").exists()
    assert out.stdout == f"{value}|{value}\n"
