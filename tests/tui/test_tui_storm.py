"""A storm of engine events over a big fleet: the grid redraws a bounded number of rows per frame, catches
up within a few ticks, and moves the cursor at once."""

from __future__ import annotations

import random
from pathlib import Path

from console.model.events import FindingsReported, HostState, HostStateChanged
from console.tui.components.grid import TILES_PER_TICK
from console.tui.components.tiles import counts_of, marks_of
from console.tui.components.vocab import HOST_GLYPHS
from tests.tui.scenes import T0, big_app, stage_detail_host


async def test_every_visible_row_changing_is_drawn_over_a_few_ticks(tmp_path: Path) -> None:
    app = big_app(tmp_path, hosts=4000)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        grid = app.grid
        assert grid.effective_density == "dense"
        refreshed: list[int] = []
        original = grid.refresh_line

        def spy(y: int) -> None:
            refreshed.append(y)
            original(y)

        grid.refresh_line = spy  # type: ignore[method-assign]
        for name, run in app.engine.hosts.items():  # every host changes: every row is stale
            old, run.state = run.state, HostState.DONE
            app.handle_engine_event(HostStateChanged(T0, name, old, run.state, "storm"))
        rows = min(grid.size.height, len(grid._rows))
        per_tick = TILES_PER_TICK // grid._per_row
        assert per_tick < rows  # the case under test: more rows changed than one frame draws
        grid.tick()
        assert len(refreshed) == per_tick  # the oldest first
        ticks = 1
        while grid.tick():
            ticks += 1
        assert ticks == -(-rows // per_tick)
        assert sorted(refreshed) == list(range(rows))  # each visible row once
        await pilot.pause()
        shown = "".join(seg.text for y in range(rows) for seg in grid.render_line(y))
        assert HOST_GLYPHS[HostState.PENDING] not in shown  # every tile as it is now


async def test_the_cursor_moves_at_once_in_a_storm(tmp_path: Path) -> None:
    app = big_app(tmp_path, hosts=4000)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        for name, run in app.engine.hosts.items():
            old, run.state = run.state, HostState.BOOTING
            app.handle_engine_event(HostStateChanged(T0, name, old, run.state, "storm"))
        app.grid.tick()  # part of the grid redrawn, the rest waits
        await pilot.press("down")
        await pilot.pause()
        assert app.grid.rendered_cursor == app.grid.cursor != app.grid.visible_hosts[0]


async def test_group_lines_keep_count_through_a_storm(tmp_path: Path) -> None:
    app = big_app(tmp_path, hosts=600)
    stage_detail_host(app.engine)  # web-07 carries drift findings: its group line counts a mark
    findings = app.engine.hosts["web-07"].findings
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        grid = app.grid
        rng = random.Random(7)
        names = list(app.engine.hosts)
        marked = 0
        for _ in range(20):
            for name in rng.sample(names, 150):
                run = app.engine.hosts[name]
                old, run.state = run.state, rng.choice(list(HostState))
                if rng.random() < 0.2:
                    run.findings = [] if run.findings else list(findings)
                    app.handle_engine_event(FindingsReported(T0, name, "before", ()))
                app.handle_engine_event(HostStateChanged(T0, name, old, run.state, "storm"))
            grid.tick()
            for group, members in grid._groups:
                states, marks = grid.tallies.of(group)
                assert {s: n for s, n in states.items() if n} == counts_of(grid.engine, members)
                assert {m: n for m, n in marks.items() if n} == marks_of(grid.engine, members)
                marked += sum(marks.values())
        assert marked  # the marks were counted too, not only the states
