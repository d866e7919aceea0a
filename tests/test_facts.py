"""console.facts: the facts script, its parser and the evidence command, on real systemd 252 output."""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.remote.facts import TAINT_LIVEPATCH, Facts, UnitState, kernel_version_key
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

FIXTURES = Path(__file__).parent / "fixtures" / "systemd-252"
SCRIPT_OUT = FIXTURES / "facts-script"


def _capture(phase: str, name: str) -> tuple[list[str], int]:
    """One file of the per-command capture: (lines, exit status) -- the last line is ``exit=N``."""
    lines = (FIXTURES / phase / f"{name}.txt").read_text().splitlines()
    assert lines[-1].startswith("exit=")
    return lines[:-1], int(lines[-1][len("exit=") :])


def section(name: str, lines: list[str], exit_status: int | None = 0) -> str:
    out = [f"@@slowroll:{name}", *lines, ""]
    if exit_status is not None:
        out.append(f"@@exit={exit_status}")
    return "\n".join(out) + "\n"


def fixture_text(phase: str, *, units: str = "json") -> str:
    """The per-command capture of ``phase`` put together as FACTS_SCRIPT would print it.

    That capture has no boot tree (so the section is left out) and a few commands that differ from the
    script's: ``ls /sys/kernel/livepatch; cat tainted`` failed on the missing directory (the script's
    guard makes that an empty listing), ``ls /boot; ls /lib/modules`` printed nothing for an empty /boot
    and failed for /lib/modules, and the reboot-required probe found no marker and no needs-restarting
    on a Debian host (the script prints ``not-required``).
    """
    parts = []
    for name, capture in (("boot_id", "boot_id"), ("uptime", "uptime"), ("kernel", "uname_r")):
        parts.append(section(name, *_capture(phase, capture)))
    parts.append(section("boot", [], 0))
    parts.append(section("modules", [], 2))
    livepatch, _ = _capture(phase, "livepatch")
    assert "No such file or directory" in livepatch[0]
    parts.append(section("livepatch", [], 0))
    parts.append(section("tainted", livepatch[1:], 0))
    rr, _ = _capture(phase, "reboot_required")
    assert "no-needs-restarting" in rr
    parts.append(section("reboot_required", ["not-required"], 0))
    parts.append(section("system_state", *_capture(phase, "is_system_running")))
    parts.append(section("units", *_capture(phase, f"list_units_service_{units}")))
    parts.append(section("unit_files", *_capture(phase, "list_unit_files_service")))
    parts.append(section("unit_props", *_capture(phase, "show_units")))
    parts.append(section("dbus", [], 0))
    return "".join(parts)


EXTRA = Path(__file__).parent / "fixtures" / "systemd-252-extra"


def extra_capture(phase: str, name: str) -> tuple[list[str], int]:
    lines = (EXTRA / phase / f"{name}.txt").read_text().splitlines()
    assert lines[-1].startswith("exit=")
    return lines[:-1], int(lines[-1][len("exit=") :])


def fixture_text_with_tree(phase: str) -> str:
    """``fixture_text`` plus the boot tree from the second capture of the same setup (same test units,
    same Debian 12 / systemd 252 image built the same way; the first capture has no boot tree)."""
    return fixture_text(phase) + section("boot_tree", *extra_capture(phase, "list_dependencies_default"))


# ---- the per-command capture (systemd 252, one real reboot)


def test_before_fixture_shows_the_hand_started_unit() -> None:
    facts = parse_facts(fixture_text("before"))
    assert facts.boot_id == "f9ba022f-56da-49a3-b228-5082d67d3d33"
    assert facts.uptime_seconds == pytest.approx(5198.38)
    assert facts.kernel_running == "6.18.44-fc-v657"
    assert facts.system_state == "running"
    assert facts.units is not None
    legacy = facts.units["legacy-agent.service"]
    assert (legacy.load, legacy.active, legacy.sub) == ("loaded", "active", "running")
    assert legacy.unit_file_state == "disabled"
    assert legacy.result == "success"
    assert legacy.description == "Legacy agent (started by hand, never enabled)"
    assert facts.units["app-needs-broken.service"].unit_file_state == "enabled"
    assert facts.units["broken-dep.service"].sub == "exited"
    # no show data for most units: their unit-file state still comes from list-unit-files
    assert facts.units["ssh.service"].unit_file_state == "enabled"
    assert facts.units["dbus.service"].unit_file_state == "static"
    assert facts.units["dbus.service"].result is None
    # template instance: the template's state
    assert facts.units["getty@tty1.service"].unit_file_state == "enabled"
    assert facts.units["getty@tty1.service"].template == "getty@.service"
    assert facts.boot_tree is None  # not captured: unknown, never "empty"
    assert any(e.startswith("boot_tree") for e in facts.errors)


