"""console.drift: findings before and after a reboot, from real systemd 252 output."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_facts import EXTRA, FIXTURES, SCRIPT_OUT, fixture_text, fixture_text_with_tree

from console.drift.changes import unit_pairs
from console.drift.findings import evidence_units, preflight, regressions
from console.model.findings import (
    ALL_KINDS,
    DEFAULT_SEVERITIES,
    KINDS_AFTER,
    KINDS_BEFORE,
    DriftPolicy,
    Finding,
    Severity,
)
from console.remote.facts import Facts, UnitState
from console.remote.factsparse import parse_facts
from console.remote.gather import parse_evidence

DEFAULT = DriftPolicy.default()
EVIDENCE_UNITS = [
    "app-needs-broken.service",
    "broken-dep.service",
    "legacy-agent.service",
    "systemd-hostnamed.service",
]


def real(name: str) -> Facts:
    return parse_facts((SCRIPT_OUT / f"{name}.txt").read_text())


def journal_app_after() -> str:
    lines = (FIXTURES / "after" / "journal_app.txt").read_text().splitlines()
    return "\n".join(line for line in lines if not line.startswith("exit="))


def kinds(findings: list[Finding]) -> set[tuple[str, str]]:
    return {(f.kind, f.subject) for f in findings}


def unit(
    name: str, active: str = "active", sub: str = "running", state: str | None = "enabled", **kw: object
):
    return UnitState(name, "loaded", active, sub, state, kw.pop("result", "success"), **kw)  # type: ignore[arg-type]


def facts_with(*units: UnitState, **kw: object) -> Facts:
    return Facts(units={u.name: u for u in units}, **kw)  # type: ignore[arg-type]


# ---- kinds and severities


def test_kinds_and_default_severities() -> None:
    assert set(KINDS_BEFORE).isdisjoint(KINDS_AFTER)
    assert ALL_KINDS == KINDS_BEFORE + KINDS_AFTER
    assert all(DEFAULT_SEVERITIES[k] is Severity.WARN for k in KINDS_BEFORE)
    assert all(DEFAULT_SEVERITIES[k] is Severity.BLOCK for k in KINDS_AFTER)


# ---- before the reboot, the per-command capture (no boot tree)


def test_preflight_finds_the_hand_started_unit_without_a_boot_tree() -> None:
    facts = parse_facts(fixture_text("before"))
    findings = preflight(facts, DEFAULT)
    assert kinds(findings) == {("running-not-enabled", "legacy-agent.service")}
    (finding,) = findings
    assert finding.severity is Severity.WARN
    assert finding.phase == "before"
    assert finding.message == (
        "legacy-agent.service is running but nothing starts it at boot: it is disabled (started by hand?)"
    )
    assert "UnitFileState=disabled" in finding.evidence


def test_preflight_with_the_real_boot_tree() -> None:
    before = parse_facts(fixture_text_with_tree("before"))
    assert before.boot_tree is not None
    findings = preflight(before, DEFAULT)
    assert kinds(findings) == {("not-in-boot-tree", "legacy-agent.service")}
    assert findings[0].message == (
        "legacy-agent.service is running but nothing starts it at boot: it is disabled and not in "
        "default.target's boot tree (started by hand?)"
    )
    after = parse_facts(fixture_text_with_tree("after"))
    assert kinds(preflight(after, DEFAULT)) == {("failed-units", "broken-dep.service")}


def test_regressions_with_the_real_boot_tree_and_the_second_journal() -> None:
    before = parse_facts(fixture_text_with_tree("before"))
    after = parse_facts(fixture_text_with_tree("after"))
    journal = "\n".join((EXTRA / "after" / "journal_app.txt").read_text().splitlines()[:-1])
    findings = regressions(before, after, DEFAULT, {"app-needs-broken.service": journal})
    assert kinds(findings) == {
        ("lost-unit", "legacy-agent.service"),
        ("enabled-not-active", "app-needs-broken.service"),
        ("new-failed-unit", "broken-dep.service"),
    }
    app = next(f for f in findings if f.kind == "enabled-not-active")
    assert "Dependency failed for app-needs-broken.service" in app.evidence


# ---- before the reboot, FACTS_SCRIPT's output (with the boot tree)


def test_stock_real_host_has_no_findings() -> None:
    stock = real("stock")
    assert preflight(stock, DEFAULT) == []
    assert regressions(stock, stock, DEFAULT) == []


def test_preflight_with_boot_tree_finds_not_in_boot_tree() -> None:
    findings = preflight(real("before"), DEFAULT)
    assert kinds(findings) == {
        ("not-in-boot-tree", "legacy-agent.service"),
        ("not-in-boot-tree", "adhoc-debug.service"),  # systemd-run
    }
    legacy = next(f for f in findings if f.subject == "legacy-agent.service")
    assert legacy.message == (
        "legacy-agent.service is running but nothing starts it at boot: it is disabled and not in "
        "default.target's boot tree (started by hand?)"
    )
    adhoc = next(f for f in findings if f.subject == "adhoc-debug.service")
    assert "systemd-run" in adhoc.message
    # systemd-hostnamed runs (D-Bus activated), is static and absent from the tree: not a finding


def test_socket_activated_unit_missing_from_the_tree_is_fine() -> None:
    stock = real("stock")
    assert stock.boot_tree is not None and stock.units is not None
    # dbus.service pulled in only through dbus.socket (as on hosts without multi-user.target.wants/dbus)
    tree = stock.boot_tree - {"dbus.service"}
    assert preflight(replace(stock, boot_tree=tree), DEFAULT) == []
    # ... also when TriggeredBy is unknown: dbus.socket is guessed from the name
    units = dict(stock.units)
    units["dbus.service"] = replace(units["dbus.service"], triggered_by=None, pulled_by=None)
    assert preflight(replace(stock, boot_tree=tree, units=units), DEFAULT) == []
    # without dbus.socket in the tree (and nothing else pulling them in), neither comes back
    units = dict(stock.units)
    for name in ("dbus.service", "dbus.socket"):
        units[name] = replace(units[name], pulled_by=())
    no_socket = replace(stock, boot_tree=tree - {"dbus.socket"}, units=units)
    assert kinds(preflight(no_socket, DEFAULT)) == {
        ("not-in-boot-tree", "dbus.service"),
        ("not-in-boot-tree", "dbus.socket"),
    }


def test_d_bus_activation_without_the_service_files() -> None:
    before = real("before")
    assert preflight(replace(before, dbus_services=None), DEFAULT) == preflight(before, DEFAULT)
    units = dict(before.units or {})
    units["org-thing.service"] = unit(
        "org-thing.service", state="static", aliases=("dbus-org.thing.service",)
    )
    facts = replace(before, units=units, dbus_services=frozenset({"dbus-org.thing.service"}))
    assert ("not-in-boot-tree", "org-thing.service") not in kinds(preflight(facts, DEFAULT))
    assert ("not-in-boot-tree", "org-thing.service") in kinds(
        preflight(replace(facts, dbus_services=frozenset()), DEFAULT)
    )


def test_static_unit_pulled_by_an_enabled_unit_and_template_instances() -> None:
    facts = facts_with(
        unit("app.service", state="enabled", pulled_by=("multi-user.target",)),
        unit("helper.service", state="static", pulled_by=("app.service",)),
        unit("getty@tty1.service", state=None),
        unit("user@0.service", state="static", pulled_by=()),
        unit("worker@3.service", state=None),
        unit_files={"getty@.service": "enabled", "worker@.service": "disabled", "app.service": "enabled"},
    )
    # without a boot tree: worker@3 (its template disabled) is the only one nothing starts
    assert kinds(preflight(facts, DEFAULT)) == {("running-not-enabled", "worker@3.service")}
    tree = frozenset(
        {"default.target", "multi-user.target", "app.service", "helper.service", "getty@tty1.service"}
    )
    assert kinds(preflight(replace(facts, boot_tree=tree), DEFAULT)) == {
        ("not-in-boot-tree", "worker@3.service")
    }


def test_masked_and_transient_messages() -> None:
    facts = facts_with(unit("old.service", state="masked"), unit("run-u7.service", state="transient"))
    by_subject = {f.subject: f.message for f in preflight(facts, DEFAULT)}
    assert by_subject["old.service"] == "old.service is running but cannot start at boot: it is masked"
    assert "started with systemd-run" in by_subject["run-u7.service"]


# ---- policy: severities, exceptions, reachability


def test_reachability_unit_that_would_not_come_back_blocks() -> None:
    facts = facts_with(unit("ssh.service", state="disabled"), unit("legacy-agent.service", state="disabled"))
    findings = preflight(facts, DEFAULT)
    ssh = next(f for f in findings if f.subject == "ssh.service")
    assert ssh.severity is Severity.BLOCK
    assert ssh.message.endswith("it is needed to reach this host, which would not answer after the reboot")
    assert findings[0] is ssh  # most severe first
    legacy = next(f for f in findings if f.subject == "legacy-agent.service")
    assert legacy.severity is Severity.WARN
    # a kind-wide override does not silence a reachability unit, a per-unit exception does
    quiet = DriftPolicy.from_mapping({"severity": {"running-not-enabled": "ignore"}})
    assert kinds(preflight(facts, quiet)) == {("running-not-enabled", "ssh.service")}
    excused = DriftPolicy.from_mapping({"exceptions": {"running-not-enabled": {"ssh.service": "warn"}}})
    assert {f.subject: f.severity for f in preflight(facts, excused)}["ssh.service"] is Severity.WARN
    # an alias counts too (sshd.service is Debian's alias of ssh.service)
    aliased = facts_with(unit("openssh.service", state="disabled", aliases=("sshd.service",)))
    assert preflight(aliased, DEFAULT)[0].severity is Severity.BLOCK


def test_custom_reachability_units_replace_the_defaults() -> None:
    policy = DriftPolicy.from_mapping({"reachability_units": ["wg-quick@*.service"]})
    facts = facts_with(unit("wg-quick@wg0.service", state="disabled"), unit("ssh.service", state="disabled"))
    severity = {f.subject: f.severity for f in preflight(facts, policy)}
    assert severity == {"wg-quick@wg0.service": Severity.BLOCK, "ssh.service": Severity.WARN}


def test_exceptions_by_glob_and_across_the_two_boot_start_kinds() -> None:
    policy = DriftPolicy.from_mapping(
        {"exceptions": {"running-not-enabled": {"my-debug*.service": "ignore", "legacy-*.service": "block"}}}
    )
    facts = facts_with(
        unit("my-debug-1.service", state="disabled"), unit("legacy-agent.service", state="disabled")
    )
    assert {f.subject: f.severity for f in preflight(facts, policy)} == {
        "legacy-agent.service": Severity.BLOCK
    }
    # with a boot tree the same units are not-in-boot-tree findings: the exceptions still apply
    with_tree = replace(facts, boot_tree=frozenset({"default.target"}))
    assert {(f.kind, f.subject, f.severity) for f in preflight(with_tree, policy)} == {
        ("not-in-boot-tree", "legacy-agent.service", Severity.BLOCK)
    }
    ignored = preflight(facts, policy, include_ignored=True)
    assert {f.subject: f.severity for f in ignored}["my-debug-1.service"] is Severity.IGNORE


def test_exact_name_beats_glob() -> None:
    policy = DriftPolicy.from_mapping(
        {"exceptions": {"lost-unit": {"*.service": "warn", "legacy-agent.service": "ignore"}}}
    )
    assert policy.severity_for("lost-unit", "legacy-agent.service") is Severity.IGNORE
    assert policy.severity_for("lost-unit", "other.service") is Severity.WARN
    assert policy.severity_for("new-failed-unit", "other.service") is Severity.BLOCK


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        (
            {"severity": {"lost-units": "warn"}},
            "severity: unknown finding kind 'lost-units' (did you mean 'lost-unit'?)",
        ),
        ({"severity": {"lost-unit": "blocker"}}, "severity: lost-unit: expected one of block, warn, ignore"),
        ({"severity": ["lost-unit"]}, "severity: expected a mapping"),
        ({"exceptions": {"running-not-enabeld": {}}}, "did you mean 'running-not-enabled'?"),
        ({"exceptions": {"lost-unit": ["x.service"]}}, "exceptions: lost-unit: expected a mapping"),
        (
            {"exceptions": {"lost-unit": {"x.service": 3}}},
            "exceptions: lost-unit: x.service: expected one of",
        ),
        ({"exceptions": {"lost-unit": {"": "warn"}}}, "non-empty"),
        ({"reachability_units": "ssh.service"}, "reachability_units: expected a list"),
        ({"severty": {}}, "unknown key 'severty' (did you mean 'severity'?)"),
        ({"max_uptime": "30d"}, "policy.max_uptime"),
    ],
)
def test_from_mapping_errors_name_the_key(config: dict[str, object], needle: str) -> None:
    with pytest.raises(ValueError) as info:
        DriftPolicy.from_mapping(config)
    assert needle in str(info.value)


def test_from_mapping_reads_the_documented_shape() -> None:
    policy = DriftPolicy.from_mapping(
        {
            "severity": {"lost-unit": "warn", "uptime-debt": "BLOCK"},
            "exceptions": {"running-not-enabled": {"my-debug*.service": "ignore"}},
            "reachability_units": ["ssh.service", "wg-quick@*.service"],
        },
        max_uptime=90 * 86400,
    )
    assert policy.severities == {"lost-unit": Severity.WARN, "uptime-debt": Severity.BLOCK}
    assert policy.exceptions == {"running-not-enabled": {"my-debug*.service": Severity.IGNORE}}
    assert policy.reachability_units == ("ssh.service", "wg-quick@*.service")
    assert policy.max_uptime == 90 * 86400
    assert DriftPolicy.from_mapping({}) == DriftPolicy.default()
    again = DriftPolicy.from_mapping(
        {k: v for k, v in policy.to_dict().items() if k != "max_uptime"}, max_uptime=policy.max_uptime
    )
    assert again == policy
    assert DriftPolicy.default().with_max_uptime(60).max_uptime == 60
    json.dumps(policy.to_dict())


# ---- host-level findings before the reboot


def test_kernel_livepatch_reboot_required_and_uptime_findings() -> None:
    facts = Facts(
        uptime_seconds=120 * 86400,
        kernel_running="6.1.0-26-amd64",
        kernels_installed=("6.1.0-26-amd64", "6.1.0-27-amd64"),
        livepatches=("kpatch_cve_2024_1086",),
        tainted=36864,
        reboot_required=True,
        reboot_required_pkgs=("linux-image-6.1.0-27-amd64",),
        units={},
    )
    findings = preflight(facts, DEFAULT.with_max_uptime(90 * 86400))
    by_kind = {f.kind: f for f in findings}
    assert set(by_kind) == {"live-patched", "kernel-pending", "reboot-required", "uptime-debt"}
    assert by_kind["kernel-pending"].message == (
        "kernel 6.1.0-27-amd64 is installed but 6.1.0-26-amd64 is running: "
        "the reboot should boot 6.1.0-27-amd64"
    )
    assert by_kind["kernel-pending"].subject == "6.1.0-27-amd64"
    assert "kpatch_cve_2024_1086" in by_kind["live-patched"].message
    assert (
        by_kind["reboot-required"].message
        == "the host says it needs a reboot (for linux-image-6.1.0-27-amd64)"
    )
    assert "longer than max_uptime" in by_kind["uptime-debt"].message
    assert all(f.severity is Severity.WARN for f in findings)
    assert preflight(facts, DEFAULT) == [f for f in findings if f.kind != "uptime-debt"]


def test_uptime_debt_from_history_when_uptime_is_unknown() -> None:
    policy = DEFAULT.with_max_uptime(3600)
    facts = Facts()
    assert preflight(facts, policy) == []
    (debt,) = preflight(facts, policy, last_reboot_at=1000.0, now=1000.0 + 7200)
    assert debt.kind == "uptime-debt" and "since the last recorded reboot" in debt.message
    assert preflight(facts, policy, last_reboot_at=1000.0, now=1500.0) == []


def test_failed_units_and_degraded_are_not_doubled() -> None:
    failed = facts_with(unit("x.service", "failed", "failed", result="exit-code"), system_state="degraded")
    assert kinds(preflight(failed, DEFAULT)) == {("failed-units", "x.service")}
    mount_failed = facts_with(unit("y.service"), system_state="degraded")
    assert kinds(preflight(mount_failed, DEFAULT)) == {("degraded", "host")}


def test_unknown_facts_give_no_findings() -> None:
    assert preflight(Facts(), DEFAULT.with_max_uptime(1)) == []
    assert regressions(Facts(), Facts(), DEFAULT) == []


# ---- after the reboot, the per-command capture


def test_regressions_on_the_real_reboot_with_journal_evidence() -> None:
    before = parse_facts(fixture_text("before"))
    after = parse_facts(fixture_text("after"))
    assert "app-needs-broken.service" in evidence_units(before, after)
    assert "broken-dep.service" in evidence_units(before, after)
    assert "legacy-agent.service" not in evidence_units(before, after)  # not loaded: no journal this boot
    findings = regressions(before, after, DEFAULT, {"app-needs-broken.service": journal_app_after()})
    assert kinds(findings) == {
        ("lost-unit", "legacy-agent.service"),
        ("enabled-not-active", "app-needs-broken.service"),
        ("new-failed-unit", "broken-dep.service"),
    }
    assert all(f.severity is Severity.BLOCK and f.phase == "after" for f in findings)
    by_subject = {f.subject: f for f in findings}
    app = by_subject["app-needs-broken.service"]
    assert "unmet dependency, or ordered too early" in app.message
    assert "broken-dep.service" in app.message
    assert app.evidence.splitlines()[0] == (
        "2026-11-28T04:30:18+0000 h1 systemd[1]: Dependency failed for app-needs-broken.service"
        " - App that Requires= broken-dep.service."
    )
    assert by_subject["legacy-agent.service"].message == (
        "legacy-agent.service was running before the reboot and is not active now: "
        "nothing started it at boot (it is disabled: started by hand?)"
    )
    assert by_subject["broken-dep.service"].message == (
        "broken-dep.service was running before the reboot and failed at boot (Result=exit-code)"
    )


def test_enabled_not_active_without_evidence_still_found_once() -> None:
    before = parse_facts(fixture_text("before"))
    after = parse_facts(fixture_text("after"))
    findings = regressions(before, after, DEFAULT)
    app = [f for f in findings if f.subject == "app-needs-broken.service"]
    assert [f.kind for f in app] == ["enabled-not-active"]  # not also a lost-unit
    assert "see its journal" in app[0].message


def test_enabled_oneshot_that_ran_or_was_skipped_is_not_a_finding() -> None:
    before = parse_facts(fixture_text("before"))
    after = parse_facts(fixture_text("after"))
    # lab-bootid.service: enabled oneshot, inactive (dead) with Result=success before and after; and
    # systemd-pstore.service: enabled, skipped by its start condition
    subjects = {f.subject for f in regressions(before, after, DEFAULT)}
    assert "lab-bootid.service" not in subjects
    assert "systemd-pstore.service" not in subjects


# ---- after the reboot, FACTS_SCRIPT's output (started / condition data, boot tree)


def test_regressions_on_real_script_output() -> None:
    before, after = real("before"), real("after")
    wanted = evidence_units(before, after)
    assert wanted == ["app-needs-broken.service", "broken-dep.service"]
    evidence = parse_evidence((SCRIPT_OUT / "after-evidence.txt").read_text(), EVIDENCE_UNITS)
    findings = regressions(before, after, DEFAULT, evidence)
    assert kinds(findings) == {
        ("lost-unit", "legacy-agent.service"),
        ("lost-unit", "adhoc-debug.service"),
        ("enabled-not-active", "app-needs-broken.service"),
        ("new-failed-unit", "broken-dep.service"),
    }
    app = next(f for f in findings if f.kind == "enabled-not-active")
    assert app.message == (
        "app-needs-broken.service is enabled but did not start at boot: its dependency broken-dep.service "
        "failed (unmet dependency, or ordered too early)"
    )
    assert "Dependency failed for app-needs-broken.service" in app.evidence
    assert "result 'dependency'" in app.evidence
    # systemd-hostnamed ran before (D-Bus) and not now: on demand, not lost
    assert "systemd-hostnamed.service" not in {f.subject for f in findings}


def test_never_started_is_enough_without_journal() -> None:
    before, after = real("stock"), real("after")
    # app-needs-broken was not even there before: InactiveExitTimestampMonotonic=0 says it never started
    findings = regressions(before, after, DEFAULT)
    app = [f for f in findings if f.subject == "app-needs-broken.service"]
    assert [f.kind for f in app] == ["enabled-not-active"]
    assert "broken-dep.service" in app[0].message


def test_an_enabled_unit_already_not_started_before_is_not_a_new_regression() -> None:
    after = real("after")
    # the same host rebooted once more: app-needs-broken was already never started in the boot before
    findings = regressions(after, after, DEFAULT)
    assert findings == []
    # but a unit enabled (and not started) since the last boot that then fails to start is reported
    assert after.units is not None
    units = dict(after.units)
    units["app-needs-broken.service"] = replace(units["app-needs-broken.service"], started=None)
    units["broken-dep.service"] = replace(units["broken-dep.service"], active="inactive", sub="dead")
    fresh = replace(after, units=units, system_state="running")
    assert kinds(regressions(fresh, after, DEFAULT)) == {
        ("enabled-not-active", "app-needs-broken.service"),
        ("new-failed-unit", "broken-dep.service"),
    }


def test_oneshot_that_had_run_and_did_not_run_again() -> None:
    before = facts_with(
        unit("setup-a.service", sub="exited", state="static"),
        unit("setup-b.service", sub="exited", state="static"),
        unit("daemon.service", state="enabled"),
    )
    after = facts_with(
        unit("setup-a.service", "inactive", "dead", state="static", started=True),  # ran and stopped again
        unit("setup-b.service", "inactive", "dead", state="static", started=False, condition_failed=True),
        unit("daemon.service", "inactive", "dead", state="enabled", started=False, condition_failed=True),
    )
    findings = regressions(before, after, DEFAULT)
    assert kinds(findings) == {("lost-unit", "daemon.service")}
    assert findings[0].message.endswith("its start condition was not met at boot")


def test_triggered_and_on_demand_units_are_not_lost() -> None:
    before = facts_with(
        unit("apt-daily.service", state="static", triggered_by=("apt-daily.timer",)),
        unit("apt-daily.timer", sub="waiting", state="enabled"),
        unit("user@1000.service", state="static"),
        unit("cups.service", state="disabled"),
        unit("cups.socket", sub="listening", state="enabled"),
    )
    after = facts_with(
        unit("apt-daily.service", "inactive", "dead", state="static"),
        unit("apt-daily.timer", sub="waiting", state="enabled"),
        unit("cups.socket", sub="listening", state="enabled"),
    )
    assert regressions(before, after, DEFAULT) == []
    # the trigger itself lost: reported once, for the trigger
    after_lost = facts_with(unit("apt-daily.service", "inactive", "dead", state="static"))
    assert kinds(regressions(before, after_lost, DEFAULT)) == {
        ("lost-unit", "apt-daily.timer"),
        ("lost-unit", "cups.socket"),
    }


def test_crash_looping_unit_is_lost_but_a_starting_one_is_not() -> None:
    before = facts_with(unit("a.service"), unit("b.service"))
    after = facts_with(
        unit("a.service", "activating", "auto-restart"),
        unit("b.service", "activating", "start"),
    )
    assert kinds(regressions(before, after, DEFAULT)) == {("lost-unit", "a.service")}


def test_kernel_not_updated_and_degraded_after_boot() -> None:
    before = Facts(
        kernel_running="6.1.0-26-amd64",
        kernels_installed=("6.1.0-26-amd64", "6.1.0-27-amd64"),
        system_state="running",
    )
    stale = Facts(
        kernel_running="6.1.0-26-amd64",
        kernels_installed=("6.1.0-26-amd64", "6.1.0-27-amd64"),
        system_state="degraded",
    )
    findings = regressions(before, stale, DEFAULT)
    assert kinds(findings) == {("kernel-not-updated", "6.1.0-27-amd64"), ("degraded-after-boot", "host")}
    kernel = next(f for f in findings if f.kind == "kernel-not-updated")
    assert kernel.message.startswith("booted 6.1.0-26-amd64 again although 6.1.0-27-amd64 was installed")
    updated = replace(stale, kernel_running="6.1.0-27-amd64", system_state="running")
    assert regressions(before, updated, DEFAULT) == []


def test_severity_overrides_apply_after_the_reboot() -> None:
    before = parse_facts(fixture_text("before"))
    after = parse_facts(fixture_text("after"))
    policy = DriftPolicy.from_mapping(
        {"severity": {"lost-unit": "warn"}, "exceptions": {"new-failed-unit": {"broken-*": "ignore"}}}
    )
    got = {(f.kind, f.subject): f.severity for f in regressions(before, after, policy)}
    assert got == {
        ("lost-unit", "legacy-agent.service"): Severity.WARN,
        ("enabled-not-active", "app-needs-broken.service"): Severity.BLOCK,
    }


# ---- findings as data


def test_finding_round_trip() -> None:
    for finding in regressions(real("before"), real("after"), DEFAULT):
        data = json.loads(json.dumps(finding.to_dict()))
        assert Finding.from_dict(data) == finding
        assert data["severity"] == "block"
    with pytest.raises(ValueError):
        Finding.from_dict({"kind": "x", "severity": "fatal", "subject": "s", "message": "m"})
    with pytest.raises(ValueError):
        Finding.from_dict({"kind": "x", "severity": "warn", "subject": "s"})
    with pytest.raises(ValueError):
        Finding.from_dict(
            {"kind": "x", "severity": "warn", "subject": "s", "message": "m", "phase": "during"}
        )


_TEXTS = [(SCRIPT_OUT / f"{n}.txt").read_text() for n in ("stock", "before", "after")]


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(_TEXTS),
    st.sampled_from(_TEXTS),
    st.integers(min_value=0, max_value=50_000),
    st.integers(min_value=0, max_value=50_000),
)
def test_drift_never_raises_on_partial_facts(a: str, b: str, cut_a: int, cut_b: int) -> None:
    before, after = parse_facts(a[:cut_a]), parse_facts(b[:cut_b])
    for finding in (
        *preflight(before, DEFAULT.with_max_uptime(1)),
        *regressions(before, after, DEFAULT, {"x": "y"}),
    ):
        assert finding.message and finding.kind in ALL_KINDS
    evidence_units(before, after)


def test_unit_pairs_walk_every_unit_of_either_side_by_name() -> None:
    before = facts_with(unit("a.service"), unit("b.service", "failed", "failed", aliases=("b2.service",)))
    after = facts_with(unit("c.service", "failed", "failed"), unit("b.service", "failed", "failed"))
    pairs = unit_pairs(before, after)
    assert [(p.name, p.before is not None, p.after is not None) for p in pairs] == [
        ("a.service", True, False),
        ("b.service", True, True),
        ("c.service", False, True),
    ]
    assert [p.newly_failed for p in pairs] == [False, False, True]
    assert [(p.active_before, p.active_after) for p in pairs] == [
        (True, False),
        (False, False),
        (False, False),
    ]
    assert pairs[1].aliases == ()  # as known after the reboot
    assert unit_pairs(Facts(), after) == [] and unit_pairs(before, Facts()) == []
