"""At 80x24: the keys that work now come first, and / never takes rows (or names) from the grid."""

from __future__ import annotations

from pathlib import Path

from console.tui.keys import KEYS
from console.tui.screens.help import help_text
from tests.tui.scenes import stage_running, staged_app


async def test_at_80x24_working_keys_outrank_dimmed_ones_and_the_filter_keeps_the_grid(
    tmp_path: Path,
) -> None:
    app = staged_app(tmp_path, stage_running)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)  # two ticks: the lower pane sized, the grid laid out for it
        keys = str(app.query_one("#keys").content)
        assert "/ filter" in keys and "f follow" in keys and "q quit" in keys and "? help" in keys
        assert "g start" not in keys and "r resume" not in keys  # not now: they give way
        density = app.grid.effective_density
        await pilot.press("slash")
        await pilot.pause()
        assert app.query_one("#filter").display and app.grid.filter_text == ""
        assert app.grid.effective_density == density == "names"  # names, not unnamed glyphs
        assert app.grid.virtual_size.height <= app.grid.size.height  # every group on screen


def test_help_lines_fit_80_columns_and_hang_under_their_text(tmp_path: Path) -> None:
    app = staged_app(tmp_path, stage_running)
    text = help_text(KEYS, app.console_theme).plain
    too_long = [line for line in text.splitlines() if len(line) > 76]  # 80 less the padding and scrollbar
    assert not too_long, too_long
    lines = text.splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith("  r "))
    assert lines[i + 1].startswith(" " * 14) and lines[i + 1].strip()  # the rest hangs under the text