def test_after_fixture_shows_the_failed_dependency_and_the_dead_app() -> None:
    facts = parse_facts(fixture_text("after"))
    assert facts.boot_id == "f0a99827-5568-4673-baef-62c43124eea2"
    assert facts.system_state == "degraded"  # is-system-running exits 1 here: the word still counts
    assert facts.units is not None
    assert "legacy-agent.service" not in facts.units  # not even loaded after the reboot
    dep = facts.units["broken-dep.service"]
    assert (dep.active, dep.sub, dep.result) == ("failed", "failed", "exit-code")
    assert dep.is_failed
    app = facts.units["app-needs-broken.service"]
    assert (app.active, app.sub, app.result, app.unit_file_state) == (
        "inactive",
        "dead",
        "success",
        "enabled",
    )
    assert [u.name for u in facts.units.values() if u.is_failed] == ["broken-dep.service"]


@pytest.mark.parametrize("phase", ["before", "after"])
def test_json_and_plain_list_units_agree(phase: str) -> None:
    from_json = parse_facts(fixture_text(phase, units="json"))
    from_plain = parse_facts(fixture_text(phase, units="plain"))
    assert from_json.units == from_plain.units
    assert from_json.units


def test_container_facts_are_unknown_not_wrong() -> None:
    facts = parse_facts(fixture_text("before"))
    assert facts.kernels_installed is None  # empty /boot, no /lib/modules
    assert facts.kernel_newest is None
    assert facts.kernel_pending is None
    assert facts.livepatches == ()
    assert facts.tainted == 0
    assert facts.live_patched is False
    assert facts.reboot_required is False


# ---- the second capture: boot tree, sockets/timers/paths, show with TriggeredBy


@pytest.mark.parametrize("phase", ["before", "after"])
def test_boot_tree_from_real_list_dependencies(phase: str) -> None:
    lines, status = extra_capture(phase, "list_dependencies_default")
    assert status == 0 and lines[0] == "default.target"
    assert all(line.startswith("  ") and " " not in line.strip() for line in lines[1:])  # --plain: flat
    tree = parse_facts(section("boot_tree", lines, status)).boot_tree
    assert tree is not None and len(tree) == len(lines) == len(set(lines))
    assert {
        "default.target",
        "multi-user.target",
        "app-needs-broken.service",
        "broken-dep.service",  # through app-needs-broken's Requires= (--all)
        "dbus.service",
        "dbus.socket",
        "ssh.service",
        "getty@tty1.service",
        "-.slice",
    } <= tree
    assert "legacy-agent.service" not in tree


def test_sockets_timers_paths_and_show_with_triggered_by() -> None:
    text = (
        section("units", *extra_capture("after", "list_units_socket_timer_path_json"))
        + section("unit_files", *extra_capture("after", "list_unit_files_all"))
        + section("unit_props", *extra_capture("after", "show_units"))
    )
    facts = parse_facts(text)
    assert facts.units is not None and facts.unit_files is not None
    sock = facts.units["dbus.socket"]
    assert (sock.active, sock.sub, sock.unit_file_state) == ("active", "running", "static")
    assert set(sock.pulled_by or ()) == {"sockets.target", "systemd-logind.service"}
    timer = facts.units["fstrim.timer"]
    assert (timer.active, timer.unit_file_state) == ("inactive", "enabled")
    assert facts.units["systemd-ask-password-wall.path"].sub == "waiting"
    assert facts.unit_files["legacy-agent.service"] == "disabled"
    assert facts.unit_files["multi-user.target"] == "static"
    props = parse_show(extra_capture("after", "show_units")[0])
    assert props["dbus.service"]["TriggeredBy"] == "dbus.socket"
    assert props["systemd-journald.service"]["TriggeredBy"].split() == [
        "systemd-journald.socket",
        "systemd-journald-audit.socket",
        "systemd-journald-dev-log.socket",
    ]
    assert props["broken-dep.service"]["Result"] == "exit-code"


# ---- FACTS_SCRIPT's own output on real systemd 252


