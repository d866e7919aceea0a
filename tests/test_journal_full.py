"""A full disk under the journal: the roll pauses at once (no new reboot), says why, exits 5, and
`slowroll resume` finishes it once space is freed. A real small filesystem (tmpfs), really filled (issue 20)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.killtrial import HOSTS, ROOT, SLOWROLL, SimProcess

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs to fill needs root")


def fill(folder: Path) -> Path:
    """Write a file in ``folder`` until the filesystem is full (ENOSPC)."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
    return filler


def test_a_full_disk_pauses_the_roll_exits_5_and_resume_finishes(tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    mnt.mkdir(mode=0o700)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mnt)], check=True)
    sim = SimProcess(tmp_path, seed=7, boot_time=0.5)
    try:
        state = mnt / "state"
        proc = subprocess.Popen(
            [*SLOWROLL, "run", str(sim.inventory), "--headless", "--json", "--state", str(state)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert proc.stdout is not None and proc.stderr is not None
        lines: list[dict] = []
        filler = None
        for raw in proc.stdout:
            lines.append(json.loads(raw))
            e = lines[-1]
            if filler is None and e.get("event") == "host-state" and e.get("new") == "rebooting":
                filler = fill(mnt)  # the first reboot is in flight: the disk fills now
        proc.wait(60)
        err = proc.stderr.read()
        assert filler is not None, lines
        assert proc.returncode == 5, (proc.returncode, err[-2000:])
        assert "journal cannot be written: disk full" in err and "Traceback" not in err
        paused = [
            e for e in lines if e.get("event") == "roll-state" and "journal cannot be written" in e["reason"]
        ]
        assert paused and lines[-1]["state"] == "paused", lines[-3:]
        assert len(lines[-1]["rebooted"]) < len(HOSTS)  # it stopped: no new reboot once the disk filled
        assert all(n == 1 for n in sim.ledger().values())
        filler.unlink()  # space freed: resume finishes the roll
        done = subprocess.run(
            [*SLOWROLL, "resume", "--headless", "--json", "--state", str(state)],
            capture_output=True, text=True, cwd=ROOT, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        assert sim.ledger() == {h: 1 for h in HOSTS}
    finally:
        sim.stop()
        subprocess.run(["umount", "-l", str(mnt)], check=False)
