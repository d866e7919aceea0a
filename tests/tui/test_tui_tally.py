"""The status lines' one quick pass over the fleet says what the engine itself would say."""

from __future__ import annotations

import itertools
from pathlib import Path

from console.model.events import HostState
from console.tui.components.status import Tally
from tests.tui.scenes import staged_engine


def test_the_tally_agrees_with_the_engine_in_every_state(tmp_path: Path) -> None:
    engine = staged_engine(tmp_path, hosts=240)
    runs = list(engine.hosts.values())
    # Every state, with and without healthy_again and skipped, spread over the groups.
    combos = itertools.cycle(itertools.product(HostState, (False, True), (False, True)))
    for run, (state, healthy_again, skipped) in zip(runs, combos, strict=False):
        run.state, run.healthy_again, run.skipped = state, healthy_again, skipped
    tally = Tally(engine)
    assert tally.budgets == engine.budget_usage()
    assert tally.done == engine.done_count
    assert tally.flying == engine.waiting_on()
    assert {s.value: n for s, n in tally.counts.items()} == engine.counts()


def test_nothing_in_flight_lists_no_host(tmp_path: Path) -> None:
    engine = staged_engine(tmp_path, hosts=24)
    tally = Tally(engine)
    assert tally.flying == [] and tally.done == 0
    assert all(used == 0 for _, used, _ in tally.budgets)