@pytest.mark.parametrize("name", ["stock", "before", "after"])
def test_real_script_output_parses_cleanly(name: str) -> None:
    facts = parse_facts((SCRIPT_OUT / f"{name}.txt").read_text())
    assert facts.errors == ()
    assert facts.units and facts.unit_files and facts.boot_tree and facts.dbus_services is not None
    assert "default.target" in facts.boot_tree
    assert {"dbus.socket", "multi-user.target", "sysinit.target"} <= facts.boot_tree
    dbus = facts.units["dbus.service"]
    assert dbus.triggered_by == ("dbus.socket",)
    # sockets and timers are listed too
    assert facts.units["dbus.socket"].is_active
    assert facts.units["apt-daily.timer"].sub == "waiting"
    assert facts.units["apt-daily.service"].triggered_by == ("apt-daily.timer",)
    assert "dbus-org.freedesktop.hostname1.service" in facts.dbus_services


def test_real_script_output_before_reboot() -> None:
    facts = parse_facts((SCRIPT_OUT / "before.txt").read_text())
    assert facts.units is not None and facts.boot_tree is not None
    legacy = facts.units["legacy-agent.service"]
    assert (legacy.active, legacy.unit_file_state, legacy.pulled_by, legacy.triggered_by) == (
        "active",
        "disabled",
        (),
        (),
    )
    assert "legacy-agent.service" not in facts.boot_tree
    assert "app-needs-broken.service" in facts.boot_tree
    assert facts.units["adhoc-debug.service"].unit_file_state == "transient"
    hostnamed = facts.units["systemd-hostnamed.service"]
    assert hostnamed.aliases == ("dbus-org.freedesktop.hostname1.service",)
    assert facts.units["broken-dep.service"].pulled_by == ("app-needs-broken.service",)


def test_real_script_output_after_reboot() -> None:
    facts = parse_facts((SCRIPT_OUT / "after.txt").read_text())
    assert facts.units is not None
    assert facts.system_state == "degraded"
    app = facts.units["app-needs-broken.service"]
    assert (app.active, app.result, app.started, app.condition_failed) == (
        "inactive",
        "success",
        False,
        False,
    )
    dep = facts.units["broken-dep.service"]
    assert (dep.active, dep.result, dep.started) == ("failed", "exit-code", True)
    # skipped by a start condition (ConditionVirtualization=!container): not the same as "never tried"
    timesyncd = facts.units["systemd-timesyncd.service"]
    assert (timesyncd.unit_file_state, timesyncd.condition_failed) == ("enabled", True)
    assert "legacy-agent.service" not in facts.units


# ---- robustness


def test_no_systemd_gives_unknowns_and_no_noise() -> None:
    text = (
        section("boot_id", ["0b5e6a4c-3f5e-4c9b-9a43-6c2b1e2d9f10"])
        + section("uptime", ["12.50 20.00"])
        + section("kernel", ["5.10.0-30-amd64"])
        + section("system_state", [], 127)
        + section("units", [], 127)
        + section("unit_files", [], 127)
        + section("unit_props", [], 127)
        + section("boot_tree", [], 127)
    )
    facts = parse_facts(text)
    assert facts.boot_id == "0b5e6a4c-3f5e-4c9b-9a43-6c2b1e2d9f10"
    assert facts.system_state is None and facts.units is None and facts.boot_tree is None
    assert not any(e.startswith(("units", "system_state", "boot_tree")) for e in facts.errors)
    assert facts.summary()["units_active"] == "unknown"


def test_truncated_unit_list_is_unknown_not_partial() -> None:
    text = (SCRIPT_OUT / "before.txt").read_text()
    cut = text.index("@@slowroll:boot_tree") + 200  # in the middle of the boot tree
    facts = parse_facts(text[:cut])
    assert facts.units is not None  # complete before the cut
    assert facts.boot_tree is None
    assert "boot_tree: output was cut off" in facts.errors
    assert facts.dbus_services is None
    cut = text.index('"unit":"legacy-agent.service"')
    facts = parse_facts(text[:cut])
    assert facts.units is None and facts.unit_files is None
    assert facts.boot_id is not None


