"""Inventory loading: a valid file loads; every mistake names file, line and key and exits 2."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from console.load.native import load_inventory
from console.model.budgets import plan
from console.model.errors import InventoryError
from console.model.policy import Amount

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "sample_inventories" / "demo.yaml"

GOOD = """\
name: t
policy:
  batch: [1, 2, "50%"]
  bake: 1m30s
  canaries: [a1]
groups:
  g1: {max_unavailable: 1}
  g2:
    max_unavailable: "50%"
    hosts: [b1, b2]
hosts:
  a1: {address: 10.0.0.1, groups: [g1]}
  a2: {address: 10.0.0.2, groups: [g1]}
  b1: 10.0.0.3
  b2: {address: 10.0.0.4, port: 2222, user: ops}
checks:
  - name: up
    command: "true"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "inv.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def load_error(tmp_path: Path, text: str) -> InventoryError:
    p = write(tmp_path, text)
    with pytest.raises(InventoryError) as info:
        load_inventory(p)
    assert str(p) in str(info.value)
    return info.value


def test_good_inventory_loads(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, GOOD))
    assert [h.name for h in inv.hosts] == ["a1", "a2", "b1", "b2"]
    assert inv.host("b2").port == 2222 and inv.host("b2").user == "ops"
    assert inv.host("b1").address == "10.0.0.3" and inv.host("b1").groups == ("g2",)
    assert inv.groups["g2"].members == ("b1", "b2")
    assert inv.policy.bake == 90
    assert inv.policy.batch == (Amount(1), Amount(2), Amount(percent=50))
    assert inv.policy.canaries == ("a1",)


def test_demo_inventory_is_a_24_host_3_group_service() -> None:
    inv = load_inventory(DEMO)
    assert len(inv.hosts) == 24
    assert sorted(inv.groups) == ["app", "db", "web"]


def test_plan_respects_budgets_and_ramp(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, GOOD))
    slices, _ = plan(inv)
    assert slices[0].hosts == ("a1",) and slices[0].canary
    # g1 budget 1, g2 budget 50% of 2 = 1: never two hosts of one group in a slice
    for s in slices:
        for g in inv.groups.values():
            assert sum(1 for h in s.hosts if h in g.members) <= 1
    assert sorted(h for s in slices for h in s.hosts) == ["a1", "a2", "b1", "b2"]


@pytest.mark.parametrize(
    ("text", "line", "key", "words"),
    [
        ("hosts:\n  a: {address: x, prot: 22}\n", 2, "hosts.a.prot", "did you mean 'port'"),
        ("hosts:\n  a: x\npolicy:\n  bakee: 1m\n", 4, "policy.bakee", "did you mean 'bake'"),
        ("hosts:\n  a: x\n  a: y\n", 3, "hosts.a", "duplicate key"),
        ("hosts:\n  - name: a\n  - name: a\n", 3, "hosts[1]", "duplicate host name 'a'"),
        ("hosts:\n  a: {address: x, groups: [web]}\n", 2, "hosts.a.groups[0]", "unknown group 'web'"),
        (
            "groups:\n  web: {hosts: [a, bb]}\nhosts:\n  a: x\n  b: y\n",
            2,
            "groups.web.hosts[1]",
            "unknown host 'bb'",
        ),
        (
            "groups:\n  web: {max_unavailable: 0}\nhosts:\n  a: {address: x, groups: [web]}\n",
            2,
            "groups.web.max_unavailable",
            "would block every host",
        ),
        ("hosts:\n  a: x\npolicy:\n  max_unavailable: 0%\n", 4, "policy.max_unavailable", "would block"),
        ("hosts:\n  a: x\npolicy:\n  bake: 5 minutes\n", 4, "policy.bake", "expected a duration"),
        ("hosts:\n  a: x\npolicy:\n  reboot_timeout: -1\n", 4, "policy.reboot_timeout", "negative"),
        (
            "hosts:\n  a: x\npolicy:\n  canaries: [zz]\n",
            4,
            "policy.canaries[0]",
            "unknown host or group 'zz'",
        ),
        ("hosts:\n  a: {address: x, port: 70000}\n", 2, "hosts.a.port", "a TCP port"),
        (
            "hosts:\n  a: {address: x, password: hunter2}\n",
            2,
            "hosts.a.password",
            "passwords are not accepted",
        ),
        ("hosts:\n  a: x\npolicy:\n  order: random\n", 4, "policy.order", "expected one of"),
        (
            "hosts:\n  a: x\nservice_checks:\n  - {name: lb, tcp: 'lb:80', initial_delay: 5s}\n",
            4,
            "service_checks[0].initial_delay",
            "initial_delay is for per-host checks",
        ),
        (
            "hosts:\n  a: x\npolicy:\n  max_uptime: 30d\n  drift: off\n",
            4,
            "policy.max_uptime",
            "the drift audit is off",
        ),
        (
            "hosts:\n  a: x\nchecks:\n  - {name: c, command: 'echo {vars.nope}'}\n",
            4,
            "checks[0].command",
            "placeholder {vars.nope}",
        ),
        ("hosts: [a, b\n", 2, "", "unreadable YAML"),
        ("hosts:\n\ta: x\n", 2, "", "unreadable YAML"),
    ],
)
def test_inventory_errors_name_file_line_and_key(
    tmp_path: Path, text: str, line: int, key: str, words: str
) -> None:
    err = load_error(tmp_path, text)
    assert err.line == line, str(err)
    assert err.key == key, str(err)
    assert words in str(err)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="no such file"):
        load_inventory(tmp_path / "nope.yaml")


def test_cli_exit_code_2_and_no_traceback(tmp_path: Path) -> None:
    p = write(tmp_path, "hosts:\n  a: {address: x, prot: 22}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "console.cli", "check", str(p)], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"{p}:2: hosts.a.prot: unknown key (did you mean 'port'?)" in proc.stderr


def test_check_and_plan_start_without_ssh() -> None:
    """check and plan connect to nothing: they do not even load the SSH library (a fast start)."""
    code = (
        "import sys; from console.cli.main import main; "
        f"main(['check', {str(DEMO)!r}]); main(['plan', {str(DEMO)!r}]); "
        "assert 'asyncssh' not in sys.modules, 'asyncssh imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "slices" in proc.stdout


@pytest.mark.parametrize("name", ["demo.yaml", "operations.yaml"])
def test_sample_inventories_load(name: str) -> None:
    inv = load_inventory(ROOT / "sample_inventories" / name)
    assert inv.hosts and inv.checks
    if name == "operations.yaml":
        assert inv.policy.windows and inv.policy.max_reboots_per_hour == 6 and inv.notify is not None
        assert {h.phase for h in inv.hooks} == {"pre_reboot", "post_reboot"}
        assert {c.kind for c in inv.service_checks} == {"http", "prometheus"}
        assert {c.kind for c in inv.checks} == {"systemd", "http", "tcp", "command"}
