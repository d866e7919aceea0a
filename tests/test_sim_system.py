"""console.sim: the simulated host's OS answers like real systemd 252, and drifts like one."""

from __future__ import annotations

import json
import random
import re
import uuid

import pytest
from test_facts import EXTRA, FIXTURES, SCRIPT_OUT

from console.drift.findings import evidence_units, preflight, regressions
from console.model.findings import DriftPolicy, Finding
from console.remote.facts import Facts
from console.remote.factsparse import parse_facts, parse_show
from console.remote.gather import (
    FACTS_COMMAND,
    FACTS_SCRIPT,
    SECTION_NAMES,
    evidence_command,
    gather_evidence,
    gather_facts,
    parse_evidence,
)
from console.remote.result import CommandResult
from console.sim.faults import DRIFT_FAULTS, apply_drift_fault
from console.sim.result import ExecResult
from console.sim.system import SimSystem

DEFAULT = DriftPolicy.default()
T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def make(
    *faults: str, seed: int = 7, services: tuple[str, ...] = ("nginx.service",)
) -> tuple[SimSystem, Clock]:
    clock = Clock()
    system = SimSystem("web-1", rng=random.Random(seed), clock=clock, services=services)
    for fault in faults:
        apply_drift_fault(system, fault)
    return system, clock


def facts(system: SimSystem) -> Facts:
    result = system.execute(FACTS_COMMAND)
    assert result is not None and result.exit_status == 0
    parsed = parse_facts(result.stdout)
    assert parsed.errors == ()
    return parsed


def reboot(system: SimSystem, clock: Clock) -> None:
    clock.now += 45
    system.boot()
    clock.now += 30


def run_cycle(system: SimSystem, clock: Clock) -> tuple[list[Finding], list[Finding], list[Finding]]:
    """preflight before, regressions (with journal evidence fetched from the host), preflight after."""
    before = facts(system)
    pre = preflight(before, DEFAULT)
    reboot(system, clock)
    after = facts(system)
    units = evidence_units(before, after)
    evidence = {}
    if units:
        answer = system.execute(evidence_command(units))
        assert answer is not None
        evidence = parse_evidence(answer.stdout, units)
    return pre, regressions(before, after, DEFAULT, evidence), preflight(after, DEFAULT)


def kinds(findings: list[Finding]) -> set[tuple[str, str]]:
    return {(f.kind, f.subject) for f in findings}


# ---- a stock host


def test_stock_host_has_no_findings_before_or_after_a_reboot() -> None:
    system, clock = make()
    assert run_cycle(system, clock) == ([], [], [])
    assert run_cycle(system, clock) == ([], [], [])


def test_stock_host_only_uptime_debt_when_the_policy_asks() -> None:
    system, clock = make()
    policy = DEFAULT.with_max_uptime(30 * 86400)
    before = facts(system)
    assert before.uptime_seconds == pytest.approx(40 * 86400)
    assert kinds(preflight(before, policy)) == {("uptime-debt", "host")}
    reboot(system, clock)
    assert preflight(facts(system), policy) == []


def test_stock_host_facts_look_like_debian_12() -> None:
    system, _ = make()
    f = facts(system)
    assert f.kernel_running == "6.1.0-26-amd64"
    assert f.kernels_installed == ("6.1.0-26-amd64",)
    assert f.live_patched is False and f.reboot_required is False
    assert f.system_state == "running"
    assert f.units is not None and f.boot_tree is not None
    for name in (
        "ssh.service",
        "cron.service",
        "systemd-journald.service",
        "systemd-networkd.service",
        "dbus.service",
        "getty@tty1.service",
        "nginx.service",
        "apt-daily.timer",
        "dbus.socket",
    ):
        assert f.units[name].is_active, name
    assert f.units["ssh.service"].aliases == ("sshd.service",)
    assert f.units["nginx.service"].unit_file_state == "enabled"
    # as on the real Debian 12 hosts (tests/fixtures): dbus.service is wanted by multi-user.target and
    # triggered by dbus.socket, both in default.target's tree
    assert {"dbus.service", "dbus.socket", "ssh.service", "getty@tty1.service"} <= f.boot_tree
    assert "legacy-agent.service" not in f.boot_tree
    assert f.units["dbus.service"].triggered_by == ("dbus.socket",)
    assert f.units["dbus.service"].pulled_by == ("multi-user.target",)
    # the enabled-but-inactive traps of a real host: a oneshot that ran, a unit skipped by its condition
    reap = f.units["e2scrub_reap.service"]
    assert (reap.active, reap.unit_file_state, reap.started, reap.result) == (
        "inactive",
        "enabled",
        True,
        "success",
    )
    assert f.units["systemd-pstore.service"].condition_failed is True


