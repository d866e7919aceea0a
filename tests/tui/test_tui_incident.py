"""The console at the moment that matters (issue 14): a finished roll with a problem, problem hosts, time."""

from __future__ import annotations

import re
from pathlib import Path

from console.engine.facade import Engine
from console.model.events import HostState, RollState
from console.tui.components.status import header_lines
from console.tui.components.themes import load_themes
from tests.tui.scenes import T0, frozen_clock, plain, stage_running, staged_engine


def _header(engine: Engine, width: int) -> str:
    theme = load_themes({}).themes["dark"]
    lines = header_lines(engine, theme, frozen_clock(), width, planned_slices=7, simulated=True, speed=20)
    return plain(lines[0], width + 2)


def test_a_complete_roll_with_a_failed_and_a_skipped_host_says_so_in_the_header(tmp_path: Path) -> None:
    engine = staged_engine(tmp_path)
    stage_running(engine)  # web-07 failed, app-04 skipped, db-03 unhealthy
    for run in engine.hosts.values():
        if run.state not in (HostState.FAILED, HostState.SKIPPED, HostState.UNHEALTHY):
            run.state = HostState.DONE
    engine.hosts["db-03"].state = HostState.DONE
    engine.state = RollState.COMPLETE
    engine.finished_at = T0 + 900
    for width in (80, 160):
        first = _header(engine, width)
        assert re.search(r"✔ COMPLETE +— 1 failed, 1 skipped ", first), first
        assert "SIMULATED" in first
    for run in engine.hosts.values():
        run.state = HostState.DONE
    first = _header(engine, 160)
    assert "COMPLETE" in first and "failed" not in first and "skipped" not in first


def test_the_roll_summary_counts_each_outcome(tmp_path: Path) -> None:
    engine = staged_engine(tmp_path)
    stage_running(engine)
    engine.state = RollState.COMPLETE
    summary = engine.finish().to_dict()
    assert summary["counts"] == {
        "rebooted": 7,
        "failed": len(summary["failed"]),
        "skipped": 1,
        "untouched": len(summary["untouched"]),
    }
    assert summary["counts"]["failed"] >= 2  # web-07 and db-03 (and the hosts in flight)
