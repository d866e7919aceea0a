"""The command line, run as a person runs it: subprocesses, exit codes, the JSON summary, signals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SLOWROLL = [sys.executable, "-m", "console.cli"]
DEMO = ROOT / "sample_inventories" / "demo.yaml"


def slowroll(*args: str, timeout: float = 90, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SLOWROLL, *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout, **kw)


def summary(stdout: str) -> dict:
    lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    assert lines, "no output"
    last = lines[-1]
    assert last["event"] == "roll-finished"
    return last


def partition_ok(s: dict, hosts: int) -> None:
    lists = s["rebooted"] + s["failed"] + s["skipped"] + s["untouched"]
    assert len(lists) == len(set(lists)) == hosts


def test_demo_headless_json_completes() -> None:
    proc = slowroll("demo", "--headless", "--json", "--fleet", "6", "--speed", "50")
    assert proc.returncode == 0, proc.stderr
    s = summary(proc.stdout)
    assert s["state"] == "complete"
    assert len(s["rebooted"]) == 6
    partition_ok(s, 6)
    kinds = {json.loads(line)["event"] for line in proc.stdout.splitlines()}
    assert {"roll-state", "host-state", "slice-started", "check"} <= kinds
    assert "Traceback" not in proc.stderr


def test_demo_fault_pauses_by_itself_with_exit_1() -> None:
    proc = slowroll(
        "demo", "--headless", "--json", "--fleet", "6", "--speed", "50", "--fault", "never-returns"
    )
    assert proc.returncode == 1, proc.stderr
    s = summary(proc.stdout)
    assert s["state"] == "paused"
    # KIND alone: the first host after the canary slice
    assert s["failed"] == ["web-02"]
    assert "web-02" in s["reason"] and "reboot_timeout" in s["reason"]
    assert s["untouched"] and "web-03" in s["untouched"]
    partition_ok(s, 6)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["demo", "--headless", "--fault", "explodes"], "unknown fault 'explodes'"),
        (["demo", "--headless", "--fault", "never-returns@nohost"], "no host named 'nohost'"),
        (["run", str(DEMO), "--headless", "--fault", "never-returns"], "--fault needs the simulator"),
        (["demo", "--speed", "fast"], "expected a number"),
        (["run", "/nonexistent.yaml", "--headless"], "/nonexistent.yaml: no such file"),
        (["plan"], "required"),
        ([], ""),
    ],
)
def test_usage_errors_exit_2_without_traceback(args: list[str], words: str) -> None:
    proc = slowroll(*args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert words in proc.stderr + proc.stdout


def test_headless_never_imports_textual() -> None:
    code = (
        "import sys; from console.cli.main import main; "
        "rc = main(['demo', '--headless', '--fleet', '3', '--speed', '50']); "
        "assert 'textual' not in sys.modules, 'textual was imported'; sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=90)
    assert proc.returncode == 0, proc.stderr


def _interrupt_demo(
    args: list[str], when: Callable[[dict], bool], *, wait: float
) -> tuple[subprocess.Popen[str], list[dict], bool]:
    """A headless JSON demo with ``args``; SIGINT at the first event ``when`` accepts. Returns the process
    (exited), every event, and whether the signal was sent."""
    proc = subprocess.Popen(
        [*SLOWROLL, "demo", "--headless", "--json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    lines: list[dict] = []
    signalled = False
    for line in proc.stdout:
        lines.append(json.loads(line))
        if when(lines[-1]):
            proc.send_signal(signal.SIGINT)
            signalled = True
            break
    rest = proc.stdout.read()
    proc.wait(wait)
    lines += [json.loads(line) for line in rest.splitlines() if line.strip()]
    return proc, lines, signalled


def test_sigint_pauses_lets_in_flight_finish_and_exits_130() -> None:
    proc, lines, _ = _interrupt_demo(
        ["--fleet", "6", "--speed", "20"],
        lambda ev: ev["event"] == "host-state" and ev["new"] == "rebooting" and ev["host"] != "web-01",
        wait=60,
    )
    assert proc.returncode == 130, proc.stderr.read() if proc.stderr else ""
    s = lines[-1]
    assert s["state"] == "paused" and not s["automatic"]
    assert "SIGINT" in s["reason"]
    rebooting = {e["host"] for e in lines if e["event"] == "host-state" and e["new"] == "rebooting"}
    # The in-flight host finished its cycle; nothing after the signal started a reboot.
    assert set(s["rebooted"]) == rebooting
    assert s["untouched"]


def test_first_sigint_during_an_automatic_pause_does_not_abort() -> None:
    # web-03 fails its check while web-04, of the same slice, never comes back (it stays in flight until
    # reboot_timeout): the roll is PAUSING by itself when the operator presses Ctrl-C. That must not
    # abort (only a second Ctrl-C does).
    faults = ["--fault", "check-fails@web-03", "--fault", "never-returns@web-04"]
    proc, lines, signalled = _interrupt_demo(
        ["--speed", "50", *faults],
        lambda ev: ev["event"] == "roll-state" and ev["new"] == "pausing" and ev["automatic"],
        wait=90,
    )
    assert signalled, "the roll never paused by itself while hosts were in flight"
    s = lines[-1]
    assert s["event"] == "roll-finished"
    assert s["state"] == "paused", s
    assert proc.returncode == 130, proc.stderr.read() if proc.stderr else ""
    assert "web-03" in s["failed"]
    assert not any(e["event"] == "roll-state" and e["new"] == "aborting" for e in lines)


def test_sim_process_serves_an_inventory_for_a_separate_console(tmp_path: Path) -> None:
    out = tmp_path / "fleet"
    sim = subprocess.Popen(
        [*SLOWROLL, "sim", str(DEMO), "--out", str(out), "--speed", "50", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert sim.stdout is not None
        first = sim.stdout.readline()  # printed once every host listens
        assert "serving 24 simulated hosts" in first, sim.stderr.read() if sim.poll() is not None else first
        inv = out / "inventory.yaml"
        check = slowroll("check", str(inv))
        assert check.returncode == 0, check.stderr
        proc = slowroll("run", str(inv), "--headless", "--json", timeout=120)
        assert proc.returncode == 0, proc.stderr
        s = summary(proc.stdout)
        assert s["state"] == "complete" and len(s["rebooted"]) == 24
        ledger = [json.loads(line) for line in (out / "ledger.jsonl").read_text().splitlines()]
        assert sorted(e["host"] for e in ledger) == sorted(s["rebooted"])
        assert all(e["boot_id_after"] and e["boot_id_after"] != e["boot_id_before"] for e in ledger)
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(20)
    assert sim.returncode == 0


def test_check_prints_a_summary_and_plan_the_slices() -> None:
    proc = slowroll("check", str(DEMO))
    assert proc.returncode == 0 and "24 in 3 group(s)" in proc.stdout
    proc = slowroll("plan", str(DEMO), "--json")
    data = json.loads(proc.stdout)
    assert data["slices"][0] == {
        "index": 1,
        "hosts": ["web-01"],
        "canary": True,
        "reason": "canary: goes first, alone",
    }
    assert sum(len(s["hosts"]) for s in data["slices"]) == 24


def test_report_after_a_roll_markdown_and_toml(tmp_path: Path) -> None:
    import tomllib

    state = tmp_path / "state"
    proc = slowroll(
        "demo",
        "--headless",
        "--json",
        "--fleet",
        "3",
        "--speed",
        "50",
        "--state",
        str(state),
        "--fault",
        "check-fails",
    )
    assert proc.returncode == 1
    md = slowroll("report", "--state", str(state), "--width", "100")
    assert md.returncode == 0, md.stderr
    assert "## Timeline" in md.stdout and "✘ failed" in md.stdout
    assert "app-01" in md.stdout and "simulated check failure on app-01 (fault check-fails)" in md.stdout
    toml = slowroll("report", "--state", str(state), "--toml")
    data = tomllib.loads(toml.stdout)
    assert data["roll"]["summary"]["failed"] == ["app-01"] and data["roll"]["counts"]["done"] == 1
    missing = slowroll("report", "999", "--state", str(state))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def test_ansible_inventory_with_policy_file_audits_on_the_simulator() -> None:
    inv = ROOT / "sample_inventories" / "ansible-hosts.yml"
    pol = ROOT / "sample_inventories" / "ansible-policy.yaml"
    proc = slowroll("audit", str(inv), "--policy", str(pol), "--sim", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert rows[-1]["event"] == "audit-finished" and rows[-1]["hosts"] == 14
    wrong = slowroll("check", str(DEMO), "--policy", str(pol))
    assert wrong.returncode == 2 and "--policy is for Ansible inventories" in wrong.stderr


def test_webhook_notifications_from_a_run(tmp_path: Path) -> None:
    import http.server
    import threading

    received: list[dict] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        inv = tmp_path / "inv.yaml"
        inv.write_text(
            DEMO.read_text()
            + f"\nnotify:\n  webhook: http://127.0.0.1:{server.server_address[1]}/hooks/T0KEN\n"
        )
        proc = slowroll(
            "run",
            str(inv),
            "--sim",
            "--speed",
            "50",
            "--headless",
            "--json",
            "--state",
            str(tmp_path / "state"),
            "--fault",
            "never-returns@web-01",
        )
        assert proc.returncode == 1, proc.stderr
    finally:
        server.shutdown()
        server.server_close()
    kinds = [r["event"] for r in received]
    assert "failure" in kinds and "pause" in kinds, kinds
    assert all("text" in r for r in received)
    assert "T0KEN" not in proc.stdout + proc.stderr


def test_a_check_fault_on_a_host_without_checks_is_a_usage_error(tmp_path: Path) -> None:
    inv = tmp_path / "nochecks.yaml"
    inv.write_text(
        "name: t\ngroups: {g: {max_unavailable: 1}}\n"
        "hosts:\n  a: {address: 192.0.2.1, groups: [g]}\n  b: {address: 192.0.2.2, groups: [g]}\n"
    )
    proc = slowroll("run", str(inv), "--sim", "--headless", "--fault", "check-fails@b")
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "b has no health check" in proc.stderr and "Traceback" not in proc.stderr


def test_rehearsal_reboots_are_not_the_hosts_history(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = slowroll("demo", "--headless", "--fleet", "3", "--speed", "50", "--state", str(state))
    assert proc.returncode == 0, proc.stderr
    proc = slowroll("history", "--state", str(state), "--json")
    data = json.loads(proc.stdout)
    assert data["reboots"] == []  # the twins were rebooted, not the hosts
    assert len(data["rehearsal_reboots"]) == 3
    text = slowroll("history", "--state", str(state)).stdout
    assert "none recorded" in text and "[simulated]" in text
