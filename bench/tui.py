"""Console responsiveness: key press → screen latency and frame time under a storm of engine events.

The Textual app runs headless (``App.run_test``) over a fleet of 10,000 hosts (the demo's groups, resized)
with no SSH: tests/tui/latency.py's ``--staged`` engine, whose hosts change state 1,000 times a second,
paced by the clock (a loop that falls behind gets the events it missed at its next turn, as it would from a
real engine). Meanwhile the grid cursor is moved with arrow keys handed to the app as the terminal driver
does, 50–130 ms apart.

- **Key latency**: from handing the key to the app to the end of the first screen update whose grid shows
  the cursor on the new host.
- **Frame time**: one screen update (Textual's ``Screen._on_timer_update``: layout if needed, the
  compositor's render of what changed, and the display). A headless app skips turning the update into
  terminal bytes; here it is done anyway (and thrown away), so frames cost what they cost in a terminal
  (``--no-encode`` skips it).
- **Events delivered per second**, **event-loop lag** (how late a 10 ms timer fires: the floor under any
  key's latency), and where the loop's time goes (engine events, the app's 10 Hz tick, frames).

    .venv/bin/python bench/tui.py            # 10,000 hosts, 1,000 events/s, 300 presses, 160x48
    .venv/bin/python bench/tui.py --quick    # 2,000 hosts, 1,000 events/s, 120 presses
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import statistics
import sys
import time
from collections.abc import Iterator
from typing import Any

from _common import REPO, add_quiet_option, percentile, result, settle

sys.path.insert(0, str(REPO))  # tests.tui.latency (bench/ is the script's folder, not the repo)

from textual.screen import Screen

from console.tui.app import SlowrollApp
from tests.tui.latency import measure_staged

TARGET_P99 = 0.100  # seconds, key press → screen


class Timings:
    """(start, duration) in ``perf_counter`` seconds of every frame, app tick and engine event handled."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, float]] = []
        self.ticks: list[tuple[float, float]] = []
        self.events: list[tuple[float, float]] = []
        self.encoded: list[int] = []  # characters of terminal output per frame
        self.gc: list[tuple[float, float, int]] = []  # (start, duration, generation) of each collection
        self._gc_start = 0.0

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            self.gc.append((self._gc_start, time.perf_counter() - self._gc_start, info["generation"]))

    @staticmethod
    def within(spans: list[tuple[float, float]], window: tuple[float, float]) -> list[float]:
        return [d for t, d in spans if window[0] <= t <= window[1]]


@contextlib.contextmanager
def timed(encode: bool) -> Iterator[Timings]:
    """Wrap the class methods (before the app exists, so timers and subscriptions bind to the wrappers)."""
    t = Timings()
    frame, tick, handle, display = (
        Screen._on_timer_update,
        SlowrollApp._tick_once,
        SlowrollApp.handle_engine_event,
        SlowrollApp._display,
    )

    def timed_frame(self: Screen[Any]) -> None:
        t0 = time.perf_counter()
        frame(self)
        t.frames.append((t0, time.perf_counter() - t0))

    def timed_tick(self: SlowrollApp) -> None:
        t0 = time.perf_counter()
        tick(self)
        t.ticks.append((t0, time.perf_counter() - t0))

    def timed_handle(self: SlowrollApp, event: Any) -> None:
        t0 = time.perf_counter()
        handle(self, event)
        t.events.append((t0, time.perf_counter() - t0))

    def encoding_display(self: SlowrollApp, screen: Screen[Any], renderable: Any) -> None:
        # A terminal driver turns the update into escape sequences here (a headless one skips it).
        if renderable is not None and hasattr(renderable, "render_segments"):
            t.encoded.append(len(renderable.render_segments(self.console)))  # what a terminal would be sent
        display(self, screen, renderable)

    Screen._on_timer_update = timed_frame  # type: ignore[method-assign]
    SlowrollApp._tick_once = timed_tick  # type: ignore[method-assign]
    SlowrollApp.handle_engine_event = timed_handle  # type: ignore[method-assign]
    if encode:
        SlowrollApp._display = encoding_display  # type: ignore[method-assign]
    gc.callbacks.append(t.on_gc)
    try:
        yield t
    finally:
        gc.callbacks.remove(t.on_gc)
        Screen._on_timer_update = frame  # type: ignore[method-assign]
        SlowrollApp._tick_once = tick  # type: ignore[method-assign]
        SlowrollApp.handle_engine_event = handle  # type: ignore[method-assign]
        SlowrollApp._display = display  # type: ignore[method-assign]


