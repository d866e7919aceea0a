"""The roll's timeline screen: the picture `slowroll report` draws, drawn by the same renderer, live."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot

from console.model.events import HostState, RollState
from console.report.timeline import timeline_rows
from console.tui.app import SlowrollApp
from console.tui.keys import KEYS
from console.tui.screens.help import help_text
from console.tui.screens.timeline import HOSTS_MAX, TimelineScreen, TimelineView, host_rows, slice_rows
from tests.tui.scenes import T0, console, frozen_clock, stage_running, staged_app, staged_engine


def view_lines(app: SlowrollApp) -> list[str]:
    view = app.screen.query_one(TimelineView)
    return [view.render_line(y).text for y in range(view.scrollable_content_region.height)]


async def test_w_shows_the_timeline_drawn_by_the_report_renderer(tmp_path: Path) -> None:
    async with console(tmp_path, policy="batch: [2, 1]\nbake: 1s") as c:
        await c.press("w")
        assert isinstance(c.app.screen, TimelineScreen)
        assert "not started" in str(c.app.screen.query_one("#timeline-axis").render())
        await c.press("escape")
        await c.start()
        await c.until(lambda: sum(r.state is HostState.DONE for r in c.engine.hosts.values()) >= 3)
        await c.press("w")
        screen = c.app.screen
        assert isinstance(screen, TimelineScreen) and not screen.by_slice  # a small fleet: a row per host
        await c.pilot.pause(0.6)  # a refresh while open
        view = screen.query_one(TimelineView)
        lines = view_lines(c.app)
        # Every row on screen is exactly what the report's renderer draws for it.
        for i, row in enumerate(view.rows[: len(lines)]):
            (expected,) = timeline_rows(
                [row], view.draw_width, start=view.start, end=view.end, name_width=view.name_width
            )
            assert lines[i] == expected
        done = [r.name for r in c.engine.hosts.values() if r.state is HostState.DONE]
        first = next(line for line in lines if f" {done[0]} " in line)
        assert first.startswith("● ") and "█" in first  # rebooted: its done marker
        assert "done" in str(screen.query_one("#timeline-title").render())
        assert "+0s" in str(screen.query_one("#timeline-axis").render())
        # v: a row per slice, each slice's hosts on one line.
        await c.press("v")
        assert screen.by_slice
        lines = view_lines(c.app)
        assert lines[0].startswith("● slice 1 (2)") and "█" in lines[0]
        # p still pauses from here, and esc (or w) goes back.
        await c.press("p")
        assert c.engine.state in (RollState.PAUSING, RollState.PAUSED)
        await c.press("w")
        assert not isinstance(c.app.screen, TimelineScreen)


def test_timeline_is_in_the_help_and_the_palette(tmp_path: Path) -> None:
    assert any(key == "w" and "timeline" in what for key, what, _ in KEYS)
    app = staged_app(tmp_path, stage_running)
    assert "timeline" in help_text(KEYS, app.console_theme).plain
    titles = [c.title for c in app.get_system_commands(app.screen if app.screen_stack else None)]  # type: ignore[arg-type]
    assert "Timeline" in titles


def changes(at: float, *steps: tuple[float, str]) -> list[tuple[float, str, str]]:
    return [(T0 + at + offset, state, "") for offset, state in steps]


CYCLE = ((0, "prechecking"), (2, "rebooting"), (5, "down"), (40, "booting"), (45, "checking"), (50, "baking"))


def stage_timelines(engine) -> list:
    """The running scene, with the state changes behind it (the timeline is drawn from them)."""
    events = stage_running(engine)
    engine.clock = lambda: T0 + 480.0
    starts = {
        "web-01": 0,
        "web-02": 100,
        "web-03": 220,
        "web-04": 350,
        "app-01": 350,
        "app-02": 350,
        "db-01": 350,
    }
    for name, start in starts.items():
        engine.hosts[name].timeline = changes(start, *CYCLE, (95, "done"))
    engine.hosts["web-05"].timeline = changes(350, *CYCLE[:2])  # still going down
    engine.hosts["web-06"].timeline = changes(350, *CYCLE[:3])  # down a long time
    engine.hosts["app-03"].timeline = changes(350, *CYCLE[:3], (90, "booting"), (95, "checking"))
    engine.hosts["db-02"].timeline = changes(350, *CYCLE)
    engine.hosts["web-07"].timeline = changes(350, *CYCLE[:5], (81, "failed"))
    engine.hosts["app-04"].timeline = changes(300, (0, "skipped"))
    return events


def test_rows_follow_the_roll_order_and_slices_merge_their_hosts(tmp_path: Path) -> None:
    engine = staged_engine(tmp_path)
    stage_timelines(engine)
    rows = host_rows(engine)
    labels = [label for label, _ in rows]
    # Rolled hosts first, by slice; the failed one shows its glyph; hosts not rolled yet come last.
    assert labels[0] == "● web-01" and "✘ web-07" in labels and labels[-1].startswith(("○", "⊘", "!"))
    slices, outside = slice_rows(engine)
    assert [label for label, _ in slices] == [
        "● slice 1 (1)",
        "● slice 2 (1)",
        "● slice 3 (1)",
        "✘ slice 4 (9)",
    ]
    assert outside == len(engine.hosts) - 12
    # A fleet bigger than a screenful opens on slices.
    big = staged_engine(tmp_path / "big", hosts=HOSTS_MAX + 20)
    assert TimelineScreen(big, frozen_clock()).by_slice
    assert not TimelineScreen(engine, frozen_clock()).by_slice


def test_timeline_screen_snapshot(snap_compare, tmp_path: Path) -> None:
    async def open_it(pilot: Pilot[int]) -> None:
        await pilot.press("w")
        await pilot.pause()

    app = staged_app(tmp_path, stage_timelines)
    assert snap_compare(app, terminal_size=(120, 36), run_before=open_it)
