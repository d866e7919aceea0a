"""Roll reports from a real journal (a small roll on the simulated fleet), and the text timeline."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from console.engine.facade import Engine
from console.journal.store import Journal, whoami
from console.load.native import load_inventory
from console.model.events import Event, HostState, HostStateChanged, RollState
from console.report.build import build_report, timeline_from_journal
from console.report.markdown import render_markdown
from console.report.model import Report, ReportError
from console.report.timeline import (
    GLYPHS,
    TIMELINE_LEGEND,
    Span,
    spans_from_states,
    timeline_axis,
    timeline_from_engine,
    timeline_rows,
)
from console.report.toml import render_toml
from tests.simlab import fleet_yaml, sim_roll

SECRET = "s3cret-value-9f2"
MARKER = "unique-inventory-comment-7c1"


@dataclass
class Recorded:
    state_dir: Path
    roll_id: int
    inventory_path: Path
    engine: Engine
    boot_ids: dict[str, tuple[str, str]]  # the fleet's ground truth: host → (before, after)
    live_rows: list[str]  # the engine's timeline drawn while w3 was down


def _record(tmp: Path) -> Recorded:
    text = fleet_yaml(
        {"web": ["w1", "w2", "w3", "w4"]}, budgets={"web": 2}, policy="batch: 1\nmax_failures: 1"
    )
    text = text.replace(
        "w1: {address: 192.0.2.1,", f"w1: {{address: 192.0.2.1, vars: {{api_token: {SECRET}, rack: b4}},"
    )
    text = f"# {MARKER}\n" + text

    async def go() -> Recorded:
        async with sim_roll(tmp, text, faults={"w2": {"check-fails"}}) as roll:
            journal = Journal(tmp / "state")
            roll_id = journal.create_roll(
                roll.inventory, simulated=True, command="slowroll run inv.yaml --sim"
            )
            roll.engine.journal = journal
            live: list[str] = []

            def snapshot(ev: Event) -> None:
                if isinstance(ev, HostStateChanged) and ev.host == "w3" and ev.new is HostState.DOWN:
                    live.extend(timeline_rows(timeline_from_engine(roll.engine), 60))

            roll.engine.subscribe(snapshot)
            roll.engine.start(who="alice@console")
            roll.engine.skip("w4", who="alice@console", why="disk replacement pending")
            result = await roll.engine.run()
            assert result.state is RollState.COMPLETE
            journal.close()
            boot_ids = {
                h: (roll.fleet.reboots_of(h)[0].boot_id_before, roll.fleet.reboots_of(h)[0].boot_id_after)
                for h in ("w1", "w2", "w3")
            }
            return Recorded(tmp / "state", roll_id, tmp / "inventory.yaml", roll.engine, boot_ids, live)

    return asyncio.run(go())


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return _record(tmp_path_factory.mktemp("report"))


@pytest.fixture
def report(recorded: Recorded) -> Report:
    journal = Journal(recorded.state_dir)
    try:
        return build_report(journal, recorded.roll_id)
    finally:
        journal.close()


def _timeline_block(markdown: str) -> list[str]:
    block = markdown.split("## Timeline", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    return block.splitlines()


def test_report_per_host_facts_match_the_fleets_ground_truth(report: Report, recorded: Recorded) -> None:
    hosts = {h.name: h for h in report.hosts}
    assert [h.name for h in report.hosts] == ["w1", "w2", "w3", "w4"]
    assert {n: h.state for n, h in hosts.items()} == {
        "w1": "done",
        "w2": "failed",
        "w3": "done",
        "w4": "skipped",
    }
    for name, (before, after) in recorded.boot_ids.items():
        assert (hosts[name].boot_id_before, hosts[name].boot_id_after) == (before, after)
    for name in ("w1", "w3"):
        h = hosts[name]
        assert h.downtime is not None and 0 < h.downtime < report.duration
        assert h.time_to_healthy is not None and h.downtime < h.time_to_healthy < report.duration
    w2 = hosts["w2"]
    assert w2.downtime is not None and 0 < w2.downtime < report.duration
    assert w2.time_to_healthy is None and w2.done_at is None
    assert "simulated check failure on w2" in w2.reason
    assert [(c.check, c.phase) for c in w2.failed_checks] == [("health", "post")]
    assert "check-fails" in w2.failed_checks[0].output
    w4 = hosts["w4"]
    assert w4.reboot_at is None and w4.downtime is None and w4.boot_id_before is None
    assert [(a.action, a.who, a.why) for a in w4.actions] == [
        ("skip", "alice@console", "disk replacement pending")
    ]
    assert [s.hosts for s in report.slices] == [("w1",), ("w2",), ("w3",)]
    assert all(s.duration is not None and s.duration > 0 for s in report.slices)
    assert report.summary == {
        "rebooted": ("w1", "w3"),
        "failed": ("w2",),
        "skipped": ("w4",),
        "untouched": (),
    }
    assert report.counts == {"done": 2, "failed": 1, "skipped": 1}


def test_markdown_report(report: Report, recorded: Recorded) -> None:
    md = render_markdown(report, width=90)
    user, machine = whoami()
    assert md.startswith(
        f"# Roll {recorded.roll_id} — test: ✔ complete — 1 failed, 1 skipped\n"
    )  # never clean
    assert f"| started by | {user} on {machine} (pid " in md
    assert f"`{recorded.inventory_path.resolve()}`, sha256 `{report.inventory_hash[:16]}`" in md
    assert "`slowroll run inv.yaml --sim`" in md
    assert "| hosts | 4: 2 done, 1 failed, 1 skipped |" in md
    # The failure, with its reason and the check that failed.
    assert "### w2 — ✘ failed" in md
    assert "- reason: check health failed: simulated check failure on w2 (fault check-fails)" in md
    assert "✘ check **health** failed (post, 1 attempt" in md
    # The skip: who and why, on the host and in the roll's list of actions.
    assert "- operator: **skip** by alice@console at " in md and ": disk replacement pending" in md
    assert re.search(r"\| [^|]+ \| alice@console \| skip \| w4 \| disk replacement pending \|", md)
    assert re.search(r"\| [^|]+ \| alice@console \| start \|", md)
    # Every host in the table with its downtime; w4 has none.
    w1_row = next(line for line in md.splitlines() if line.startswith("| w1 |"))
    assert "✔ done" in w1_row and re.search(r"\| \d+(\.\d)?m?s \|", w1_row)
    assert next(line for line in md.splitlines() if line.startswith("| w4 |")).count("—") >= 3
    # The timeline: one row per host, each exactly the width, then the axis and the legend.
    block = _timeline_block(md)
    rows = [line for line in block if "│" in line]
    assert [r.split()[0] for r in rows] == ["w1", "w2", "w3", "w4"]
    assert all(len(r) == 90 for r in rows)
    assert "✘" in rows[1] and "█" in rows[0] and "█" in rows[2] and "»" in rows[3]
    assert "▒" in rows[0] and "░" in rows[0] and "░" not in rows[3]
    assert rows[0].index("█") < rows[1].index("✘") < rows[2].index("█")  # one slice after another
    assert TIMELINE_LEGEND in block
    assert block[len(rows)].lstrip().startswith("+0s")


def test_toml_report_round_trips_and_holds_no_null(report: Report, recorded: Recorded) -> None:
    text = render_toml(report)
    data = tomllib.loads(text)

    def walk(value: Any) -> None:
        assert value is not None
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(data)
    roll = data["roll"]
    assert roll["id"] == recorded.roll_id and roll["state"] == "complete" and roll["simulated"] is True
    assert roll["inventory_hash"] == report.inventory_hash
    assert isinstance(roll["started_at"], dt.datetime) and roll["started_at"].tzinfo is not None
    assert roll["finished_at"] > roll["started_at"]
    assert roll["summary"]["failed"] == ["w2"] and roll["counts"]["done"] == 2
    hosts = {h["name"]: h for h in data["hosts"]}
    assert list(hosts) == ["w1", "w2", "w3", "w4"]
    assert 0 < hosts["w1"]["downtime"] < roll["duration"]
    assert hosts["w1"]["boot_id_after"] == recorded.boot_ids["w1"][1]
    assert "time_to_healthy" not in hosts["w2"] and "done_at" not in hosts["w2"]  # unknown: omitted
    assert hosts["w2"]["failed_checks"][0]["check"] == "health"
    assert "check-fails" in hosts["w2"]["failed_checks"][0]["output"]
    assert hosts["w4"]["actions"] == [
        {
            "at": hosts["w4"]["actions"][0]["at"],
            "action": "skip",
            "host": "w4",
            "who": "alice@console",
            "why": "disk replacement pending",
        }
    ]
    assert "downtime" not in hosts["w4"] and "boot_id_before" not in hosts["w4"]
    assert [p["phase"] for p in hosts["w1"]["phases"]] == ["precheck", "down", "verify", "done"]
    assert [s["number"] for s in data["slices"]] == [1, 2, 3]
    assert {a["action"] for a in data["actions"]} == {"start", "skip"}
    assert data["policy"]["max_failures"] == 1 and "max_unavailable" not in data["policy"]


def test_secrets_and_the_inventory_text_never_reach_a_report(report: Report, recorded: Recorded) -> None:
    md, toml = render_markdown(report), render_toml(report)
    for text in (md, toml):
        assert SECRET not in text and MARKER not in text
    hosts = {h["name"]: h for h in tomllib.loads(toml)["hosts"]}
    assert hosts["w1"]["vars"] == {"api_token": "<redacted>", "rack": "b4"}
    # Given the inventory itself (with the secret in clear), the report still redacts it.
    inventory = load_inventory(recorded.inventory_path)
    assert inventory.host("w1").vars["api_token"] == SECRET
    journal = Journal(recorded.state_dir)
    try:
        again = build_report(journal, recorded.roll_id, inventory=inventory)
    finally:
        journal.close()
    assert dict(next(h for h in again.hosts if h.name == "w1").vars) == {
        "api_token": "<redacted>",
        "rack": "b4",
    }
    assert SECRET not in render_markdown(again) + render_toml(again)


def test_timeline_from_the_journal_and_from_the_live_engine(recorded: Recorded) -> None:
    journal = Journal(recorded.state_dir)
    try:
        from_journal = timeline_from_journal(journal, recorded.roll_id)
    finally:
        journal.close()
    from_engine = timeline_from_engine(recorded.engine)
    assert [name for name, _ in from_journal] == [name for name, _ in from_engine] == ["w1", "w2", "w3", "w4"]
    for (_, a), (_, b) in zip(from_journal, from_engine, strict=True):
        assert [s[2] for s in a] == [s[2] for s in b]
    # Drawn while w3 was down: w1 done, w2 failed, w3 down up to "now" (the right edge).
    live = recorded.live_rows
    assert len(live) == 4 and all(len(r) == 60 for r in live)
    assert "█" in live[0] and "✘" in live[1] and live[2].rstrip("│").endswith("▒")


def test_unknown_roll_is_a_clear_error(recorded: Recorded) -> None:
    journal = Journal(recorded.state_dir)
    try:
        with pytest.raises(ReportError) as info:
            build_report(journal, 999)
    finally:
        journal.close()
    assert info.value.exit_code == 2 and "no roll 999" in str(info.value)


async def test_report_of_a_roll_that_paused_by_itself(tmp_path: Path) -> None:
    text = fleet_yaml({"web": ["w1", "w2"]}, policy="batch: 1")
    async with sim_roll(tmp_path, text, faults={"w1": {"check-fails"}}) as roll:
        journal = Journal(tmp_path / "state")
        roll_id = journal.create_roll(roll.inventory, simulated=True, command="test")
        roll.engine.journal = journal
        result = await roll.engine.run()
        assert result.state is RollState.PAUSED
        report = build_report(journal, roll_id)
        journal.close()
    assert report.state == "paused" and report.automatic and report.finished_at is None
    assert "w1 failed" in report.reason
    md = render_markdown(report, width=70)
    assert md.startswith(f"# Roll {roll_id} — test: ‖ paused")
    assert "**Stopped by itself:** w1 failed: check health failed" in md
    assert "| finished | not finished (paused) |" in md
    assert [r.split()[0] for r in _timeline_block(md) if "│" in r] == ["w1", "w2"]
    data = tomllib.loads(render_toml(report))
    assert "finished_at" not in data["roll"] and data["roll"]["automatic"] is True
    assert data["hosts"][1]["state"] == "pending" and "phases" in data["hosts"][1]


# ---------------------------------------------------------------------------------------------------
# The timeline as a pure function


def test_timeline_rows_scale_each_phase_to_the_width() -> None:
    rows = [
        ("a", [(0.0, 50.0, "down"), (50.0, 100.0, "verify"), (100.0, 100.0, "done")]),
        ("b", [(100.0, 150.0, "down"), (150.0, 150.0, "failed")]),
        ("c", [(0.0, 0.0, "skipped")]),
    ]
    out = timeline_rows(rows, 47, start=0.0, end=200.0)  # names 4 wide + " │" + 40 cells + "│"
    assert len(out) == 3 and all(len(line) == 47 for line in out)
    bars = [line[6:-1] for line in out]
    assert bars[0] == "▒" * 10 + "░" * 10 + "█" + " " * 19
    assert bars[1] == " " * 20 + "▒" * 10 + "✘" + " " * 9
    assert bars[2] == "»" + " " * 39


def test_timeline_short_phases_get_a_cell_and_the_most_important_phase_wins() -> None:
    rows = [("h", [(0.0, 0.01, "precheck"), (0.01, 10.0, "down"), (10.0, 10.0, "failed")])]
    bar = timeline_rows(rows, 30, start=0.0, end=10.0)[0][6:-1]
    assert bar[0] in "·▒" and bar[-1] == "✘" and set(bar[1:-1]) == {"▒"}
    only = timeline_rows([("h", [(0.0, 0.001, "precheck")])], 30, start=0.0, end=100.0)[0][6:-1]
    assert only[0] == "·"


def test_timeline_handles_empty_unknown_and_long_names() -> None:
    assert timeline_rows([], 40) == []
    rows = [
        ("a-very-long-host-name.example.org", [(0.0, 1.0, "mystery")]),
        ("b", []),
    ]
    out = timeline_rows(rows, 60)
    assert all(len(line) == 60 for line in out)
    assert out[0].startswith("a-very-long-ho… │") and set(out[0].split("│")[1]) == {" "}
    axis = timeline_axis(rows, 60, start=0.0, end=3600.0)
    assert axis.startswith(" " * 17 + "+0s ") and axis.endswith("+1h 00m") and "+30m 00s" in axis


def test_spans_from_states_merge_downtime_and_leave_pending_blank() -> None:
    spans = spans_from_states(
        [(0, "prechecking"), (1, "rebooting"), (2, "down"), (5, "booting"), (6, "checking"), (8, "done")], 20
    )
    assert spans == [
        Span(0, 1, "precheck"),
        Span(1, 5, "down"),
        Span(5, 8, "verify"),
        Span(8, 8, "done"),
    ]
    assert spans_from_states([(0, "prechecking"), (1, "pending")], 9) == [Span(0, 1, "precheck")]
    assert spans_from_states([(3, "rebooting")], 7) == [Span(3, 7, "down")]  # in flight: up to the end
    assert set(GLYPHS) >= {s.phase for s in spans}


def test_timeline_from_a_paused_engine_runs_to_now_not_to_its_last_stop() -> None:
    @dataclass
    class Run:
        timeline: list[tuple[float, str, str]]

    @dataclass
    class FakeEngine:  # the attributes timeline_from_engine reads, after a pause and a resume
        hosts: dict[str, Run]
        started_at: float = 0.0
        finished_at: float | None = 10.0  # set by the run() that returned paused
        state: RollState = RollState.RUNNING

        def clock(self) -> float:
            return 50.0

    engine = FakeEngine({"a": Run([(0.0, "prechecking", ""), (40.0, "rebooting", "reboot command sent")])})
    assert timeline_from_engine(engine) == [("a", [Span(0.0, 40.0, "precheck"), Span(40.0, 50.0, "down")])]
    engine.state = RollState.COMPLETE
    engine.hosts["a"].timeline.append((45.0, "done", "healthy"))
    engine.finished_at = 46.0
    assert timeline_from_engine(engine)[0][1][-1] == Span(45.0, 45.0, "done")
