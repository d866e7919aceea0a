"""The drift audit end to end over SSH on the simulator: each fault found before the reboot where it can be,
and after it, the roll pauses naming the unit or kernel."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from console.model.events import FindingsReported, HostState, RollState
from tests.simlab import fleet_yaml, sim_roll

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "sample_inventories" / "demo.yaml"
GROUPS = {"web": ["w1", "w2", "w3"]}


def audit_json(*args: str) -> tuple[int, dict[str, dict]]:
    proc = subprocess.run(
        [sys.executable, "-m", "console.cli", "audit", *args, "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert "Traceback" not in proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    return proc.returncode, {r["host"]: r for r in rows if r["event"] == "audit"}


@pytest.mark.parametrize(
    ("fault", "kinds", "subject"),
    [
        ("hand-started-unit", {"not-in-boot-tree", "running-not-enabled"}, "legacy-agent.service"),
        ("live-patched", {"live-patched"}, ""),
        ("kernel-pending", {"kernel-pending", "reboot-required"}, "6.1.0-27-amd64"),
        ("stale-kernel", {"kernel-pending", "reboot-required"}, "6.1.0-27-amd64"),
        ("early-unit", set(), ""),  # not detectable before the reboot: it works until the next boot
    ],
)
def test_audit_sim_lists_each_fault(fault: str, kinds: set[str], subject: str) -> None:
    code, hosts = audit_json(str(DEMO), "--sim", "--fault", f"{fault}@web-03", "--seed", "5")
    assert code == 0 and len(hosts) == 24
    found = {f["kind"] for f in hosts["web-03"]["findings"] if f["kind"] != "uptime-debt"}
    # One finding per cause: a hand-started unit gets the strongest form the facts allow.
    assert found <= kinds and bool(found) == bool(kinds), found
    if subject:
        text = json.dumps(hosts["web-03"]["findings"])
        assert subject in text
    others = [
        f for n, h in hosts.items() if n != "web-03" for f in h["findings"] if f["kind"] != "uptime-debt"
    ]
    assert not others, others


@pytest.mark.parametrize(
    ("fault", "kind", "words"),
    [
        ("hand-started-unit", "lost-unit", "legacy-agent.service"),
        ("early-unit", "enabled-not-active", "app-needs-broken.service"),
        ("stale-kernel", "kernel-not-updated", "6.1.0-27-amd64"),
    ],
)
async def test_roll_pauses_naming_the_regression(tmp_path: Path, fault: str, kind: str, words: str) -> None:
    text = fleet_yaml(GROUPS, policy="batch: 1")
    async with sim_roll(tmp_path, text, faults={"w2": {fault}}) as roll:
        result = await roll.engine.run()
        assert result.state is RollState.PAUSED
        assert result.failed == ("w2",)
        assert words in result.reason
        after = [f for f in roll.engine.hosts["w2"].findings if f.phase == "after"]
        assert kind in {f.kind for f in after}
        assert roll.reboots("w3") == 0
        events = [e for e in roll.events if isinstance(e, FindingsReported) and e.phase == "after"]
        assert any(f.kind == kind for e in events for f in e.findings)
        if fault == "early-unit":
            finding = next(f for f in after if f.kind == "enabled-not-active")
            assert "Dependency failed" in finding.evidence
            assert "unmet dependency" in finding.message or "ordered too early" in finding.message


@pytest.mark.parametrize("fault", ["kernel-pending", "live-patched"])
async def test_clean_fixes_complete(tmp_path: Path, fault: str) -> None:
    async with sim_roll(tmp_path, fleet_yaml(GROUPS, policy="batch: 1"), faults={"w2": {fault}}) as roll:
        result = await roll.engine.run()
        assert result.state is RollState.COMPLETE
        before = {f.kind for f in roll.engine.hosts["w2"].findings if f.phase == "before"}
        assert before  # warned before the reboot
        assert not [f for f in roll.engine.hosts["w2"].findings if f.phase == "after"]


async def test_drift_off_gathers_no_facts_and_reports_nothing(tmp_path: Path) -> None:
    # the same lost unit that pauses a roll (test_roll_pauses_naming_the_regression) goes unseen
    text = fleet_yaml(GROUPS, policy="batch: 1\ndrift: off")
    async with sim_roll(tmp_path, text, faults={"w2": {"hand-started-unit"}}) as roll:
        assert roll.engine.policy.drift is None
        result = await roll.engine.run()
        assert result.state is RollState.COMPLETE
        for run in roll.engine.hosts.values():
            assert run.facts_before is None and run.facts_after is None and not run.findings
        assert not [e for e in roll.events if isinstance(e, FindingsReported)]


async def test_blocking_finding_blocks_the_host_and_pauses(tmp_path: Path) -> None:
    text = fleet_yaml(
        GROUPS, policy="batch: 1\ndrift: {severity: {not-in-boot-tree: block, running-not-enabled: block}}"
    )
    async with sim_roll(tmp_path, text, faults={"w2": {"hand-started-unit"}}) as roll:
        result = await roll.engine.run()
        assert result.state is RollState.PAUSED
        assert roll.engine.hosts["w2"].state is HostState.BLOCKED
        assert roll.reboots("w2") == 0
        assert "legacy-agent.service" in result.reason


def test_audit_exit_code_1_when_a_finding_blocks(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        DEMO.read_text().replace(
            "  max_uptime: 90d\n", "  max_uptime: 90d\n  drift: {severity: {not-in-boot-tree: block}}\n"
        )
    )
    code, hosts = audit_json(str(inv), "--sim", "--fault", "hand-started-unit@app-02")
    assert code == 1
    assert [f["severity"] for f in hosts["app-02"]["findings"] if f["kind"] == "not-in-boot-tree"] == [
        "block"
    ]


@pytest.mark.parametrize("order", ["uptime", "risk"])
async def test_policy_order_uses_the_audit(tmp_path: Path, order: str) -> None:
    text = fleet_yaml(
        {"web": ["w1", "w2", "w3", "w4"]}, policy=f"batch: 1\norder: {order}\nmax_uptime: 1000d"
    )
    async with sim_roll(tmp_path, text, faults={"w3": {"live-patched"}}) as roll:
        engine = roll.engine
        result = await engine.run()
        assert result.state is RollState.COMPLETE
        first = [r.name for r in sorted(engine.hosts.values(), key=lambda r: r.slice_index or 0)]
        if order == "uptime":
            assert engine.audit_results is not None
            ups = engine.audit_results.uptimes()
            assert first == sorted(ups, key=lambda n: -(ups[n] or 0)), (first, ups)
            assert "longest uptime first" in engine.order_reason
        else:
            assert first[0] == "w3"  # the live-patched host has a finding: most risk first
            assert "most drift findings first" in engine.order_reason