def test_boot_ids_change_per_boot_and_uptime_restarts() -> None:
    system, clock = make()
    seen = {system.boot_id}
    assert uuid.UUID(system.boot_id).version == 4
    for _ in range(3):
        reboot(system, clock)
        assert system.boot_id not in seen
        assert uuid.UUID(system.boot_id).version == 4
        seen.add(system.boot_id)
        answer = system.execute("cat /proc/sys/kernel/random/boot_id")
        assert answer == ExecResult(0, system.boot_id + "\n")
        assert facts(system).uptime_seconds == pytest.approx(30, abs=0.01)
    again, _ = make()
    assert again.boot_id == make()[0].boot_id  # same seed, same ids


# ---- drift faults


@pytest.mark.parametrize(
    ("fault", "before", "after", "after_preflight"),
    [
        (
            "hand-started-unit",
            {("not-in-boot-tree", "legacy-agent.service")},
            {("lost-unit", "legacy-agent.service")},
            set(),
        ),
        (
            "early-unit",
            set(),  # nothing to see before: both units run fine until the boot
            {("enabled-not-active", "app-needs-broken.service"), ("new-failed-unit", "broken-dep.service")},
            {("failed-units", "broken-dep.service")},
        ),
        ("live-patched", {("live-patched", "6.1.0-26-amd64")}, set(), set()),
        (
            "kernel-pending",
            {("kernel-pending", "6.1.0-27-amd64"), ("reboot-required", "host")},
            set(),  # a clean fix: the new kernel boots
            set(),
        ),
        (
            "stale-kernel",
            {("kernel-pending", "6.1.0-27-amd64"), ("reboot-required", "host")},
            {("kernel-not-updated", "6.1.0-27-amd64")},
            {("kernel-pending", "6.1.0-27-amd64")},
        ),
    ],
)
def test_each_fault_gives_its_findings(
    fault: str,
    before: set[tuple[str, str]],
    after: set[tuple[str, str]],
    after_preflight: set[tuple[str, str]],
) -> None:
    assert fault in DRIFT_FAULTS
    system, clock = make(fault)
    pre, regr, post = run_cycle(system, clock)
    assert kinds(pre) == before
    assert kinds(regr) == after
    assert kinds(post) == after_preflight


def test_all_faults_together_and_a_second_reboot() -> None:
    system, clock = make(*sorted(DRIFT_FAULTS))
    pre, regr, post = run_cycle(system, clock)
    assert ("not-in-boot-tree", "legacy-agent.service") in kinds(pre)
    assert ("live-patched", "6.1.0-26-amd64") in kinds(pre)
    assert kinds(post) == {("failed-units", "broken-dep.service"), ("kernel-pending", "6.1.0-27-amd64")}
    assert kinds(regr) == {
        ("lost-unit", "legacy-agent.service"),
        ("enabled-not-active", "app-needs-broken.service"),
        ("new-failed-unit", "broken-dep.service"),
        ("kernel-not-updated", "6.1.0-27-amd64"),
    }
    # the next reboot changes nothing more: the failure is not new, the kernel was already stale
    pre2, regr2, _ = run_cycle(system, clock)
    assert kinds(regr2) == {("kernel-not-updated", "6.1.0-27-amd64")}
    assert ("failed-units", "broken-dep.service") in kinds(pre2)


def test_kernel_pending_boots_the_new_kernel() -> None:
    system, clock = make("kernel-pending")
    assert system.execute("uname -r") == ExecResult(0, "6.1.0-26-amd64\n")
    assert system.execute("cat /var/run/reboot-required") == ExecResult(
        0, "*** System restart required ***\n"
    )
    reboot(system, clock)
    assert system.execute("uname -r") == ExecResult(0, "6.1.0-27-amd64\n")
    gone = system.execute("cat /var/run/reboot-required")
    assert gone == ExecResult(1, "", "cat: /var/run/reboot-required: No such file or directory\n")


