"""Key press → screen latency of the console over a big simulated fleet (a measurement, not a test).

    .venv/bin/python -m tests.tui.latency --fleet 2000 --speed 20 --presses 200

Runs the demo fleet (real SSH servers on 127.0.0.1, all in this process, like ``slowroll demo``), starts
the roll, and while it runs moves the grid cursor with arrow keys. For each press it measures the time
from handing the key to the app (as the terminal driver does) to the end of the first screen update whose
grid shows the cursor on the new host (the compositor has rendered it; in a terminal the bytes are written
right then). Prints p50/p90/p99/max, and what the roll was doing meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from textual import events

from console.engine import Engine
from console.events import RollState
from console.inventory import Inventory, load_inventory
from console.sim.fleet import SimFleet
from console.sim.twin import demo_inventory
from console.ssh import Connector, SSHOptions
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
        work = Path(tmp)
        inv = demo_inventory(work, fleet_size)
        if connect_timeout is not None:
            inv = with_connect_timeout(Path(inv.path), connect_timeout)
        t = time.perf_counter()
        fleet = SimFleet(inv, work / "sim", speed=speed)
        await fleet.start()
        fleet_start = time.perf_counter() - t
        try:
            twin = fleet.twin_inventory()
            connector = Connector(
                SSHOptions(
                    known_hosts=twin.ssh.known_hosts,
                    identity_files=twin.ssh.identity_files,
                    agent=False,
                )
            )
            engine = Engine(twin, connector)
            app = SlowrollApp(engine, simulated=True, speed=speed)
            if freeze:
                freeze_heap()  # as run_console does
            frames: list[tuple[float, str | None]] = []
            original = app._display

            def spy(screen: Any, renderable: Any) -> None:
                if renderable is not None:
                    frames.append((time.perf_counter(), app.grid.rendered_cursor))
                original(screen, renderable)

            app._display = spy  # type: ignore[method-assign]
            latencies: list[float] = []
            states: dict[str, int] = {}
            lags: list[float] = []
            probing = True

            async def probe() -> None:
                # How late the event loop runs a callback (whatever the screen does): the floor under
                # any key press latency, set by everything else sharing the loop (SSH to 2,000 hosts).
                while probing:
                    t = time.perf_counter()
                    await asyncio.sleep(0.01)
                    lags.append(time.perf_counter() - t - 0.01)

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
                driver = app._driver
                assert driver is not None
                prober = asyncio.ensure_future(probe())
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
                            break
                        if time.perf_counter() - t0 > 10:
                            raise AssertionError(f"press {i}: no frame with the cursor on {target} in 10 s")
                        await asyncio.sleep(0.0005)
                    states[engine.state.value] = states.get(engine.state.value, 0) + 1
                    await asyncio.sleep(0.05 + (i % 5) * 0.02)  # people do not type in lockstep with frames
                probing = False
                await prober
                summary = {
                    "fleet": fleet_size,
                    "speed": speed,
                    "terminal": f"{size[0]}x{size[1]}",
                    "fleet_start_s": round(fleet_start, 1),
                    "presses": len(latencies),
                    "p50_ms": round(statistics.median(latencies) * 1000, 1),
                    "p90_ms": round(percentile(latencies, 90) * 1000, 1),
                    "p99_ms": round(percentile(latencies, 99) * 1000, 1),
                    "max_ms": round(max(latencies) * 1000, 1),
                    "loop_lag_p50_ms": round(statistics.median(lags) * 1000, 1),
                    "loop_lag_p99_ms": round(percentile(lags, 99) * 1000, 1),
                    "roll_state_during": states,
                    "hosts_done": engine.done_count,
                    "slice": engine.slice_index + 1,
                    "in_flight_at_end": sum(1 for r in engine.hosts.values() if r.state.in_flight),
                    "density": app.grid.effective_density,
                    "gc_freeze": freeze,
                    "connect_timeout": connect_timeout,
                }
                app.forced = True
            await app.settle_roll(wait=False)
            return summary
        finally:
            await fleet.stop()


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
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
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