def test_stderr_mixed_in_and_garbage_lines_are_ignored() -> None:
    text = (SCRIPT_OUT / "after.txt").read_text()
    noisy = "\n".join(
        line + ("\nls: cannot access '/x': No such file or directory" if i % 7 == 0 else "")
        for i, line in enumerate(text.splitlines())
    )
    clean = parse_facts(text)
    facts = parse_facts("Welcome to host!\r\n" + noisy.replace("\n", "\r\n"))
    assert facts.boot_id == clean.boot_id
    assert facts.system_state == clean.system_state
    assert facts.boot_tree == clean.boot_tree


def test_a_repeated_section_cannot_override_the_first() -> None:
    good = section("boot_id", ["0b5e6a4c-3f5e-4c9b-9a43-6c2b1e2d9f10"])
    forged = section("boot_id", ["11111111-2222-4333-8444-555555555555"])
    assert parse_facts(good + forged).boot_id == "0b5e6a4c-3f5e-4c9b-9a43-6c2b1e2d9f10"


def test_empty_and_non_facts_output() -> None:
    assert parse_facts("").errors == ("no facts in the output (is sh available on the host?)",)
    assert parse_facts("sh: 1: not found\n").boot_id is None


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parse_facts_never_raises_on_any_text(text: str) -> None:
    facts = parse_facts(text)
    json.dumps(facts.to_dict())
    facts.summary()


_REAL = (SCRIPT_OUT / "before.txt").read_text()


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=len(_REAL)), st.text(max_size=40))
def test_parse_facts_never_raises_on_cut_or_spliced_real_output(cut: int, junk: str) -> None:
    facts = parse_facts(_REAL[:cut] + junk + _REAL[cut:])
    assert Facts.from_dict(json.loads(json.dumps(facts.to_dict()))) == facts
    parse_facts(_REAL[:cut])


# ---- kernels, live patches, reboot-required


def _kernel_text(boot: list[str], modules: list[str], running: str) -> str:
    return section("kernel", [running]) + section("boot", boot) + section("modules", modules)


def test_kernels_from_boot_sorted_by_version_and_rescue_ignored() -> None:
    boot = [
        "System.map-6.1.0-9-amd64",
        "config-6.1.0-9-amd64",
        "grub",
        "initrd.img-6.1.0-9-amd64",
        "vmlinuz-6.1.0-9-amd64",
        "vmlinuz-6.1.0-27-amd64",
        "vmlinuz-6.1.0-26-amd64",
        "vmlinuz-0-rescue-3d1219c7c4c5404aaa1f6d2a48adfda4",
        "vmlinuz",
    ]
    facts = parse_facts(_kernel_text(boot, ["6.1.0-26-amd64"], "6.1.0-26-amd64"))
    assert facts.kernels_installed == ("6.1.0-9-amd64", "6.1.0-26-amd64", "6.1.0-27-amd64")
    assert facts.kernel_newest == "6.1.0-27-amd64"
    assert facts.kernel_pending is True


def test_kernel_newest_keeps_to_the_running_flavour_and_falls_back_to_modules() -> None:
    facts = parse_facts(
        _kernel_text(["vmlinuz-5.15.0-91-generic", "vmlinuz-5.15.0-101-lowlatency"], [], "5.15.0-91-generic")
    )
    assert facts.kernel_newest == "5.15.0-91-generic"
    assert facts.kernel_pending is False
    facts = parse_facts(_kernel_text(["vmlinuz-linux"], ["6.9.1-arch1-1", "6.10.2-arch1-1"], "6.9.1-arch1-1"))
    assert facts.kernels_installed == ("6.9.1-arch1-1", "6.10.2-arch1-1")
    assert facts.kernel_pending is True


def test_kernel_version_key_compares_numbers_as_numbers() -> None:
    rhel = ["5.14.0-362.8.1.el9_3.x86_64", "5.14.0-362.13.1.el9_3.x86_64", "5.14.0-70.el9.x86_64"]
    assert sorted(rhel, key=kernel_version_key) == [rhel[2], rhel[0], rhel[1]]


def test_live_patch_from_module_list_or_taint_bit() -> None:
    loaded = parse_facts(section("livepatch", ["kpatch_cve_2024_1086"]) + section("tainted", ["36864"]))
    assert loaded.livepatches == ("kpatch_cve_2024_1086",)
    assert loaded.live_patched is True
    # patch unloaded again: the taint bit stays until the next boot
    taint_only = parse_facts(section("livepatch", []) + section("tainted", [str(TAINT_LIVEPATCH | 1)]))
    assert taint_only.live_patched is True
    clean = parse_facts(section("livepatch", []) + section("tainted", ["4096"]))
    assert clean.live_patched is False
    assert parse_facts(section("kernel", ["6.1.0-26-amd64"])).live_patched is None


