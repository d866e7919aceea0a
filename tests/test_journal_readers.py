"""Readers never fail because a writer is busy (issue 13): history, report, resume's refusal and a second
run open the journal without writing (WAL readers never wait), and a second writer gets the lock holder's
name, never an SQLite message. A real roll of `slowroll sim` hosts driven by another process."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path

from console.cli.history import _data as history_data
from console.journal.store import Journal
from console.report.build import build_report
from tests.killtrial import ROOT, SLOWROLL, SimProcess


def slowroll(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SLOWROLL, *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout)


def test_readers_open_while_a_writer_holds_the_write_lock(tmp_path: Path) -> None:
    state = tmp_path / "state"
    sim = SimProcess(tmp_path, seed=2)
    sim.stop()  # only its inventory is needed: nothing connects
    from console.cli.inventory import load_any_inventory

    journal = Journal(state)
    journal.create_roll(load_any_inventory(str(sim.inventory)), simulated=False, command="t")
    journal.close()
    writer = sqlite3.connect(state / "slowroll.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a busy writer: its batch of events not yet committed
    writer.execute("UPDATE rolls SET reason = 'busy'")
    try:
        started = time.monotonic()
        for args in (("history",), ("history", "--json"), ("report",)):
            proc = slowroll(*args, "--state", str(state))
            assert "database is locked" not in proc.stderr, (args, proc.stderr)
            assert proc.returncode in (0, 2) and "Traceback" not in proc.stderr, (args, proc.stderr)
        assert time.monotonic() - started < 20  # none waited for the writer's busy timeout
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_history_and_report_read_through_a_whole_roll_and_a_second_run_names_the_holder(
    tmp_path: Path,
) -> None:
    sim = SimProcess(tmp_path, seed=4, boot_time=0.5)
    state = tmp_path / "state"
    try:
        roll = subprocess.Popen(
            [*SLOWROLL, "run", str(sim.inventory), "--headless", "--json", "--state", str(state)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        assert roll.stdout is not None
        roll.stdout.readline()  # the roll has started: its journal exists
        second = slowroll("run", str(sim.inventory), "--headless", "--state", str(state))
        assert second.returncode == 2, second.stderr
        assert "another console holds the roll" in second.stderr and "pid" in second.stderr, second.stderr
        assert "database is locked" not in second.stderr
        refusal = slowroll("resume", "--headless", "--state", str(state))
        assert refusal.returncode == 2 and "another console holds the roll" in refusal.stderr, refusal.stderr
        reads = 0
        while roll.poll() is None:
            journal = Journal(state)
            try:
                history_data(journal, None)
                rolls = journal.rolls(limit=1)
                if rolls:
                    build_report(journal, rolls[0].id)
            finally:
                journal.close()
            reads += 1
        assert roll.returncode == 0, roll.stderr.read() if roll.stderr else ""
        assert reads >= 10, reads
    finally:
        sim.stop()