def key_split(
    pressed: list[float], latencies: list[float], frames: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Each press's latency as (waiting for the loop until its frame starts, that frame up to the display)."""
    out = []
    for t0, lat in zip(pressed, latencies, strict=True):
        end = t0 + lat
        start = next((s for s, d in frames if s <= end <= s + d), None)
        if start is not None:
            out.append((start - t0, end - start))
    return out


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def row(name: str, values: list[float]) -> str:
    cells = [percentile(values, 50), percentile(values, 90), percentile(values, 99), max(values)]
    return f"{name:<28} {len(values):>7} " + " ".join(f"{ms(v):>8}" for v in cells)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="2,000 hosts, 120 presses")
    p.add_argument("--hosts", type=int)
    p.add_argument("--rate", type=int, default=1000, help="engine events (host state changes) a second")
    p.add_argument("--presses", type=int)
    p.add_argument("--size", default="160x48", help="terminal, columns x rows")
    p.add_argument("--no-encode", action="store_true", help="do not turn frames into terminal bytes")
    add_quiet_option(p)
    args = p.parse_args()
    defaults = (2000, 120) if args.quick else (10000, 300)
    for name, value in zip(("hosts", "presses"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, value)
    w, h = (int(v) for v in args.size.split("x"))
    size = f"{args.hosts} hosts, {args.rate} events/s, {args.presses} presses, {w}x{h}"
    print(f"tui: {size}; headless, staged engine (no SSH); frames encoded: {not args.no_encode}")
    other = settle(args)
    raw: dict[str, Any] = {}
    cpu0 = time.process_time()
    with timed(encode=not args.no_encode) as t:
        summary = asyncio.run(measure_staged(args.hosts, args.rate, args.presses, (w, h), raw))
    cpu = time.process_time() - cpu0
    window = raw["window"]
    span = window[1] - window[0]
    lat, lag = raw["latency"], raw["lag"]
    frames = Timings.within(t.frames, window)
    ticks = Timings.within(t.ticks, window)
    handled = Timings.within(t.events, window)
    delivered = raw["delivered"] / span
    print()
    print(f"{'ms':<28} {'n':>7} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}")
    print(row("key press → screen", lat))
    split = key_split(raw["pressed"], lat, t.frames)
    if split:
        print(row("  until its frame starts", [w for w, _ in split]))
        print(row("  its frame", [f for _, f in split]))
    print(row("frame (screen update)", frames))
    print(row("app tick (10 Hz)", ticks))
    print(row("event-loop lag (10 ms timer)", lag))
    for gen in (0, 1, 2):
        pauses = [d for start, d, g in t.gc if g == gen and window[0] <= start <= window[1]]
        if pauses:
            print(row(f"garbage collection, gen {gen}", pauses))
    print()
    print(
        f"grid density {summary['density']}; {span:.1f} s of presses; "
        f"{len(frames) / span:.1f} frames/s; "
        + (f"{statistics.fmean(t.encoded):,.0f} characters/frame to the terminal; " if t.encoded else "")
        + f"process CPU {cpu:.1f} s in all"
    )
    print(
        f"engine events delivered: {delivered:,.0f}/s (asked {args.rate:,}/s); "
        f"handling them: {statistics.fmean(handled) * 1e6:.0f} µs each"
    )
    busy = {"frames": sum(frames), "app ticks": sum(ticks), "engine events": sum(handled)}
    print(
        "share of the loop during the presses: "
        + ", ".join(f"{k} {v / span:.0%}" for k, v in busy.items())
        + " (the rest: keys, messages, timers, idle)"
    )
    print(other.stop())
    tag = "quick" if args.quick else "full"
    p99 = percentile(lat, 99)
    print(
        f"figures: key_p50={ms(percentile(lat, 50))} ms key_p99={ms(p99)} ms key_max={ms(max(lat))} ms "
        f"frame_p50={ms(percentile(frames, 50))} ms frame_p99={ms(percentile(frames, 99))} ms "
        f"events={delivered:.0f}/s lag_p99={ms(percentile(lag, 99))} ms"
    )
    result(
        f"key_p99[{tag}:{args.hosts}h,{args.rate}ev/s]",
        p99 * 1000,
        "ms",
        f"<{TARGET_P99 * 1000:g}ms",
        p99 < TARGET_P99,
        digits=1,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
