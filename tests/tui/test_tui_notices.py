"""Notices: never stale after the roll's state changed, never over a dialog, the banner or the log."""

from __future__ import annotations

from pathlib import Path

from textual.geometry import Region
from textual.widgets._toast import Toast

from console.model.events import RollState
from console.tui.app import SlowrollApp
from console.tui.screens.dialogs import Confirm
from tests.tui.scenes import console


def toast_regions(app: SlowrollApp) -> list[Region]:
    return [t.region for t in app.screen.query(Toast) if t.region.area]


async def test_a_notice_about_the_old_state_goes_when_the_state_changes(tmp_path: Path) -> None:
    async with console(tmp_path, policy="batch: 1\nbake: 0.3s") as c:
        await c.start()
        await c.press("p")
        await c.until(lambda: c.engine.state is RollState.PAUSED)
        await c.press("p")
        assert any("already paus" in n.message for n in c.app._notifications)
        await c.press("r")
        await c.until(lambda: c.engine.state is RollState.RUNNING)
        assert not any("already paus" in n.message for n in c.app._notifications)


async def test_notices_never_cover_a_dialog_the_banner_or_the_log(tmp_path: Path) -> None:
    async with console(tmp_path, size=(80, 24), notifications=True) as c:
        c.app.notify("a notice long enough to need two lines of a toast at eighty columns", timeout=30)
        await c.pilot.pause()
        await c.pilot.pause()
        toasts = toast_regions(c.app)
        assert toasts
        for widget in ("#banner", "#header", "#lower", "#keys", "#selection"):
            region = c.app.query_one(widget).region
            assert not any(t.overlaps(region) for t in toasts), widget
        await c.press("g")
        assert isinstance(c.app.screen, Confirm)
        c.app.notify("another notice", timeout=30)
        await c.pilot.pause()
        await c.pilot.pause()
        assert toast_regions(c.app) == []  # the dialog's 'y start rebooting' line stays readable
        await c.press("n")
        await c.pilot.pause()
        await c.pilot.pause()
        assert len(toast_regions(c.app)) == 2  # back on the grid, they show again
