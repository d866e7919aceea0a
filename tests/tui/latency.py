"""Key press → screen latency of the console with a big fleet (a measurement, not a test).

    .venv/bin/python -m tests.tui.latency --fleet 2000 --speed 20 --presses 200
    .venv/bin/python -m tests.tui.latency --fleet 2000 --staged --events 5000

Default: the demo fleet (real SSH servers on 127.0.0.1, all in this process, like ``slowroll demo``); the
roll is started and, once the big slices run, the grid cursor is moved with arrow keys. ``--staged``: no
fleet and no SSH; an engine whose hosts change state ``--events`` times a second (what the console itself
costs).

For each press: the time from handing the key to the app (as the terminal driver does) to the end of the
first screen update whose grid shows the cursor on the new host (the compositor has rendered it; in a
terminal the bytes are written right then). Also the event loop's lag over the same time (how late a 10 ms
timer fires): the floor under any key's latency, set by everything sharing the loop.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from textual import events

from console.engine.facade import Engine
from console.load.native import load_inventory
from console.model.events import HostState, HostStateChanged, RollState
from console.model.inventory import Inventory
from console.remote.ssh import Connector, SSHOptions
from console.sim.fleet import SimFleet
from console.sim.twin import demo_inventory
from console.tui.app import SlowrollApp, freeze_heap


def with_connect_timeout(path: Path, seconds: float) -> Inventory:
    """The demo's 5 s connect timeout, divided by --speed, is too short for hundreds of SSH handshakes at
    once in one process: the roll pauses by itself. This gives it room to keep running."""
    text = path.read_text().replace("connect_timeout: 5s", f"connect_timeout: {seconds}s")
    path.write_text(text)
    return load_inventory(path)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def ms(value: float) -> float:
    return round(value * 1000, 1)


async def time_presses(
    app: SlowrollApp, presses: int, samples: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Move the cursor ``presses`` times; the latency of each, and the loop's lag meanwhile.

    ``samples``, if given, receives the raw figures in seconds (``latency``, ``lag``), the ``perf_counter``
    time of each press (``pressed``) and the times the presses began and ended (``window``)."""
    frames: list[tuple[float, str | None]] = []
    original = app._display

    def spy(screen: Any, renderable: Any) -> None:
        original(screen, renderable)  # what a terminal driver does with the update counts too
        if renderable is not None:
            frames.append((time.perf_counter(), app.grid.rendered_cursor))

    app._display = spy  # type: ignore[method-assign]
    lags: list[float] = []
    probing = True

    async def probe() -> None:
        while probing:
            t = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - t - 0.01)

    prober = asyncio.ensure_future(probe())
    began = time.perf_counter()
    driver = app._driver
    assert driver is not None
    latencies: list[float] = []
    pressed: list[float] = []
    states: dict[str, int] = {}
    direction = "right"
    for i in range(presses):
        visible = app.grid.visible_hosts
        cursor = app.grid.cursor
        assert cursor is not None
        index = visible.index(cursor)
        if index >= len(visible) - 1:
            direction = "left"
        elif index == 0:
            direction = "right"
        target = visible[index + (1 if direction == "right" else -1)]
        seen = len(frames)
        t0 = time.perf_counter()
        driver.send_message(events.Key(direction, None))
        while True:
            hit = next((f for f in frames[seen:] if f[1] == target), None)
            if hit is not None:
                latencies.append(hit[0] - t0)
                pressed.append(t0)
                break
            if time.perf_counter() - t0 > 10:
                raise AssertionError(f"press {i}: no frame with the cursor on {target} in 10 s")
            await asyncio.sleep(0.0005)
        states[app.engine.state.value] = states.get(app.engine.state.value, 0) + 1
        await asyncio.sleep(0.05 + (i % 5) * 0.02)  # people do not type in lockstep with frames
    ended = time.perf_counter()
    probing = False
    await prober
    app._display = original  # type: ignore[method-assign]
    if samples is not None:
        samples.update(latency=latencies, pressed=pressed, lag=lags, window=(began, ended))
    return {
        "presses": len(latencies),
        "p50_ms": ms(statistics.median(latencies)),
        "p90_ms": ms(percentile(latencies, 90)),
        "p99_ms": ms(percentile(latencies, 99)),
        "max_ms": ms(max(latencies)),
        "loop_lag_p50_ms": ms(statistics.median(lags)),
        "loop_lag_p99_ms": ms(percentile(lags, 99)),
        "roll_state_during": states,
    }