def test_reboot_required_debian_marker_and_needs_restarting() -> None:
    deb = parse_facts(
        section("reboot_required", ["required", "linux-image-6.1.0-27-amd64", "libc6", "libc6"])
    )
    assert deb.reboot_required is True
    assert deb.reboot_required_pkgs == ("linux-image-6.1.0-27-amd64", "libc6")
    rhel = parse_facts(
        section(
            "reboot_required",
            [
                "required",
                "Core libraries or services have been updated since boot-up:",
                "  * kernel",
                "  * systemd",
                "",
                "Reboot is required to fully utilize these updates.",
                "More information: https://access.redhat.com/solutions/27943",
            ],
        )
    )
    assert rhel.reboot_required is True
    assert rhel.reboot_required_pkgs == ("kernel", "systemd")
    assert parse_facts(section("reboot_required", ["not-required"])).reboot_required is False
    assert parse_facts(section("reboot_required", [], 127)).reboot_required is None


def test_plain_units_with_a_job_column_and_bullets() -> None:
    text = section(
        "units",
        [
            "nginx.service   loaded activating start start A high performance web server",
            "● broken.service loaded failed     failed      Broken thing",
            "cron.service    loaded active     running     Regular background program processing daemon",
        ],
    )
    units = parse_facts(text).units
    assert units is not None
    assert units["nginx.service"].description == "A high performance web server"
    assert units["broken.service"].is_failed
    assert units["cron.service"].description == "Regular background program processing daemon"


# ---- serialisation


def test_to_dict_round_trips_and_is_json() -> None:
    for name in ("before", "after"):
        facts = parse_facts((SCRIPT_OUT / f"{name}.txt").read_text())
        data = json.loads(json.dumps(facts.to_dict()))
        assert Facts.from_dict(data) == facts
    empty = Facts()
    assert Facts.from_dict(empty.to_dict()) == empty


def test_from_dict_rejects_wrong_shapes() -> None:
    with pytest.raises(ValueError):
        Facts.from_dict({"units": {"a.service": {"name": 1}}})
    with pytest.raises(ValueError):
        Facts.from_dict({"uptime_seconds": "long"})
    with pytest.raises(ValueError):
        Facts.from_dict([])  # type: ignore[arg-type]


def test_summary_says_unknown() -> None:
    summary = Facts(kernel_running="6.1.0-26-amd64").summary()
    assert summary["kernel"] == "6.1.0-26-amd64"
    assert summary["boot_id"] == "unknown"
    assert summary["live_patched"] == "unknown"
    facts = parse_facts((SCRIPT_OUT / "after.txt").read_text())
    assert facts.summary()["units_failed"] == ["broken-dep.service"]


def test_unit_state_template() -> None:
    assert (
        UnitState("getty@tty1.service", "loaded", "active", "running", None, None).template
        == "getty@.service"
    )
    assert UnitState("ssh.service", "loaded", "active", "running", None, None).template is None


# ---- the script itself, run by real shells


def test_facts_command_is_sh_c_with_the_script_as_one_word() -> None:
    assert shlex.split(FACTS_COMMAND) == ["sh", "-c", FACTS_SCRIPT]
    assert "\\\\" not in FACTS_SCRIPT  # fish would rewrite a doubled backslash


