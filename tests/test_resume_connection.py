"""Resume as you started (issue 13): the journal records how the roll connected (the --ssh-config path,
--accept-new), and `slowroll resume` uses them and says so; an explicit flag overrides. Real SSH against
`slowroll sim`; the hosts are reachable only through the ssh config given at the start."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from tests.killtrial import HOSTS, ROOT, SLOWROLL, SimProcess


def test_resume_uses_the_ssh_config_the_roll_started_with(tmp_path: Path) -> None:
    sim = SimProcess(tmp_path, seed=5, boot_time=0.5)
    try:
        data = yaml.safe_load(sim.inventory.read_text())
        config = tmp_path / "ssh_config"
        blocks = []
        for name, host in data["hosts"].items():
            blocks.append(f"Host alias-{name}\n  HostName {host['address']}\n  Port {host['port']}\n")
            host["address"] = f"alias-{name}"  # only the ssh config says where it is
            del host["port"]
        config.write_text("".join(blocks))
        inv = tmp_path / "aliased.yaml"
        inv.write_text(yaml.safe_dump(data))
        state = str(tmp_path / "state")
        first = subprocess.Popen(
            [*SLOWROLL, "run", str(inv), "--ssh-config", str(config), "--headless", "--json", "--state", state],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        assert first.stdout is not None
        for line in first.stdout:  # killed once its first host is done: the roll is unfinished
            event = json.loads(line)
            if event.get("event") == "host-state" and event.get("new") == "done":
                first.kill()
                break
        first.wait(30)
        resumed = subprocess.run(
            [*SLOWROLL, "resume", "--headless", "--json", "--state", state],
            capture_output=True, text=True, cwd=ROOT, timeout=120,
        )  # fmt: skip
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert f"using ssh config {config.resolve()} from the roll's start" in resumed.stderr
        assert sim.ledger() == {h: 1 for h in HOSTS}
    finally:
        sim.stop()
