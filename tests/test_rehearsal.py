"""Rehearsals (``--sim``) of any inventory: every check kind runs as it would for real against the simulated
twin (over real SSH, and against the endpoints the simulator serves on 127.0.0.1), scopes are kept, the twin
inventory on disk holds no secret, and every sample inventory rolls to completion."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import stat
import sys
from pathlib import Path

import asyncssh
import pytest
import yaml

from console.load.native import load_inventory
from console.model.errors import SlowrollError
from console.remote.checks import run_host_check
from console.remote.ssh import Connector, SSHOptions, SSHTarget
from console.sim.fleet import SimFleet, write_private
from console.sim.ports import allocate_ports, ensure_open_files, port_order
from console.sim.rehearse import example_body, rehearsal_notes
from console.sim.twin import twin_yaml
from tests.simlab import fleet_yaml, sim_roll

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_inventories"

INVENTORY = """\
name: rehearsal
policy: {bake: 0.3s, reboot_timeout: 4s, connect_timeout: 2s, command_timeout: 3s, poll_interval: 0.05s}
vars: {db_secret: hunter2-secret}
groups:
  api: {max_unavailable: 1}
  worker: {max_unavailable: 1, vars: {api_token: tok-secret-123}}
hosts:
  api-01: {address: 192.0.2.1, groups: [api]}
  api-02: {address: 192.0.2.2, groups: [api]}
  worker-01: {address: 192.0.2.3, groups: [worker], vars: {queue: settlements}}
checks:
  - {name: api-unit, groups: [api], systemd: payments-api.service}
  - name: api-http
    groups: [api]
    http: "https://{address}:8443/healthz?full=1"
    status: [204, 202]
    body: '"status":\\s*"ok"'
    initial_delay: 0.1s
  - {name: worker-port, groups: [worker], tcp: 9100}
  - name: worker-queue
    groups: [worker]
    command: queue-ctl lag --queue {vars.queue}
service_checks:
  - {name: local-gate, command: "true"}
  - {name: lb, http: "https://lb.pay.example/health"}
hooks:
  post_reboot:
    - {name: warm, on: host, groups: [worker], command: systemctl start warm.service}
    - {name: drain, command: lb-ctl drain}
notify:
  webhook: http://127.0.0.1:9/hooks/T0KEN-SECRET