@pytest.mark.parametrize("shell", ["/usr/bin/dash", "/usr/bin/bash"])
def test_script_runs_under_a_real_shell_and_closes_every_section(shell: str, tmp_path: Path) -> None:
    if not os.path.exists(shell):
        pytest.skip(f"{shell} not installed")
    # A stand-in systemctl that says what it was asked, so the test does not depend on this machine.
    fake = tmp_path / "bin"
    fake.mkdir()
    systemctl = fake / "systemctl"
    systemctl.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s|" "$a"; done; echo\n')
    systemctl.chmod(systemctl.stat().st_mode | stat.S_IEXEC)
    env = {"PATH": f"{fake}:/usr/bin:/bin", "HOME": str(tmp_path)}
    login_shell_line = FACTS_COMMAND.replace("sh -c", f"{shell} -c", 1)
    proc = subprocess.run(
        [shell, "-c", login_shell_line], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert proc.returncode == 0
    for name in SECTION_NAMES:
        assert f"@@slowroll:{name}\n" in proc.stdout
    assert proc.stdout.count("@@exit=") == len(SECTION_NAMES)
    # the glob patterns reach systemctl unexpanded, and the property list in one piece
    assert "'*.service'" not in proc.stdout
    assert "|*.service|*.socket|*.timer|*.path|" in proc.stdout
    assert "-p|Id,Names,RequiredBy,WantedBy,BoundBy,UpheldBy,TriggeredBy,UnitFileState,Result," in proc.stdout
    assert "list-dependencies|--all|--plain|--full|--no-pager|default.target|" in proc.stdout


# ---- gather_facts / gather_evidence with a recording runner


class Recorder:
    def __init__(self, result: CommandResult) -> None:
        self.result = result
        self.calls: list[tuple[str, float]] = []

    async def run(self, command: str, *, timeout: float) -> CommandResult:
        self.calls.append((command, timeout))
        return self.result


async def test_gather_facts_runs_the_script_once() -> None:
    runner = Recorder(CommandResult(0, (SCRIPT_OUT / "before.txt").read_text(), ""))
    facts = await gather_facts(runner, timeout=12.0)
    assert runner.calls == [(FACTS_COMMAND, 12.0)]
    assert facts.units and "legacy-agent.service" in facts.units


async def test_gather_facts_notes_a_timeout_and_keeps_what_arrived() -> None:
    text = (SCRIPT_OUT / "before.txt").read_text()
    runner = Recorder(CommandResult(None, text[: text.index("@@slowroll:unit_files")], ""))
    facts = await gather_facts(runner, timeout=5.0)
    assert facts.boot_id is not None
    assert facts.unit_files is None
    assert "the facts command did not finish within 5s" in facts.errors


def test_command_result_ok() -> None:
    assert CommandResult(0, "", "").ok
    assert not CommandResult(1, "", "").ok
    assert not CommandResult(None, "", "").ok


def test_evidence_command_quotes_hostile_unit_names() -> None:
    evil = "x.service; touch /tmp/pwned #"
    command = evidence_command(["app-needs-broken.service", evil], lines=5)
    words = shlex.split(command)
    assert "--unit=x.service; touch /tmp/pwned #" in words
    assert words.count("journalctl") == 2
    assert "-n" in words and "5" in words


async def test_gather_evidence_splits_per_unit_from_real_output() -> None:
    units = [
        "app-needs-broken.service",
        "broken-dep.service",
        "legacy-agent.service",
        "systemd-hostnamed.service",
    ]
    runner = Recorder(CommandResult(0, (SCRIPT_OUT / "after-evidence.txt").read_text(), ""))
    evidence = await gather_evidence(runner, units, timeout=9.0)
    assert runner.calls == [(evidence_command(units, lines=20), 9.0)]
    first = evidence["app-needs-broken.service"].splitlines()[0]
    assert "vm systemd[1]: Dependency failed for app-needs-broken.service - App that" in first
    assert first.endswith("Requires= broken-dep.service.")
    assert "Failed with result 'exit-code'" in evidence["broken-dep.service"]
    assert evidence["legacy-agent.service"] == ""  # "-- No entries --" is not evidence


async def test_gather_evidence_with_no_units_sends_nothing() -> None:
    runner = Recorder(CommandResult(0, "", ""))
    assert await gather_evidence(runner, [], timeout=1.0) == {}
    assert runner.calls == []


def test_evidence_command_runs_in_a_real_shell_without_injection(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    journalctl = fake / "journalctl"
    # prints its last argument, the way a unit's journal would mention it
    journalctl.write_text('#!/bin/sh\nfor a; do last=$a; done\necho "2026-11-28T04:30:18+0000 h1 x: $last"\n')
    journalctl.chmod(journalctl.stat().st_mode | stat.S_IEXEC)
    marker = tmp_path / "pwned"
    units = ["a.service", f"b.service; touch {marker}", "c@$(touch x).service"]
    proc = subprocess.run(
        ["/bin/sh", "-c", evidence_command(units, lines=3)],
        capture_output=True,
        text=True,
        env={"PATH": f"{fake}:/usr/bin:/bin"},
        cwd=tmp_path,
        timeout=30,
        check=False,
    )
    assert not marker.exists() and not (tmp_path / "x").exists()
    evidence = parse_evidence(proc.stdout, units)
    assert evidence[units[1]].endswith(f"--unit={units[1]}")
    assert evidence[units[2]].endswith(f"--unit={units[2]}")
