"""The ETA runs down during a slice and does not jump when the ramp grows (a fake clock, no fleet)."""

from __future__ import annotations

from pathlib import Path

from console.engine.facade import Engine
from console.model.events import HostState, RollState
from tests.tui.scenes import T0, staged_engine


class FakeClock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def _slice(engine: Engine, names: list[str], at: float) -> None:
    for n in names:
        engine.hosts[n].state = HostState.DOWN
    engine.current_slice = tuple(names)
    engine.slice_started_at = at


def test_eta_runs_down_during_a_slice_and_is_smooth_across_the_ramp(tmp_path: Path) -> None:
    engine = staged_engine(tmp_path)  # 24 hosts; batch [1, 2, 25%]: slices of 1, 2, then 6
    clock = FakeClock()
    engine.clock = clock
    engine.state = RollState.RUNNING
    names = list(engine.hosts)
    engine.hosts[names[0]].state = HostState.DONE  # the canary slice
    engine.slice_times = [100.0]
    engine.ramp_step = 1
    _slice(engine, names[1:3], T0)  # the slice of 2 under way; 21 pending
    clock.t = T0 + 30
    first = engine.eta()
    clock.t = T0 + 60
    later = engine.eta()
    assert first is not None and later is not None
    assert first - later == 30  # it moves with the clock during the slice (it used to stay frozen)
    # 21 pending hosts need 4 slices of 6 at the grown ramp: 70 s left of this one + 4 x 100
    assert first == 70 + 400
    # The slice ends on time and the next (of 6) starts: no jump.
    clock.t = T0 + 99.9
    before = engine.eta()
    for n in names[1:3]:
        engine.hosts[n].state = HostState.DONE
    engine.slice_times.append(100.0)
    engine.ramp_step = 2
    clock.t = T0 + 100
    _slice(engine, names[3:9], T0 + 100)
    after = engine.eta()
    assert before is not None and after is not None
    assert abs(before - after) < 1, (before, after)  # it was 1000 → 300 before
