"""The console at the moment that matters (issue 14): a finished roll with a problem, problem hosts, time."""

from __future__ import annotations

import re
from datetime import UTC
from pathlib import Path

from textual.widgets import Static

from console.engine.cycle import _not_started
from console.engine.facade import Engine
from console.eventtext import event_lines
from console.model.events import Event, HostState, RollState
from console.remote.checks import CheckOutcome
from console.tui.app import SlowrollApp
from console.tui.components.status import counts_line, header_lines, problem_hosts
from console.tui.components.themes import load_themes
from console.tui.components.vocab import Clock
from console.tui.screens.hostdetail import HostDetail
from tests.tui.scenes import (
    T0,
    console,
    frozen_clock,
    plain,
    screen_text,
    stage_detail_host,
    stage_running,
    staged_app,
    staged_engine,
)


def _header(engine: Engine, width: int) -> str:
    theme = load_themes({}).themes["dark"]
    lines = header_lines(engine, theme, frozen_clock(), width, planned_slices=7, simulated=True, speed=20)
    return plain(lines[0], width + 2)


def test_a_complete_roll_with_a_failed_and_a_skipped_host_says_so_in_the_header(tmp_path: Path) -> None:
    engine = staged_engine(tmp_path)
    stage_running(engine)  # web-07 failed, app-04 skipped, db-03 unhealthy
    for run in engine.hosts.values():
        if run.state not in (HostState.FAILED, HostState.SKIPPED, HostState.UNHEALTHY):
            run.state = HostState.DONE
    engine.hosts["db-03"].state = HostState.DONE
    engine.state = RollState.COMPLETE
    engine.finished_at = T0 + 900
    for width in (80, 160):
        first = _header(engine, width)
        assert re.search(r"✔ COMPLETE +— 1 failed, 1 skipped ", first), first
        assert "SIMULATED" in first
    for run in engine.hosts.values():
        run.state = HostState.DONE
    first = _header(engine, 160)
    assert "COMPLETE" in first and "failed" not in first and "skipped" not in first


def test_the_roll_summary_counts_each_outcome(tmp_path: Path) -> None:
    engine = staged_engine(tmp_path)
    stage_running(engine)
    engine.state = RollState.COMPLETE
    summary = engine.finish().to_dict()
    assert summary["counts"] == {
        "rebooted": 7,
        "failed": len(summary["failed"]),
        "skipped": 1,
        "untouched": len(summary["untouched"]),
        "late": 0,
    }
    assert summary["counts"]["failed"] >= 2  # web-07 and db-03 (and the hosts in flight)


async def _detail(app: SlowrollApp, host: str) -> str:
    async with app.run_test(size=(160, 48)) as pilot:
        app.grid.select(host)
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, HostDetail) and app.screen.host == host
        body = plain(app.screen.query_one("#detail-body", Static).content, width=160)
        await pilot.press("escape")
        await pilot.pause()
        return body + "\n" + screen_text(app, "selection")


def _failed_healthy_again(engine: Engine) -> list[Event]:
    events = stage_running(engine)
    stage_detail_host(engine)
    engine.hosts["web-07"].healthy_again = True
    return events


def _failed_still(engine: Engine) -> list[Event]:
    events = stage_running(engine)
    stage_detail_host(engine)
    return events


async def test_a_problem_host_healthy_again_never_also_holds_its_slot(tmp_path: Path) -> None:
    text = await _detail(staged_app(tmp_path, _failed_healthy_again), "web-07")
    assert "holds its budget slot" not in text, text
    assert "healthy again since: its budget slot is released" in text
    assert "yes: its budget slot is released" in text
    # and while it is not healthy yet, both say it holds the slot
    text = await _detail(staged_app(tmp_path / "2", _failed_still), "web-07")
    assert "it holds its budget slot until it is healthy again" in text
    assert "not yet: it holds its budget slot" in text and "is released" not in text


def _never_came_back(engine: Engine) -> list[Event]:
    events = stage_running(engine)
    run = engine.hosts["web-07"]
    run.reason = "not back with a new boot id within reboot_timeout (6s); last: no answer"
    run.rebooted = False
    run.checks = {"nginx": CheckOutcome("nginx", True, "", 0.05, 1, 0)}
    run.check_phase = {"nginx": "pre"}
    return events


async def test_checks_of_a_host_that_never_came_back_are_labelled_pre(tmp_path: Path) -> None:
    text = await _detail(staged_app(tmp_path, _never_came_back), "web-07")
    line = next(ln for ln in text.splitlines() if "✔ pass" in ln)
    assert "pre · before the reboot" in line and "nginx" in line
    assert "no check has run since its reboot: these are from before it" in text
    assert "✔ 1 checks (pre)" in text  # the selection line names the phase too


def test_a_host_left_pending_by_a_pause_does_not_say_the_roll_is_pausing() -> None:
    for state in (RollState.PAUSING, RollState.PAUSED):
        assert "pausing" not in _not_started(state) and "was paused" in _not_started(state)
    assert "was aborted" in _not_started(RollState.ABORTING)


# ---------------------------------------------------------------------------------------------------
# Item 2: the cursor goes to the problem


