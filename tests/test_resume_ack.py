"""Never resume past a security stop: `slowroll resume --headless` on a roll that paused by itself needs
`--acknowledge "why"`, journaled with who and shown by `slowroll report` (issue 20). Real SSH against
`slowroll sim` in its own process."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.killtrial import ROOT, SLOWROLL, SimProcess


def slowroll(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SLOWROLL, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


@pytest.mark.parametrize(("fault", "words"), [("check-fails", "check"), ("new-host-key", "HOST KEY CHANGED")])
def test_resume_after_an_automatic_pause_needs_an_acknowledgement(
    tmp_path: Path, fault: str, words: str
) -> None:
    sim = SimProcess(tmp_path, seed=3, faults=(f"{fault}@web-2",))
    try:
        state = str(tmp_path / "state")
        first = slowroll("run", str(sim.inventory), "--headless", "--json", "--state", state)
        assert first.returncode == 1, first.stderr  # paused by itself on web-2
        reboots = sum(sim.ledger().values())
        refused = slowroll("resume", "--headless", "--state", state)
        assert refused.returncode == 1, refused.stderr
        assert (
            "paused by itself" in refused.stderr
            and "web-2" in refused.stderr
            and "--acknowledge" in refused.stderr
        )
        assert words in refused.stderr and "Traceback" not in refused.stderr
        assert sum(sim.ledger().values()) == reboots  # nothing rebooted without the acknowledgement
        done = slowroll(
            "resume",
            "--headless",
            "--json",
            "--state",
            state,
            "--acknowledge",
            "web-2 is out of the pool; go on",
        )
        assert done.returncode == 4, done.stderr  # complete, web-2 failed: never 0
        summary = json.loads(done.stdout.splitlines()[-1])
        assert summary["failed"] == ["web-2"], summary  # stays failed: not re-trusted, not re-probed to done
        assert sim.ledger()["web-2"] == 1
        assert sum(sim.ledger().values()) > reboots
        report = slowroll("report", "--state", state, "--width", "160")
        assert "acknowledge" in report.stdout and "web-2 is out of the pool; go on" in report.stdout
    finally:
        sim.stop()