def test_live_patch_and_taint_disappear_at_boot() -> None:
    system, clock = make("live-patched")
    listing = system.execute("ls /sys/kernel/livepatch")
    assert listing is not None and listing.stdout.startswith("livepatch_6_1_0_26_amd64")
    tainted = system.execute("cat /proc/sys/kernel/tainted")
    assert tainted is not None and int(tainted.stdout) & (1 << 15)
    reboot(system, clock)
    assert system.execute("ls /sys/kernel/livepatch") == ExecResult(0, "")
    assert system.execute("cat /proc/sys/kernel/tainted") == ExecResult(0, "0\n")


def test_unknown_fault_is_an_error() -> None:
    system, _ = make()
    with pytest.raises(ValueError, match="unknown drift fault 'nope'"):
        apply_drift_fault(system, "nope")


# ---- the simulator against the real host


def _real_findings() -> tuple[list[Finding], list[Finding]]:
    before = parse_facts((SCRIPT_OUT / "before.txt").read_text())
    after = parse_facts((SCRIPT_OUT / "after.txt").read_text())
    units = [
        "app-needs-broken.service",
        "broken-dep.service",
        "legacy-agent.service",
        "systemd-hostnamed.service",
    ]
    evidence = parse_evidence((SCRIPT_OUT / "after-evidence.txt").read_text(), units)
    # the real host also had a systemd-run unit, which the simulator's faults do not make
    keep = lambda fs: [f for f in fs if f.subject != "adhoc-debug.service"]  # noqa: E731
    return keep(preflight(before, DEFAULT)), keep(regressions(before, after, DEFAULT, evidence))


def test_simulated_reboot_gives_the_same_findings_as_the_real_one() -> None:
    real_pre, real_regr = _real_findings()
    system, clock = make("hand-started-unit", "early-unit", services=())
    sim_pre, sim_regr, _ = run_cycle(system, clock)

    def essence(fs: list[Finding]) -> list[tuple[str, str, str, str]]:
        return sorted((f.kind, f.subject, f.severity.value, f.message) for f in fs)

    assert essence(sim_pre) == essence(real_pre)
    assert essence(sim_regr) == essence(real_regr)
    strip = lambda text: [re.sub(r"^\S+ \S+ ", "", line) for line in text.splitlines()]  # noqa: E731
    real_app = next(f for f in real_regr if f.kind == "enabled-not-active")
    sim_app = next(f for f in sim_regr if f.kind == "enabled-not-active")
    assert strip(sim_app.evidence) == strip(real_app.evidence)  # same journal lines but time and host


@pytest.mark.parametrize("name", ["is_system_running", "failed_plain", "show_units", "journal_app"])
def test_commands_print_what_the_real_host_printed(name: str) -> None:
    """The reference capture's own commands, against the same situation in the simulator."""
    command = dict(
        line.split("|", 1) for line in (FIXTURES / "commands.txt").read_text().splitlines() if "|" in line
    )[name]
    system, clock = make("hand-started-unit", "early-unit", services=())

    def normal(text: str) -> str:
        text = re.sub(r"(ActiveEnterTimestamp=)\S.*", r"\1<time>", text)
        return re.sub(r"^\S+ \S+ systemd\[1\]", "<time> <host> systemd[1]", text, flags=re.M)

    for phase in ("before", "after"):
        if phase == "after":
            reboot(system, clock)
        real = (FIXTURES / phase / f"{name}.txt").read_text()
        body, status = real.rsplit("exit=", 1)
        answer = system.execute(command)
        assert answer is not None
        assert normal(answer.stdout + answer.stderr) == normal(body), phase
        assert answer.exit_status == int(status), phase


def test_simulated_boot_tree_covers_the_real_one() -> None:
    lines = (EXTRA / "before" / "list_dependencies_default.txt").read_text().splitlines()[:-1]
    real = {line.strip() for line in lines}
    system, _ = make("early-unit", services=())
    listing = system.execute("systemctl list-dependencies --all --plain default.target --no-pager")
    assert listing is not None and listing.exit_status == 0
    assert listing.stdout.splitlines()[0] == "default.target"
    assert all(line.startswith("  ") for line in listing.stdout.splitlines()[1:])
    sim = {line.strip() for line in listing.stdout.splitlines()}
    # the lab host's own units, and the container's console getty, are not on a VM
    assert real - sim == {"lab-boot-record.service", "lab-rotate-hostkey.service", "console-getty.service"}


