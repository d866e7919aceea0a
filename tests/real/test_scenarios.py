"""slowroll end to end against real Debian 12 hosts (systemd 252 as PID 1, OpenSSH, real reboots).

Every scenario runs ``slowroll run INVENTORY --headless --json --state DIR`` as a subprocess and then
asks the hosts themselves what happened: their boot-id record (``LabHost.boot_ids()``), their persistent
journal (when each boot recorded itself, when sshd came up and went down), ``systemctl`` through nsenter
-- never slowroll's own word alone. See docs/real-hosts.md for what each scenario proves.

One lab of nine hosts serves the whole module; ``restore`` puts hosts back (links healed, key restored,
staged host keys and the slow-boot unit removed, powered on) after every test.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.real.helpers import (
    SHORT_TIMEOUT,
    Roll,
    RollResult,
    boot_times,
    down_interval,
    engine_interval,
    file_exists,
    max_overlap,
    plain,
    restore,
    run_roll,
    shared_lab,
    slowroll,
    start_roll,
    write_inventory,
)
from tests.reallab.capture import APP_NEEDS_BROKEN, LEGACY_AGENT
from tests.reallab.lab import GoldenImage, Lab, LabHost

pytestmark = pytest.mark.realhost

FLEET = ("web1", "web2", "web3", "db1", "db2")
DRIFT = ("d1", "d2")
FAULTS = ("f1", "f2")
GROUPS = {
    "web": {"hosts": ["web1", "web2", "web3"], "max_unavailable": 2},
    "db": {"hosts": ["db1", "db2"], "max_unavailable": 1},
}
BUDGET = {"web": 2, "db": 1}
CHECKS = [
    {"name": "sshd", "systemd": "ssh.service"},
    {"name": "port", "tcp": 22},
    {"name": "hostname", "command": 'test "$(hostname)" = {name}'},
]

# Started by hand, never enabled. With an [Install] section the unit is "disabled"; without, "static".
HAND_DISABLED = LEGACY_AGENT
HAND_STATIC = """\
[Unit]
Description=static helper, started by hand
[Service]
ExecStart=/bin/sleep infinity
"""
DEP_WORKS = """\
[Unit]
Description=a dependency that works today
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
"""
DEP_FAILS = DEP_WORKS.replace("works today", "that fails at the next boot").replace("/bin/true", "/bin/false")
APP = APP_NEEDS_BROKEN  # Requires= and After= broken-dep.service, enabled

# Measured on the way (printed when the module's lab is torn down; run with -s to see them).
MEASURED: dict[str, list[float]] = {}
MEASURES = {
    "record_to_noticed": "reboot-to-noticed (new boot recorded on the host -> slowroll's 'booting')",
    "sshd_to_noticed": "sshd-up-to-noticed (ssh.service started on the host -> 'booting')",
    "sent_to_down": "reboot sent -> slowroll's 'down'",
    "sshd_stop_to_halt": "old boot: sshd stopping -> container gone (supervisor's exit 133)",
    "host_downtime": "host down (sshd stopping in the old boot -> sshd started in the new one)",
    "timeout_declared": "reboot sent -> 'failed' at reboot_timeout (6 s)",
}


@pytest.fixture(scope="module")
def lab(golden_image: GoldenImage, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with shared_lab(golden_image, tmp_path_factory.mktemp("scenarios"), FLEET + DRIFT + FAULTS) as lab:
        yield lab
    for key, label in MEASURES.items():
        values = sorted(MEASURED.get(key, []))
        if values:
            print(
                f"\n{label}: n={len(values)} min {values[0]:.3f}s median {values[len(values) // 2]:.3f}s"
                f" max {values[-1]:.3f}s",
                end="",
            )


@pytest.fixture(autouse=True)
def _restored(lab: Lab) -> Iterator[None]:
    yield
    restore(lab)


def hosts(lab: Lab, *names: str) -> list[LabHost]:
    return [lab.hosts[n] for n in names]


def records(*hs: LabHost) -> dict[str, list[str]]:
    return {h.name: h.boot_ids() for h in hs}


def assert_rebooted_once(r: RollResult, host: LabHost, before: list[str]) -> str:
    """The host's own record grew by exactly one boot, and slowroll's events name the same boot ids."""
    after = host.boot_ids()
    assert after[:-1] == before and len(after) == len(before) + 1, (host.name, before, after)
    assert r.first(host.name, "rebooting")["boot_id"] == before[-1]
    assert r.first(host.name, "booting")["boot_id"] == after[-1]
    assert after[-1] == host.boot_id()  # and it is the boot running now
    return after[-1]


def assert_untouched(r: RollResult, host: LabHost, before: list[str]) -> None:
    assert host.boot_ids() == before, f"{host.name} rebooted although it should not have been touched"
    assert not r.of("host-state", host.name), r.of("host-state", host.name)


def measure(r: RollResult, host: LabHost, old_boot: str, new_boot: str) -> None:
    boots = boot_times(host)
    times, old = boots[new_boot], boots[old_boot]
    noticed = r.first(host.name, "booting")["at"]
    assert times.recorded_at is not None and times.ssh_up_at is not None and old.ssh_stopping_at is not None
    assert times.recorded_at <= times.ssh_up_at <= noticed, (times, noticed)
    halted = [float(e.split()[2]) for e in host.events if e.startswith("exit 133 ")]
    note = MEASURED.setdefault
    note("record_to_noticed", []).append(noticed - times.recorded_at)
    note("sshd_to_noticed", []).append(noticed - times.ssh_up_at)
    note("host_downtime", []).append(times.ssh_up_at - old.ssh_stopping_at)
    if "down" in r.states(host.name):
        note("sent_to_down", []).append(
            r.first(host.name, "down")["at"] - r.first(host.name, "rebooting")["at"]
        )
    after_stop = [t - old.ssh_stopping_at for t in halted if t >= old.ssh_stopping_at]
    if after_stop:
        note("sshd_stop_to_halt", []).append(min(after_stop))


def in_order(seen: list[str], expected: list[str]) -> bool:
    it = iter(seen)
    return all(state in it for state in expected)


# ---------------------------------------------------------------------------------------------------
# Stock hosts


def test_stock_debian_hosts_give_no_drift_finding(lab: Lab, tmp_path: Path) -> None:
    """The drift audit on nine untouched Debian 12 hosts: not a single finding (no false positive)."""
    everyone = list(lab.hosts.values())
    inv = write_inventory(lab, tmp_path / "stock.yaml", everyone)
    r = slowroll("audit", inv, "--json", "--all", "--state", tmp_path / "state")
    assert r.returncode == 0, r.explain()
    audits = {e["host"]: e for e in r.events if e["event"] == "audit"}
    assert sorted(audits) == sorted(lab.hosts)
    assert {h: (a["error"], a["findings"]) for h, a in audits.items()} == dict.fromkeys(audits, (None, []))


# ---------------------------------------------------------------------------------------------------
# 1. A clean roll


def test_clean_roll_of_two_groups_reboots_each_host_once_within_budgets(lab: Lab, tmp_path: Path) -> None:
    fleet = hosts(lab, *FLEET)
    before = records(*fleet)
    inv = write_inventory(lab, tmp_path / "fleet.yaml", fleet, {"batch": 5}, groups=GROUPS, checks=CHECKS)
    r = run_roll(inv, tmp_path / "state")

    assert r.returncode == 0, r.explain()
    s = r.summary
    assert (s["state"], sorted(s["rebooted"])) == ("complete", sorted(FLEET)), s
    assert s["failed"] == s["skipped"] == s["untouched"] == []
    # budgets bind: a slice of 5 is cut to 2 web + 1 db, then the rest
    assert [e["hosts"] for e in r.of("slice-started")] == [["web1", "web2", "db1"], ["web3", "db2"]]
    assert not r.of("findings"), r.of("findings")  # stock hosts: no drift finding before or after

    new: dict[str, str] = {}
    for h in fleet:
        new[h.name] = assert_rebooted_once(r, h, before[h.name])
        assert in_order(
            r.states(h.name), ["prechecking", "rebooting", "booting", "checking", "baking", "done"]
        )
        assert r.states(h.name)[-1] == "done"
        ran = {(c["check"], c["phase"], c["ok"]) for c in r.of("check", h.name)}
        assert {(c, p, True) for c in ("sshd", "port", "hostname") for p in ("pre", "post")} <= ran, ran
        measure(r, h, before[h.name][-1], new[h.name])

    # What each host says: it stopped answering SSH at ssh.service's stop in the old boot, and answered
    # again at ssh.service's start in the new one. Slowroll's own account (pre-check .. done) must contain
    # that, and neither may ever hold more hosts of a group than its budget.
    down = {h.name: down_interval(h, before[h.name][-1], new[h.name]) for h in fleet}
    held = {name: engine_interval(r, name) for name in FLEET}
    for name in FLEET:
        sent, noticed = r.first(name, "rebooting")["at"], r.first(name, "booting")["at"]
        assert held[name][0] <= sent <= down[name][0], (name, held[name], sent, down[name])
        assert down[name][1] <= noticed <= held[name][1], (name, down[name], noticed, held[name])
    for group, members in (("web", FLEET[:3]), ("db", FLEET[3:])):
        assert max_overlap(down[m] for m in members) <= BUDGET[group], (group, {m: down[m] for m in members})
        assert max_overlap(held[m] for m in members) == BUDGET[group], (group, {m: held[m] for m in members})
    assert max_overlap(held.values()) == 3


# ---------------------------------------------------------------------------------------------------
# 2. A unit started by hand


def test_hand_started_units_are_named_before_the_reboot_and_lost_after(lab: Lab, tmp_path: Path) -> None:
    d1 = lab.hosts["d1"]
    d1.write_unit("legacy-agent.service", HAND_DISABLED)
    d1.write_unit("static-helper.service", HAND_STATIC)
    d1.systemctl("start", "legacy-agent.service", "static-helper.service", check=True)
    state = d1.run(
        "systemctl is-enabled legacy-agent static-helper; systemctl is-active legacy-agent static-helper"
    )
    assert state.stdout.split() == ["disabled", "static", "active", "active"]  # the premise, on the host
    before = d1.boot_ids()

    r = run_roll(write_inventory(lab, tmp_path / "drift.yaml", [d1]), tmp_path / "state")

    assert r.returncode == 1, r.explain()
    s = r.summary
    assert (s["state"], s["failed"], s["automatic"]) == ("paused", ["d1"], True), s
    # before the reboot: named, as a warning, and reported before the reboot was sent
    pre = {f["subject"]: f for f in r.findings("d1", "before")}
    assert pre["legacy-agent.service"]["kind"] in ("not-in-boot-tree", "running-not-enabled")
    assert pre["static-helper.service"]["kind"] == "not-in-boot-tree"  # only the boot tree can tell
    assert {f["severity"] for f in pre.values()} == {"warn"}
    findings_at = next(i for i, e in enumerate(r.events) if e["event"] == "findings")
    rebooting_at = next(
        i for i, e in enumerate(r.events) if e["event"] == "host-state" and e["new"] == "rebooting"
    )
    assert findings_at < rebooting_at
    # after: lost, blocking, named in the reason the roll paused for
    post = {f["subject"]: f for f in r.findings("d1", "after")}
    assert {u: (f["kind"], f["severity"]) for u, f in post.items()} == {
        "legacy-agent.service": ("lost-unit", "block"),
        "static-helper.service": ("lost-unit", "block"),
    }
    assert "legacy-agent.service" in s["reason"] and "static-helper.service" in s["reason"]
    # the host's word: one reboot, and the units really are gone
    assert_rebooted_once(r, d1, before)
    assert d1.run("systemctl is-active legacy-agent static-helper").stdout.split() == ["inactive", "inactive"]


# ---------------------------------------------------------------------------------------------------
# 3. An enabled unit whose dependency fails


def test_enabled_unit_left_dead_by_a_failed_dependency_is_caught_with_the_journal_line(
    lab: Lab, tmp_path: Path
) -> None:
    d2 = lab.hosts["d2"]
    d2.write_unit("broken-dep.service", DEP_WORKS)
    d2.write_unit("app-needs-broken.service", APP, enable=True)
    d2.systemctl("start", "app-needs-broken.service", check=True)
    assert d2.run("systemctl is-active app-needs-broken broken-dep").stdout.split() == ["active", "active"]
    d2.write_unit("broken-dep.service", DEP_FAILS)  # takes effect at the next boot
    before = d2.boot_ids()

    r = run_roll(write_inventory(lab, tmp_path / "dep.yaml", [d2]), tmp_path / "state")

    # the premise, on the host itself: systemd 252 leaves the enabled unit dead with Result=success
    shown = d2.run("systemctl show -p ActiveState -p SubState -p Result app-needs-broken.service").stdout
    assert sorted(shown.split()) == ["ActiveState=inactive", "Result=success", "SubState=dead"]
    assert d2.run("systemctl is-failed broken-dep.service").stdout.strip() == "failed"
    journal = d2.run("journalctl -b --no-pager -u app-needs-broken.service").stdout
    assert "Dependency failed for app-needs-broken.service" in journal

    assert r.returncode == 1, r.explain()
    assert (r.summary["state"], r.summary["failed"]) == ("paused", ["d2"])
    post = {f["subject"]: f for f in r.findings("d2", "after")}
    app = post["app-needs-broken.service"]
    assert (app["kind"], app["severity"]) == ("enabled-not-active", "block"), app
    assert "broken-dep.service" in app["message"]
    assert "Dependency failed for app-needs-broken.service" in app["evidence"], app["evidence"]
    assert post["broken-dep.service"]["kind"] == "new-failed-unit"
    assert "app-needs-broken.service" in r.summary["reason"]
    assert_rebooted_once(r, d2, before)


# ---------------------------------------------------------------------------------------------------
# 4. A network partition during the reboot


def _cut_when_rebooting(roll: Roll, host: LabHost, before: list[str]) -> float:
    """Cut the host off while it reboots; return when its sshd was up again (the host's journal).

    The cut comes once slowroll has seen the host go down (its old sshd refuses: the reboot command got
    through and the shutdown is under way), ~0.4 s before the new boot's sshd listens.
    """
    roll.wait_state(host.name, "down", timeout=30)
    host.partition("drop")  # connects time out, like a real partition; survives the reboot
    host.wait_boots(len(before) + 1, timeout=30)
    host.wait_active("ssh.service", timeout=30)
    up = boot_times(host)[host.boot_ids()[-1]].ssh_up_at
    assert up is not None
    return up


def test_partition_during_reboot_is_waited_out_and_the_roll_completes(lab: Lab, tmp_path: Path) -> None:
    f1, f2 = hosts(lab, *FAULTS)
    before = records(f1, f2)
    roll = start_roll(write_inventory(lab, tmp_path / "part.yaml", [f1, f2]), tmp_path / "state")
    ssh_up = _cut_when_rebooting(roll, f1, before["f1"])
    # the host is back, but slowroll cannot reach it: hold the partition a few seconds
    time.sleep(2.5)
    assert not [e for e in roll.events if e.get("host") == "f1" and e.get("new") == "booting"]
    healed = time.time()
    f1.heal()
    r = roll.finish()

    assert r.returncode == 0, r.explain()
    assert (r.summary["state"], r.summary["rebooted"]) == ("complete", ["f1", "f2"])
    assert "down" in r.states("f1")
    assert r.first("f1", "booting")["at"] > healed > ssh_up + 2  # it waited for the network, not the boot
    assert_rebooted_once(r, f1, before["f1"])
    assert_rebooted_once(r, f2, before["f2"])


def test_partition_that_outlasts_reboot_timeout_fails_the_host_and_pauses(lab: Lab, tmp_path: Path) -> None:
    f1, f2 = hosts(lab, *FAULTS)
    before = records(f1, f2)
    inv = write_inventory(lab, tmp_path / "part.yaml", [f1, f2], {"reboot_timeout": f"{SHORT_TIMEOUT:g}s"})
    roll = start_roll(inv, tmp_path / "state")
    _cut_when_rebooting(roll, f1, before["f1"])
    r = roll.finish()

    assert r.returncode == 1, r.explain()
    s = r.summary
    assert (s["state"], s["failed"], s["untouched"], s["automatic"]) == ("paused", ["f1"], ["f2"], True), s
    assert "reboot_timeout" in s["reason"] and "f1" in s["reason"]
    failed = r.first("f1", "failed")
    waited = failed["at"] - r.first("f1", "rebooting")["at"]
    assert SHORT_TIMEOUT <= waited < SHORT_TIMEOUT + 3, waited
    MEASURED.setdefault("timeout_declared", []).append(waited)
    # the host did reboot (once): only its network was gone
    assert len(f1.boot_ids()) == len(before["f1"]) + 1
    assert_untouched(r, f2, before["f2"])


# ---------------------------------------------------------------------------------------------------
# 5. A host key that changed across the reboot


def test_changed_host_key_after_reboot_is_refused_as_possible_impersonation(lab: Lab, tmp_path: Path) -> None:
    f1, f2 = hosts(lab, *FAULTS)
    before = records(f1, f2)
    new_key = f1.rotate_host_key()
    known = lab.known_hosts_path.read_bytes()

    r = run_roll(write_inventory(lab, tmp_path / "key.yaml", [f1, f2]), tmp_path / "state")

    assert r.returncode == 1, r.explain()
    s = r.summary
    assert (s["state"], s["failed"], s["untouched"]) == ("paused", ["f1"], ["f2"]), s
    assert "possible impersonation" in s["reason"] and "HOST KEY CHANGED" in s["reason"], s["reason"]
    assert len(f1.boot_ids()) == len(before["f1"]) + 1
    assert f1.host_public_key == new_key  # the host really presents another key now
    assert lab.known_hosts_path.read_bytes() == known
    assert_untouched(r, f2, before["f2"])


def test_accept_new_records_unknown_hosts_but_never_a_changed_key(lab: Lab, tmp_path: Path) -> None:
    f1, f2 = hosts(lab, *FAULTS)
    before = records(f1, f2)
    known = tmp_path / "known_hosts"
    known.write_text(f1.known_hosts_line + "\n")  # f2 is unknown: --accept-new may record it
    old_text = known.read_text()
    new_key = f1.rotate_host_key()
    inv = write_inventory(lab, tmp_path / "key.yaml", [f2, f1], known_hosts=known)

    r = run_roll(inv, tmp_path / "state", "--accept-new")

    assert r.returncode == 1, r.explain()
    s = r.summary
    assert (s["state"], s["rebooted"], s["failed"]) == ("paused", ["f2"], ["f1"]), s
    assert "possible impersonation" in s["reason"], s["reason"]
    assert known.read_text() == old_text + f2.known_hosts_line + "\n"  # f2 recorded; f1's line untouched
    assert new_key.split()[1] not in known.read_text()
    assert_rebooted_once(r, f2, before["f2"])
    assert len(f1.boot_ids()) == len(before["f1"]) + 1


# ---------------------------------------------------------------------------------------------------
# 6. Authentication, slow boots, a host that never returns


def test_auth_failure_before_its_turn_leaves_the_host_unrebooted_and_pauses(lab: Lab, tmp_path: Path) -> None:
    f1, f2 = hosts(lab, *FAULTS)
    before = records(f1, f2)
    f2.break_auth("replace")

    r = run_roll(write_inventory(lab, tmp_path / "auth.yaml", [f1, f2]), tmp_path / "state")

    assert r.returncode == 1, r.explain()
    s = r.summary
    assert (s["state"], s["rebooted"], s["failed"]) == ("paused", ["f1"], ["f2"]), s
    assert r.states("f2") == ["prechecking", "unhealthy"]
    assert "authentication failed" in s["reason"] and "f2" in s["reason"], s["reason"]
    assert_rebooted_once(r, f1, before["f1"])
    assert f2.boot_ids() == before["f2"]  # never rebooted


def test_auth_failure_after_the_reboot_fails_the_host_and_pauses(lab: Lab, tmp_path: Path) -> None:
    f1, f2 = hosts(lab, *FAULTS)
    before = records(f1, f2)
    roll = start_roll(write_inventory(lab, tmp_path / "auth.yaml", [f1, f2]), tmp_path / "state")
    roll.wait_state("f1", "rebooting", timeout=30)
    f1.break_auth("remove")
    r = roll.finish()

    assert r.returncode == 1, r.explain()
    s = r.summary
    assert (s["state"], s["failed"], s["untouched"]) == ("paused", ["f1"], ["f2"]), s
    assert "after the reboot" in s["reason"] and "authentication failed" in s["reason"], s["reason"]
    assert len(f1.boot_ids()) == len(before["f1"]) + 1
    assert_untouched(r, f2, before["f2"])


@pytest.mark.parametrize(
    ("delay", "timeout", "completes"),
    [(3, 15, True), (SHORT_TIMEOUT + 3, SHORT_TIMEOUT, False)],
    ids=["within-reboot-timeout", "beyond-reboot-timeout"],
)
def test_slow_boot(lab: Lab, tmp_path: Path, delay: float, timeout: float, completes: bool) -> None:
    f1, f2 = hosts(lab, *FAULTS)
    before = records(f1, f2)
    f1.delay_sshd(delay)
    chosen = [f1] if completes else [f1, f2]
    inv = write_inventory(lab, tmp_path / "slow.yaml", chosen, {"reboot_timeout": f"{timeout:g}s"})

    r = run_roll(inv, tmp_path / "state")

    f1.wait_active("ssh.service", timeout=delay + 30)  # the host does come back in any case
    new = f1.boot_ids()[-1]
    times = boot_times(f1)[new]
    assert times.recorded_at is not None and times.ssh_up_at is not None
    assert times.ssh_up_at - times.recorded_at >= delay - 0.5  # sshd really was late
    if completes:
        assert r.returncode == 0, r.explain()
        assert r.summary["rebooted"] == ["f1"]
        assert r.first("f1", "booting")["at"] >= times.ssh_up_at
        assert_rebooted_once(r, f1, before["f1"])
    else:
        assert r.returncode == 1, r.explain()
        s = r.summary
        assert (s["state"], s["failed"], s["untouched"]) == ("paused", ["f1"], ["f2"]), s
        assert "reboot_timeout" in s["reason"], s["reason"]
        assert r.first("f1", "failed")["at"] < times.ssh_up_at  # gave up before sshd came
        waited = r.first("f1", "failed")["at"] - r.first("f1", "rebooting")["at"]
        assert timeout <= waited < timeout + 3, waited
        MEASURED.setdefault("timeout_declared", []).append(waited)
        assert len(f1.boot_ids()) == len(before["f1"]) + 1
        assert_untouched(r, f2, before["f2"])


def test_host_that_never_returns_fails_at_reboot_timeout_and_the_rest_stay_untouched(
    lab: Lab, tmp_path: Path
) -> None:
    f1, f2 = hosts(lab, *FAULTS)
    before = records(f1, f2)
    f1.stop_for_good()
    inv = write_inventory(lab, tmp_path / "gone.yaml", [f1, f2], {"reboot_timeout": f"{SHORT_TIMEOUT:g}s"})

    r = run_roll(inv, tmp_path / "state")

    assert r.returncode == 1, r.explain()
    s = r.summary
    assert (s["state"], s["failed"], s["untouched"], s["automatic"]) == ("paused", ["f1"], ["f2"], True), s
    assert "reboot_timeout" in s["reason"], s["reason"]
    waited = r.first("f1", "failed")["at"] - r.first("f1", "rebooting")["at"]
    assert SHORT_TIMEOUT <= waited < SHORT_TIMEOUT + 3, waited
    MEASURED.setdefault("timeout_declared", []).append(waited)
    assert f1.state == "down" and f1.boot_ids() == before["f1"]  # it went down and never booted again
    assert_untouched(r, f2, before["f2"])


# ---------------------------------------------------------------------------------------------------
# 7. Resume after the console was killed


def test_resume_after_sigkill_mid_roll_completes_with_one_reboot_per_host(lab: Lab, tmp_path: Path) -> None:
    names = ("web1", "web2", "web3", "db1")
    chosen = hosts(lab, *names)
    before = records(*chosen)
    groups = {"web": {"hosts": ["web1", "web2", "web3"], "max_unavailable": 2}, "db": {"hosts": ["db1"]}}
    inv = write_inventory(lab, tmp_path / "resume.yaml", chosen, {"batch": 2}, groups=groups)
    state = tmp_path / "state"

    roll = start_roll(inv, state)
    second_slice = roll.wait_for(lambda e: e["event"] == "slice-started" and e["index"] == 1, timeout=60)
    victim, mate = second_slice["hosts"]
    # Kill the console once the victim's reboot has certainly left (slowroll saw it go down); its
    # slice-mate may be anywhere: pre-checking, its reboot sent or not yet.
    roll.wait_for(
        lambda e: e["event"] == "host-state" and e["host"] == victim and e["new"] in ("down", "booting"),
        timeout=30,
    )
    roll.kill()
    first = roll.finish()
    assert first.returncode == -9
    assert first.events[-1]["event"] != "roll-finished"
    killed_at = time.time()

    r = slowroll("resume", "--headless", "--json", "--state", state, timeout=120)

    assert r.returncode == 0, r.explain()
    assert (r.summary["state"], sorted(r.summary["rebooted"])) == ("complete", sorted(names)), r.summary
    for h in chosen:
        after = h.boot_ids()
        assert after[:-1] == before[h.name] and len(after) == len(before[h.name]) + 1, (h.name, after)
    # The victim's reboot happened while no console watched: resume found its new boot id and did not
    # send another reboot (the host's record above says the same).
    logs = " ".join(e["message"] for e in r.of("log", victim))
    assert "checking its boot id" in logs and "re-issuing" not in logs, logs
    assert not [e for e in r.of("host-state", victim) if e["new"] == "rebooting"], r.of("host-state", victim)
    assert lab.hosts[victim].boot_ids()[-1] == r.first(victim, "booting")["boot_id"]
    mate_states = [e["new"] for e in first.of("host-state", mate)]
    mate_logs = " ".join(e["message"] for e in r.of("log", mate))
    path = "re-issued" if "re-issuing" in mate_logs else "verified" if "checking" in mate_logs else "fresh"
    print(f"\nresume: {mate} was {(mate_states or ['pending'])[-1]} when the console died -> {path}")
    assert r.ended_at - killed_at < 30
    history = json.loads(slowroll_history(state))
    assert [roll["state"] for roll in history["rolls"]] == ["complete"]
    assert sorted(b["host"] for b in history["reboots"]) == sorted(names)


def slowroll_history(state: Path) -> str:
    proc = plain("history", "--json", "--state", state)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# ---------------------------------------------------------------------------------------------------
# 8. A reboot command that returns without rebooting


def test_reboot_command_that_does_not_reboot_is_reported_as_not_rebooted(lab: Lab, tmp_path: Path) -> None:
    f1 = lab.hosts["f1"]
    before = f1.boot_ids()
    policy = {"reboot_timeout": f"{SHORT_TIMEOUT:g}s", "reboot_command": "shutdown -r +1"}
    try:
        r = run_roll(write_inventory(lab, tmp_path / "sched.yaml", [f1], policy), tmp_path / "state")
    finally:
        f1.run("shutdown -c", check=True)  # the scheduled reboot must not hit a later test
        assert not file_exists(f1, "/run/systemd/shutdown/scheduled")
    assert r.returncode == 1, r.explain()
    assert r.states("f1") == ["prechecking", "rebooting", "failed"]  # never seen down: it never was
    assert f1.boot_ids() == before  # the host's word: no reboot
    reason = r.summary["reason"]
    assert "no answer" not in reason and "old boot id" in reason, reason
