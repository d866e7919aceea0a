"""The SSH layer against real asyncssh servers (the simulator): host keys, auth, timeouts, quoting."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import asyncssh
import pytest

from console.checks import render_command
from console.inventory import Host
from console.ssh import (
    AUTH,
    HOSTKEY_CHANGED,
    HOSTKEY_UNKNOWN,
    TIMEOUT,
    UNREACHABLE,
    Connector,
    SSHError,
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
        assert info.value.kind == HOSTKEY_UNKNOWN
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
            assert info.value.kind == HOSTKEY_CHANGED
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
        assert info.value.kind == AUTH
        assert "authentication failed" in str(info.value)


async def test_closed_port_is_unreachable_and_silent_port_times_out(tmp_path: Path) -> None:
    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        conn = Connector(SSHOptions(known_hosts=str(tmp_path / "kh"), agent=False))
        with pytest.raises(SSHError) as info:
            await conn.connect(SSHTarget("x", "127.0.0.1", port), timeout=0.5)
        assert info.value.kind == TIMEOUT
    finally:
        silent.close()
        await silent.wait_closed()
    with pytest.raises(SSHError) as info:
        await conn.connect(SSHTarget("x", "127.0.0.1", port), timeout=0.5)
    assert info.value.kind == UNREACHABLE


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