def _blocks(text: str) -> dict[str, list[str]]:
    """unit_props section → {unit: [property names in printed order]}"""
    body = text.split("@@slowroll:unit_props\n", 1)[1].split("\n@@exit=", 1)[0]
    out: dict[str, list[str]] = {}
    for block in body.split("\n\n"):
        keys = [line.split("=", 1)[0] for line in block.splitlines() if "=" in line]
        ids = [line.split("=", 1)[1] for line in block.splitlines() if line.startswith("Id=")]
        if ids:
            out[ids[0]] = keys
    return out


def test_facts_output_has_the_real_shape() -> None:
    real = (SCRIPT_OUT / "after.txt").read_text()
    system, clock = make("early-unit")
    reboot(system, clock)
    answer = system.execute(FACTS_COMMAND)
    assert answer is not None
    sim = answer.stdout
    assert [m for m in re.findall(r"^@@slowroll:(\w+)$", sim, re.M)] == list(SECTION_NAMES)
    # the capture was made when the script still ran list-unit-files (now an optional section)
    real_sections = [m for m in re.findall(r"^@@slowroll:(\w+)$", real, re.M) if m != "unit_files"]
    assert real_sections == list(SECTION_NAMES)
    # `systemctl show` prints properties in D-Bus order: the same for the same units
    real_blocks, sim_blocks = _blocks(real), _blocks(sim)
    for unit in ("app-needs-broken.service", "broken-dep.service", "dbus.socket", "apt-daily.timer"):
        assert sim_blocks[unit] == real_blocks[unit], unit
    # list-units JSON: same keys in the same order, compact, one line
    units_line = sim.split("@@slowroll:units\n", 1)[1].splitlines()[0]
    real_line = real.split("@@slowroll:units\n", 1)[1].splitlines()[0]
    assert list(json.loads(units_line)[0]) == list(json.loads(real_line)[0])
    assert ", " not in units_line[:200] and ", " not in real_line[:200]
    # the same unit, the same state line, as on the real host after the same reboot
    for unit in ("app-needs-broken.service", "broken-dep.service", "dbus.socket", "apt-daily.timer"):
        assert next(u for u in json.loads(units_line) if u["unit"] == unit) == next(
            u for u in json.loads(real_line) if u["unit"] == unit
        )
    sim_props = parse_show(sim.split("@@slowroll:unit_props\n", 1)[1].split("\n@@exit=", 1)[0].splitlines())
    real_props = parse_show(real.split("@@slowroll:unit_props\n", 1)[1].split("\n@@exit=", 1)[0].splitlines())
    for unit in ("app-needs-broken.service", "broken-dep.service"):
        same = ("Result", "RequiredBy", "WantedBy", "UnitFileState", "ConditionResult", "TriggeredBy")
        assert {k: sim_props[unit][k] for k in same} == {k: real_props[unit][k] for k in same}


def test_facts_script_is_recognised_in_every_form() -> None:
    system, _ = make()
    full = system.execute(FACTS_COMMAND)
    assert full is not None
    assert system.execute(FACTS_SCRIPT) == full
    assert system.execute("  " + FACTS_COMMAND + "\n") == full


async def test_gather_facts_and_evidence_through_a_runner() -> None:
    system, clock = make("early-unit")

    class SimRunner:
        async def run(self, command: str, *, timeout: float) -> CommandResult:
            answer = system.execute(command)
            assert answer is not None, command
            return CommandResult(answer.exit_status, answer.stdout, answer.stderr)

    runner = SimRunner()
    before = await gather_facts(runner, timeout=5)
    reboot(system, clock)
    after = await gather_facts(runner, timeout=5)
    assert before.boot_id != after.boot_id
    evidence = await gather_evidence(runner, evidence_units(before, after), timeout=5)
    assert "Dependency failed for app-needs-broken.service" in evidence["app-needs-broken.service"]
    assert "status=1/FAILURE" in evidence["broken-dep.service"]


# ---- individual commands