async def test_an_automatic_pause_puts_the_cursor_on_the_problem_host(tmp_path: Path) -> None:
    async with console(tmp_path, policy="batch: 1\nbake: 0.1s", faults={"d1": {"check-fails"}}) as c:
        assert c.app.grid.cursor == "w1"
        await c.start()
        await c.until(lambda: c.engine.state is RollState.PAUSED)
        await c.pilot.pause()
        assert c.app.grid.cursor == "d1"  # where the banner points
        banner = screen_text(c.app, "banner")
        assert "Enter on d1" in banner and "Problem host: d1" in banner
        await c.press("enter")
        assert isinstance(c.app.screen, HostDetail) and c.app.screen.host == "d1"


async def test_an_automatic_pause_leaves_a_cursor_the_operator_just_moved(tmp_path: Path) -> None:
    async with console(tmp_path, policy="batch: 1\nbake: 0.3s", faults={"d2": {"check-fails"}}) as c:
        await c.start()
        await c.until(lambda: c.engine.hosts["d2"].state is not HostState.PENDING)
        await c.press("home", "right")  # the operator is looking at w2 now
        assert c.app.grid.cursor == "w2"
        await c.until(lambda: c.engine.state is RollState.PAUSED, timeout=5)
        await c.pilot.pause()
        assert c.app.grid.cursor == "w2"
        await c.press("n")
        assert c.app.grid.cursor == "d2"


def _many_problems(engine: Engine) -> None:
    for name in ("web-07", "web-140", "app-50", "db-03"):
        engine.hosts[name].state = HostState.FAILED if name != "db-03" else HostState.UNHEALTHY
        engine.hosts[name].reason = "check http failed"
    engine.state = RollState.PAUSED
    engine.auto_paused = True
    engine.reason = "web-07 failed: check http failed"
    engine.reason_host = "web-07"
    engine.started_at = T0


async def test_n_and_N_reach_every_problem_host_in_a_300_host_fleet_at_80x24(tmp_path: Path) -> None:
    engine = staged_engine(tmp_path, hosts=300)
    _many_problems(engine)
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    app = SlowrollApp(engine, clock=frozen_clock(), env=env, theme="dark", drive=False)
    order = [h for h in app.grid.visible_hosts if engine.hosts[h].state.problem]
    assert len(order) == 4
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("end")  # anywhere in the fleet
        seen = []
        for _ in order:
            await pilot.press("n")
            seen.append(app.grid.cursor)
        assert sorted(seen) == sorted(order)  # each one key away, wrapping around
        await pilot.press("N")
        assert app.grid.cursor == seen[-2]
        assert app.grid.cursor in app.grid._pos and app.grid.rendered_cursor == app.grid.cursor  # on screen
        banner = screen_text(app, "banner")
        assert "Problem hosts: web-07, web-140, app-50 and db-03: n / N cycle through them." in banner
        for name in ("web-100", "web-101"):  # more than five: the first, and how many more
            engine.hosts[name].state = HostState.FAILED
        assert "Problem hosts: web-07 and 5 more: n / N cycle through them." in problem_hosts(engine)


async def test_n_with_no_problem_says_so(tmp_path: Path) -> None:
    app = staged_app(tmp_path, None)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")
        assert app.grid.cursor == "web-01"
        assert any("no host has a problem" in n.message for n in app._notifications)


# ---------------------------------------------------------------------------------------------------
# Item 5: time where it matters


async def test_a_down_host_shows_its_clock_and_its_timeout_running(tmp_path: Path) -> None:
    now = [T0 + 754.0]
    engine = staged_engine(tmp_path)
    stage_running(engine)  # web-06 is down
    run = engine.hosts["web-06"]
    run.reboot_sent_at = now[0] - 15
    run.down_at = now[0] - 12
    run.timeout_at = now[0] - 15 + 303  # its reboot_timeout ends in 4:48
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    clock = Clock(now=lambda: now[0], tz=UTC)
    app = SlowrollApp(engine, simulated=True, speed=20, clock=clock, env=env, theme="dark", drive=False)
    async with app.run_test(size=(160, 48)) as pilot:
        app.grid.select("web-06")
        await pilot.pause()
        assert "down 0:12 · timeout in 4:48" in screen_text(app, "selection")
        await pilot.press("enter")
        await pilot.pause()
        body = lambda: plain(app.screen.query_one("#detail-body", Static).content, width=160)  # noqa: E731
        assert "down 0:12 · timeout in 4:48" in body()
        now[0] += 10
        await pilot.pause(0.3)  # a few ticks of the console's own timer
        assert "down 0:22 · timeout in 4:38" in body()  # the detail runs with the clock
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert "down 0:22 · timeout in 4:38" in screen_text(app, "selection")
        run.state = HostState.BOOTING  # back: no timeout clock any more once it is checking
        run.state = HostState.CHECKING
        await pilot.pause(0.3)
        assert "timeout" not in screen_text(app, "selection")


def test_a_failed_host_the_operator_skipped_is_counted_once_and_named_as_skipped(tmp_path: Path) -> None:
    engine = staged_engine(tmp_path)
    stage_running(engine)
    engine.hosts["web-07"].skipped = True  # failed, then skipped by the operator
    theme = load_themes({}).themes["dark"]
    counts = plain(counts_line(engine, theme, 158), 160)
    assert "✘ 1 failed (1 skipped)" in counts and "⊘ 1 skipped" in counts, counts
    engine.state = RollState.COMPLETE
    finished = engine.finish()
    assert "web-07" in finished.failed and "web-07" not in finished.skipped
    assert finished.to_dict()["failed_skipped"] == ["web-07"]
    (line,) = event_lines(finished)
    assert "(1 skipped by the operator)" in line.text, line.text