"""


async def _twin(tmp_path: Path, fleet: SimFleet) -> Path:
    path = tmp_path / "twin.yaml"
    write_private(path, twin_yaml(fleet))
    return path


async def test_the_twin_keeps_each_check_kind_and_scope_and_every_kind_passes_on_its_twin(
    tmp_path: Path,
) -> None:
    source = tmp_path / "inv.yaml"
    source.write_text(INVENTORY)
    inv = load_inventory(source)
    async with SimFleet(inv, tmp_path / "sim", boot_time=0.3, faults={"api-02": {"unhealthy"}}) as fleet:
        twin = load_inventory(await _twin(tmp_path, fleet))  # the file `run --sim` reads
        kinds = {c.name: (c.kind, c.groups) for c in twin.checks}
        assert kinds == {c.name: (c.kind, c.groups) for c in inv.checks}
        assert [(h.name, h.where, h.groups) for h in twin.hooks] == [("warm", "host", ("worker",))]
        assert [c.name for c in twin.service_checks] == ["local-gate"]  # a command service check loads
        api_http = next(c for c in twin.checks if c.name == "api-http")
        assert api_http.status == (204, 202) and api_http.body == inv.checks[1].body
        conn = Connector(
            SSHOptions(known_hosts=twin.ssh.known_hosts, identity_files=twin.ssh.identity_files, agent=False)
        )
        outcomes: dict[tuple[str, str], tuple[bool, str]] = {}
        for host in twin.hosts:
            session = await conn.connect(SSHTarget(host.name, host.address, host.port, host.user), timeout=5)
            try:
                for check in twin.checks_for(host):
                    o = await run_host_check(check, host, session, default_timeout=3)
                    outcomes[(host.name, check.name)] = (o.ok, o.output)
            finally:
                session.close()
    assert outcomes[("api-01", "api-unit")] == (True, "active")
    assert outcomes[("api-01", "api-http")][0], outcomes
    assert "202" in outcomes[("api-01", "api-http")][1]
    assert outcomes[("worker-01", "worker-port")][0] and outcomes[("worker-01", "worker-queue")][0]
    # The health fault reaches every kind: the unit check and the HTTP endpoint (503) both fail.
    assert not outcomes[("api-02", "api-unit")][0]
    assert not outcomes[("api-02", "api-http")][0] and "503" in outcomes[("api-02", "api-http")][1]
    assert not any("not found" in text for _, text in outcomes.values()), outcomes


async def test_the_twin_inventory_on_disk_is_private_and_holds_no_secret(tmp_path: Path) -> None:
    """`slowroll sim` (what `run --sim` starts) under umask 000: files 0600, folder 0700, no secret."""
    source = tmp_path / "inv.yaml"
    source.write_text(INVENTORY)
    out = tmp_path / "sim"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console.cli",
        "sim",
        str(source),
        "--out",
        str(out),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        preexec_fn=lambda: os.umask(0),
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert b"serving" in line, line
        path = out / "inventory.yaml"
        assert stat.S_IMODE(out.stat().st_mode) == 0o700
        for name in ("inventory.yaml", "client_key", "known_hosts"):
            assert stat.S_IMODE((out / name).stat().st_mode) == 0o600, name
        text = path.read_text()
        twin = load_inventory(path)
    finally:
        proc.terminate()
        await proc.wait()
    for secret in ("hunter2-secret", "tok-secret-123", "T0KEN-SECRET", "webhook"):
        assert secret not in text
    assert twin.hosts[2].vars["queue"] == "settlements" and twin.hosts[2].vars["api_token"] == "<redacted>"
    assert twin.hosts[0].vars["db_secret"] == "<redacted>"


def test_what_a_rehearsal_leaves_out_is_said_once_each(tmp_path: Path) -> None:
    source = tmp_path / "inv.yaml"
    source.write_text(INVENTORY)
    inv = load_inventory(source)
    notes = rehearsal_notes(inv)
    assert len(notes) == 2, notes
    assert "service check 'lb'" in notes[0] and "hook 'drain'" in notes[1]
    assert all(n.startswith("not rehearsable:") and "\n" not in n for n in notes)
    assert example_body(r"x(?=y)") is None  # a body no answer satisfies: declared, never faked


def test_ports_for_a_fleet_larger_than_the_old_range() -> None:
    """12,500 hosts (the old allocator raised ValueError from randrange past ~12,000): ports come from
    outside the ephemeral range, each once; a fleet that cannot fit is a clear error."""
    ephemeral = (32768, 60999)
    ports = allocate_ports(12_500, port_order(25_000, ephemeral), lambda p: p, ephemeral=ephemeral)
    numbers = [p for p, _ in ports]
    assert len(set(numbers)) == 12_500 and numbers[0] == 25_000
    assert not any(32768 <= p <= 60999 or p < 1024 for p in numbers)
    with pytest.raises(SlowrollError, match=r"needs 40000 TCP ports .* only \d+ are free"):
        allocate_ports(40_000, port_order(25_000, ephemeral), lambda p: p, ephemeral=ephemeral)
    taken = {25_000, 25_001}
    some = allocate_ports(
        3, port_order(25_000, ephemeral), lambda p: None if p in taken else p, ephemeral=ephemeral
    )
    assert [p for p, _ in some] == [25_002, 25_003, 25_004]


def test_a_fleet_beyond_the_open_files_limit_is_a_clear_error() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no hard limit of open files here")
    with pytest.raises(SlowrollError, match=r"needs about \d+ open files .* raise it \(ulimit -n\)"):
        ensure_open_files(hard + 1)


# ---------------------------------------------------------------------------------------------------
# Every sample inventory, rolled to completion on its simulated twins


def _open_copy(path: Path, out: Path) -> Path:
    """``path`` with its policy's maintenance windows and pace removed and a roomy reboot timeout (the file
    itself is untouched)."""
    data = yaml.safe_load(path.read_text())
    policy = data.get("policy") or {}
    for key in ("windows", "max_reboots_per_hour", "min_slice_gap"):
        policy.pop(key, None)
    policy["reboot_timeout"] = "30m"  # 9 s at --speed 200: a busy CI machine never fails a host for time
    for hooks in (data.get("hooks") or {}).values():  # YAML 1.1 would read a bare `on` key as true
        for hook in hooks if isinstance(hooks, list) else [hooks]:
            if isinstance(hook, dict) and True in hook:
                hook["on"] = hook.pop(True)
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def _samples(tmp_path: Path) -> list[tuple[str, list[str]]]:
    rolls = []
    for path in sorted(SAMPLES.iterdir()):
        if path.name == "ansible-policy.yaml":
            continue
        if path.name == "ansible-hosts.yml":
            policy = _open_copy(SAMPLES / "ansible-policy.yaml", tmp_path / "ansible-policy.yaml")
            rolls.append((path.name, [str(path), "--policy", str(policy)]))
        else:
            rolls.append((path.name, [str(_open_copy(path, tmp_path / path.name))]))
    return rolls


async def _roll(args: list[str], state: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console.cli",
        "run",
        *args,
        "--sim",
        "--speed",
        "200",
        "--headless",
        "--json",
        "--state",
        str(state),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 110)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.timeout(150)
async def test_every_sample_inventory_rolls_to_completion_on_the_simulator(tmp_path: Path) -> None:
    rolls = _samples(tmp_path)
    assert {name for name, _ in rolls} >= {"demo.yaml", "operations.yaml", "ansible-hosts.yml"}
    results = await asyncio.gather(*(_roll(args, tmp_path / f"state-{name}") for name, args in rolls))
    for (name, _), (code, out, err) in zip(rolls, results, strict=True):
        assert code == 0, (name, err, out[-3000:])
        events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        failed = [e for e in events if e.get("event") == "check" and not e.get("ok", True)]
        assert not failed, (name, failed)
        checks = [e for e in events if e.get("event") == "check"]
        assert checks, name  # its checks ran (and passed) on the twins
        if name == "operations.yaml":  # an `on: host` hook scoped to the api group runs there only
            warmed = {e["host"] for e in checks if e["check"] == "hook warm-cache"}
            assert warmed == {f"api-0{i}" for i in range(1, 6)}, warmed
            kinds = {e["check"] for e in checks}
            assert {"api-unit", "api-http", "worker-port", "worker-queue"} <= kinds
        assert "Traceback" not in err, (name, err)


# ---------------------------------------------------------------------------------------------------
# The first roll's commonest failure: a user who may not reboot


async def test_a_user_without_sudo_rights_cannot_reboot_the_simulated_host(tmp_path: Path) -> None:
    text = fleet_yaml(
        {"web": ["w1", "w2"]}, policy="reboot_command: sudo -n systemctl reboot", checks=False
    ).replace(
        "hosts:\n  w1: {address: 192.0.2.1,", "hosts:\n  w1: {address: 192.0.2.1, vars: {sim_sudoers: [ops]},"
    )
    text = text.replace("name: test\n", "name: test\nssh: {user: deploy}\n")
    async with sim_roll(tmp_path, text) as roll:
        w1 = roll.fleet.hosts["w1"]
        assert (
            w1.execute("sudo -n systemctl reboot", user="deploy")[0].stderr
            == "sudo: a password is required\n"
        )
        refused = w1.execute("systemctl reboot", user="deploy")[0]
        assert refused.exit_status == 1 and "Interactive authentication required" in refused.stderr
        result = await roll.engine.run()
    assert result.failed == ("w1",) and roll.reboots("w1") == 0  # the canary: the roll pauses on it
    assert any("sudo: a password is required" in str(getattr(e, "reason", "")) + str(e) for e in roll.events)
    assert roll.reboots("w2") == 0


async def test_a_user_with_sudo_rights_reboots_and_without_sudo_systemd_refuses(tmp_path: Path) -> None:
    base = fleet_yaml({"web": ["w1"]}, checks=False).replace(
        "name: test\n", "name: test\nssh: {user: deploy}\n"
    )
    sudo = base.replace("policy:\n", "policy:\n  reboot_command: sudo -n systemctl reboot\n")
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
    async with sim_roll(tmp_path / "a", sudo) as roll:
        assert (await roll.engine.run()).state.value == "complete" and roll.reboots("w1") == 1
    async with sim_roll(tmp_path / "b", base) as roll:  # systemctl reboot as deploy, no sudo
        result = await roll.engine.run()
        assert result.failed == ("w1",) and roll.reboots("w1") == 0


# ---------------------------------------------------------------------------------------------------
# The other commonest first-roll failure: hosts behind a bastion


async def test_hosts_behind_a_proxyjump_are_rehearsed_through_a_simulated_bastion(tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text("Host *.pay.example\n  ProxyJump jump@bastion.pay.example\n")
    text = fleet_yaml({"api": ["api-01", "api-02"], "db": ["db-01"]}, checks=False)
    text = text.replace("name: test\n", f"name: test\nssh: {{config: {config}}}\n")
    text = text.replace("api-01: {address: 192.0.2.1", "api-01: {address: api-01.pay.example")
    text = text.replace("api-02: {address: 192.0.2.1", "api-02: {address: api-02.pay.example")
    async with sim_roll(tmp_path, text) as roll:
        bastion = roll.fleet.jump_host
        assert bastion is not None
        result = await roll.engine.run()
        assert result.state.value == "complete" and not result.failed
        assert bastion.forwarded >= 2  # api-01 and api-02 were reached through it
        twins = {h.name: h for h in roll.inventory.hosts}
        assert twins["db-01"].address == "127.0.0.1"  # not behind the jump: reached directly
        # The bastion forwards to the jumped twins only: not to db-01's sshd, nor anywhere else.
        async with asyncssh.connect(
            "127.0.0.1",
            bastion.port,
            username="jump",
            client_keys=[str(roll.fleet.client_key_path)],
            known_hosts=str(roll.fleet.known_hosts_path),
        ) as conn:
            with pytest.raises(asyncssh.ChannelOpenError):
                await conn.open_connection("127.0.0.1", twins["db-01"].port)
            _, writer = await conn.open_connection("127.0.0.1", twins["api-01"].port)
            writer.close()


async def test_the_no_sudo_fault_stops_a_sudo_reboot_on_its_host_only(tmp_path: Path) -> None:
    text = fleet_yaml({"web": ["w1", "w2"]}, policy="reboot_command: sudo -n systemctl reboot").replace(
        "name: test\n", "name: test\nssh: {user: deploy}\n"
    )
    async with sim_roll(tmp_path, text, faults={"w2": {"no-sudo"}}) as roll:
        result = await roll.engine.run()
    assert result.failed == ("w2",) and roll.reboots("w2") == 0 and roll.reboots("w1") == 1
