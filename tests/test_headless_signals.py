"""Headless signals at the edges of a roll: one that arrives after every host is done leaves the roll
complete (exit 0), not paused with 130 (issue 20). A real roll of simulated hosts over real SSH."""

from __future__ import annotations

import asyncio
import io
import signal
from pathlib import Path

from console.headless import run_headless
from console.model.events import Event, HostState, HostStateChanged, RollState
from tests.simlab import fleet_yaml, sim_roll


async def test_a_signal_after_every_host_is_done_leaves_the_roll_complete(tmp_path: Path) -> None:
    text = fleet_yaml({"web": ["w1", "w2"]}, budgets={"web": 2})
    async with sim_roll(tmp_path, text) as roll:
        engine = roll.engine

        def on(event: Event) -> None:
            done = [r for r in engine.hosts.values() if r.state is HostState.DONE]
            if isinstance(event, HostStateChanged) and event.new is HostState.DONE and len(done) == 2:
                # SIGTERM at this exact moment (the last host is done, the roll not yet complete): the
                # handler run_headless installed, run as the loop runs it when the signal arrives.
                handler = asyncio.get_running_loop()._signal_handlers[signal.SIGTERM]  # type: ignore[attr-defined]
                handler._run()

        engine.subscribe(on)
        code = await run_headless(engine, as_json=True, out=io.StringIO())
        assert engine.state is RollState.COMPLETE, engine.reason
        assert code == 0
