"""The grid's filter, follow and esc: they compose, and the console says how to clear a filter."""

from __future__ import annotations

from pathlib import Path

from console.model.events import RollState
from tests.tui.scenes import console, screen_text


async def test_follow_moves_among_the_filtered_hosts(tmp_path: Path) -> None:
    async with console(tmp_path, policy="batch: 1\nbake: 0.2s") as c:
        await c.start()
        await c.press("f", "slash", *"d", "enter")
        assert c.app.grid.filter_text == "d" and c.app.follow
        # The roll goes through the web hosts first: follow never drops the filter to show them.
        await c.until(lambda: any(c.engine.hosts[h].state.in_flight for h in ("d1", "d2")), timeout=30)
        await c.until(
            lambda: c.app.grid.cursor in ("d1", "d2") and c.engine.hosts[c.app.grid.cursor].state.in_flight
        )
        assert c.app.grid.visible_hosts == ["d1", "d2"]
        assert "filter “d”" in screen_text(c.app, "counts") and "following" in screen_text(c.app, "counts")


async def test_esc_on_the_grid_clears_an_applied_filter_and_the_key_bar_says_so(tmp_path: Path) -> None:
    async with console(tmp_path, size=(80, 24)) as c:
        assert "esc" not in str(c.app.query_one("#keys").content)
        await c.press("slash", *"web", "enter")
        assert c.app.grid.visible_hosts == ["w1", "w2", "w3", "w4"] and c.app.grid.has_focus
        await c.pilot.pause()
        c.app.query_one("#keys").refresh_keys()
        assert "esc clear filter" in str(c.app.query_one("#keys").content)
        await c.press("escape")
        assert len(c.app.grid.visible_hosts) == 6 and "filter" not in screen_text(c.app, "counts")
        assert c.engine.state is RollState.READY
        await c.press("escape")  # nothing to clear: it says so
        assert any("no filter is applied" in n.message for n in c.app._notifications)
