"""~/.ssh/config (or --ssh-config) and ProxyJump: parsing, precedence, and one shared jump connection."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from console.engine.facade import Engine
from console.load.native import load_inventory
from console.model.errors import UsageError
from console.model.events import RollState
from console.remote.ssh import Connector, SSHOptions, SSHTarget
from console.remote.sshconfig import Jump, SSHConfig
from console.sim.fleet import SimFleet


def test_first_value_wins_patterns_negation_and_identity_files_accumulate(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    cfg.write_text(
        textwrap.dedent("""\
        # comment
        Host web-* !web-9
          User deploy
          IdentityFile ~/.ssh/web_key
          ProxyJump ops@bastion.example:2222
        Host web-1
          HostName 10.0.0.1
          User ignored-because-first-wins
          Port 2200
        Host *
          IdentityFile %d/.ssh/id_%r
          UserKnownHostsFile ~/.ssh/known_hosts_%h
        Match host foo
          User never
    """)
    )
    config = SSHConfig(cfg)
    r = config.lookup("web-1")
    assert (r.hostname, r.user, r.port) == ("10.0.0.1", "deploy", 2200)
    home = str(Path("~").expanduser())
    assert r.identity_files == (f"{home}/.ssh/web_key", f"{home}/.ssh/id_deploy")
    assert r.known_hosts == (f"{home}/.ssh/known_hosts_10.0.0.1",)
    assert r.proxy_jump == (Jump("bastion.example", "ops", 2222),)
    nine = config.lookup("web-9")
    assert nine.user is None and nine.proxy_jump == ()
    assert config.unsupported and "Match" in config.unsupported[0]


def test_bad_port_and_missing_file_are_clear_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    cfg.write_text("Host x\n  Port abc\n")
    with pytest.raises(UsageError, match=r"config:2: Port: expected a number"):
        SSHConfig(cfg).lookup("x")
    with pytest.raises(UsageError, match="no such ssh config file"):
        SSHConfig(tmp_path / "nope")


def test_inventory_values_win_over_the_config(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    cfg.write_text("Host a b\n  HostName 10.9.9.9\n  Port 2222\n  User cfguser\n")
    conn = Connector(SSHOptions(config=SSHConfig(cfg), known_hosts=str(tmp_path / "kh")))
    plain = conn.route(SSHTarget("a", "a"))
    assert (plain.hostname, plain.port, plain.user) == ("10.9.9.9", 2222, "cfguser")
    pinned = conn.route(SSHTarget("b", "b", 22, "root", frozenset({"port", "user"})))
    assert (pinned.hostname, pinned.port, pinned.user) == ("10.9.9.9", 22, "root")


async def test_roll_through_a_jump_host_reuses_one_bastion_connection(tmp_path: Path) -> None:
    # The bastion: one simulated host that forwards to loopback.
    bastion_inv = tmp_path / "bastion.yaml"
    bastion_inv.write_text("hosts:\n  bastion: 192.0.2.100\n")
    bastion = SimFleet(load_inventory(bastion_inv), tmp_path / "bastion", bastion=True)
    await bastion.start()
    inv_path = tmp_path / "inventory.yaml"
    inv_path.write_text(
        textwrap.dedent("""\
        policy: {batch: 2, bake: 0.2s, reboot_timeout: 5s, connect_timeout: 2s, command_timeout: 3s,
                 poll_interval: 0.05s, check_interval: 0.1s}
        groups: {web: {max_unavailable: 2}}
        hosts:
          w1: {groups: [web]}
          w2: {groups: [web]}
          w3: {groups: [web]}
          w4: {groups: [web]}
        checks:
          - {name: health, command: "curl -fsS http://127.0.0.1/healthz"}
    """)
    )
    fleet = SimFleet(load_inventory(inv_path), tmp_path / "fleet", boot_time=0.3)
    await fleet.start()
    try:
        b = bastion.hosts["bastion"]
        lines = [
            "Host bastion",
            "  HostName 127.0.0.1",
            f"  Port {b.port}",
            "  User root",
            f"  IdentityFile {bastion.client_key_path}",
        ]
        for name, h in fleet.hosts.items():
            lines += [f"Host {name}", "  HostName 127.0.0.1", f"  Port {h.port}", "  ProxyJump bastion"]
        lines += ["Host w*", "  User root", f"  IdentityFile {fleet.client_key_path}"]
        (tmp_path / "ssh_config").write_text("\n".join(lines) + "\n")
        known = tmp_path / "known_hosts"
        known.write_text(bastion.known_hosts_path.read_text() + fleet.known_hosts_path.read_text())
        connector = Connector(
            SSHOptions(
                config=SSHConfig(tmp_path / "ssh_config"),
                known_hosts=str(known),
                known_hosts_explicit=True,
                agent=False,
            )
        )
        engine = Engine(load_inventory(inv_path), connector)
        try:
            result = await engine.run()
        finally:
            await connector.close()
        assert result.state is RollState.COMPLETE
        assert all(len(fleet.reboots_of(n)) == 1 for n in fleet.hosts)
        # Every SSH connection to the fleet went through the bastion, over one bastion connection
        # (reopened only if it dropped).
        assert b.forwarded >= 3 * len(fleet.hosts)
        assert b.accepted == connector.jump_connections_opened == 1
    finally:
        await fleet.stop()
        await bastion.stop()