def test_systemctl_basics() -> None:
    system, clock = make("early-unit")
    assert system.execute("systemctl is-active ssh.service") == ExecResult(0, "active\n")
    assert system.execute("systemctl is-active --quiet sshd.service") == ExecResult(0, "")
    assert system.execute("systemctl is-active nosuch.service") == ExecResult(3, "inactive\n")
    assert system.execute("systemctl is-active nginx nosuch.service") == ExecResult(0, "active\ninactive\n")
    assert system.execute("systemctl is-system-running") == ExecResult(0, "running\n")
    reboot(system, clock)
    assert system.execute("systemctl is-system-running") == ExecResult(1, "degraded\n")
    assert system.execute("systemctl is-active -q app-needs-broken.service") == ExecResult(3, "")
    status = system.execute("systemctl status broken-dep.service --no-pager")
    assert status is not None and status.exit_status == 3
    assert status.stdout.startswith("× broken-dep.service - Dependency that fails at every boot")
    assert "Active: failed (Result: exit-code) since" in status.stdout
    ok = system.execute("systemctl status ssh")
    assert (
        ok is not None
        and ok.exit_status == 0
        and ok.stdout.startswith("● ssh.service - OpenBSD Secure Shell")
    )
    missing = system.execute("systemctl status nosuch.service")
    assert missing == ExecResult(4, "", "Unit nosuch.service could not be found.\n")
    shown = system.execute(
        "systemctl show app-needs-broken.service -p Id,Result,ActiveState,SubState,UnitFileState"
    )
    assert shown == ExecResult(
        0,
        "Result=success\nId=app-needs-broken.service\nActiveState=inactive\nSubState=dead\nUnitFileState=enabled\n",
    )
    failed = system.execute("systemctl --failed --no-legend --plain --no-pager")
    assert failed is not None
    assert failed.stdout == (
        "broken-dep.service loaded failed failed "
        "Dependency that fails at every boot (works only while /run/broken-dep.ok exists)\n"
    )


def test_plain_and_json_listings_agree() -> None:
    system, _ = make("hand-started-unit")
    plain = system.execute(
        "systemctl list-units --type=service,socket,timer,path --all --no-legend --plain --full"
    )
    as_json = system.execute(
        "systemctl list-units --type=service,socket,timer,path --all --output=json --no-pager"
    )
    assert plain is not None and as_json is not None
    from_plain = parse_facts(f"@@slowroll:units\n{plain.stdout}\n@@exit=0\n").units
    from_json = parse_facts(f"@@slowroll:units\n{as_json.stdout}\n@@exit=0\n").units
    assert from_plain == from_json and from_plain and "legacy-agent.service" in from_plain


def test_journalctl_this_boot_and_the_one_before() -> None:
    system, clock = make("hand-started-unit")
    now = system.execute("journalctl -b -u legacy-agent.service --no-pager -o short-iso")
    assert now is not None
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000 web-1 systemd\[1\]: Started legacy-agent.service - "
        r"Legacy agent \(started by hand, never enabled\)\.\n",
        now.stdout,
    )
    reboot(system, clock)
    assert system.execute("journalctl -b -u legacy-agent.service --no-pager") == ExecResult(
        0, "-- No entries --\n"
    )
    previous = system.execute("journalctl -b -1 -u legacy-agent.service --no-pager -o short-iso")
    assert previous is not None and previous.stdout == now.stdout
    two = system.execute("journalctl -b -u ssh.service -u cron.service --no-pager -o short-iso -n 3")
    assert two is not None and len(two.stdout.splitlines()) == 3


def test_evidence_command_with_a_hostile_unit_name_is_parsed_not_run() -> None:
    system, _ = make()
    units = ["ssh.service", "x.service; systemctl reboot"]
    answer = system.execute(evidence_command(units, lines=5))
    assert answer is not None
    evidence = parse_evidence(answer.stdout, units)
    assert "OpenBSD Secure Shell server" in evidence["ssh.service"]
    assert evidence["x.service; systemctl reboot"] == ""


def test_files_and_unmodelled_commands() -> None:
    system, _ = make()
    assert system.execute("uname -r") == ExecResult(0, "6.1.0-26-amd64\n")
    assert system.execute("ls /lib/modules") == ExecResult(0, "6.1.0-26-amd64\n")
    assert system.execute("ls /nope") == ExecResult(
        2, "", "ls: cannot access '/nope': No such file or directory\n"
    )
    uptime = system.execute("cat /proc/uptime")
    assert uptime is not None and re.fullmatch(r"\d+\.\d\d \d+\.\d\d\n", uptime.stdout)
    assert system.execute("curl -fsS http://127.0.0.1/health") is None
    assert system.execute("systemctl reboot") is None  # the simulator's host handles reboots
    assert system.execute("cat /etc/hostname | wc -l") is None
    assert system.execute("echo ok && uname -r") == ExecResult(0, "ok\n6.1.0-26-amd64\n")
    assert system.execute("false || echo fallback") == ExecResult(0, "fallback\n")
