"""The documented exit codes (console/model/exits.py), as a person and a wrapper script see them."""

from __future__ import annotations

import json
from pathlib import Path

from console.cli.parser import build_parser
from console.model.exits import EXIT_NOTHING, EXIT_PROBLEMS
from tests.test_cli import DEMO, slowroll, summary


def test_resume_with_nothing_to_resume_exits_3_not_2(tmp_path: Path) -> None:
    proc = slowroll("resume", "--headless", "--state", str(tmp_path / "state"))
    assert proc.returncode == EXIT_NOTHING == 3, proc.stderr
    assert "no unfinished roll" in proc.stderr and "Traceback" not in proc.stderr


def test_a_finished_roll_with_a_failed_host_never_exits_0(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        DEMO.read_text().replace("max_failures: 0 ", "max_failures: 1 ").replace("bake: 1m ", "bake: 1s ")
    )
    proc = slowroll(
        "run", str(inv), "--sim", "--speed", "50", "--headless", "--json",
        "--state", str(tmp_path / "state"), "--fault", "check-fails@app-03",
    )  # fmt: skip
    s = summary(proc.stdout)
    assert s["state"] == "complete" and s["failed"] == ["app-03"], s
    assert proc.returncode == EXIT_PROBLEMS == 4, proc.stderr


def test_the_help_lists_every_exit_code() -> None:
    epilog = build_parser().epilog or ""
    for code in (
        "0 complete",
        "1 stopped",
        "2 usage",
        "3 nothing to do",
        "4 finished",
        "5 the journal",
        "130",
    ):
        assert code in epilog


def test_every_json_event_carries_the_roll_id(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = slowroll("demo", "--headless", "--json", "--fleet", "3", "--speed", "50", "--state", str(state))
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    history = json.loads(slowroll("history", "--state", str(state), "--json").stdout)
    roll_id = history["rolls"][0]["id"]
    assert rows and all(row.get("roll") == roll_id for row in rows), {r.get("roll") for r in rows}