@asynccontextmanager
async def demo_fleet(
    work: Path, size: int, speed: float, connect_timeout: float | None
) -> AsyncIterator[tuple[SimFleet, Engine]]:
    inv = demo_inventory(work, size)
    if connect_timeout is not None:
        inv = with_connect_timeout(Path(inv.path), connect_timeout)
    fleet = SimFleet(inv, work / "sim", speed=speed)
    await fleet.start()
    try:
        twin = fleet.twin_inventory()
        connector = Connector(
            SSHOptions(known_hosts=twin.ssh.known_hosts, identity_files=twin.ssh.identity_files, agent=False)
        )
        yield fleet, Engine(twin, connector)
    finally:
        await fleet.stop()


async def measure(
    fleet_size: int,
    speed: float,
    presses: int,
    size: tuple[int, int],
    *,
    freeze: bool = True,
    connect_timeout: float | None = None,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="slowroll-latency-") as tmp:
        async with demo_fleet(Path(tmp), fleet_size, speed, connect_timeout) as (_, engine):
            app = SlowrollApp(engine, simulated=True, speed=speed)
            if freeze:
                freeze_heap()  # as run_console does
            async with app.run_test(size=size) as pilot:
                await pilot.press("g")
                await pilot.press("y")
                busy = asyncio.Event()

                def watch(_: object) -> None:
                    if engine.slice_index >= 3 or engine.state is not RollState.RUNNING:
                        busy.set()

                unsubscribe = engine.subscribe(watch)
                await busy.wait()  # the big slices have started: the loop is as busy as it gets
                unsubscribe()
                result = await time_presses(app, presses)
                result.update(
                    mode="fleet",
                    fleet=fleet_size,
                    speed=speed,
                    terminal=f"{size[0]}x{size[1]}",
                    hosts_done=engine.done_count,
                    slice=engine.slice_index + 1,
                    density=app.grid.effective_density,
                    gc_freeze=freeze,
                    connect_timeout=connect_timeout,
                )
                app.forced = True
            await app.settle_roll(wait=False)
            return result


async def measure_staged(
    fleet_size: int,
    per_second: int,
    presses: int,
    size: tuple[int, int],
    samples: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The console alone: ``per_second`` host state changes a second, paced by the clock (a loop that falls
    behind gets the events it missed at its next turn, as from a real engine), while the cursor moves.

    ``samples``: as for ``time_presses``, plus ``delivered`` (state changes handed to the app during the
    presses)."""
    with tempfile.TemporaryDirectory(prefix="slowroll-latency-") as tmp:
        work = Path(tmp)
        inv = demo_inventory(work, fleet_size)
        engine = Engine(inv, Connector(SSHOptions(known_hosts=str(work / "known_hosts"), agent=False)))
        engine.state = RollState.RUNNING
        engine.started_at = time.time()
        app = SlowrollApp(engine, simulated=True, speed=1, drive=False)
        freeze_heap()
        names = list(engine.hosts)
        states = list(HostState)
        rng = random.Random(1)
        churning = True
        delivered = 0

        async def churn() -> None:
            nonlocal delivered
            start = time.perf_counter()
            while churning:
                due = int((time.perf_counter() - start) * per_second) - delivered
                for _ in range(due):
                    name = rng.choice(names)
                    run = engine.hosts[name]
                    old, run.state = run.state, rng.choice(states)
                    app.handle_engine_event(HostStateChanged(time.time(), name, old, run.state, "churn"))
                delivered += max(0, due)
                await asyncio.sleep(0.01)

        async with app.run_test(size=size):
            churner = asyncio.ensure_future(churn())
            await asyncio.sleep(0.5)
            raw: dict[str, Any] = {} if samples is None else samples
            before = delivered
            result = await time_presses(app, presses, raw)
            raw["delivered"] = delivered - before
            churning = False
            await churner
            began, ended = raw["window"]
            result.update(
                mode="staged",
                fleet=fleet_size,
                events_per_second=per_second,
                delivered_per_second=round(raw["delivered"] / (ended - began)),
                terminal=f"{size[0]}x{size[1]}",
                density=app.grid.effective_density,
            )
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", type=int, default=2000)
    parser.add_argument("--speed", type=float, default=20)
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument("--size", default="160x48")
    parser.add_argument("--no-freeze", action="store_true", help="skip gc.freeze() (to see what it is for)")
    parser.add_argument(
        "--connect-timeout", type=float, default=None, help="seconds (before --speed) instead of the demo's 5"
    )
    parser.add_argument("--staged", action="store_true", help="no fleet: synthetic state changes")
    parser.add_argument("--events", type=int, default=5000, help="--staged: state changes per second")
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    if args.staged:
        result = asyncio.run(measure_staged(args.fleet, args.events, args.presses, (w, h)))
    else:
        result = asyncio.run(
            measure(
                args.fleet,
                args.speed,
                args.presses,
                (w, h),
                freeze=not args.no_freeze,
                connect_timeout=args.connect_timeout,
            )
        )
    print(result)


if __name__ == "__main__":
    main()
