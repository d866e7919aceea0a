"""The console's drift audit: the audit view before the roll, the mark on tiles, and the before/after diff in
the host detail. Pilot tests over a real simulated fleet (SSH on 127.0.0.1) with the simulator's faults."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from textual.widgets import Static

from console.model.events import HostState, HostStateChanged, RollState
from console.model.findings import Finding, Severity
from console.remote.facts import Facts, UnitState
from console.tui.app import SlowrollApp
from console.tui.components.auditlines import build_lines, classify, summarize
from console.tui.components.auditlist import AuditList
from console.tui.components.factsdiff import facts_diff
from console.tui.screens.audit import AuditScreen
from console.tui.screens.dialogs import Confirm
from console.tui.screens.hostdetail import HostDetail
from tests.tui import scenes
from tests.tui.scenes import Console, frozen_clock, plain, staged_engine

UNIT = "legacy-agent.service"  # what the simulator's hand-started-unit fault starts by hand


def console(
    tmp_path: Path,
    *,
    policy: str = "batch: 1\nbake: 0.1s",
    size: tuple[int, int] = (140, 40),
    **kw: Any,
) -> AbstractAsyncContextManager[Console]:
    """scenes.console, one host a slice, groups without budgets of their own, and a wider screen."""
    return scenes.console(tmp_path, policy=policy, size=size, budgets=None, **kw)


def list_text(app: SlowrollApp) -> str:
    listing = app.screen.query_one(AuditList)
    return "\n".join("".join(text for text, _ in line.parts) for line in listing.lines)


def grid_text(app: SlowrollApp) -> str:
    grid = app.grid
    return "\n".join(grid.render_line(y).text for y in range(grid.size.height))


def tile_of(app: SlowrollApp, host: str) -> str:
    """The tile of ``host`` as drawn: its glyph, name and mark."""
    for line in grid_text(app).splitlines():
        at = line.find(f" {host}")
        if at >= 1 and line[at - 1] in "○◔◒⟳↓↑◑◕●✘⊘■!?":
            return line[at - 1 : at + 1 + app.grid._name_width + 1].rstrip()
    raise AssertionError(f"no tile for {host} in:\n{grid_text(app)}")


async def test_d_audits_the_fleet_and_lists_the_hand_started_unit(tmp_path: Path) -> None:
    async with console(tmp_path, faults={"w2": {"hand-started-unit"}}) as c:
        assert c.engine.audit_results is None
        await c.press("d")
        assert isinstance(c.app.screen, AuditScreen)
        await c.until(lambda: not c.app.auditor.running and c.engine.audit_results is not None)
        await c.pilot.pause(0.4)  # the view refreshes 4 times a second
        text = list_text(c.app)
        w2 = next(line for line in text.splitlines() if line.startswith("w2"))
        assert "▲ warn" in w2 and UNIT in w2 and ("not-in-boot-tree" in w2 or "running-not-enabled" in w2)
        # Blocking first, then warnings, then hosts without findings; the summary in slowroll audit's words.
        assert text.index("▲ WARNINGS") < text.index("✔ NO FINDINGS")
        summary = str(c.app.screen.query_one("#audit-summary", Static).content)
        assert "6 hosts: 5 without findings, ▲ 1 with warnings, ■ 0 blocking, ✘ 0 unreachable" in summary
        # The cursor starts on the first host listed; enter opens its detail.
        assert c.app.screen.query_one(AuditList).cursor_host == "w2"
        await c.press("enter")
        assert isinstance(c.app.screen, HostDetail) and c.app.screen.host == "w2"
        body = plain(c.app.screen.query_one("#detail-body", Static).content)
        assert "▲ warn" in body and UNIT in body
        await c.press("escape", "escape")
        assert c.app.on_main
        # Nothing was rebooted, and the roll will reuse this audit.
        assert c.reboots() == 0 and c.engine.state is RollState.READY
        assert set(c.engine.audit_results.hosts) == set(c.engine.hosts)


async def test_the_tile_is_marked_warn_before_and_block_after_the_reboot(tmp_path: Path) -> None:
    async with console(tmp_path, faults={"w2": {"hand-started-unit"}}) as c:
        assert tile_of(c.app, "w2") == "○ w2"
        c.app.auditor.start()
        await c.until(lambda: c.engine.audit_results is not None)
        await c.pilot.pause(0.3)  # the grid redraws at its next tick
        assert tile_of(c.app, "w2") == "○ w2▲"
        assert tile_of(c.app, "w3") == "○ w3"  # no finding, no mark
        assert "drift  ▲ 1 warn" in grid_text(c.app)  # the group's counts
        await c.start()
        await c.until(lambda: c.engine.state is RollState.PAUSED)
        await c.pilot.pause(0.3)
        assert c.engine.hosts["w2"].state is HostState.FAILED
        assert tile_of(c.app, "w2") == "✘ w2■"  # the lost unit blocks: a square, not only a colour
        assert "■ 1 block" in grid_text(c.app)


async def test_host_detail_shows_the_lost_unit_after_the_roll(tmp_path: Path) -> None:
    async with console(tmp_path, faults={"w2": {"hand-started-unit"}}) as c:
        await c.start()
        await c.until(lambda: c.engine.state is RollState.PAUSED)
        c.app.grid.select("w2")
        await c.pilot.pause()
        await c.press("enter")
        assert isinstance(c.app.screen, HostDetail)
        body = plain(c.app.screen.query_one("#detail-body", Static).content, width=140)
        diff = body[body.index("Before → after the reboot") : body.index("\nFacts")]
        lost = next(line for line in diff.splitlines() if UNIT in line)
        assert "− lost" in lost and "active (running) → not loaded" in lost and "■ BLOCK lost-unit" in lost
        # Only what changed: the other units are not listed.
        assert len([ln for ln in diff.splitlines() if ln.strip()]) == 2, diff


async def test_the_roll_waits_for_a_running_audit_before_its_first_reboot(tmp_path: Path) -> None:
    groups = {"web": [f"w{i}" for i in range(1, 41)]}
    async with console(
        tmp_path, groups=groups, faults={"w2": {"hand-started-unit"}}, audit_on_open=True
    ) as c:
        assert c.app.auditor.running  # a simulated console audits a small fleet by itself
        first_precheck: list[bool] = []

        def watch(event: object) -> None:
            if (
                isinstance(event, HostStateChanged)
                and event.new is HostState.PRECHECKING
                and not first_precheck
            ):
                first_precheck.append(c.engine.audit_results is not None and not c.app.auditor.running)

        c.engine.subscribe(watch)
        # g, then y on the plan, as the keys do but without waiting for the busy console to be idle (the
        # audit would be over by then): the roll is started while the audit has barely begun.
        c.app.action_start()
        await asyncio.sleep(0.02)
        assert isinstance(c.app.screen, Confirm)
        c.app.screen.action_answer(True)
        for _ in range(100):
            if c.engine.state is not RollState.READY:
                break
            await asyncio.sleep(0.005)
        assert c.engine.state is RollState.RUNNING and c.app.auditor.running
        await c.until(lambda: bool(first_precheck))
        assert first_precheck == [True]
        # Once the roll runs, the view is read-only: no new audit.
        await c.press("d")
        assert isinstance(c.app.screen, AuditScreen)
        assert c.app.screen.check_action("again", ()) is None
        assert "read-only" in str(c.app.screen.query_one("#detail-title", Static).content)
        await c.press("escape")
        await c.press("p")


async def test_u_audits_again_and_the_order_key_groups_by_finding(tmp_path: Path) -> None:
    async with console(tmp_path, faults={"w2": {"hand-started-unit"}}) as c:
        await c.press("d")
        await c.until(lambda: c.engine.audit_results is not None and not c.app.auditor.running)
        first = c.engine.audit_results
        assert c.app.screen.check_action("again", ()) is True
        await c.press("u")
        await c.until(lambda: c.engine.audit_results is not first and not c.app.auditor.running)
        await c.press("o")
        await c.pilot.pause(0.3)
        text = list_text(c.app)
        assert text.splitlines()[0].startswith("▲ not-in-boot-tree") or text.splitlines()[0].startswith(
            "▲ running-not-enabled"
        )
        await c.press("o")
        await c.pilot.pause(0.3)
        assert list_text(c.app).splitlines()[0].startswith("w1 ")  # inventory order


# ----------------------------------------------------------------------------------------------------
# Pure parts, on staged data


def _units(*specs: tuple[str, str, str, str | None, str | None]) -> dict[str, UnitState]:
    return {n: UnitState(n, "loaded", active, sub, state, result) for n, active, sub, state, result in specs}


def test_the_diff_lists_only_what_changed_most_telling_first() -> None:
    before = Facts(
        kernel_running="6.1.0-26-amd64",
        kernels_installed=("6.1.0-26-amd64", "6.1.0-27-amd64"),
        livepatches=("kpatch_cve_1",),
        system_state="running",
        units=_units(
            ("ssh.service", "active", "running", "enabled", "success"),
            ("legacy-agent.service", "active", "running", "disabled", "success"),
            ("app.service", "active", "running", "enabled", "success"),
            ("cron.service", "active", "running", "enabled", "success"),
            ("old.timer", "inactive", "dead", "enabled", None),
        ),
    )
    after = Facts(
        kernel_running="6.1.0-27-amd64",
        kernels_installed=("6.1.0-26-amd64", "6.1.0-27-amd64"),
        livepatches=(),
        tainted=0,
        system_state="degraded",
        units=_units(
            ("ssh.service", "active", "running", "enabled", "success"),
            ("app.service", "failed", "failed", "enabled", "dependency"),
            ("cron.service", "active", "running", "enabled", "success"),
            ("old.timer", "active", "waiting", "disabled", None),
        ),
    )
    changes, hidden = facts_diff(before, after)
    shown = [(c.mark, c.subject) for c in changes]
    assert shown == [
        ("~ kernel", "6.1.0-26-amd64 → 6.1.0-27-amd64"),
        ("− patches", "live patches kpatch_cve_1 → none"),
        ("~ system", "is-system-running running → degraded"),
        ("✘ failed", "app.service"),
        ("− lost", "legacy-agent.service"),
        ("~ file", "old.timer"),
        ("+ new", "old.timer"),
    ]
    assert hidden == 0
    assert "Result=dependency" in changes[3].detail and "not loaded" in changes[4].detail
    # The old kernel booted again is said, too (stale-kernel).
    again = Facts(kernel_running="6.1.0-26-amd64", kernels_installed=before.kernels_installed, units={})
    assert facts_diff(before, again)[0][0].mark == "= kernel"


def test_blocking_hosts_come_first_then_unreachable_then_warnings(tmp_path: Path) -> None:
    engine = staged_engine(tmp_path, hosts=24)
    for run in engine.hosts.values():
        run.facts_before = Facts(boot_id="b", uptime_seconds=3600.0, kernel_running="6.1.0-26-amd64")
    engine.hosts["web-02"].findings = [
        Finding("uptime-debt", Severity.WARN, "host", "up for 120d, longer than max_uptime 90d")
    ]
    engine.hosts["web-05"].findings = [
        Finding("kernel-pending", Severity.WARN, "6.1.0-27-amd64", "a newer kernel is installed")
    ]
    engine.hosts["db-03"].findings = [
        Finding("running-not-enabled", Severity.BLOCK, "ssh.service", "ssh.service would not come back")
    ]
    engine.hosts["app-04"].facts_before = None

    class Runner:
        errors = {"app-04": "connection refused"}

        def error_of(self, name: str) -> str | None:
            return self.errors.get(name)

    runner = Runner()
    statuses = classify(engine, runner)  # type: ignore[arg-type]
    text = "\n".join("".join(t for t, _ in line.parts) for line in build_lines(engine, statuses, "severity"))
    order = [text.index(s) for s in ("■ BLOCKING", "db-03", "✘ UNREACHABLE", "app-04", "▲ WARNINGS")]
    assert order == sorted(order)
    # Within the warnings, drift before a mere uptime debt.
    assert text.index("web-05") < text.index("web-02") < text.index("✔ NO FINDINGS")
    counts = summarize(engine, runner, statuses)  # type: ignore[arg-type]
    assert counts.sentence() == "20 without findings, 2 with warnings, 1 blocking, 1 unreachable"


async def test_two_thousand_hosts_stay_one_list_widget(tmp_path: Path) -> None:
    engine = staged_engine(tmp_path, hosts=2000)
    for i, run in enumerate(engine.hosts.values()):
        run.facts_before = Facts(boot_id="b", uptime_seconds=3600.0 * i, kernel_running="6.1.0-26-amd64")
        if i % 3 == 0:
            run.findings = [Finding("uptime-debt", Severity.WARN, "host", f"up for {i}h, longer than 90d")]
    engine.state = RollState.RUNNING
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    app = SlowrollApp(engine, clock=frozen_clock(), env=env, theme="dark", drive=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("d")
        assert isinstance(app.screen, AuditScreen)
        listing = app.screen.query_one(AuditList)
        assert not listing.children and len(listing.lines) >= 2000
        summary = str(app.screen.query_one("#audit-summary", Static).content)
        assert "1333 without findings, ▲ 667 with warnings" in summary
        await pilot.press("end")
        assert listing.cursor_host == list(engine.hosts)[-1]  # the last host without findings
        fourth = list(engine.hosts)[3]
        await pilot.press("home", "down")
        assert listing.cursor_host == fourth  # warnings first: every third host
        await pilot.press("enter")
        assert isinstance(app.screen, HostDetail) and app.screen.host == fourth
