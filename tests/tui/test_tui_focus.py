"""Focus is always visible: a bar down the focused pane's left edge and, for the log, its title marked."""

from __future__ import annotations

from pathlib import Path

from console.model.events import RollState
from console.tui.app import SlowrollApp
from tests.tui.scenes import console, screen_text


def bar(app: SlowrollApp, widget_id: str) -> str:
    return app.query_one(f"#{widget_id}").styles.border_left[0]


async def test_tab_and_a_click_show_where_focus_is_and_arrows_follow_it(tmp_path: Path) -> None:
    async with console(tmp_path, policy="batch: 3\nbake: 0.05s") as c:
        await c.start()
        await c.until(lambda: c.engine.state is RollState.COMPLETE)
        assert c.app.grid.has_focus and bar(c.app, "grid") == "outer" and bar(c.app, "log") == "blank"
        assert not screen_text(c.app, "log-title").startswith("▶")
        await c.press("tab")
        assert c.app.log_pane.has_focus
        assert bar(c.app, "log") == "outer" and bar(c.app, "grid") in ("", "none")
        title = screen_text(c.app, "log-title")
        assert title.startswith("▶ Log") and "focused" in title
        cursor = c.app.grid.cursor
        await c.press("down")  # the log has focus: the grid's cursor stays
        assert c.app.grid.cursor == cursor
        await c.press("tab")
        assert c.app.grid.has_focus and not screen_text(c.app, "log-title").startswith("▶")
        await c.press("right")
        assert c.app.grid.cursor != cursor
        await c.pilot.click("#log")
        assert c.app.log_pane.has_focus and screen_text(c.app, "log-title").startswith("▶")
