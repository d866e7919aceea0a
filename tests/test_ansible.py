"""Ansible YAML inventories: nesting, var precedence, several groups, slowroll settings, errors, samples."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from console.load.ansible import INI_MESSAGE, is_ansible_inventory, load_ansible_inventory, unread_vars_dirs
from console.load.native import load_inventory
from console.model.errors import InventoryError
from console.model.events import HostState, RollState
from console.model.policy import Amount

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_inventories"


def write(tmp_path: Path, text: str, name: str = "hosts.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def load(tmp_path: Path, text: str, policy: str | None = None):
    inv = write(tmp_path, text)
    pol = write(tmp_path, policy, "policy.yaml") if policy is not None else None
    return load_ansible_inventory(str(inv), policy_path=str(pol) if pol else None)


def error(tmp_path: Path, text: str, policy: str | None = None) -> InventoryError:
    with pytest.raises(InventoryError) as info:
        load(tmp_path, text, policy)
    assert info.value.exit_code == 2
    return info.value


def line_of(path: Path, needle: str) -> int:
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in {path}")


NESTED = """\
all:
  vars:
    tier: base
    colour: grey
  children:
    prod:
      vars:
        tier: prod
        colour: blue
      children:
        europe:
          vars:
            colour: green
          children:
            paris:
              vars:
                colour: red
              hosts:
                par-1:
                par-2:
                  colour: white
        america:
          hosts:
            nyc-1:
              ansible_host: 198.51.100.7
