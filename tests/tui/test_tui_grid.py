"""The grid and the log with thousands of hosts: one widget, coalesced redraws, bounded memory."""

from __future__ import annotations

import time
from pathlib import Path

from console.model.events import HostState, HostStateChanged
from console.tui.components.grid import FleetGrid
from console.tui.components.logpane import MAX_LINES
from tests.tui.scenes import T0, big_app


async def test_two_thousand_hosts_are_one_widget_drawn_densely(tmp_path: Path) -> None:
    app = big_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        assert len(app.query(FleetGrid)) == 1 and not app.grid.children
        assert app.grid.effective_density == "dense"
        grid = app.grid
        first = grid.cursor
        await pilot.press("down")
        assert grid.cursor != first and grid.visible_hosts.index(grid.cursor) > 1  # a row down, same column
        await pilot.press("end")
        assert grid.cursor == grid.visible_hosts[-1]
        await pilot.pause()
        assert grid.scroll_offset.y > 0  # scrolled so the cursor is on screen
        await pilot.press("home", "z")
        assert grid.density == "names"
        await pilot.press("z")
        assert grid.density == "glyphs"


async def test_a_burst_of_events_costs_a_frame_not_one_per_event(tmp_path: Path) -> None:
    app = big_app(tmp_path)
    rendered: list[int] = []
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        original = app.grid.render_line

        def counting(y: int):  # type: ignore[no-untyped-def]
            rendered.append(y)
            return original(y)

        app.grid.render_line = counting  # type: ignore[method-assign]
        names = list(app.engine.hosts)
        start = time.perf_counter()
        for i in range(5000):
            name = names[(i * 7) % len(names)]
            run = app.engine.hosts[name]
            old, run.state = run.state, list(HostState)[i % 9]
            app.handle_engine_event(HostStateChanged(T0 + i, name, old, run.state, "test"))
        handled = time.perf_counter() - start
        assert not rendered  # nothing is drawn while events arrive
        await pilot.pause(0.25)  # two or three ticks
        height = app.grid.size.height
        assert 0 < len(rendered) <= 3 * height, (len(rendered), height)
        assert len(app.log_pane.entries) == MAX_LINES  # bounded
        # Handling an event is cheap: marks and a log line (generous bound, this is not a benchmark).
        assert handled < 5.0


async def test_state_filter_follows_hosts_as_they_change(tmp_path: Path) -> None:
    app = big_app(tmp_path, hosts=60)
    async with app.run_test(size=(120, 40)) as pilot:
        app.apply_filter("fail")
        assert app.grid.visible_hosts == []
        run = app.engine.hosts["web-03"]
        old, run.state = run.state, HostState.FAILED
        app.handle_engine_event(HostStateChanged(T0, "web-03", old, run.state, "check failed"))
        await pilot.pause(0.25)
        assert app.grid.visible_hosts == ["web-03"] and app.grid.cursor == "web-03"
