"""Every key of the console against a real simulated fleet over SSH, judged by the engine and the ledger."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import Static

from console.model.events import HostState, OperatorAction, RollState
from console.model.exits import EXIT_COMPLETE, EXIT_OPERATOR, EXIT_PROBLEMS, EXIT_STOPPED
from console.tui.app import SlowrollApp
from console.tui.screens.dialogs import AbortDialog, Acknowledge, Confirm
from console.tui.screens.help import HelpScreen
from console.tui.screens.hostdetail import HostDetail
from tests.tui.scenes import console, plain, screen_text


def notes(app: SlowrollApp) -> str:
    return "\n".join(n.message for n in app._notifications)


async def test_first_screen_explains_itself_and_waits_for_g(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        banner = screen_text(c.app, "banner")
        assert "READY" in banner and "press g" in banner.lower()
        assert c.app.query_one("#plan").display
        assert "Plan for test" in screen_text(c.app, "plan-text")
        # Keys that make no sense yet are disabled, shown dimmed, and say why when pressed.
        assert c.app.check_action("pause", ()) is None
        assert c.app.check_action("resume", ()) is None
        assert c.app.check_action("retry", ()) is None
        assert c.app.check_action("start", ()) is True
        bindings = {a.binding.action: a.enabled for a in c.app.screen.active_bindings.values()}
        assert bindings["pause"] is False and bindings["start"] is True
        await c.press("p", "r")
        assert c.engine.state is RollState.READY
        assert "not now" in notes(c.app) and "has not started" in notes(c.app)
        assert c.reboots() == 0


async def test_g_shows_the_plan_and_only_y_starts(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        await c.press("g")
        assert isinstance(c.app.screen, Confirm)
        assert "Start the roll?" in c.app.screen.title_text
        await c.press("x")
        assert isinstance(c.app.screen, Confirm)  # another key only says which keys answer
        assert "does nothing here" in str(c.app.screen.query_one(".dialog-hint", Static).content)
        await c.press("n")
        assert not isinstance(c.app.screen, Confirm)
        assert c.engine.state is RollState.READY
        await c.press("g", "escape")
        assert c.engine.state is RollState.READY and c.reboots() == 0
        await c.press("g", "y")
        assert c.engine.state is RollState.RUNNING
        assert not c.app.query_one("#plan").display and c.app.query_one("#log").display
        await c.until(lambda: c.engine.state is RollState.COMPLETE)
        for name in c.engine.hosts:
            assert c.roll.reboots(name) == 1, name
        assert "COMPLETE" in screen_text(c.app, "header")
        await c.press("q")
    assert c.app.return_value == EXIT_COMPLETE


async def test_p_pauses_within_a_frame_and_no_new_reboot_is_issued(tmp_path: Path) -> None:
    async with console(tmp_path, policy="batch: 2\nbake: 0.2s") as c:
        await c.start()
        await c.until(lambda: any(r.state is HostState.REBOOTING for r in c.engine.hosts.values()))
        await c.pilot.press("p")
        # The very next frame says so, before any host settles.
        assert c.engine.state in (RollState.PAUSING, RollState.PAUSED)
        header = screen_text(c.app, "header") + screen_text(c.app, "banner")
        assert "PAUSING" in header or "PAUSED" in header
        if c.engine.state is RollState.PAUSING:
            assert "no new reboots" in screen_text(c.app, "banner")
        await c.until(lambda: c.engine.state is RollState.PAUSED)
        issued = c.reboots()
        in_ledger = {e.host for e in c.roll.fleet.ledger}
        assert issued >= 1
        # An observation window several poll intervals long: nothing new is rebooted while paused.
        await asyncio.sleep(0.4)
        assert c.reboots() == issued and {e.host for e in c.roll.fleet.ledger} == in_ledger
        assert c.app.check_action("pause", ()) is None and c.app.check_action("resume", ()) is True
        assert "PAUSED" in screen_text(c.app, "banner") and "r resumes" in screen_text(c.app, "banner")
        # A manual pause resumes without an acknowledgement.
        await c.press("r")
        assert c.engine.state is not RollState.PAUSED
        await c.until(lambda: c.engine.state is RollState.COMPLETE)
        assert all(c.roll.reboots(n) == 1 for n in c.engine.hosts)


async def test_abort_dialog_takes_only_an_explicit_y(tmp_path: Path) -> None:
    # Slow enough that the roll is still running after all these key presses, even on a busy machine.
    async with console(tmp_path, policy="batch: 1\nbake: 1.5s") as c:
        await c.start()
        await c.until(lambda: c.reboots() >= 1)
        for keys in (("n",), ("escape",), ("x", "q", "space", "enter", "n")):
            await c.press("a")
            assert isinstance(c.app.screen, AbortDialog)
            await c.press(*keys[:-1]) if len(keys) > 1 else None
            if len(keys) > 1:
                assert isinstance(c.app.screen, AbortDialog), keys  # other keys do nothing
                assert "only y aborts" in str(c.app.screen.query_one("#abort-hint").content)
            assert c.engine.state is RollState.RUNNING
            await c.press(keys[-1])
            assert not isinstance(c.app.screen, AbortDialog)
            assert c.engine.state is RollState.RUNNING
        await c.press("a", "y")
        assert c.engine.state in (RollState.ABORTING, RollState.ABORTED)
        header = screen_text(c.app, "header")
        assert "ABORTING" in header or "ABORTED" in header
        await c.until(lambda: c.engine.state is RollState.ABORTED)
        issued = c.reboots()
        await asyncio.sleep(0.4)
        assert c.reboots() == issued
        assert c.app.check_action("abort", ()) is None and c.app.check_action("resume", ()) is None
        assert "ABORTED" in screen_text(c.app, "header")
        await c.press("q")
    assert c.app.return_value == EXIT_STOPPED


async def test_automatic_pause_needs_an_acknowledgement_before_resume(tmp_path: Path) -> None:
    async with console(tmp_path, faults={"w2": {"check-fails"}}) as c:
        await c.start()
        await c.until(lambda: c.engine.state is RollState.PAUSED)
        assert c.engine.auto_paused and c.engine.reason_host == "w2"
        assert "BY ITSELF" in screen_text(c.app, "banner") and "w2" in screen_text(c.app, "banner")
        await c.press("r")
        assert isinstance(c.app.screen, Acknowledge)
        assert c.engine.state is RollState.PAUSED  # not yet
        await c.press("escape")
        assert c.engine.state is RollState.PAUSED and not isinstance(c.app.screen, Acknowledge)
        await c.press("r", "y")
        assert c.engine.state is not RollState.PAUSED  # running (or already complete)
        resumes = [e for e in c.roll.events if isinstance(e, OperatorAction) and e.action == "resume"]
        assert resumes and resumes[-1].why.startswith("acknowledged: w2 failed")
        await c.until(lambda: c.engine.state is RollState.COMPLETE)
        assert c.engine.hosts["w2"].state is HostState.FAILED
        # x retries the failed host's checks (the fault persists: it stays failed, never rebooted again).
        c.app.grid.select("w2")
        assert c.app.check_action("retry", ()) is None  # the roll is over
        await c.press("q")
    assert c.app.return_value == EXIT_PROBLEMS  # complete, but w2 failed: never 0 (issue 20)


async def test_x_retries_a_failed_host_and_s_skips(tmp_path: Path) -> None:
    policy = "batch: 2\nbake: 0.1s\nmax_failures: 5"
    async with console(tmp_path, faults={"w2": {"check-fails"}}, policy=policy) as c:
        c.app.grid.select("d2")
        await c.pilot.pause()
        await c.press("s")  # pending: skipped at once
        assert c.engine.hosts["d2"].state is HostState.SKIPPED
        assert c.app.check_action("skip", ()) is None
        await c.start()
        await c.until(lambda: c.engine.hosts["w2"].state is HostState.FAILED)
        c.app.grid.select("w2")
        await c.pilot.pause()
        # retry is offered once the host's own cycle has ended (it may still be winding down under load)
        await c.until(lambda: c.engine.hosts["w2"].task is None or c.engine.hosts["w2"].task.done())
        assert c.app.check_action("retry", ()) is True
        await c.press("x")
        retries = [e for e in c.roll.events if isinstance(e, OperatorAction) and e.action == "retry"]
        assert retries and retries[0].host == "w2"
        await c.until(lambda: c.engine.state is RollState.COMPLETE)
        assert c.roll.reboots("w2") == 1 and c.roll.reboots("d2") == 0


async def test_skip_of_a_host_in_flight_asks_first(tmp_path: Path) -> None:
    # a bake long enough that w1 is still in flight however slow the machine (the test never waits it out)
    async with console(tmp_path, policy="batch: 1\nbake: 60s") as c:
        await c.start()
        await c.until(lambda: c.engine.hosts["w1"].state is HostState.BAKING)
        c.app.grid.select("w1")
        await c.pilot.pause()
        await c.press("s")
        assert isinstance(c.app.screen, Confirm) and "w1" in c.app.screen.title_text
        await c.press("n")
        assert not c.engine.hosts["w1"].skipped
        await c.press("s", "y")
        assert c.engine.hosts["w1"].skipped


async def test_ctrl_c_is_q_it_pauses_then_quits_with_130(tmp_path: Path) -> None:
    async with console(tmp_path, policy="batch: 2\nbake: 1s") as c:
        await c.start()
        await c.until(lambda: c.reboots() >= 1)
        await c.press("ctrl+c")
        assert isinstance(c.app.screen, Confirm) and "Pause and quit" in c.app.screen.title_text
        assert c.engine.state is RollState.RUNNING
        await c.press("n")
        assert c.engine.state is RollState.RUNNING
        await c.press("ctrl+c", "y")
        assert c.engine.state in (RollState.PAUSING, RollState.PAUSED)
        assert "QUITTING" in screen_text(c.app, "header")
        issued = c.reboots()
        await c.until(lambda: not c.app.is_running)
        assert c.engine.state is RollState.PAUSED
        assert c.reboots() == issued
        assert all(not r.state.in_flight for r in c.engine.hosts.values())
    assert c.app.return_value == EXIT_OPERATOR


async def test_q_before_the_start_quits_at_once(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        await c.press("q")
        await c.until(lambda: not c.app.is_running)
    assert c.app.return_value == EXIT_OPERATOR and c.reboots() == 0


async def test_filter_by_name_and_state(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        await c.press("slash")
        await c.pilot.press(*"d1")
        await c.pilot.pause()
        assert c.app.grid.visible_hosts == ["d1"]
        assert c.engine.state is RollState.READY  # typing 'd' never reached the bindings
        await c.press("enter")
        assert c.app.grid.cursor == "d1" and c.app.grid.has_focus
        assert "filter" in screen_text(c.app, "counts") and "1 of 6" in screen_text(c.app, "counts")
        await c.press("slash", "escape")
        assert len(c.app.grid.visible_hosts) == 6
        await c.press("slash", *"web", "enter")
        assert c.app.grid.visible_hosts == ["w1", "w2", "w3", "w4"]
        await c.press("slash", "ctrl+a", "ctrl+k", *"pend", "enter")  # a state word (its start)
        assert len(c.app.grid.visible_hosts) == 6
        await c.press("slash", "ctrl+a", "ctrl+k", *"fail", "enter")
        assert c.app.grid.visible_hosts == []
        assert "no host selected" in screen_text(c.app, "selection")


async def test_enter_opens_the_host_detail(tmp_path: Path) -> None:
    async with console(tmp_path, faults={"w2": {"check-fails"}}) as c:
        await c.start()
        await c.until(lambda: c.engine.state is RollState.PAUSED)
        c.app.grid.select("w2")
        await c.pilot.pause()
        await c.press("enter")
        assert isinstance(c.app.screen, HostDetail)
        body = plain(c.app.screen.query_one("#detail-body", Static).content)
        run = c.engine.hosts["w2"]
        assert run.boot_id_before and run.boot_id_before in body
        assert run.boot_id_after and run.boot_id_after in body
        assert "✘ FAIL" in body and "health" in body and "fault check-fails" in body
        assert "Timeline" in body and "rebooting" in body
        # Pause and abort work from here; grid keys do not.
        assert c.app.check_action("abort", ()) is True and c.app.check_action("filter", ()) is False
        await c.press("escape")
        assert not isinstance(c.app.screen, HostDetail)


async def test_f_follows_the_active_host_until_the_cursor_moves(tmp_path: Path) -> None:
    async with console(tmp_path, policy="batch: 1\nbake: 0.2s") as c:
        await c.press("f")
        assert c.app.follow
        await c.start()
        await c.until(
            lambda: (
                c.app.grid.cursor not in (None, "w1") and c.engine.hosts[c.app.grid.cursor].state.in_flight
            )
        )
        assert "following" in screen_text(c.app, "counts")
        await c.press("left")
        assert not c.app.follow


async def test_o_shows_only_the_selected_hosts_log(tmp_path: Path) -> None:
    async with console(tmp_path, policy="batch: 3\nbake: 0.05s") as c:
        await c.start()
        await c.until(lambda: c.engine.state is RollState.COMPLETE)
        c.app.grid.select("w3")
        await c.pilot.pause()
        await c.press("o")
        view = c.app.log_pane.view
        assert view and {e.host for e in view} == {"w3"}
        assert "only w3" in screen_text(c.app, "log-title")
        await c.press("right")  # the log follows the cursor
        assert {e.host for e in c.app.log_pane.view} == {"w4"}
        await c.press("o")
        assert len({e.host for e in c.app.log_pane.view}) > 2


async def test_help_and_palette_list_every_action(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        await c.press("question_mark")
        assert isinstance(c.app.screen, HelpScreen)
        await c.press("escape")
        titles = [cmd.title for cmd in c.app.get_system_commands(c.app.screen)]
        for want in (
            "Start the roll",
            "Pause the roll",
            "Resume the roll",
            "Skip the selected host",
            "Retry the selected host",
            "Abort the roll",
            "Host detail",
            "Filter the grid",
            "Follow the active host",
            "Next theme",
            "Quit",
            "Theme: screen-share",
        ):
            assert want in titles
