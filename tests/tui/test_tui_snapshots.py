"""Snapshots of the console's screens from staged scenes (no fleet, frozen clock, UTC, fixed size).

Update after a deliberate change with ``pytest tests/tui --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from tests.tui.scenes import stage_complete, stage_detail_host, stage_paused, stage_running, staged_app

SIZE = (120, 36)


@pytest.mark.parametrize("theme", ["dark", "light", "screen-share"])
def test_main_screen_in_each_theme(theme: str, snap_compare, tmp_path: Path) -> None:
    assert snap_compare(staged_app(tmp_path, stage_running, theme=theme), terminal_size=SIZE)


def test_first_screen_shows_the_plan_at_80x24(snap_compare, tmp_path: Path) -> None:
    assert snap_compare(staged_app(tmp_path, None), terminal_size=(80, 24))


def test_main_screen_at_80x24(snap_compare, tmp_path: Path) -> None:
    assert snap_compare(staged_app(tmp_path, stage_running), terminal_size=(80, 24))


def test_paused_banner(snap_compare, tmp_path: Path) -> None:
    assert snap_compare(staged_app(tmp_path, stage_paused), terminal_size=SIZE)


def test_abort_dialog(snap_compare, tmp_path: Path) -> None:
    assert snap_compare(staged_app(tmp_path, stage_running), terminal_size=SIZE, press=["a"])


def test_host_detail(snap_compare, tmp_path: Path) -> None:
    def stage(engine):
        events = stage_running(engine)
        stage_detail_host(engine)
        return events

    async def select(pilot: Pilot[int]) -> None:
        pilot.app.grid.select("web-07")  # type: ignore[attr-defined]
        await pilot.pause()

    app = staged_app(tmp_path, stage)
    assert snap_compare(app, terminal_size=(120, 48), run_before=select, press=["enter"])


def test_paused_by_itself_at_80x24(snap_compare, tmp_path: Path) -> None:
    assert snap_compare(staged_app(tmp_path, stage_paused), terminal_size=(80, 24))


def test_complete_at_80x24(snap_compare, tmp_path: Path) -> None:
    assert snap_compare(staged_app(tmp_path, stage_complete), terminal_size=(80, 24))


def test_filter_line_keeps_the_grid_at_80x24(snap_compare, tmp_path: Path) -> None:
    """/ opens one row over the log: the grid keeps its rows and names."""

    async def open_filter(pilot: Pilot[int]) -> None:
        await pilot.press("slash")
        await pilot.pause(0.3)  # three ticks: the log, a row shorter, scrolled back to its end

    assert snap_compare(staged_app(tmp_path, stage_running), terminal_size=(80, 24), run_before=open_filter)
