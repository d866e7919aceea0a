"""The maintenance window in the header and the banner: open and for how long, closed and until when."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from pathlib import Path

from console.engine.facade import Engine
from console.load.native import parse_inventory
from console.model.events import RollState
from console.remote.ssh import Connector, SSHOptions
from console.tui.components.maintenance import window_status
from console.tui.components.status import banner_text, header_lines
from console.tui.components.themes import load_themes
from tests.simlab import fleet_yaml
from tests.tui.scenes import T0, console, frozen_clock, plain, screen_text

# T0 is Tuesday 2023-11-14 22:13:20 UTC; the frozen clock says T0 + 754 s = 22:25:54.
NOW = dt.datetime.fromtimestamp(T0 + 754.0, dt.UTC)


def windowed_engine(tmp_path: Path, start: str, end: str, bake: str = "60s") -> Engine:
    policy = f"batch: 1\nbake: {bake}\nwindows: [{{start: '{start}', end: '{end}'}}]"
    inv = parse_inventory(fleet_yaml({"web": ["w1", "w2"]}, policy=policy), str(tmp_path / "inventory.yaml"))
    connector = Connector(SSHOptions(known_hosts=str(tmp_path / "known_hosts"), agent=False))
    return Engine(inv, connector, clock=lambda: T0 + 754.0, operator="oncall@console")


def header(engine: Engine, width: int = 158) -> str:
    theme = load_themes({}).themes["dark"]
    lines = header_lines(engine, theme, frozen_clock(), width, planned_slices=2, simulated=False, speed=1.0)
    return plain(lines[0], width + 2)


def test_open_window_shows_the_time_left(tmp_path: Path) -> None:
    engine = windowed_engine(tmp_path, "22:00", "23:38:00")  # closes 1h12m06s after 22:25:54
    status = window_status(engine, frozen_clock())
    assert status is not None and status.open and not status.waiting
    assert "◎ window open, closes in 1h12m" in header(engine)


def test_closed_window_says_when_the_next_one_opens(tmp_path: Path) -> None:
    engine = windowed_engine(tmp_path, "01:00", "03:00")  # tomorrow (Wednesday) 01:00: in 2h34m06s
    status = window_status(engine, frozen_clock())
    assert status is not None and not status.open
    assert "◌ window closed, next opens Wed 01:00 (in 2h34m)" in header(engine)
    banner = banner_text(engine, planned_slices=2, quitting=False, clock=frozen_clock())
    assert (
        "Outside every maintenance window: no reboot starts until the next one opens at Wed 01:00" in banner
    )
    # Running and waiting for it: the header says "waiting", the banner says why nothing happens.
    engine.state = RollState.RUNNING
    engine.waiting_for = "maintenance window: outside every maintenance window"
    assert "◌ waiting: next window opens Wed 01:00 (in 2h34m)" in header(engine)
    banner = banner_text(engine, planned_slices=2, quitting=False, clock=frozen_clock())
    assert banner.startswith("▶ RUNNING — waiting. Outside every maintenance window")
    # At 80 columns the wait survives (it is why nothing happens); the roll's name gives way first.
    narrow = header(engine, 78)
    assert "◌ waiting: window opens Wed 01:00 (in 2h34m)" in narrow and "RUNNING" in narrow


def test_a_window_too_short_for_a_slice_says_so(tmp_path: Path) -> None:
    # 22:00-22:40 leaves 14m06s; a slice is expected to take the bake (20m) plus the reboot
    # (reboot_timeout 4s here: the estimate before anything was measured).
    engine = windowed_engine(tmp_path, "22:00", "22:40", bake="20m")
    status = window_status(engine, frozen_clock())
    assert status is not None and not status.open
    text = header(engine)
    assert "◌ window closes in 14m06s: too short for a slice (~20m04s)" in text
    banner = banner_text(engine, planned_slices=2, quitting=False, clock=frozen_clock())
    assert "before a slice (expected 20m04s) could finish" in banner
    assert "no reboot starts until the next one opens at Wed 22:00 (in 23h34m)" in banner


def test_no_window_no_words(tmp_path: Path) -> None:
    inv = parse_inventory(fleet_yaml({"web": ["w1"]}), str(tmp_path / "inventory.yaml"))
    engine = Engine(
        inv, Connector(SSHOptions(known_hosts=str(tmp_path / "kh"), agent=False)), clock=lambda: T0
    )
    assert window_status(engine, frozen_clock()) is None
    assert "window" not in header(engine)


async def test_console_waits_for_a_closed_window_and_says_until_when(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    opens, closes = now + dt.timedelta(hours=2), now + dt.timedelta(hours=3)
    policy = f"batch: 2\nbake: 0.1s\nwindows: [{{start: '{opens:%H:%M:%S}', end: '{closes:%H:%M:%S}'}}]"
    async with console(tmp_path, policy=policy) as c:
        text = screen_text(c.app, "header")
        assert re.search(r"◌ window opens (\w{3} )?\d\d:\d\d \(in (2h00m|1h59m)\)", text), text
        assert "Outside every maintenance window" in screen_text(c.app, "banner")
        await c.start()
        await c.until(lambda: c.engine.waiting_for.startswith("maintenance window"))
        await c.pilot.pause(0.4)  # the next status refresh
        text = screen_text(c.app, "header")
        assert re.search(r"◌ waiting: window opens (\w{3} )?\d\d:\d\d \(in (2h00m|1h59m)\)", text), text
        banner = screen_text(c.app, "banner")
        assert "RUNNING — waiting." in banner and "no reboot starts until the next one opens" in banner
        await asyncio.sleep(0.3)
        assert c.reboots() == 0  # and indeed nothing was rebooted
        await c.press("p")
        await c.until(lambda: c.engine.state is RollState.PAUSED)
        assert "◌ window opens" in screen_text(c.app, "header")