"""


def test_nested_children_make_hosts_members_of_every_ancestor(tmp_path: Path) -> None:
    inv = load(tmp_path, NESTED)
    assert [h.name for h in inv.hosts] == ["par-1", "par-2", "nyc-1"]
    assert inv.groups["prod"].members == ("par-1", "par-2", "nyc-1")
    assert inv.groups["europe"].members == ("par-1", "par-2")
    assert inv.groups["paris"].members == ("par-1", "par-2")
    assert inv.groups["america"].members == ("nyc-1",)
    assert set(inv.host("par-1").groups) == {"prod", "europe", "paris"}
    assert "all" not in inv.groups and "ungrouped" not in inv.groups
    assert inv.host("nyc-1").address == "198.51.100.7"
    assert inv.host("par-1").address == "par-1"


def test_vars_nearer_groups_override_farther_ones_and_host_vars_win(tmp_path: Path) -> None:
    inv = load(tmp_path, NESTED)
    assert inv.host("par-1").vars["colour"] == "red"  # paris (depth 3) over europe, prod, all
    assert inv.host("par-1").vars["tier"] == "prod"  # inherited from two levels up
    assert inv.host("par-2").vars["colour"] == "white"  # the host's own var wins
    assert inv.host("nyc-1").vars["colour"] == "blue"  # america sets none: prod's


def test_same_depth_groups_apply_by_name_unless_ansible_group_priority_says_otherwise(tmp_path: Path) -> None:
    text = """\
    all:
      children:
        alpha:
          vars: {role: alpha}
          hosts: {h1: }
        beta:
          vars: {role: beta}
          hosts: {h1: }
    """
    assert load(tmp_path, text).host("h1").vars["role"] == "beta"  # alpha, then beta (name order)
    text = text.replace("vars: {role: alpha}", "vars: {role: alpha, ansible_group_priority: 5}")
    assert load(tmp_path, text).host("h1").vars["role"] == "alpha"  # higher priority applies last


def test_depth_is_the_longest_path_so_a_deep_group_beats_a_shallow_one(tmp_path: Path) -> None:
    text = """\
    all:
      children:
        zz_shallow:
          vars: {where: shallow}
          hosts: {h1: }
        a:
          children:
            b:
              children:
                aa_deep:
                  vars: {where: deep}
                  hosts: {h1: }
    """
    # aa_deep sorts first by name, but it is deeper: it applies after zz_shallow.
    assert load(tmp_path, text).host("h1").vars["where"] == "deep"


def test_a_host_in_several_groups_belongs_to_each_and_its_listings_merge(tmp_path: Path) -> None:
    inv = load(
        tmp_path,
        """\
        all:
          children:
            web:
              hosts:
                h1: {ansible_host: 192.0.2.1, rack: a1}
                h2:
            rack_a:
              hosts:
                h1: {ansible_port: 2200}
            monitored:
              children:
                web:
        """,
    )
    h1 = inv.host("h1")
    assert set(h1.groups) == {"web", "rack_a", "monitored"}
    assert (h1.address, h1.port, h1.vars["rack"]) == ("192.0.2.1", 2200, "a1")
    assert inv.groups["monitored"].members == ("h1", "h2")
    assert inv.groups["rack_a"].members == ("h1",)
    assert [h.name for h in inv.hosts] == ["h1", "h2"]


def test_top_level_groups_without_all_ranges_ports_and_ungrouped_hosts(tmp_path: Path) -> None:
    inv = load(
        tmp_path,
        """\
        web:
          hosts:
            web-[01:03].example.org:
            edge[a:b]:2222:
            "[2001:db8::5]:2201":
            "odd-[1:5:2]":
        all:
          hosts:
            lonely:
              ansible_user: admin
        """,
    )
    names = [h.name for h in inv.hosts]
    assert names == [
        "lonely",
        "web-01.example.org",
        "web-02.example.org",
        "web-03.example.org",
        "edgea",
        "edgeb",
        "2001:db8::5",
        "odd-1",
        "odd-3",
        "odd-5",
    ]
    assert inv.host("edgeb").port == 2222 and inv.host("2001:db8::5").port == 2201
    assert inv.host("lonely").groups == () and inv.host("lonely").user == "admin"
    assert inv.groups["web"].members == tuple(names[1:])


def test_connection_vars_are_consumed_and_secret_or_vaulted_vars_are_not_carried(tmp_path: Path) -> None:
    inv = load(
        tmp_path,
        """\
        all:
          vars:
            ansible_python_interpreter: /usr/bin/python3
            api_token: abc123
            db_password_hint: ask
            region: eu
          hosts:
            h1:
              ansible_host: 192.0.2.9
              ansible_ssh_private_key_file: keys/roll
              vaulted: !vault |
                $ANSIBLE_VAULT;1.1;AES256
                62313365396662343061393464336163383764373764613633653634306231386433626436623361
              rack: r9
        """,
    )
    h1 = inv.host("h1")
    assert h1.vars == {"region": "eu", "rack": "r9"}
    assert inv.ssh.identity_files == (str(tmp_path / "keys" / "roll"),)


def test_slowroll_settings_in_group_vars(tmp_path: Path) -> None:
    inv = load(
        tmp_path,
        """\
        all:
          vars:
            slowroll_name: from-vars
            slowroll_policy:
              batch: 2
              canaries: [w1]
            slowroll_checks:
              - name: up
                groups: [web]
                command: "true"
          children:
            web:
              vars:
                slowroll_max_unavailable: 2
                slowroll_description: front ends
              hosts: {w1: , w2: , w3: }
        """,
    )
    assert inv.name == "from-vars"
    assert inv.policy.batch == (Amount(count=2),) and inv.policy.canaries == ("w1",)
    assert inv.groups["web"].max_unavailable == Amount(count=2)
    assert inv.groups["web"].description == "front ends"
    assert [c.name for c in inv.checks] == ["up"]
    assert "slowroll_policy" not in inv.host("w1").vars


def test_exclude_leaves_hosts_and_groups_out(tmp_path: Path) -> None:
    inv = load(
        tmp_path,
        """\
        all:
          hosts:
            localhost: {ansible_connection: local}
          children:
            web: {hosts: {w1: , w2: }}
            lab: {hosts: {l1: , w2: }}
        """,
        "exclude: [localhost, lab]\n",
    )
    assert [h.name for h in inv.hosts] == ["w1"]
    assert inv.groups["web"].members == ("w1",)


def test_policy_file_changes_the_content_hash(tmp_path: Path) -> None:
    text = "all:\n  hosts: {h1: }\n"
    one = load(tmp_path, text, "policy: {batch: 1}\n")
    two = load(tmp_path, text, "policy: {batch: 2}\n")
    assert one.content_hash != two.content_hash
    assert one.text == two.text == text


# ---------------------------------------------------------------------------------------------------
# Errors: file, line, key, exit 2


@pytest.mark.parametrize(
    ("text", "needle", "key", "message"),
    [
        ("all:\n  children:\n    web: [w1, w2]\n", "web:", "all.children.web", "a group must be a mapping"),
        ("all:\n  children:\n    - web\n    - db\n", "children:", "all.children", "mapping of child group"),
        (
            "all:\n  hosts:\n    h1:\n      ansible_port: ssh\n",
            "ansible_port",
            "all.hosts.h1.ansible_port",
            "expected a TCP port number",
        ),
        (
            "all:\n  children:\n    web:\n      vars:\n        ansible_port: 70000\n      hosts: {h1: }\n",
            "ansible_port",
            "all.children.web.vars.ansible_port",
            "1–65535",
        ),
        (
            "all:\n  hosts:\n    h1:\n      ansible_password: hunter2\n",
            "ansible_password",
            "all.hosts.h1.ansible_password",
            "passwords are not accepted; use keys or ssh-agent",
        ),
        (
            "all:\n  hosts:\n    h1:\n      ansible_ssh_pass: hunter2\n",
            "ansible_ssh_pass",
            "all.hosts.h1.ansible_ssh_pass",
            "passwords are not accepted; use keys or ssh-agent",
        ),
        (
            "all:\n  vars:\n    ansible_become_password: x\n  hosts: {h1: }\n",
            "ansible_become_password",
            "all.vars.ansible_become_password",
            "passwords are not accepted; use keys or ssh-agent",
        ),
        (
            "all:\n  children:\n    web:\n      host:\n        h1:\n",
            "host:",
            "all.children.web.host",
            "did you mean 'hosts'",
        ),
        ("all:\n  hosts:\n    h1: 192.0.2.1\n", "h1:", "all.hosts.h1", "a host's value is its vars"),
        (
            "all:\n  hosts:\n    h1:\n      ansible_host: '{{ inventory_hostname }}.example'\n",
            "ansible_host",
            "all.hosts.h1.ansible_host",
            "Jinja templates are not evaluated",
        ),
        (
            "all:\n  hosts:\n    db:\n      ansible_connection: docker\n",
            "ansible_connection",
            "all.hosts.db.ansible_connection",
            "not SSH",
        ),
        (
            "all:\n  children:\n    a:\n      children:\n        b:\n          children:\n            a:\n",
            "    a:",
            "all.children.a",
            "groups contain each other: a → b → a",
        ),
        (
            "all:\n  children:\n    web:\n      vars:\n        slowroll_policy: {batch: 2}\n      hosts: {h1: }\n",
            "slowroll_policy",
            "all.children.web.vars.slowroll_policy",
            "set it in all.vars",
        ),
        (
            "all:\n  vars:\n    slowroll_max_unavailable: 2\n  hosts: {h1: }\n",
            "slowroll_max",
            "all.vars.slowroll_max_unavailable",
            "policy.max_unavailable",
        ),
        (
            "all:\n  vars:\n    slowroll_polcy: {}\n  hosts: {h1: }\n",
            "slowroll_polcy",
            "all.vars.slowroll_polcy",
            "did you mean 'slowroll_policy'",
        ),
        ("all:\n  hosts:\n    web-[05:01]:\n", "web-", "all.hosts.web-[05:01]", "ends before it starts"),
        ("all:\n  children:\n    web:\n", "all:", "all", "no hosts"),
        (
            "all:\n  hosts:\n    h1:\n      ansible_host: !vault |\n        $ANSIBLE_VAULT;1.1;AES256\n        3131\n",
            "ansible_host",
            "all.hosts.h1.ansible_host",
            "Vault values are not decrypted",
        ),
    ],
)
def test_ansible_errors_name_the_file_line_and_key(
    tmp_path: Path, text: str, needle: str, key: str, message: str
) -> None:
    err = error(tmp_path, text)
    path = tmp_path / "hosts.yml"
    assert err.path == str(path)
    assert err.line == line_of(path, needle), str(err)
    assert err.key == key, str(err)
    assert message in err.message, str(err)
    assert str(err).startswith(f"{path}:{err.line}: {key}: ")


def test_native_errors_in_slowroll_vars_point_at_the_ansible_key(tmp_path: Path) -> None:
    text = """\
    all:
      vars:
        slowroll_policy:
          batch: lots
      children:
        web:
          vars:
            slowroll_max_unavailable: 0
          hosts: {h1: }
    """
    err = error(tmp_path, text)
    assert (err.key, err.line) == ("all.children.web.vars.slowroll_max_unavailable", 8), str(err)
    assert "would block every host" in err.message
    err = error(tmp_path, text.replace("slowroll_max_unavailable: 0", "slowroll_max_unavailable: 1"))
    assert (err.key, err.line) == ("all.vars.slowroll_policy.batch", 4), str(err)


def test_errors_in_the_policy_file_name_the_policy_file(tmp_path: Path) -> None:
    hosts = "all:\n  children:\n    web:\n      hosts: {w1: , w2: }\n"
    policy_path = tmp_path / "policy.yaml"
    cases = [
        ("policy:\n  bake: 1m\n  batch: [1, lots]\n", "policy.batch[1]", 3, "batch size"),
        ("groups:\n  wbe: {max_unavailable: 1}\n", "groups.wbe", 2, "did you mean 'web'"),
        ("groups:\n  web: {hosts: [w1]}\n", "groups.web.hosts", 2, "members come from the Ansible"),
        (
            "checks:\n  - name: up\n    groups: [webb]\n    command: 'true'\n",
            "checks[0].groups[0]",
            3,
            "unknown group 'webb'",
        ),
        ("hosts:\n  w3: {}\n", "hosts", 1, "come from the Ansible inventory"),
        ("polcy: {}\n", "polcy", 1, "did you mean 'policy'"),
        ("exclude: [w9]\n", "exclude[0]", 1, "no host or group 'w9'"),
        ("ssh:\n  port: 0\n", "ssh.port", 2, "TCP port"),
    ]
    for policy, key, line, message in cases:
        err = error(tmp_path, hosts, policy)
        assert (err.path, err.key, err.line) == (str(policy_path), key, line), (policy, str(err))
        assert message in err.message, (policy, str(err))


def test_a_section_set_in_both_places_is_an_error(tmp_path: Path) -> None:
    err = error(
        tmp_path,
        "all:\n  vars:\n    slowroll_policy: {batch: 2}\n  hosts: {h1: }\n",
        "policy:\n  batch: 1\n",
    )
    assert err.path == str(tmp_path / "hosts.yml") and err.line == 3
    assert f"set both here and in {tmp_path / 'policy.yaml'}:1" in err.message


def test_ini_inventories_are_refused_with_the_conversion_command(tmp_path: Path) -> None:
    ini = tmp_path / "hosts"
    ini.write_text("[web]\nweb1 ansible_host=192.0.2.1\n\n[db:children]\nweb\n")
    assert is_ansible_inventory(ini)
    with pytest.raises(InventoryError) as info:
        load_ansible_inventory(str(ini))
    assert INI_MESSAGE in str(info.value) and "ansible-inventory -i hosts.ini --list -y" in str(info.value)
    assert info.value.exit_code == 2


def test_plugin_configs_are_refused_with_the_export_command(tmp_path: Path) -> None:
    err = error(tmp_path, "plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n")
    assert err.line == 1 and "--list -y" in err.message


def test_is_ansible_inventory_sniffs_the_format(tmp_path: Path) -> None:
    assert is_ansible_inventory(SAMPLES / "ansible-hosts.yml")
    assert not is_ansible_inventory(SAMPLES / "demo.yaml")
    assert not is_ansible_inventory(SAMPLES / "ansible-policy.yaml")
    assert is_ansible_inventory(write(tmp_path, "web:\n  hosts:\n    w1:\n", "a.yml"))
    assert is_ansible_inventory(write(tmp_path, "all:\n  children:\n    web:\n", "b.yml"))
    assert not is_ansible_inventory(write(tmp_path, "hosts:\n  w1: 192.0.2.1\n", "c.yml"))
    assert not is_ansible_inventory(write(tmp_path, "all: [1, 2]\n", "d.yml"))
    assert not is_ansible_inventory(write(tmp_path, "key: [unclosed\n", "e.yml"))
    assert not is_ansible_inventory(tmp_path / "missing.yml")


def test_unread_vars_dirs_are_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "all:\n  hosts: {h1: }\n")
    assert unread_vars_dirs(path) == []
    (tmp_path / "group_vars").mkdir()
    assert unread_vars_dirs(path) == [str(tmp_path / "group_vars")]


# ---------------------------------------------------------------------------------------------------
# The samples


def test_the_sample_ansible_inventory_with_its_policy_file() -> None:
    inv = load_ansible_inventory(
        str(SAMPLES / "ansible-hosts.yml"), policy_path=str(SAMPLES / "ansible-policy.yaml")
    )
    assert inv.name == "shop-prod"
    assert len(inv.hosts) == 14
    assert inv.host("mon-01").groups == ()
    assert inv.groups["prod"].max_unavailable == Amount(percent=25.0)
    assert inv.groups["web"].max_unavailable == Amount(count=2)
    assert inv.groups["db_replicas"].max_unavailable is None  # the policy's group_max_unavailable
    assert inv.groups["rack_b4"].members == ("web-02", "web-05", "app-02.shop.example", "db-02")
    assert set(inv.host("db-02").groups) == {"prod", "db", "db_replicas", "rack_b4"}
    db2 = inv.host("db-02")
    assert (db2.port, db2.user, db2.vars["pg_role"]) == (2222, "postgres-admin", "replica")
    assert inv.host("db-01").vars["pg_role"] == "primary"
    assert inv.host("web-01").vars["ntp_server"] == "ntp-edge.shop.example"  # web overrides prod
    assert inv.host("app-03.shop.example").vars["ntp_server"] == "ntp.shop.example"
    assert inv.host("web-03").user == "deploy" and inv.host("web-03").port == 22
    assert inv.policy.canaries == ("web-01",)
    assert inv.policy.reboot_command == "sudo -n systemctl reboot"
    assert {c.name for c in inv.checks} == {"nginx", "http", "postgres"}
    assert [c.name for c in inv.checks_for(inv.host("db-01"))] == ["postgres"]
    assert [c.name for c in inv.service_checks] == ["storefront"]
    assert inv.ssh.identity_files == (str(Path("~/.ssh/id_ed25519_shop").expanduser()),)
    assert "ansible_python_interpreter" not in inv.host("web-01").vars


def test_the_sample_ansible_inventory_loads_without_a_policy_file() -> None:
    inv = load_ansible_inventory(str(SAMPLES / "ansible-hosts.yml"))
    assert len(inv.hosts) == 14 and inv.name == "ansible-hosts"
    assert inv.policy.canaries == () and inv.checks == ()


def test_the_native_loader_still_refuses_the_ansible_file() -> None:
    # The CLI picks the loader with is_ansible_inventory; the native one does not guess.
    with pytest.raises(InventoryError):
        load_inventory(SAMPLES / "ansible-hosts.yml")


async def test_an_ansible_inventory_drives_a_real_simulated_roll(tmp_path: Path) -> None:
    from console.engine.facade import Engine
    from console.remote.ssh import Connector, SSHOptions
    from console.sim.fleet import SimFleet

    path = write(
        tmp_path,
        """\
        all:
          vars:
            health_port: 8080
          children:
            web:
              vars: {slowroll_max_unavailable: 1}
              hosts:
                w1: {ansible_host: 192.0.2.1}
                w2: {ansible_host: 192.0.2.2}
        """,
    )
    policy = write(
        tmp_path,
        """\
        policy:
          bake: 0.2s
          reboot_timeout: 4s
          connect_timeout: 2s
          command_timeout: 3s
          poll_interval: 0.05s
          check_interval: 0.1s
        checks:
          - name: health
            command: curl -fsS http://127.0.0.1:{vars.health_port}/healthz
        """,
        "policy.yaml",
    )
    inv = load_ansible_inventory(str(path), policy_path=str(policy))
    fleet = SimFleet(inv, tmp_path / "sim", boot_time=0.2, seed=1)
    await fleet.start()
    try:
        twin = fleet.twin_inventory()
        connector = Connector(
            SSHOptions(known_hosts=twin.ssh.known_hosts, identity_files=twin.ssh.identity_files, agent=False)
        )
        engine = Engine(twin, connector)
        result = await engine.run()
    finally:
        await fleet.stop()
    assert result.state is RollState.COMPLETE
    assert {n: r.state for n, r in engine.hosts.items()} == {"w1": HostState.DONE, "w2": HostState.DONE}
    assert [len(fleet.reboots_of(h)) for h in ("w1", "w2")] == [1, 1]


def test_policy_file_paths_are_relative_to_it_and_any_native_section_passes_through(tmp_path: Path) -> None:
    inv_path = write(tmp_path, "all:\n  hosts: {h1: }\n")
    conf = tmp_path / "conf"
    conf.mkdir()
    policy = conf / "policy.yaml"
    policy.write_text(
        "ssh:\n  known_hosts: ./known_hosts\n  identity_files: [keys/roll]\n"
        "notify:\n  webhook: http://127.0.0.1:9/hook\n  events: [failure]\n"
    )
    inv = load_ansible_inventory(str(inv_path), policy_path=str(policy))
    assert inv.ssh.known_hosts == str(conf / "known_hosts")
    assert inv.ssh.identity_files == (str(conf / "keys" / "roll"),)
    assert inv.notify is not None and inv.notify.events == ("failure",)
    policy.write_text("notify:\n  webhook: ftp://x\n")
    with pytest.raises(InventoryError) as info:
        load_ansible_inventory(str(inv_path), policy_path=str(policy))
    assert (info.value.path, info.value.line, info.value.key) == (str(policy), 2, "notify.webhook")
