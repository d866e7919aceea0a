"""What k9s and lazygit users reach for: the : command line, G, the palette's keys and hosts, a click."""

from __future__ import annotations

from pathlib import Path

from console.tui.app import SlowrollApp
from console.tui.screens.help import HelpScreen
from console.tui.screens.hostdetail import HostDetail
from tests.tui.scenes import console, screen_text


def notes(app: SlowrollApp) -> str:
    return "\n".join(n.message for n in app._notifications)


async def test_colon_host_filter_theme_and_unknown_commands(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        await c.press("colon", *"host w3", "enter")
        assert isinstance(c.app.screen, HostDetail) and c.app.grid.cursor == "w3"
        await c.press("escape")
        await c.press("colon", *"host d", "enter")  # d1 and d2 both start so
        assert not isinstance(c.app.screen, HostDetail) and "2 hosts start so" in notes(c.app)
        await c.press("colon", *"filter d", "enter")
        assert c.app.grid.visible_hosts == ["d1", "d2"] and c.app.grid.has_focus
        await c.press("colon", *"theme light", "enter")
        assert c.app.console_theme.name == "light"
        await c.press("colon", *"theme nope", "enter")
        assert "no such theme" in notes(c.app) and c.app.console_theme.name == "light"
        await c.press("colon", *"frobnicate", "enter")
        assert ":frobnicate: unknown command" in notes(c.app)
        await c.press("colon", *"help", "enter")
        assert isinstance(c.app.screen, HelpScreen)


async def test_G_goes_to_the_last_host_and_a_click_on_the_selected_tile_opens_it(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        await c.press("G")
        assert c.app.grid.cursor == "d2"
        await c.press("home")
        assert c.app.grid.cursor == "w1"
        grid = c.app.grid
        offset = (grid.region.x + 3, grid.region.y + 1)  # the first tile row, under the first group line
        await c.pilot.click(offset=offset)
        assert c.app.grid.cursor == "w1" and isinstance(c.app.screen, HostDetail)


async def test_the_palette_shows_each_entrys_key_and_offers_every_host(tmp_path: Path) -> None:
    async with console(tmp_path) as c:
        commands = {cmd.title: cmd for cmd in c.app.get_system_commands(c.app.screen)}
        assert commands["Pause the roll"].help.startswith("p · ")
        assert commands["Filter the grid"].help.startswith("/ · ")
        assert commands["Command line"].help.startswith(": · ")
        assert {f"Go to host {h}" for h in c.engine.hosts} <= set(commands)
        commands["Go to host d2"].callback()
        await c.pilot.pause()
        assert c.app.grid.cursor == "d2" and isinstance(c.app.screen, HostDetail)


async def test_colon_log_searches_the_log(tmp_path: Path) -> None:
    async with console(tmp_path, policy="batch: 3\nbake: 0.05s") as c:
        await c.start()
        await c.until(lambda: c.engine.state.final)
        everything = len(c.app.log_pane.view)
        await c.press("colon", *"log reboot command", "enter")
        view = c.app.log_pane.view
        assert view and len(view) < everything and all("reboot command" in e.text.lower() for e in view)
        assert "lines with “reboot command”" in screen_text(c.app, "log-title")
        await c.press("colon", *"log", "enter")
        assert len(c.app.log_pane.view) >= everything  # every line again (a late line may have come since)
        assert len(c.app.log_pane.view) == len(c.app.log_pane.entries)
